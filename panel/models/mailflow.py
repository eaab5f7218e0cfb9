"""What the mail servers' own records say: the logs Onus follows on each node, every hosted
mailbox's messages per hour, each refused message with the server's words, and the bounces
that came back to Onus's return address."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panel.extensions import db
from panel.models.base import UTCDateTime, created_at_column
from panel.models.hosting import HostingNode

_BIG_ID = BigInteger().with_variant(Integer, "sqlite")


class MailLogSource(db.Model):
    """A mail log on a hosting node that Onus follows: where the last read stopped (device,
    inode, offset and a fingerprint of the file's start), the counting state between reads,
    and what the reads found, so the hoster sees a log that stopped or cannot be read."""

    __tablename__ = "mail_log_source"
    __table_args__ = (UniqueConstraint("node_id", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("hosting_node.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(String(1000))
    log_format: Mapped[str] = mapped_column(String(16), default="auto")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[str | None] = mapped_column(Text)  # follow.Position as JSON
    state: Mapped[bytes | None] = mapped_column(LargeBinary)  # hourly.FlowCounter, signed
    created_at: Mapped[datetime] = created_at_column()
    last_read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_record_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str] = mapped_column(String(500), default="")
    lines_read: Mapped[int] = mapped_column(BigInteger, default=0)
    lines_skipped: Mapped[int] = mapped_column(BigInteger, default=0)
    # deliveries to addresses no package of the node's hoster serves (relayed, outgoing)
    not_hosted: Mapped[int] = mapped_column(BigInteger, default=0)
    notes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # the last reads'
    last_read_seconds: Mapped[float | None] = mapped_column(Float)  # how long the last read took

    node: Mapped[HostingNode] = relationship()


class MailLogDay(db.Model):
    """How many delivery records of a log fell on a day: a day with none is a day the mail
    figures cannot speak for, and the evidence report says so."""

    __tablename__ = "mail_log_day"
    __table_args__ = (UniqueConstraint("source_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(
        ForeignKey("mail_log_source.id", ondelete="CASCADE"), index=True
    )
    day: Mapped[date] = mapped_column(Date)
    records: Mapped[int] = mapped_column(Integer, default=0)


class MailFlowHour(db.Model):
    """One hosted mailbox's messages in one hour, as the logs tell: delivered, ever deferred,
    bounced after queueing, rejected at SMTP time, and how many of the bounced and rejected
    were refused because the mailbox was full, with the first and last of those."""

    __tablename__ = "mail_flow_hour"
    __table_args__ = (
        UniqueConstraint("package_id", "address", "hour"),
        Index("ix_mail_flow_hour_package_hour", "package_id", "hour"),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("package.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(254))
    hour: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered: Mapped[int] = mapped_column(Integer, default=0)
    deferred: Mapped[int] = mapped_column(Integer, default=0)
    bounced: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    over_quota: Mapped[int] = mapped_column(Integer, default=0)
    first_over_quota_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_over_quota_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MailRefusal(db.Model):
    """One message refused for a hosted mailbox, with the server's status code and words:
    the evidence, message by message."""

    __tablename__ = "mail_refusal"
    __table_args__ = (Index("ix_mail_refusal_package_at", "package_id", "at"),)

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("package.id", ondelete="CASCADE"))
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("mail_log_source.id", ondelete="SET NULL")
    )
    address: Mapped[str] = mapped_column(String(254))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(16))  # "bounced" or "rejected"
    over_quota: Mapped[bool] = mapped_column(Boolean, default=False)
    dsn: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(1000), default="")
    queue_id: Mapped[str | None] = mapped_column(String(40))
    server: Mapped[str] = mapped_column(String(16), default="")  # postfix, exim, dovecot


class ReceivedBounce(db.Model):
    """A message that came back to Onus's return address, what Onus made of it, and the
    warning it returned when it was one: kept with its diagnostic, bounce or not."""

    __tablename__ = "received_bounce"
    __table_args__ = (Index("ix_received_bounce_received", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    is_bounce: Mapped[bool] = mapped_column(Boolean, default=False)
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notification.id", ondelete="SET NULL"), index=True
    )
    recipient: Mapped[str | None] = mapped_column(String(254))
    status: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str | None] = mapped_column(String(16))
    permanent: Mapped[bool] = mapped_column(Boolean, default=False)
    diagnostic: Mapped[str] = mapped_column(String(1000), default="")
    outcome: Mapped[str] = mapped_column(String(300), default="")
    size: Mapped[int] = mapped_column(Integer, default=0)


class QuotaWarning(db.Model):
    """A mail server said a mailbox crossed a quota percentage (Dovecot's ``quota_warning``),
    and what Onus did about it: heard before the next scan would have seen it."""

    __tablename__ = "quota_warning"
    __table_args__ = (Index("ix_quota_warning_package_at", "package_id", "at"),)

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("package.id", ondelete="CASCADE"))
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailbox.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    percent: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16), default="dovecot")  # or "doveadm"
    used_bytes: Mapped[int | None] = mapped_column(BigInteger)
    quota_bytes: Mapped[int | None] = mapped_column(BigInteger)
    outcome: Mapped[str] = mapped_column(String(300), default="")
