"""Liveness of the background workers, so the panel can say when nothing is running."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from panel.extensions import db
from panel.models.base import UTCDateTime


class WorkerHeartbeat(db.Model):
    """The last time beat's heartbeat task ran on a worker host."""

    __tablename__ = "worker_heartbeat"

    hostname: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())
