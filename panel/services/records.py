"""Create, change and remove an object in one audited transaction."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError

from panel.extensions import db
from panel.services import audit
from panel.services.errors import ServiceError
from panel.services.scope import Actor

T = TypeVar("T")


def commit_or_explain(conflict_message: str) -> None:
    """Commit; a uniqueness or reference conflict rolls back and becomes a ServiceError."""
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise ServiceError(conflict_message) from exc


def create(actor: Actor, obj: T, summary: str, conflict: str) -> T:
    """Insert ``obj`` and audit it."""
    db.session.add(obj)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise ServiceError(conflict) from exc
    audit.record(actor, "create", obj, summary, None, audit.snapshot(obj))
    commit_or_explain(conflict)
    return obj


def update(actor: Actor, obj: T, values: dict[str, Any], summary: str, conflict: str) -> T:
    """Set ``values`` on ``obj``; audit before/after when anything changed."""
    before = audit.snapshot(obj)
    for key, value in values.items():
        setattr(obj, key, value)
    after = audit.snapshot(obj)
    if after == before:
        return obj
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise ServiceError(conflict) from exc
    changed = {k for k in after if after[k] != before.get(k)}
    audit.record(
        actor,
        "update",
        obj,
        summary,
        {k: before.get(k) for k in changed},
        {k: after[k] for k in changed},
    )
    commit_or_explain(conflict)
    return obj


def save(
    actor: Actor,
    existing: T | None,
    model: type[T],
    values: dict[str, Any],
    label: str,
    conflict: str,
    **owner: Any,
) -> T:
    """Create a ``model`` from ``values`` and ``owner`` (e.g. ``package_id``), or change
    ``existing``; ``label`` ("Plan Start") names it in the audit summary."""
    if existing is None:
        return create(actor, model(**owner, **values), f"{label} created", conflict)
    return update(actor, existing, values, f"{label} changed", conflict)


def delete(actor: Actor, obj: object, summary: str, conflict: str) -> None:
    """Remove ``obj`` and audit what it was."""
    before = audit.snapshot(obj)
    audit.record(actor, "delete", obj, summary, before, None)
    db.session.delete(obj)
    commit_or_explain(conflict)
