"""Grace at full: what the policy server answers for a recipient, read from the database.

The server must answer in microseconds and never wait on the database, so this module
turns the database into a small in-memory :class:`Snapshot` (only the hosted addresses and
the mailboxes that are full, with since when and the grace their agreement gives), which
the server reloads in the background; :func:`decide` is pure and runs per request. The
refusals the server answered come back here in batches, to be counted like the ones the
mail logs tell of.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, or_, select

from panel.extensions import db
from panel.mailflow.hourly import hour_of
from panel.mailflow.logs import Outcome
from panel.models import Alert, Mailbox, MailRefusal, Package, PackageUsage, Plan
from panel.models.alert import AlertStatus
from panel.policy.agreement import DEFAULT_GRACE
from panel.services import mail_alerts, mailflow
from panel.services.agreements import current_of
from panel.services.alerts import Outcome as AlertOutcome
from panel.services.mailflow import IngestOutcome

SERVER = "onus-policy"  # MailRefusal.server of the refusals this service answered
# the task that tells of them, in a worker (services do not import the workers)
ALERT_TASK = "workers.tasks.alert_policy_refusals"


class Verdict(StrEnum):
    DUNNO = "dunno"  # not ours to decide: Postfix goes on with its own rules
    DEFER = "defer"  # 452 4.2.2: the sender retries for days
    BOUNCE = "bounce"  # 552 5.2.2: refused for good


@dataclass(frozen=True)
class Full:
    """A full mailbox: its package, since when it is full, and its agreement's grace."""

    package_id: int
    full_since: datetime
    grace: Mapping[str, Any]


@dataclass(frozen=True)
class Snapshot:
    """What the server answers from: every hosted address, and the full ones."""

    hosted: frozenset[str]
    full: Mapping[str, Full]
    loaded_at: datetime


def _defer_hours(grace: Mapping[str, Any]) -> float:
    hours = grace.get("defer_hours", DEFAULT_GRACE["defer_hours"])
    if isinstance(hours, bool) or not isinstance(hours, int | float) or hours < 0:
        return float(DEFAULT_GRACE["defer_hours"])
    return float(hours)


def verdict_at_full(full_since: datetime, grace: Mapping[str, Any], now: datetime) -> Verdict:
    """For a full mailbox: defer during the grace period, bounce after it (or at once when
    the agreement says ``bounce``)."""
    if grace.get("at_full", DEFAULT_GRACE["at_full"]) == "bounce":
        return Verdict.BOUNCE
    if now - full_since < timedelta(hours=_defer_hours(grace)):
        return Verdict.DEFER
    return Verdict.BOUNCE


def decide(
    used: int | None,
    quota: int,
    full_since: datetime | None,
    grace: Mapping[str, Any] | None,
    now: datetime,
) -> Verdict:
    """The answer for one mailbox: ``DUNNO`` unless it is full by its measurement (``used``
    at or over a positive ``quota``) or by an open alert (``full_since``)."""
    measured_full = used is not None and quota > 0 and used >= quota
    if not measured_full and full_since is None:
        return Verdict.DUNNO
    return verdict_at_full(full_since or now, grace or DEFAULT_GRACE, now)


def _usage_of(report: Any, address: str) -> int | None:
    try:
        value = report["mailboxes"][address]["bytes"]
    except (KeyError, TypeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _open_full_alerts() -> dict[str, datetime]:
    """Address -> the earliest start among its open critical storage and refusal alerts."""
    since: dict[str, datetime] = {}
    rows = db.session.execute(
        select(Alert.subject, Alert.opened_at, Alert.since).where(
            Alert.status != AlertStatus.RESOLVED,
            or_(
                (Alert.subject.like("mailbox:%")) & (Alert.level == "critical"),
                (Alert.subject.like("delivery:%")) & (Alert.reason == "refused"),
            ),
        )
    )
    for subject, opened_at, started in rows:
        address = subject.partition(":")[2].lower()
        start = started if subject.startswith("delivery:") and started else opened_at
        if address not in since or start < since[address]:
            since[address] = start
    return since


def load_snapshot(now: datetime) -> Snapshot:
    """Read the hosted addresses and the full mailboxes, in a few queries.

    A mailbox full only by its latest measurement (no alert yet) counts as full since that
    measurement; the alert, once opened, gives the earlier start.
    """
    mailboxes = db.session.execute(
        select(
            Mailbox.address,
            Mailbox.package_id,
            Mailbox.quota_bytes,
            Plan.default_mailbox_quota_bytes,
        )
        .join(Package, Mailbox.package_id == Package.id)
        .join(Plan, Package.plan_id == Plan.id)
    ).all()
    latest = {
        package_id: (measured_at, report)
        for package_id, measured_at, report in db.session.execute(
            select(PackageUsage.package_id, PackageUsage.measured_at, PackageUsage.report)
        )
    }
    alerted = _open_full_alerts()
    hosted: set[str] = set()
    found: dict[str, tuple[int, datetime]] = {}
    for address, package_id, own_quota, plan_quota in mailboxes:
        key = address.lower()
        hosted.add(key)
        quota = own_quota if own_quota is not None else plan_quota
        measured_at, report = latest.get(package_id, (None, None))
        used = _usage_of(report, address) if report is not None else None
        if decide(used, quota or 0, alerted.get(key), DEFAULT_GRACE, now) is Verdict.DUNNO:
            continue
        found[key] = (package_id, alerted.get(key) or measured_at or now)
    agreements = current_of({package_id for package_id, _ in found.values()})
    full = {
        address: Full(
            package_id,
            since,
            agreements[package_id].grace
            if package_id in agreements and isinstance(agreements[package_id].grace, dict)
            else DEFAULT_GRACE,
        )
        for address, (package_id, since) in found.items()
    }
    db.session.rollback()  # a read: end the transaction so the next load sees new rows
    return Snapshot(frozenset(hosted), full, now)


@dataclass(frozen=True)
class Answered:
    """One refusal the server answered, waiting to be counted."""

    package_id: int
    address: str
    at: datetime
    verdict: Verdict
    action: str


def record_refusals(answered: Iterable[Answered]) -> int:
    """Count answered refusals in the mail-flow figures, as the log ingest counts its own:
    each hour row added to (created when new), and one refusal row per message. One
    transaction: on failure nothing is counted and the caller keeps the batch."""
    batch = [a for a in answered if a.verdict is not Verdict.DUNNO]
    if not batch:
        return 0
    deltas: dict[tuple[int, str, datetime], Outcome] = {}
    for item in batch:
        counts = deltas.setdefault((item.package_id, item.address, hour_of(item.at)), Outcome())
        if item.verdict is Verdict.BOUNCE:
            counts.rejected += 1
            counts.note_over_quota(item.at)
        else:
            counts.deferred += 1
    try:
        mailflow.add_to_hours(deltas)
        # one multi-row statement: the writer shares the server's interpreter, keep it short
        db.session.execute(
            insert(MailRefusal),
            [
                {
                    "package_id": item.package_id,
                    "source_id": None,
                    "address": item.address,
                    "at": item.at,
                    "kind": "rejected",
                    "over_quota": True,
                    "dsn": "4.2.2" if item.verdict is Verdict.DEFER else "5.2.2",
                    "reason": item.action[:1000],
                    "queue_id": None,
                    "server": SERVER,
                }
                for item in batch
            ],
        )
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return len(batch)


Refused = tuple[int, str, datetime]  # package id, address, when


def refused_of(answered: Iterable[Answered]) -> list[Refused]:
    """The refusals among the server's answers, as the delivery alerts take them."""
    return [(a.package_id, a.address, a.at) for a in answered if a.verdict is not Verdict.DUNNO]


def alert_refusals(refused: Iterable[Refused], now: datetime) -> AlertOutcome:
    """Open or grow the delivery alert of each mailbox whose mail the server deferred or
    refused, as the log ingest does for refusals it reads: mail held back during the grace
    is exactly what the responsible party must hear of before it bounces."""
    ingested = IngestOutcome()
    for package_id, address, at in refused:
        ingested.over_quota.setdefault(package_id, {}).setdefault(address, []).append(at)
    return mail_alerts.after_ingest(ingested, now)
