"""Alerts from measurements: open, raise, lower and resolve them, tell the party that
answers for the subject, escalate when nobody acknowledges, remind on a growing interval.

The decisions are the pure core's (:mod:`panel.policy.alerts`); this service reads the
figures, applies the decisions in one transaction per package and makes the
notifications (:mod:`panel.services.notifications`), whose ids the caller hands to the
sending task after the commit.
"""

from __future__ import annotations

import gc
import itertools
import logging
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from panel.extensions import db
from panel.models import (
    Agreement,
    Alert,
    AlertEvent,
    AlertStatus,
    Assignment,
    Mailbox,
    Membership,
    Notification,
    Package,
    PackageStatus,
    Party,
    Plan,
    ReceivedBounce,
    UsageSample,
)
from panel.policy import agreement as terms
from panel.policy import alerts as policy
from panel.services import agreements, audit, bounces, notifications
from panel.services.errors import ServiceError
from panel.services.scope import Actor

log = logging.getLogger(__name__)

HISTORY = max(policy.FORECAST_WINDOWS)  # how far back the forecast looks
CHUNK = 500  # packages evaluated per round of queries
BATCH = 50  # packages (alerts) committed together


@dataclass
class Subject:
    """One thing measured against a quota: the whole package, or one of its mailboxes."""

    key: str  # "package" or "mailbox:<address>"
    category: str
    quota: int
    points: list[policy.Point] = field(default_factory=list)


@dataclass
class Facts:
    """What the evaluation of one package needs, read in bulk for many packages."""

    package_id: int
    thresholds: dict[str, int]
    subjects: dict[str, Subject]
    components: dict[str, list[int]]  # of the latest measurement
    # the agreement's versions with their acknowledgements, read when the package needs telling
    history: list[Agreement] = field(default_factory=list)


@dataclass
class Outcome:
    """What an evaluation did, and the notifications to send once it is committed."""

    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    to_send: list[int] = field(default_factory=list)

    def add(self, other: Outcome) -> None:
        for key, value in other.counts.items():
            self.counts[key] += value
        self.to_send.extend(other.to_send)


# --- reading the facts ------------------------------------------------------------------------


def _facts(package_ids: Sequence[int], now: datetime) -> dict[int, Facts]:
    """The facts of many packages in five queries (plans, mailboxes, agreements, history)."""
    rows = db.session.execute(
        select(
            Package.id,
            Plan.storage_quota_bytes,
            Plan.default_mailbox_quota_bytes,
            Plan.notice_percent,
            Plan.warning_percent,
            Plan.critical_percent,
        )
        .join(Plan, Package.plan_id == Plan.id)
        .where(Package.id.in_(package_ids), Package.status != PackageStatus.CANCELLED)
    ).all()
    facts: dict[int, Facts] = {}
    mailbox_default: dict[int, int] = {}
    for package_id, quota, mailbox_quota, notice, warning, critical in rows:
        facts[package_id] = Facts(
            package_id,
            {"notice": notice, "warning": warning, "critical": critical},
            {"package": Subject("package", "capacity", quota)},
            {},
        )
        mailbox_default[package_id] = mailbox_quota
    ids = list(facts)
    if not ids:
        return facts
    for package_id, address, quota in db.session.execute(
        select(Mailbox.package_id, Mailbox.address, Mailbox.quota_bytes).where(
            Mailbox.package_id.in_(ids)
        )
    ):
        key = f"mailbox:{address}"
        limit = quota if quota is not None else mailbox_default[package_id]
        facts[package_id].subjects[key] = Subject(key, "mailbox", limit)
    for package_id, agreement in agreements.current_of(ids).items():
        facts[package_id].thresholds = agreement.thresholds
    recent = db.session.execute(
        select(
            UsageSample.package_id,
            UsageSample.taken_at,
            UsageSample.total_bytes,
            UsageSample.components,
        )
        .where(
            UsageSample.package_id.in_(ids),
            UsageSample.taken_at >= now - HISTORY,
            UsageSample.taken_at <= now,
        )
        .order_by(UsageSample.package_id, UsageSample.taken_at)
    )
    for package_id, rows in itertools.groupby(recent, key=operator.itemgetter(0)):
        found = facts[package_id]
        samples = [(at, total, components) for _id, at, total, components in rows]
        for key, subject in found.subjects.items():
            subject.points = (
                [policy.Point(at, total) for at, total, _c in samples]
                if key == "package"
                else [policy.Point(at, c[key][0]) for at, _t, c in samples if key in c]
            )
        found.components = samples[-1][2]
    return facts


def _open_alerts(package_ids: Sequence[int]) -> dict[tuple[int, str], Alert]:
    return {
        (alert.package_id, alert.subject): alert
        for alert in db.session.scalars(
            select(Alert).where(Alert.package_id.in_(package_ids), Alert.open_key.is_not(None))
        )
    }


# --- who is told --------------------------------------------------------------------------------


def roles_of(package: Package) -> dict[int, str]:
    """Party id → role on the package (hoster, builder, owner)."""
    return {a.party_id: a.role for a in sorted(package.assignments, key=lambda a: a.id)}


def responsible_parties(
    package: Package,
    categories: Sequence[str],
    level: str,
    history: Sequence[Agreement],
    now: datetime,
) -> dict[int, str]:
    """The parties to tell first: for critical, every party of the package at once; without
    an agreement, every party too (DESIGN.md); else those who answer for the categories
    under the agreement in force for each of them."""
    assigned = roles_of(package)
    if level == "critical" or not history:
        return assigned
    found: dict[int, str] = {}
    for category in categories:
        for answerer, _party in agreements.who_answered(package.id, category, now, history):
            found.setdefault(answerer.party_id, answerer.role)
    # nobody left answering (a party taken off since): nobody must be missed
    return {p: r for p, r in assigned.items() if p in found} or assigned


def told_parties(alert: Alert) -> set[int]:
    """The parties that have been told about this alert on any channel."""
    return {n.party_id for n in alert.notifications}


def _categories(alert: Alert, components: dict[str, list[int]]) -> list[str]:
    if alert.subject == "package":
        return policy.involved_categories(components)
    return [alert.category]


# --- applying decisions -------------------------------------------------------------------------


def add_event(alert: Alert, kind: str, at: datetime, detail: str = "", **who: int | None) -> None:
    alert.events.append(AlertEvent(at=at, kind=kind, step=alert.step, detail=detail[:500], **who))


def _figures(alert: Alert, assessment: policy.Assessment, now: datetime) -> bool:
    """Bring the alert's figures up to the assessment; set only what changed, so a round
    with no new measurement writes nothing. Whether anything changed."""
    forecast = assessment.forecast
    figures = {
        "used_bytes": assessment.used,
        "quota_bytes": assessment.quota,
        "percent": round(assessment.percent, 2),
        "hours_to_full": (
            round(forecast.hours_to_full, 1)
            if forecast and forecast.hours_to_full is not None
            else None
        ),
        "measured_at": assessment.at or now,
    }
    changed = {name: value for name, value in figures.items() if getattr(alert, name) != value}
    for name, value in changed.items():
        setattr(alert, name, value)
    return bool(changed)


def _new_alert(
    package_id: int, subject: Subject, assessment: policy.Assessment, level: str, now: datetime
) -> Alert:
    alert = Alert(
        package_id=package_id,
        subject=subject.key,
        category=subject.category,
        level=level,
        reason=assessment.reason or "threshold",
        status=AlertStatus.OPEN,
        open_key=f"{package_id}:{subject.key}",
        opened_at=now,
        step=0,
        step_at=now,
        reminders=0,
        next_reminder_at=policy.next_reminder_at(now, 0),
        events=[],  # known empty: telling it must not read them back
        notifications=[],
    )
    _figures(alert, assessment, now)
    db.session.add(alert)
    return alert


def close(alert: Alert, resolution: str, now: datetime, detail: str) -> None:
    alert.status = AlertStatus.RESOLVED
    alert.resolution = resolution
    alert.resolved_at = now
    alert.open_key = None
    alert.next_reminder_at = None
    add_event(alert, "resolved", now, detail)
    db.session.flush()  # the subject's open_key is free for the next alert


def tell(alert: Alert, parties: dict[int, str], kind: str, now: datetime, out: Outcome) -> None:
    """Notify parties about the alert; a party that cannot be reached outside the package
    makes the alert escalate at once, and the hoster sees why."""
    result = notifications.notify(alert, list(parties), kind, now)
    out.to_send.extend(result.to_send)
    out.counts["notifications"] += len(result.created)
    for party_id, reason in result.unreachable.items():
        add_event(alert, "unreachable", now, reason, party_id=party_id)
        out.counts["unreachable"] += 1
    if result.unreachable:
        escalate(alert, now, out, reason="unreachable")


def _apply(
    facts: Facts,
    subject: Subject,
    assessment: policy.Assessment,
    decision: policy.Decision,
    current: Alert | None,
    now: datetime,
    out: Outcome,
) -> bool:
    """Apply one decision; whether it wrote anything."""
    if decision.action == "keep":
        return current is not None and _figures(current, assessment, now)
    package = db.session.get(Package, facts.package_id)
    assert package is not None
    level = decision.level
    if current is not None:
        previous = current.level
        told = {p: r for p, r in roles_of(package).items() if p in told_parties(current)}
        acknowledged = current.status == AlertStatus.ACKNOWLEDGED
        kind = {"raise": "raised", "lower": "lowered", "resolve": "dropped"}[decision.action]
        close(current, kind, now, f"{previous} → {level or 'none'}")
        if level is None:
            _figures(current, assessment, now)
            tell(current, told, "resolved", now, out)
            out.counts["resolved"] += 1
            return True
    alert = _new_alert(facts.package_id, subject, assessment, level, now)  # type: ignore[arg-type]
    db.session.flush()
    categories = _categories(alert, facts.components)
    first = responsible_parties(package, categories, alert.level, facts.history, now)
    if current is None:
        add_event(alert, "opened", now, f"{alert.reason}: {alert.percent} %")
        tell(alert, first, "opened", now, out)
        out.counts["opened"] += 1
    elif decision.action == "raise":
        add_event(alert, "opened", now, f"raised from {current.level}")
        tell(alert, told, "raised", now, out)  # worse than what they were told
        tell(alert, {p: r for p, r in first.items() if p not in told}, "opened", now, out)
        out.counts["raised"] += 1
    else:  # lowered: whoever knew of the higher level hears it went down, in the digest
        add_event(alert, "opened", now, f"lowered from {current.level}")
        if acknowledged:
            _carry_acknowledgement(current, alert, now)
        tell(alert, told or first, "lowered", now, out)
        out.counts["lowered"] += 1
    return True


def _carry_acknowledgement(old: Alert, new: Alert, now: datetime) -> None:
    """A lower level of something already acknowledged needs no new acknowledgement."""
    new.status = AlertStatus.ACKNOWLEDGED
    new.acknowledged_at = old.acknowledged_at
    new.acknowledged_by_party_id = old.acknowledged_by_party_id
    new.acknowledged_by_user_id = old.acknowledged_by_user_id
    new.acknowledged_via = old.acknowledged_via
    new.next_reminder_at = None
    add_event(new, "acknowledged", now, f"carried over from the {old.level} alert")


def in_batches(ids: Sequence[int], work: Callable[[int], bool], out: Outcome, what: str) -> None:
    """Do ``work`` for each id (it says whether it wrote anything), committing once per
    BATCH: a commit is a disk flush, and one per package was most of a mass opening. When
    one of a batch fails, the batch is rolled back and done again one id per transaction,
    so only the failing one is lost, counted and logged, and the round goes on."""
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        counts, sent = dict(out.counts), len(out.to_send)
        try:
            wrote = False
            for item in batch:
                wrote |= work(item)
            if wrote:
                db.session.commit()
        except Exception:
            db.session.rollback()
            notifications.forget_counts()
            out.counts.clear()
            out.counts.update(counts)
            del out.to_send[sent:]  # rolled back: they were never made
            for item in batch:
                sent = len(out.to_send)
                try:
                    if work(item):
                        db.session.commit()
                except Exception:
                    db.session.rollback()
                    notifications.forget_counts()
                    log.exception("%s %s failed", what, item)
                    out.counts["failed"] += 1
                    del out.to_send[sent:]


def load_packages(package_ids: Sequence[int], now: datetime) -> list[Package]:
    """Load packages with their parties, contacts, people and domains, and count the
    parties' immediate mails of the day, in a few queries: telling one package's parties
    must not cost a query per party, contact and count. The caller keeps the list while it
    works: the session holds loaded objects only while someone does."""
    packages = db.session.scalars(
        select(Package)
        .where(Package.id.in_(package_ids))
        .options(
            selectinload(Package.domains),
            selectinload(Package.assignments)
            .selectinload(Assignment.party)
            .options(
                selectinload(Party.contacts),
                selectinload(Party.memberships).selectinload(Membership.user),
            ),
        )
    ).all()
    notifications.count_immediate({a.party_id for p in packages for a in p.assignments}, now)
    return list(packages)


def _preload(facts: dict[int, Facts], package_ids: Sequence[int], now: datetime) -> list[Package]:
    """What telling needs for the packages where something changes, with their agreement
    versions in their facts."""
    loaded = load_packages(package_ids, now)
    for agreement in db.session.scalars(
        select(Agreement)
        .where(Agreement.package_id.in_(package_ids))
        .order_by(Agreement.package_id, Agreement.version)
        .options(selectinload(Agreement.acknowledgements))
    ):
        facts[agreement.package_id].history.append(agreement)
    return loaded


def _evaluate_chunk(package_ids: Sequence[int], now: datetime) -> Outcome:
    """Assess every subject of the chunk first (pure), then load what telling needs for
    the packages where something changes, then apply: one transaction per package."""
    out = Outcome()
    facts = _facts(package_ids, now)
    open_alerts = _open_alerts(list(facts))
    plans: dict[int, list[tuple[Subject, policy.Assessment, policy.Decision]]] = {}
    for package_id, found in facts.items():
        if not found.subjects["package"].points:
            continue  # never measured: nothing to say yet
        out.counts["packages"] += 1
        for subject in found.subjects.values():
            if not subject.points or subject.quota <= 0:
                continue
            assessment = policy.assess(subject.points, subject.quota, found.thresholds, now)
            current = open_alerts.get((package_id, subject.key))
            decision = policy.decide(
                assessment, current.level if current else None, found.thresholds
            )
            plans.setdefault(package_id, []).append((subject, assessment, decision))
    loaded = _preload(
        facts,
        [p for p, steps in plans.items() if any(d.action != "keep" for _s, _a, d in steps)],
        now,
    )

    def apply(package_id: int) -> bool:
        wrote = False
        for subject, assessment, decision in plans[package_id]:
            current = open_alerts.get((package_id, subject.key))
            wrote |= _apply(facts[package_id], subject, assessment, decision, current, now, out)
        return wrote

    in_batches(list(plans), apply, out, "evaluating alerts of package")
    del loaded
    return out


def evaluate(package_ids: Iterable[int], now: datetime) -> Outcome:
    """Evaluate the given packages' latest measurements (after a measurement)."""
    ids = sorted(set(package_ids))
    out = Outcome()
    with _loaded_across_commits():
        for start in range(0, len(ids), CHUNK):
            with _no_cycle_collection():
                out.add(_evaluate_chunk(ids[start : start + CHUNK], now))
            db.session.expire_all()  # the next chunk reads afresh; the loaded ones may go
    return out


@contextmanager
def _loaded_across_commits() -> Iterator[None]:
    """What a chunk loaded stays loaded over its per-package (per-alert) commits: nothing
    else changes these rows meanwhile that matters (the open-alert key is unique in the
    database all the same), and reading them again after each commit is most of the time."""
    session = db.session()
    expire_on_commit, session.expire_on_commit = session.expire_on_commit, False
    try:
        yield
    finally:
        session.expire_on_commit = expire_on_commit


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """A chunk's week of history is hundreds of thousands of small objects that live until
    the chunk is done; meanwhile the cyclic garbage collector would scan the whole heap
    again and again (measured: more than half of a round). Reference counting still frees
    what is dropped; the collector runs again after the chunk."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def evaluate_all(now: datetime) -> Outcome:
    """Evaluate every package that is not cancelled (beat's schedule)."""
    ids = list(
        db.session.scalars(
            select(Package.id).where(Package.status != PackageStatus.CANCELLED).order_by(Package.id)
        )
    )
    return evaluate(ids, now)


# --- escalation and reminders ---------------------------------------------------------------------


def _deadline(alert: Alert, agreement: Agreement | None) -> int:
    deadlines = agreement.deadlines if agreement is not None else terms.DEFAULT_DEADLINES
    return int(deadlines.get(alert.level, terms.DEFAULT_DEADLINES[alert.level]))


def _matrix(agreement: Agreement | None) -> dict[str, Any]:
    return agreement.matrix if agreement is not None else terms.DEFAULT_MATRIX


def escalate(
    alert: Alert,
    now: datetime,
    out: Outcome,
    reason: str,
    matrix: dict[str, Any] | None = None,
    components: dict[str, list[int]] | None = None,
) -> bool:
    """Tell the next party in the escalation order; the step is recorded. When nobody is
    left to escalate to, that is recorded once, and the hoster is told of a party that
    could not be reached, so it never goes unseen. ``matrix`` and ``components``: the
    package's, when the caller has read them already."""
    package = alert.package
    roles = roles_of(package)
    told = told_parties(alert)
    if matrix is None:
        matrix = _matrix(agreements.current(package.id))
    if components is None:
        components = _latest_components([package.id]).get(package.id, {})
    order = policy.escalation_order(
        matrix, _categories(alert, components), {roles[p] for p in told if p in roles}
    )
    alert.step_at = now
    if order:
        alert.step += 1
        add_event(alert, "escalated", now, f"{reason}: to the {order[0]}")
        out.counts["escalated"] += 1
        tell(alert, {p: r for p, r in roles.items() if r == order[0]}, "escalated", now, out)
        return True
    if not any(event.kind == "exhausted" for event in alert.events):
        add_event(alert, "exhausted", now, f"{reason}: nobody left to escalate to")
    if reason != "deadline" and package.hoster_id not in told:
        tell(alert, {package.hoster_id: "hoster"}, "escalated", now, out)
    return False


def _latest_components(package_ids: Sequence[int]) -> dict[int, dict[str, list[int]]]:
    """Each package's components of its latest measurement."""
    latest = (
        select(UsageSample.package_id, func.max(UsageSample.taken_at).label("taken_at"))
        .where(UsageSample.package_id.in_(package_ids))
        .group_by(UsageSample.package_id)
        .subquery()
    )
    return {
        package_id: components
        for package_id, components in db.session.execute(
            select(UsageSample.package_id, UsageSample.components).join(
                latest,
                (UsageSample.package_id == latest.c.package_id)
                & (UsageSample.taken_at == latest.c.taken_at),
            )
        )
    }


def _maybe_due(now: datetime) -> list[int]:
    """The open alerts that may be due for a step or a reminder: deadlines are at least an
    hour (the agreement's check), so an alert stepped within the hour is not."""
    return list(
        db.session.scalars(
            select(Alert.id)
            .where(
                Alert.status == AlertStatus.OPEN,
                or_(Alert.next_reminder_at <= now, Alert.step_at <= now - timedelta(hours=1)),
            )
            .order_by(Alert.id)
        )
    )


def escalate_due(now: datetime) -> Outcome:
    """Escalate the unacknowledged alerts past their level's deadline, and remind the
    parties told about them on a growing interval (in their digest, critical at once)."""
    out = Outcome()
    due = _maybe_due(now)
    with _loaded_across_commits():
        for start in range(0, len(due), CHUNK):
            _escalate_chunk(due[start : start + CHUNK], now, out)
            db.session.expire_all()
    return out


def _escalate_chunk(alert_ids: Sequence[int], now: datetime, out: Outcome) -> None:
    """A chunk of alerts, read with what telling needs in a few queries."""
    chunk = db.session.scalars(
        select(Alert)
        .where(Alert.id.in_(alert_ids), Alert.status == AlertStatus.OPEN)
        .options(selectinload(Alert.events), selectinload(Alert.notifications))
    ).all()
    by_id = {alert.id: alert for alert in sorted(chunk, key=lambda a: a.id)}
    package_ids = sorted({alert.package_id for alert in chunk})
    loaded = load_packages(package_ids, now)
    in_force = agreements.current_of(package_ids)
    components = _latest_components(sorted({a.package_id for a in chunk if a.subject == "package"}))

    def step(alert_id: int) -> bool:
        alert = by_id[alert_id]
        return _step(alert, in_force.get(alert.package_id), components, now, out)

    in_batches(list(by_id), step, out, "escalating alert")
    del loaded


def _step(
    alert: Alert,
    agreement: Agreement | None,
    components: dict[int, dict[str, list[int]]],
    now: datetime,
    out: Outcome,
) -> bool:
    """Escalate and remind one alert as far as it is due; whether it wrote anything."""
    wrote = False
    if policy.escalation_due(alert.step_at, _deadline(alert, agreement), now):
        matrix = _matrix(agreement)
        escalate(alert, now, out, "deadline", matrix, components.get(alert.package_id, {}))
        wrote = True
    if alert.next_reminder_at is not None and alert.next_reminder_at <= now:
        wrote = True
        told = told_parties(alert)
        roles = roles_of(alert.package)
        alert.reminders += 1
        alert.next_reminder_at = policy.next_reminder_at(now, alert.reminders)
        add_event(alert, "reminded", now, f"reminder {alert.reminders}")
        tell(alert, {p: roles.get(p, "") for p in told}, "reminder", now, out)
        out.counts["reminded"] += 1
    return wrote


def after_delivery_failure(notification_id: int, now: datetime) -> Outcome:
    """A notification failed for good or bounced: when its party has no other way it was
    reached about the alert, the alert escalates at once (a warning nobody got is none)."""
    out = Outcome()
    notification = db.session.get(Notification, notification_id)
    if notification is None:
        return out
    alerts = (
        [notification.alert]
        if notification.alert is not None
        else list(
            db.session.scalars(
                select(Alert)
                .join(Notification, Notification.alert_id == Alert.id)
                .where(Notification.digest_id == notification.id)
                .distinct()
            )
        )
    )
    for alert in alerts:
        if alert is None or alert.status != AlertStatus.OPEN:
            continue
        if notifications.reached(alert.id, notification.party_id):
            continue
        add_event(
            alert,
            "unreachable",
            now,
            f"{notification.channel} to {notification.recipient} {notification.status}: "
            f"{notification.error}",
            party_id=notification.party_id,
        )
        escalate(alert, now, out, reason=notification.status)
    db.session.commit()
    return out


def receive_bounce(
    raw: bytes, envelope_recipient: str | None, now: datetime
) -> tuple[str, Outcome]:
    """A message that came back to a warning's own return address: when it is a bounce of
    one of Onus's warnings, the warning is marked bounced and its alert escalates. Every
    message is kept with what Onus made of it, bounce or not. Says what it made of the
    message; never raises on what it was given."""
    bounce = bounces.parse_bounce(raw, envelope_recipient)
    kept = ReceivedBounce(received_at=now, size=len(raw), is_bounce=bounce is not None)
    db.session.add(kept)
    outcome = Outcome()
    if bounce is None:
        said = "not a bounce: skipped"
    else:
        kept.recipient = (bounce.recipient or "")[:254] or None
        kept.status = (bounce.status or "")[:16] or None
        kept.action = (bounce.action or "")[:16] or None
        kept.permanent = bounce.permanent
        kept.diagnostic = bounce.diagnostic[:1000]
        if bounce.notification_id is not None and db.session.get(
            Notification, bounce.notification_id
        ):
            kept.notification_id = bounce.notification_id
        if bounce.notification_id is None:
            said = "a bounce, but not of an Onus warning: skipped"
        elif not bounce.permanent:
            said = f"a delay notice for notification {bounce.notification_id}: kept waiting"
        elif (notification := notifications.record_bounce(bounce, now)) is None:
            said = f"no warning mail {bounce.notification_id}: skipped"
        else:
            outcome = after_delivery_failure(notification.id, now)
            said = (
                f"warning {notification.id} to {notification.recipient} bounced: "
                f"{notification.error}"
            )
    kept.outcome = said[:300]
    db.session.commit()
    return said, outcome


# --- acknowledging ------------------------------------------------------------------------------


def acknowledge(
    alert: Alert,
    party_id: int,
    user_id: int | None,
    via: str,
    now: datetime,
    actor: Actor | None = None,
) -> Alert:
    """Stop the alert's escalation: someone of a party of the package knows. It stays open
    until the measure drops. The step, the audit event and the webhooks' news of it (for
    the parties told about the alert; no mail) are one transaction, and those webhooks are
    sent at once; acknowledging twice changes nothing."""
    if party_id not in roles_of(alert.package):
        raise ServiceError(_("Your party is not part of this package."))
    if alert.status == AlertStatus.RESOLVED:
        raise ServiceError(_("This alert is resolved already: the measure dropped."))
    if alert.status == AlertStatus.ACKNOWLEDGED:
        return alert
    alert.status = AlertStatus.ACKNOWLEDGED
    alert.acknowledged_at = now
    alert.acknowledged_by_party_id = party_id
    alert.acknowledged_by_user_id = user_id
    alert.acknowledged_via = via
    alert.next_reminder_at = None
    add_event(alert, "acknowledged", now, f"via {via}", party_id=party_id, user_id=user_id)
    audit.record(
        actor,
        "acknowledge",
        alert,
        f"Alert #{alert.id} acknowledged via {via} by {_party_name(party_id)}: {alert.level}, "
        f"{alert.subject} of package {alert.package.name} at {alert.percent:.0f} %",
        None,
        audit.snapshot(alert),
        tenant_id=alert.package.hoster_id,
    )
    to_send = notifications.notify_acknowledged(alert, told_parties(alert), now)
    db.session.commit()
    notifications.send_soon(to_send)
    return alert


def _party_name(party_id: int) -> str:
    party = db.session.get(Party, party_id)
    return party.name if party is not None else str(party_id)


def event_detail(event: AlertEvent, actor: Actor) -> str:
    """A step's detail as ``actor`` may read it: why another party could not be reached
    names its addresses, which are private to that party and its hoster."""
    if event.kind == "unreachable" and not actor.is_hoster and event.party_id != actor.party_id:
        return ""
    return str(event.detail)
