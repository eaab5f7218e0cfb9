"""Mail flow: the logs a hoster points Onus at, reading them as they grow into every hosted
mailbox's messages per hour and each refusal, and the figures the pages and the evidence
report show.

Reading is incremental (:mod:`panel.mailflow.follow` for where, :mod:`panel.mailflow.hourly`
for what): a read's counts, refusals, the log's position and the counting state are one
transaction, so a read that fails changes nothing and the next one reads the same lines again
— never a line twice, never one lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from panel.extensions import db
from panel.mailflow.hourly import RESULTS
from panel.mailflow.logs import FORMATS
from panel.models import HostingNode, MailFlowHour, MailLogSource, MailRefusal
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


# --- the figures --------------------------------------------------------------------------------


@dataclass
class DayFlow:
    """One mailbox's messages on one day (UTC), with its first and last refusal."""

    address: str
    day: date
    delivered: int = 0
    deferred: int = 0
    bounced: int = 0
    rejected: int = 0
    over_quota: int = 0
    first_refused_at: datetime | None = None
    last_refused_at: datetime | None = None
    first_over_quota_at: datetime | None = None
    last_over_quota_at: datetime | None = None

    @property
    def refused(self) -> int:
        return self.bounced + self.rejected


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return min((x for x in (a, b) if x is not None), default=None)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return max((x for x in (a, b) if x is not None), default=None)


def daily_flow(package_id: int, start: datetime, end: datetime) -> list[DayFlow]:
    """The package's mailboxes' messages per day in ``[start, end)``, by day and address.
    The caller has checked the package is in the viewer's scope."""
    days: dict[tuple[date, str], DayFlow] = {}

    def of(address: str, when: datetime) -> DayFlow:
        key = (when.date(), address)
        found = days.get(key)
        if found is None:
            found = days[key] = DayFlow(address, when.date())
        return found

    for row in db.session.scalars(
        select(MailFlowHour).where(
            MailFlowHour.package_id == package_id,
            MailFlowHour.hour >= start,
            MailFlowHour.hour < end,
        )
    ):
        flow = of(row.address, row.hour)
        for name in (*RESULTS, "over_quota"):
            setattr(flow, name, getattr(flow, name) + getattr(row, name))
        flow.first_over_quota_at = _earliest(flow.first_over_quota_at, row.first_over_quota_at)
        flow.last_over_quota_at = _latest(flow.last_over_quota_at, row.last_over_quota_at)
    for address, at in db.session.execute(
        select(MailRefusal.address, MailRefusal.at).where(
            MailRefusal.package_id == package_id,
            MailRefusal.at >= start,
            MailRefusal.at < end,
        )
    ):
        flow = of(address, at)
        flow.first_refused_at = _earliest(flow.first_refused_at, at)
        flow.last_refused_at = _latest(flow.last_refused_at, at)
    return [days[key] for key in sorted(days)]


def refusals(
    package_id: int, start: datetime, end: datetime, limit: int | None = None
) -> list[MailRefusal]:
    """The package's refused messages in ``[start, end)``, newest first."""
    query = (
        select(MailRefusal)
        .where(
            MailRefusal.package_id == package_id,
            MailRefusal.at >= start,
            MailRefusal.at < end,
        )
        .order_by(MailRefusal.at.desc(), MailRefusal.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.scalars(query))
