"""The append-only audit log: who changed what, when, with the before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panel.extensions import db
from panel.models.base import created_at_column
from panel.models.party import Party, User


class AuditEvent(db.Model):
    """One change a person made. Never updated or deleted (the database refuses it too)."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = created_at_column()
    hoster_id: Mapped[int] = mapped_column(ForeignKey("party.id"), index=True)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    actor_party_id: Mapped[int | None] = mapped_column(ForeignKey("party.id"))
    action: Mapped[str] = mapped_column(String(32))
    subject_type: Mapped[str] = mapped_column(String(32), index=True)
    subject_id: Mapped[int | None] = mapped_column(Integer)
    summary: Mapped[str] = mapped_column(String(300))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    actor_user: Mapped[User | None] = relationship()
    actor_party: Mapped[Party | None] = relationship(foreign_keys=[actor_party_id])


class AuditImmutableError(RuntimeError):
    """Raised when code tries to change or remove an audit event."""


@event.listens_for(AuditEvent, "before_update")
def _refuse_update(*_: object) -> None:
    raise AuditImmutableError("audit events are append-only")


@event.listens_for(AuditEvent, "before_delete")
def _refuse_delete(*_: object) -> None:
    raise AuditImmutableError("audit events are append-only")
