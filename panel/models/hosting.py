"""What a hoster sells and runs: plans, hosting nodes, packages and what lives in them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panel.extensions import db
from panel.models.base import created_at_column
from panel.models.party import Party


class Role(StrEnum):
    """The three roles around a package; each is held by one party."""

    HOSTER = "hoster"
    BUILDER = "builder"
    OWNER = "owner"


class PackageStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"


class Plan(db.Model):
    """A product: storage shared by mail and site, mailbox allowance and warning levels."""

    __tablename__ = "plan"
    __table_args__ = (UniqueConstraint("hoster_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hoster_id: Mapped[int] = mapped_column(ForeignKey("party.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    storage_quota_bytes: Mapped[int] = mapped_column(BigInteger)
    mailbox_count: Mapped[int] = mapped_column(Integer)
    default_mailbox_quota_bytes: Mapped[int] = mapped_column(BigInteger)
    notice_percent: Mapped[int] = mapped_column(Integer, default=80)
    warning_percent: Mapped[int] = mapped_column(Integer, default=90)
    critical_percent: Mapped[int] = mapped_column(Integer, default=100)
    created_at: Mapped[datetime] = created_at_column()


class HostingNode(db.Model):
    """A server holding packages' files; the path layout tells collectors where to look."""

    __tablename__ = "hosting_node"
    __table_args__ = (UniqueConstraint("hoster_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hoster_id: Mapped[int] = mapped_column(ForeignKey("party.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    layout: Mapped[str] = mapped_column(String(16), default="cpanel")
    home_template: Mapped[str] = mapped_column(String(300))
    mail_template: Mapped[str] = mapped_column(String(300))
    docroot_template: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = created_at_column()


class Package(db.Model):
    """One client's hosting account on a node, under a plan. Roles are held via assignments."""

    __tablename__ = "package"
    __table_args__ = (UniqueConstraint("hoster_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hoster_id: Mapped[int] = mapped_column(ForeignKey("party.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id"), index=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("hosting_node.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=PackageStatus.ACTIVE)
    created_at: Mapped[datetime] = created_at_column()

    plan: Mapped[Plan] = relationship()
    node: Mapped[HostingNode] = relationship()
    domains: Mapped[list[Domain]] = relationship(
        back_populates="package", order_by="Domain.id", cascade="all, delete-orphan"
    )
    assignments: Mapped[list[Assignment]] = relationship(
        back_populates="package", cascade="all, delete-orphan"
    )
    mailboxes: Mapped[list[Mailbox]] = relationship(
        back_populates="package", order_by="Mailbox.address", cascade="all, delete-orphan"
    )
    sites: Mapped[list[Site]] = relationship(
        back_populates="package", order_by="Site.domain", cascade="all, delete-orphan"
    )
    databases: Mapped[list[HostedDatabase]] = relationship(
        back_populates="package", order_by="HostedDatabase.name", cascade="all, delete-orphan"
    )

    def party_for(self, role: Role) -> Party | None:
        """The party holding ``role`` on this package, if any."""
        return next((a.party for a in self.assignments if a.role == role), None)

    @property
    def owner(self) -> Party | None:
        return self.party_for(Role.OWNER)

    @property
    def builder(self) -> Party | None:
        return self.party_for(Role.BUILDER)


class Domain(db.Model):
    """A domain name served by a package; an address at it is served by that package."""

    __tablename__ = "domain"

    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("package.id"), index=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)

    package: Mapped[Package] = relationship(back_populates="domains")


class Assignment(db.Model):
    """Which party holds a role (hoster, builder, owner) on a package."""

    __tablename__ = "assignment"
    __table_args__ = (UniqueConstraint("package_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("package.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    party_id: Mapped[int] = mapped_column(ForeignKey("party.id"), index=True)
    created_at: Mapped[datetime] = created_at_column()

    package: Mapped[Package] = relationship(back_populates="assignments")
    party: Mapped[Party] = relationship()


class Mailbox(db.Model):
    """A mailbox of a package; its own quota overrides the plan's default when set."""

    __tablename__ = "mailbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("package.id"), index=True)
    address: Mapped[str] = mapped_column(String(254), unique=True)
    quota_bytes: Mapped[int | None] = mapped_column(BigInteger)

    package: Mapped[Package] = relationship(back_populates="mailboxes")

    @property
    def effective_quota_bytes(self) -> int:
        return (
            self.quota_bytes
            if self.quota_bytes is not None
            else (self.package.plan.default_mailbox_quota_bytes)
        )


class Site(db.Model):
    """A website of a package, by its domain and document root relative to the home."""

    __tablename__ = "site"
    __table_args__ = (UniqueConstraint("package_id", "docroot"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("package.id"), index=True)
    domain: Mapped[str] = mapped_column(String(253))
    docroot: Mapped[str] = mapped_column(String(300))

    package: Mapped[Package] = relationship(back_populates="sites")


class HostedDatabase(db.Model):
    """A database belonging to a package (MySQL/MariaDB or PostgreSQL on the node)."""

    __tablename__ = "hosted_database"
    __table_args__ = (UniqueConstraint("package_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("package.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    engine: Mapped[str] = mapped_column(String(16), default="mysql")

    package: Mapped[Package] = relationship(back_populates="databases")
