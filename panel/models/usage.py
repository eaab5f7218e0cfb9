"""Measured storage: the history of every package's usage and the latest full report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panel.extensions import db
from panel.models.base import UTCDateTime
from panel.models.hosting import Package


class UsageSample(db.Model):
    """One measurement of a package: the total and every component, kept as history.

    ``components`` maps a component key to ``[bytes, items]``: ``mailbox:<address>``,
    ``site:<docroot>:<part>``, ``database:<name>``, ``other``. One row per package and
    measurement keeps a year of daily points for thousands of packages small; old raw
    points are thinned to one per day (``resolution``) by :mod:`panel.services.usage`.
    """

    __tablename__ = "usage_sample"
    __table_args__ = (Index("ix_usage_sample_package_taken", "package_id", "taken_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("package.id", ondelete="CASCADE"))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolution: Mapped[str] = mapped_column(String(8), default="raw")
    total_bytes: Mapped[int] = mapped_column(BigInteger)
    components: Mapped[dict[str, list[int]]] = mapped_column(JSON)


class PackageUsage(db.Model):
    """The latest measurement of a package, whole, for dashboards: one row per package."""

    __tablename__ = "package_usage"

    package_id: Mapped[int] = mapped_column(
        ForeignKey("package.id", ondelete="CASCADE"), primary_key=True
    )
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime())
    total_bytes: Mapped[int] = mapped_column(BigInteger)
    mail_bytes: Mapped[int] = mapped_column(BigInteger)
    site_bytes: Mapped[int] = mapped_column(BigInteger)
    database_bytes: Mapped[int] = mapped_column(BigInteger)
    other_bytes: Mapped[int] = mapped_column(BigInteger)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    scan_seconds: Mapped[float] = mapped_column(Float)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)

    package: Mapped[Package] = relationship()
