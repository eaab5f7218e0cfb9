"""Mail flow: the logs a hoster points Onus at, reading them as they grow into every hosted
mailbox's messages per hour and each refusal, and the figures the pages and the evidence
report show.

Reading is incremental (:mod:`panel.mailflow.follow` for where, :mod:`panel.mailflow.hourly`
for what): a read's counts, refusals, the log's position and the counting state are one
transaction, so a read that fails changes nothing and the next one reads the same lines again
— never a line twice, never one lost.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select, update

from panel.extensions import db
from panel.mailflow.follow import Note, Position, read_new
from panel.mailflow.hourly import RESULTS, Batch, FlowCounter, StateError
from panel.mailflow.logs import FORMATS, Outcome
from panel.models import (
    HostingNode,
    Mailbox,
    MailFlowHour,
    MailLogDay,
    MailLogSource,
    MailRefusal,
    Package,
    ReceivedBounce,
)
from panel.services import audit
from panel.services.errors import ServiceError
from panel.services.scope import Actor, get_scoped, scoped

log = logging.getLogger(__name__)

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


def earliest(*values: datetime | None) -> datetime | None:
    """The earliest of the times that are known."""
    return min((value for value in values if value is not None), default=None)


def latest(*values: datetime | None) -> datetime | None:
    """The latest of the times that are known."""
    return max((value for value in values if value is not None), default=None)


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
        flow.first_over_quota_at = earliest(flow.first_over_quota_at, row.first_over_quota_at)
        flow.last_over_quota_at = latest(flow.last_over_quota_at, row.last_over_quota_at)
    for address, at in db.session.execute(
        select(MailRefusal.address, MailRefusal.at).where(
            MailRefusal.package_id == package_id,
            MailRefusal.at >= start,
            MailRefusal.at < end,
        )
    ):
        flow = of(address, at)
        flow.first_refused_at = earliest(flow.first_refused_at, at)
        flow.last_refused_at = latest(flow.last_refused_at, at)
    return [days[key] for key in sorted(days)]


@dataclass(frozen=True)
class FlowTotals:
    """A package's mailboxes' messages over a period, summed."""

    delivered: int
    refused: int
    over_quota: int


def totals(package_id: int, start: datetime, end: datetime) -> FlowTotals:
    """The package's messages delivered and refused in ``[start, end)``, in one query."""
    delivered, bounced, rejected, over_quota = db.session.execute(
        select(
            func.coalesce(func.sum(MailFlowHour.delivered), 0),
            func.coalesce(func.sum(MailFlowHour.bounced), 0),
            func.coalesce(func.sum(MailFlowHour.rejected), 0),
            func.coalesce(func.sum(MailFlowHour.over_quota), 0),
        ).where(
            MailFlowHour.package_id == package_id,
            MailFlowHour.hour >= start,
            MailFlowHour.hour < end,
        )
    ).one()
    return FlowTotals(int(delivered), int(bounced) + int(rejected), int(over_quota))


def log_coverage(package: Package) -> tuple[int, datetime | None]:
    """How many logs Onus reads on the package's node, and when it last read one: what every
    party of the package may know of them (the sources themselves are the hoster's)."""
    enabled, last_read = db.session.execute(
        select(func.count(MailLogSource.id), func.max(MailLogSource.last_read_at)).where(
            MailLogSource.node_id == package.node_id, MailLogSource.enabled.is_(True)
        )
    ).one()
    return int(enabled or 0), last_read


def unmatched_bounces() -> tuple[int, int]:
    """Messages to the return address that were not bounces, and bounces of no warning of
    Onus: counted for every hoster, shown to none (they may be any hoster's business)."""
    not_bounces, unmatched = db.session.execute(
        select(
            func.count().filter(ReceivedBounce.is_bounce.is_(False)),
            func.count().filter(ReceivedBounce.is_bounce.is_(True)),
        ).where(ReceivedBounce.notification_id.is_(None))
    ).one()
    return int(not_bounces), int(unmatched)


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


# --- reading the logs -----------------------------------------------------------------------------

READ_BYTES = 8 * 1024 * 1024  # one read (one transaction) takes at most this much of a log
READS_PER_RUN = 64  # then the run stops; the next one goes on where it stopped
NOTES_KEPT = 20
_IN_CHUNK = 500


@dataclass
class IngestOutcome:
    """What reading a node's logs did: counts for the task's result, and the over-quota
    refusals per package and address for the alerts."""

    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # package id -> address -> times of the over-quota refusals read
    over_quota: dict[int, dict[str, list[datetime]]] = field(default_factory=dict)
    # package id -> addresses that had a message delivered
    delivered: dict[int, set[str]] = field(default_factory=dict)


def _key() -> bytes:
    return str(current_app.config["SECRET_KEY"]).encode()


def nodes_with_sources() -> list[HostingNode]:
    """The nodes with an enabled mail log to follow."""
    return list(
        db.session.scalars(
            select(HostingNode)
            .where(
                HostingNode.id.in_(
                    select(MailLogSource.node_id).where(MailLogSource.enabled.is_(True))
                )
            )
            .order_by(HostingNode.id)
        )
    )


def ingest_node(node_id: int, now: datetime) -> IngestOutcome:
    """Read what is new in every enabled log of a node (runs where the files are)."""
    out = IngestOutcome()
    ids = list(
        db.session.scalars(
            select(MailLogSource.id)
            .where(MailLogSource.node_id == node_id, MailLogSource.enabled.is_(True))
            .order_by(MailLogSource.id)
        )
    )
    for source_id in ids:
        ingest_source(source_id, now, out)
    return out


def ingest_source(source_id: int, now: datetime, out: IngestOutcome | None = None) -> IngestOutcome:
    """Read one log as far as it has grown, in steps of READ_BYTES, one transaction each."""
    out = out if out is not None else IngestOutcome()
    started = time.perf_counter()
    for _step in range(READS_PER_RUN):
        source = db.session.get(MailLogSource, source_id)
        if source is None:
            break
        try:
            more = _read_once(source, now, out)
        except Exception as exc:  # a bad row or a lost connection: nothing of this read is kept
            db.session.rollback()
            log.exception("reading mail log source %s failed", source_id)
            source = db.session.get(MailLogSource, source_id)
            if source is not None:
                source.last_error = f"{type(exc).__name__}: {exc}"[:500]
                source.last_read_at = now
                db.session.commit()
            out.counts["failed"] += 1
            break
        if not more:
            break
    source = db.session.get(MailLogSource, source_id)
    if source is not None:  # the whole read's duration, for /metrics
        source.last_read_seconds = time.perf_counter() - started
        db.session.commit()
    return out


def _note(note: Note) -> dict[str, Any]:
    return {"kind": note.kind, "path": note.path, "detail": note.detail, "bytes": note.bytes}


def _counter(source: MailLogSource, now: datetime, notes: list[dict[str, Any]]) -> FlowCounter:
    if source.state is None:
        return FlowCounter(source.log_format, now)
    try:
        return FlowCounter.loads(source.state, _key())
    except StateError as exc:
        notes.append({"kind": "state_lost", "path": source.path, "detail": str(exc), "bytes": None})
        return FlowCounter(source.log_format, now)


def _position(source: MailLogSource, notes: list[dict[str, Any]]) -> tuple[Position | None, bool]:
    """Where to go on, and whether to start at the end (a new source told to, or a position
    that cannot be read: reading from the start again could count lines twice)."""
    from_end = any(note.get("kind") == "from_end" for note in source.notes or [])
    if source.position is None:
        return None, from_end
    try:
        return Position.from_json(source.position), False
    except (ValueError, TypeError, KeyError) as exc:
        notes.append(
            {"kind": "position_lost", "path": source.path, "detail": str(exc), "bytes": None}
        )
        return None, True


def _read_once(source: MailLogSource, now: datetime, out: IngestOutcome) -> bool:
    """One step: read, count, and store the counts, refusals, position and state together.
    Whether there is more to read.

    The position is written only where it is still the one this read started from: a second
    run reading the same log at the same time finds it moved, rolls back and counts nothing."""
    notes: list[dict[str, Any]] = []
    started_at = source.position
    position, from_end = _position(source, notes)
    counter = _counter(source, now, notes)
    chunk = read_new(Path(source.path), position, READ_BYTES, from_end=from_end)
    notes += [_note(note) for note in chunk.notes]
    if chunk.error is not None:
        source.last_read_at = now
        source.last_error = chunk.error.detail[:500] or chunk.error.kind
        source.notes = [*(source.notes or []), *notes][-NOTES_KEPT:]
        db.session.commit()
        out.counts["errors"] += 1
        return False
    batch = counter.feed(chunk.lines(), now)
    recipients = {r for r, _h in batch.hours} | {r.recipient for r in batch.refusals}
    hosted = _hosted(source.node.hoster_id, recipients)
    _store_hours(batch, hosted, out)
    _store_refusals(source.id, batch, hosted, out)
    _store_days(source.id, batch)
    moved = db.session.execute(
        update(MailLogSource)
        .where(
            MailLogSource.id == source.id,
            MailLogSource.position == started_at
            if started_at is not None
            else MailLogSource.position.is_(None),
        )
        .values(
            position=chunk.position.to_json() if chunk.position is not None else None,
            state=counter.dumps(_key()),
        )
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        db.session.rollback()
        out.counts["raced"] += 1
        return False
    source.last_read_at = now
    source.lines_read += batch.lines
    source.lines_skipped += batch.skipped
    source.not_hosted += sum(
        counts.delivered + counts.bounced + counts.rejected
        for (recipient, _hour), counts in batch.hours.items()
        if recipient not in hosted
    )
    if batch.latest is not None and (
        source.last_record_at is None or batch.latest > source.last_record_at
    ):
        source.last_record_at = batch.latest
    source.last_error = ""
    kept = [note for note in (source.notes or []) if note.get("kind") != "from_end"]
    source.notes = [*kept, *notes][-NOTES_KEPT:]
    db.session.commit()
    out.counts["lines"] += batch.lines
    out.counts["skipped"] += batch.skipped
    out.counts["reads"] += 1
    return chunk.more


def _hosted(hoster_id: int, recipients: set[str]) -> dict[str, int]:
    """Address -> package id, for the recipients that are mailboxes of the hoster's packages."""
    found: dict[str, int] = {}
    addresses = sorted(recipients)
    for start in range(0, len(addresses), _IN_CHUNK):
        found.update(
            db.session.execute(
                select(Mailbox.address, Mailbox.package_id)
                .join(Package, Mailbox.package_id == Package.id)
                .where(
                    Package.hoster_id == hoster_id,
                    Mailbox.address.in_(addresses[start : start + _IN_CHUNK]),
                )
            ).all()
        )
    return found


def _store_hours(batch: Batch, hosted: dict[str, int], out: IngestOutcome) -> None:
    """Add the batch's deltas of hosted mailboxes to their hour rows."""
    wanted = {
        (hosted[recipient], recipient, hour): counts
        for (recipient, hour), counts in batch.hours.items()
        if recipient in hosted
    }
    add_to_hours(wanted)
    for (package_id, address, _hour), counts in wanted.items():
        if counts.delivered > 0:
            out.delivered.setdefault(package_id, set()).add(address)


def add_to_hours(deltas: Mapping[tuple[int, str, datetime], Outcome]) -> None:
    """Add counts to the hour rows of (package, address, hour), creating the new ones: the
    one way the log ingest and the policy service count (the caller commits)."""
    if not deltas:
        return
    hours = [hour for _p, _a, hour in deltas]
    existing = {
        (row.package_id, row.address, row.hour): row
        for row in db.session.scalars(
            select(MailFlowHour).where(
                MailFlowHour.package_id.in_({p for p, _a, _h in deltas}),
                MailFlowHour.hour >= min(hours),
                MailFlowHour.hour <= max(hours),
                MailFlowHour.address.in_({a for _p, a, _h in deltas}),
            )
        )
    }
    for (package_id, address, hour), counts in deltas.items():
        row = existing.get((package_id, address, hour))
        if row is None:
            row = MailFlowHour(
                package_id=package_id, address=address, hour=hour,
                delivered=0, deferred=0, bounced=0, rejected=0, over_quota=0,
            )  # fmt: skip
            db.session.add(row)
        for name in (*RESULTS, "over_quota"):
            setattr(row, name, getattr(row, name) + getattr(counts, name))
        if counts.first_over_quota is not None:
            row.first_over_quota_at = earliest(row.first_over_quota_at, counts.first_over_quota)
            row.last_over_quota_at = latest(row.last_over_quota_at, counts.last_over_quota)


def _store_refusals(
    source_id: int, batch: Batch, hosted: dict[str, int], out: IngestOutcome
) -> None:
    for refusal in batch.refusals:
        package_id = hosted.get(refusal.recipient)
        if package_id is None:
            continue
        db.session.add(
            MailRefusal(
                package_id=package_id,
                source_id=source_id,
                address=refusal.recipient,
                at=refusal.at,
                kind=refusal.result,
                over_quota=refusal.over_quota,
                dsn=refusal.dsn,
                reason=_one_line(refusal.reason, 1000),
                queue_id=(refusal.queue_id or None) and refusal.queue_id[:40],
                server=refusal.source,
            )
        )
        out.counts["refusals"] += 1
        if refusal.over_quota:
            by_address = out.over_quota.setdefault(package_id, {})
            by_address.setdefault(refusal.recipient, []).append(refusal.at)
    for amendment in batch.amendments:
        package_id = hosted.get(amendment.recipient)
        if package_id is None:
            continue
        found = db.session.scalars(
            select(MailRefusal)
            .where(
                MailRefusal.package_id == package_id,
                MailRefusal.address == amendment.recipient,
                MailRefusal.at == amendment.at,
                MailRefusal.over_quota.is_(False),
            )
            .limit(1)
        ).first()
        if found is not None:
            found.over_quota = True
            found.dsn = found.dsn or amendment.dsn
            found.reason = found.reason or _one_line(amendment.reason, 1000)
        by_address = out.over_quota.setdefault(package_id, {})
        by_address.setdefault(amendment.recipient, []).append(amendment.at)


def _one_line(text: str, limit: int) -> str:
    return " ".join(text.split())[:limit]


def _store_days(source_id: int, batch: Batch) -> None:
    if not batch.days:
        return
    existing = {
        row.day: row
        for row in db.session.scalars(
            select(MailLogDay).where(
                MailLogDay.source_id == source_id, MailLogDay.day.in_(list(batch.days))
            )
        )
    }
    for day, records in batch.days.items():
        row = existing.get(day)
        if row is None:
            db.session.add(MailLogDay(source_id=source_id, day=day, records=records))
        else:
            row.records += records
