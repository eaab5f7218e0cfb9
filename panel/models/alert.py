"""Alerts on a package's storage, the steps each one went through, and every notification
sent about them with what became of it.

An alert is one (subject, level): a mailbox or the whole package at notice, warning or
critical. At most one alert per subject is open at a time (``open_key`` is unique and
cleared on resolving); a higher level resolves the lower alert as raised and opens a new
one, so acknowledging a notice never silences the warning that follows.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panel.extensions import db
from panel.models.base import UTCDateTime, created_at_column
from panel.models.hosting import Package
from panel.models.party import Party, User


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class NotificationStatus(StrEnum):
    """What became of a notification. ``sent`` means handed to the recipient's mail server
    (or accepted by the webhook, or put in the panel inbox) — not read."""

    HELD = "held"  # waiting for the party's daily digest
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    BOUNCED = "bounced"
    WITHDRAWN = "withdrawn"  # a held reminder whose alert was resolved before the digest


class Alert(db.Model):
    """One level of trouble for one subject of a package, from opening to resolving."""

    __tablename__ = "alert"
    __table_args__ = (Index("ix_alert_package_status", "package_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("package.id", ondelete="CASCADE"))
    # "package", "mailbox:<address>" (its storage), "delivery:<address>" (its mail refused
    # because it is full), "silence:<address>" (its mail stopped)
    subject: Mapped[str] = mapped_column(String(300))
    category: Mapped[str] = mapped_column(String(32))  # the agreement's category for it
    level: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(16))  # threshold, forecast, refused, silent
    status: Mapped[str] = mapped_column(String(16), default=AlertStatus.OPEN)
    # "<package id>:<subject>" while not resolved: the database keeps one open per subject
    open_key: Mapped[str | None] = mapped_column(String(320), unique=True)
    used_bytes: Mapped[int] = mapped_column(BigInteger)
    quota_bytes: Mapped[int] = mapped_column(BigInteger)
    percent: Mapped[float] = mapped_column(Float)
    hours_to_full: Mapped[float | None] = mapped_column(Float)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime())
    step: Mapped[int] = mapped_column(Integer, default=0)  # 0: the responsible parties
    step_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reminders: Mapped[int] = mapped_column(Integer, default=0)
    next_reminder_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by_party_id: Mapped[int | None] = mapped_column(ForeignKey("party.id"))
    acknowledged_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    acknowledged_via: Mapped[str | None] = mapped_column(String(16))  # "panel", "link" or "api"
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution: Mapped[str | None] = mapped_column(String(32))  # "dropped" or "raised"
    # mail alerts: a "delivery" alert's messages refused because the mailbox is full, since
    # the first of them; a "silence" alert's since, the last delivery before the silence
    refused: Mapped[int] = mapped_column(Integer, default=0)
    since: Mapped[datetime | None] = mapped_column(UTCDateTime())

    package: Mapped[Package] = relationship()
    acknowledged_by_party: Mapped[Party | None] = relationship(
        foreign_keys=[acknowledged_by_party_id]
    )
    acknowledged_by_user: Mapped[User | None] = relationship()
    events: Mapped[list[AlertEvent]] = relationship(
        back_populates="alert", order_by="AlertEvent.id", cascade="all, delete-orphan"
    )
    notifications: Mapped[list[Notification]] = relationship(
        back_populates="alert", order_by="Notification.id"
    )


class AlertEvent(db.Model):
    """One step in an alert's life: opened, told, escalated (and why), acknowledged, resolved.

    Append-only, like the audit log: the record of who knew what, when."""

    __tablename__ = "alert_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(16))
    step: Mapped[int] = mapped_column(Integer, default=0)
    party_id: Mapped[int | None] = mapped_column(ForeignKey("party.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    detail: Mapped[str] = mapped_column(String(500), default="")

    alert: Mapped[Alert] = relationship(back_populates="events")
    party: Mapped[Party | None] = relationship()
    user: Mapped[User | None] = relationship()


class Notification(db.Model):
    """One message to one recipient on one channel (email, webhook or the panel inbox)
    about one alert event, or a digest carrying several held ones.

    ``dedup_key`` is unique: making the same notification twice, or a task delivering it
    twice, sends one message."""

    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_party_status", "party_id", "status"),
        Index("ix_notification_party_created", "party_id", "created_at"),
        Index("ix_notification_alert", "alert_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alert.id", ondelete="CASCADE"))
    party_id: Mapped[int] = mapped_column(ForeignKey("party.id"))
    kind: Mapped[str] = mapped_column(
        String(16)
    )  # opened/raised/escalated/reminder/resolved/digest
    channel: Mapped[str] = mapped_column(String(16))  # email/webhook/panel
    recipient: Mapped[str] = mapped_column(String(500))
    language: Mapped[str] = mapped_column(String(8), default="en")
    status: Mapped[str] = mapped_column(String(16), default=NotificationStatus.QUEUED)
    dedup_key: Mapped[str] = mapped_column(String(300), unique=True)
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("notification.id"), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = created_at_column()
    status_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    message_id: Mapped[str | None] = mapped_column(String(300))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    alert: Mapped[Alert | None] = relationship(back_populates="notifications")
    party: Mapped[Party] = relationship()
    digest: Mapped[Notification | None] = relationship(remote_side=[id])


class AlertHistoryError(RuntimeError):
    """Raised when code tries to change or remove a step of an alert's history."""


def _refuse(*_: object) -> None:
    raise AlertHistoryError("an alert's steps are never changed")


event.listen(AlertEvent, "before_update", _refuse)
