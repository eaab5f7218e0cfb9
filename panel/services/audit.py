"""Append-only audit events for every change a person makes."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import inspect

from panel.extensions import db
from panel.models import AuditEvent
from panel.services.scope import Actor

SECRET_COLUMNS = frozenset({"password_hash", "token_hash", "secret"})


def snapshot(obj: object) -> dict[str, Any]:
    """The object's column values, JSON-safe, secrets left out."""
    values: dict[str, Any] = {}
    for column in inspect(obj).mapper.column_attrs:  # type: ignore[union-attr]
        if column.key in SECRET_COLUMNS:
            continue
        value = getattr(obj, column.key)
        if isinstance(value, datetime | date):
            value = value.isoformat()
        elif isinstance(value, Enum):
            value = value.value
        values[column.key] = value
    return values


def record(
    actor: Actor | None,
    action: str,
    subject: object,
    summary: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    tenant_id: int | None = None,
) -> AuditEvent:
    """Add an audit event to the current transaction (the caller commits)."""
    event = AuditEvent(
        hoster_id=tenant_id if tenant_id is not None else actor.tenant_id,  # type: ignore[union-attr]
        actor_user_id=actor.user_id if actor else None,
        actor_party_id=actor.party_id if actor else None,
        action=action,
        subject_type=type(subject).__name__,
        subject_id=getattr(subject, "id", None),
        summary=summary[:300],
        before=before,
        after=after,
    )
    db.session.add(event)
    return event
