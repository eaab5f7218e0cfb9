"""Parties (hoster, builder, owner), the people in them, their contacts and invitations."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panel.extensions import db
from panel.models.base import UTCDateTime, created_at_column


class PartyKind(StrEnum):
    HOSTER = "hoster"
    BUILDER = "builder"
    OWNER = "owner"


class ContactKind(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class Party(db.Model):
    """An organisation around packages. A builder or owner belongs to one hoster's tenancy."""

    __tablename__ = "party"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8), default="en")
    hoster_id: Mapped[int | None] = mapped_column(ForeignKey("party.id"), index=True)
    created_at: Mapped[datetime] = created_at_column()

    hoster: Mapped[Party | None] = relationship(remote_side=[id])
    contacts: Mapped[list[Contact]] = relationship(
        back_populates="party", order_by="Contact.id", cascade="all, delete-orphan"
    )
    memberships: Mapped[list[Membership]] = relationship(
        back_populates="party", cascade="all, delete-orphan"
    )

    @property
    def tenant_id(self) -> int:
        """The hoster party whose tenancy this party lives in (itself for a hoster)."""
        return self.id if self.kind == PartyKind.HOSTER else int(self.hoster_id or 0)

    def __repr__(self) -> str:
        return f"<Party {self.kind} {self.name!r}>"


class User(UserMixin, db.Model):
    """A person who logs in. Belongs to one or more parties through memberships."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(8), default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Amsterdam")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_at_column()
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", order_by="Membership.id", cascade="all, delete-orphan"
    )

    @property
    def is_active(self) -> bool:  # Flask-Login: an inactive user cannot log in
        return self.active


class Membership(db.Model):
    """A person's place in a party; a person may switch between the parties they belong to."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("user_id", "party_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("party.id"), index=True)
    created_at: Mapped[datetime] = created_at_column()

    user: Mapped[User] = relationship(back_populates="memberships")
    party: Mapped[Party] = relationship(back_populates="memberships")


class Contact(db.Model):
    """An out-of-band route to a party: an email address or a webhook URL."""

    __tablename__ = "contact"

    id: Mapped[int] = mapped_column(primary_key=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("party.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(500))
    label: Mapped[str] = mapped_column(String(100), default="")
    # a webhook's body: "json" (Onus's own document) or "slack" (Slack/Mattermost's {"text"})
    webhook_format: Mapped[str] = mapped_column(String(16), default="json", server_default="json")
    # a webhook's signing key: each post carries an HMAC-SHA256 of its body under it
    secret: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at_column()

    party: Mapped[Party] = relationship(back_populates="contacts")


class Invitation(db.Model):
    """A one-time invitation for a person to join a party; the link carries a signed id."""

    __tablename__ = "invitation"

    id: Mapped[int] = mapped_column(primary_key=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("party.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200))
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = created_at_column()
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    party: Mapped[Party] = relationship()
