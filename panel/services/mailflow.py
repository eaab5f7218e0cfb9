"""Mail flow: the logs a hoster points Onus at, reading them as they grow into every hosted
mailbox's messages per hour and each refusal, and the figures the pages and the evidence
report show.

Reading is incremental (:mod:`panel.mailflow.follow` for where, :mod:`panel.mailflow.hourly`
for what): a read's counts, refusals, the log's position and the counting state are one
transaction, so a read that fails changes nothing and the next one reads the same lines again
— never a line twice, never one lost.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from panel.extensions import db
from panel.mailflow.logs import FORMATS
from panel.models import HostingNode, MailLogSource
from panel.services import audit
from panel.services.errors import ServiceError
from panel.services.scope import Actor, get_scoped, scoped

# --- the sources a hoster configures ------------------------------------------------------------


def _snapshot(source: MailLogSource) -> dict[str, Any]:
    return {
        "node_id": source.node_id,
        "path": source.path,
        "log_format": source.log_format,
        "enabled": source.enabled,
    }


def _check(path: str, log_format: str) -> str:
    path = path.strip()
    if not path.startswith("/") or "\x00" in path or len(path) > 1000:
        raise ServiceError(_("Give the log's full path on the node, starting with /."))
    if log_format not in FORMATS:
        raise ServiceError(_("Unknown log format."))
    return path


def add_source(
    actor: Actor, node_id: int, path: str, log_format: str = "auto", from_end: bool = False
) -> MailLogSource:
    """Point Onus at a log on one of the actor's nodes. ``from_end``: count only what is
    written from now on (else the file is read from its start, and what was rotated away
    before is not looked for)."""
    node = get_scoped(HostingNode, node_id, actor)
    path = _check(path, log_format)
    if db.session.scalar(
        select(MailLogSource.id).where(MailLogSource.node_id == node.id, MailLogSource.path == path)
    ):
        raise ServiceError(_("Onus follows this log on this node already."))
    source = MailLogSource(
        node_id=node.id,
        path=path,
        log_format=log_format,
        enabled=True,
        notes=[{"kind": "from_end"}] if from_end else [],
        lines_read=0,
        lines_skipped=0,
        not_hosted=0,
        last_error="",
    )
    db.session.add(source)
    db.session.flush()
    audit.record(
        actor,
        "create",
        source,
        f"Mail log {path} ({log_format}) followed on node {node.name}",
        None,
        _snapshot(source),
    )
    db.session.commit()
    return source


def update_source(actor: Actor, source_id: int, log_format: str, enabled: bool) -> MailLogSource:
    """Change a source's format or pause it; where it stopped is kept."""
    source = get_scoped(MailLogSource, source_id, actor)
    _check(source.path, log_format)
    before = _snapshot(source)
    if log_format != source.log_format:
        source.state = None  # another parser: its counting state does not carry over
    source.log_format = log_format
    source.enabled = enabled
    after = _snapshot(source)
    if after != before:
        audit.record(
            actor, "update", source, f"Mail log {source.path} on node {source.node.name} changed",
            before, after,
        )  # fmt: skip
    db.session.commit()
    return source


def remove_source(actor: Actor, source_id: int) -> None:
    """Stop following a log. The counts and refusals it gave stay (they are evidence)."""
    source = get_scoped(MailLogSource, source_id, actor)
    audit.record(
        actor,
        "delete",
        source,
        f"Mail log {source.path} on node {source.node.name} no longer followed",
        _snapshot(source),
        None,
    )
    db.session.delete(source)
    db.session.commit()


def sources_of(actor: Actor) -> list[MailLogSource]:
    """The actor's mail log sources, by node and path."""
    return list(
        db.session.scalars(
            scoped(MailLogSource, actor)
            .join(HostingNode, MailLogSource.node_id == HostingNode.id)
            .order_by(HostingNode.name, MailLogSource.path)
        )
    )
