"""The evidence report of a package and a period: what was stored and how it grew, the
agreement in force and who had acknowledged it, every alert and what became of each
notification, every refused message per mailbox and day, the silent periods — and, as
plainly, what Onus does not know about the period.

``build`` reads a constant number of queries however long the period or busy the package,
and returns plain data (dataclasses) that the page, the CSV and the JSON are made from.

Scope: the caller passes a package the viewer may see (``get_scoped``). What belongs to the
package (usage, mail flow, agreements, the node's log days) is read by the package's id, as
:mod:`panel.services.mailflow` does; alerts go through ``scoped``. The notifications of
those alerts are all listed — any party of the package may see who was told, by which
channel and with what result — but an address is shown only where ``scoped(Notification)``
lets the viewer see that notification: a party's contacts are private to it and its hoster.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select, union
from sqlalchemy.orm import selectinload

from panel.extensions import db
from panel.mailflow.codes import explain
from panel.models import (
    Acknowledgement,
    Agreement,
    Alert,
    AlertEvent,
    MailFlowHour,
    MailLogDay,
    MailLogSource,
    MailRefusal,
    Notification,
    Package,
    Party,
    UsageSample,
)
from panel.policy import silence
from panel.policy.agreement import CATEGORIES
from panel.services import mailflow, messages
from panel.services.scope import Actor, scoped

REFUSALS_LISTED = 1000  # the newest refusals listed one by one; the counts hold them all
ROLES = ("hoster", "builder", "owner")
HISTORY_LIMIT = timedelta(days=400)  # how far back a silence's beginning is looked for
PART_ORDER = {"mailbox": 0, "site": 1, "database": 2, "other": 3}


# --- the report's parts -------------------------------------------------------------------------


@dataclass(frozen=True)
class Unknown:
    """Something the report cannot speak for, said as plainly as what it knows."""

    kind: str  # no_log_source, no_mail_log, no_usage, before_package, after_now, sent_not_read,
    # refusals_not_listed
    text: str
    first_day: date | None = None
    last_day: date | None = None
    days: int = 0
    count: int = 0


@dataclass(frozen=True)
class UsageDay:
    """The fullest measurement of one day: its total and every part."""

    day: date
    taken_at: datetime
    total_bytes: int
    parts: dict[str, int]


@dataclass(frozen=True)
class UsagePart:
    """One column of the usage table: a mailbox, a site's part, a database, other."""

    key: str
    name: str
    first_bytes: int | None
    last_bytes: int | None
    peak_bytes: int

    @property
    def change_bytes(self) -> int | None:
        if self.first_bytes is None or self.last_bytes is None:
            return None
        return self.last_bytes - self.first_bytes


@dataclass(frozen=True)
class UsageSection:
    quota_bytes: int
    parts: list[UsagePart]
    days: list[UsageDay]


@dataclass(frozen=True)
class Responsibility:
    category: str
    responsible: list[str]  # role codes
    escalation: list[str]


@dataclass(frozen=True)
class PartyAcknowledgement:
    """One party of a version, and whether (and when) it acknowledged that version."""

    role: str
    party_id: int
    party: str
    acknowledged_at: datetime | None
    person: str
    after_period: bool
    text_hash: str  # of the exact text the party saw, for checking it later


@dataclass(frozen=True)
class AgreementVersion:
    """A version that was in force at some moment of the period, from when until when."""

    agreement_id: int
    version: int
    created_at: datetime
    in_force_from: datetime
    in_force_until: datetime | None  # None: still in force
    reason: str
    parties: list[PartyAcknowledgement]
    responsibilities: list[Responsibility]


@dataclass(frozen=True)
class AgreementSection:
    versions: list[AgreementVersion]
    # the part of the period before any agreement existed: [start, this); None when none
    none_until: datetime | None


@dataclass(frozen=True)
class EventRow:
    at: datetime
    kind: str
    step: int
    party: str
    detail: str


@dataclass(frozen=True)
class NotificationRow:
    """One message about an alert to one party: channel, address (when the viewer may see
    it), and what became of it."""

    id: int
    alert_id: int
    party_id: int
    party: str
    kind: str
    channel: str
    recipient: str | None  # None: the address is private to that party and its hoster
    status: str
    created_at: datetime
    sent_at: datetime | None
    status_at: datetime
    read_at: datetime | None
    in_digest: bool
    error: str
    error_explained: str
    acknowledged_at: datetime | None  # when this party acknowledged the alert


@dataclass(frozen=True)
class AlertRow:
    id: int
    subject: str
    subject_kind: str  # package, mailbox, delivery, silence
    address: str
    level: str
    reason: str
    status: str
    opened_at: datetime
    measured_at: datetime
    used_bytes: int
    quota_bytes: int
    percent: float
    refused: int
    since: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str
    acknowledged_via: str
    resolved_at: datetime | None
    resolution: str
    events: list[EventRow]
    notifications: list[NotificationRow]


@dataclass(frozen=True)
class FlowDay:
    """One mailbox's messages on one UTC day; ``refused`` = bounced + rejected."""

    address: str
    day: date
    delivered: int
    deferred: int
    bounced: int
    rejected: int
    refused: int
    over_quota: int
    first_refused_at: datetime | None
    last_refused_at: datetime | None
    first_over_quota_at: datetime | None
    last_over_quota_at: datetime | None


@dataclass(frozen=True)
class FlowTotals:
    delivered: int = 0
    deferred: int = 0
    bounced: int = 0
    rejected: int = 0
    refused: int = 0
    over_quota: int = 0
    days_with_refusals: int = 0
    first_refused_at: datetime | None = None
    last_refused_at: datetime | None = None


@dataclass(frozen=True)
class MailboxFlow:
    address: str
    days: list[FlowDay]
    totals: FlowTotals


@dataclass(frozen=True)
class RefusalRow:
    at: datetime
    address: str
    kind: str
    over_quota: bool
    dsn: str
    reason: str
    code: str
    explanation: str


@dataclass(frozen=True)
class CodeCount:
    """A status code seen in the period's refusals, in plain words, and how often."""

    code: str
    explanation: str
    count: int


@dataclass(frozen=True)
class MailSection:
    log_followed: bool
    mailboxes: list[MailboxFlow]
    totals: FlowTotals
    refusals: list[RefusalRow]  # newest first, at most REFUSALS_LISTED
    refusals_recorded: int
    codes: list[CodeCount]


@dataclass(frozen=True)
class SilenceRow:
    address: str
    start: datetime
    end: datetime
    expected: float
    ongoing: bool
    usual_per_day: float


@dataclass(frozen=True)
class PartyRow:
    role: str
    party: str


@dataclass(frozen=True)
class Summary:
    refused: int
    over_quota: int
    first_refused_at: datetime | None
    last_refused_at: datetime | None
    alerts: int
    notifications: int
    notifications_by_status: dict[str, int]
    silences: int
    unknowns: int


@dataclass(frozen=True)
class EvidenceReport:
    package_id: int
    package: str
    plan: str
    quota_bytes: int
    parties: list[PartyRow]
    start: datetime
    end: datetime
    made_at: datetime
    viewer_kind: str
    summary: Summary
    usage: UsageSection
    agreement: AgreementSection
    alerts: list[AlertRow]
    mail: MailSection
    silences: list[SilenceRow]
    unknowns: list[Unknown] = field(default_factory=list)

    @property
    def last_day(self) -> date:
        """The period's last day (the end is exclusive)."""
        return (self.end - timedelta(microseconds=1)).date()


# --- helpers ------------------------------------------------------------------------------------


def _days(start: datetime, end: datetime) -> list[date]:
    """The UTC days of ``[start, end)``."""
    if end <= start:
        return []
    first, last = start.date(), (end - timedelta(microseconds=1)).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _ranges(days: Iterable[date]) -> list[tuple[date, date, int]]:
    """Consecutive days as (first, last, count)."""
    found: list[tuple[date, date, int]] = []
    for day in sorted(days):
        if found and found[-1][1] + timedelta(days=1) == day:
            first, _last, count = found[-1]
            found[-1] = (first, day, count + 1)
        else:
            found.append((day, day, 1))
    return found


def _day_range_text(first: date, last: date) -> str:
    if first == last:
        return first.isoformat()
    return _("%(first)s to %(last)s", first=first.isoformat(), last=last.isoformat())


def _part_sort(key: str) -> tuple[int, str]:
    return PART_ORDER.get(key.partition(":")[0], 4), key


def subject_words(subject: str, package_name: str) -> str:
    """What an alert is about, in words."""
    kind, _sep, address = subject.partition(":")
    if kind == "mailbox":
        return _("storage of mailbox %(address)s", address=address)
    if kind == "delivery":
        return _("mail refused for %(address)s (mailbox full)", address=address)
    if kind == "silence":
        return _("no mail arriving for %(address)s", address=address)
    return _("package %(name)s", name=package_name)


def _explained(text: str, language: str) -> tuple[str, str]:
    """The status code in a text and its plain words, or ("", "")."""
    found = explain(text, language) if text else None
    if found is None:
        return "", ""
    return found.code, found.words


# --- the sections -------------------------------------------------------------------------------


def _usage(package: Package, start: datetime, until: datetime) -> UsageSection:
    """The fullest measurement of each day (so a peak is never lost), one query."""
    fullest: dict[date, UsageSample] = {}
    for sample in db.session.scalars(
        select(UsageSample)
        .where(
            UsageSample.package_id == package.id,
            UsageSample.taken_at >= start,
            UsageSample.taken_at < until,
        )
        .order_by(UsageSample.taken_at, UsageSample.id)
    ):
        day = sample.taken_at.date()
        if day not in fullest or sample.total_bytes > fullest[day].total_bytes:
            fullest[day] = sample
    days = [
        UsageDay(
            day,
            sample.taken_at,
            sample.total_bytes,
            {key: int(value[0]) for key, value in sample.components.items()},
        )
        for day, sample in sorted(fullest.items())
    ]
    keys = sorted({key for day in days for key in day.parts}, key=_part_sort)
    parts = []
    for key in keys:
        values = [day.parts[key] for day in days if key in day.parts]
        parts.append(
            UsagePart(
                key,
                messages.part_name(key),
                days[0].parts.get(key) if days else None,
                days[-1].parts.get(key) if days else None,
                max(values, default=0),
            )
        )
    return UsageSection(package.plan.storage_quota_bytes, parts, days)


def _agreement(
    package: Package, start: datetime, end: datetime, names: dict[int, str]
) -> AgreementSection:
    history = list(
        db.session.scalars(
            select(Agreement)
            .where(Agreement.package_id == package.id)
            .order_by(Agreement.version)
            .options(selectinload(Agreement.acknowledgements).selectinload(Acknowledgement.user))
        )
    )
    versions = []
    for index, agreement in enumerate(history):
        following = history[index + 1].created_at if index + 1 < len(history) else None
        if agreement.created_at >= end or (following is not None and following <= start):
            continue  # not in force at any moment of the period
        acks = {ack.party_id: ack for ack in agreement.acknowledgements}
        parties = []
        for role in ROLES:
            party_id = agreement.parties.get(role)
            if party_id is None:
                continue
            ack = acks.get(party_id)
            parties.append(
                PartyAcknowledgement(
                    role,
                    party_id,
                    names.get(party_id) or agreement.party_names.get(role, role),
                    ack.at if ack else None,
                    ack.user.name if ack else "",
                    ack is not None and ack.at >= end,
                    ack.text_hash if ack else "",
                )
            )
        responsibilities = [
            Responsibility(
                category,
                list(agreement.matrix.get(category, {}).get("responsible", [])),
                list(agreement.matrix.get(category, {}).get("escalation", [])),
            )
            for category in CATEGORIES
        ]
        versions.append(
            AgreementVersion(
                agreement.id,
                agreement.version,
                agreement.created_at,
                max(agreement.created_at, start),
                following,
                agreement.reason,
                parties,
                responsibilities,
            )
        )
    first = history[0].created_at if history else None
    none_until = None if first is not None and first <= start else min(first or end, end)
    return AgreementSection(versions, none_until)


def _alerts(
    package: Package,
    start: datetime,
    end: datetime,
    viewer: Actor,
    names: dict[int, str],
    language: str,
) -> list[AlertRow]:
    """Alerts open at some moment of the period, with their steps and notifications."""
    found = list(
        db.session.scalars(
            scoped(Alert, viewer)
            .where(
                Alert.package_id == package.id,
                Alert.opened_at < end,
                (Alert.resolved_at.is_(None)) | (Alert.resolved_at >= start),
            )
            .options(selectinload(Alert.events))
            .order_by(Alert.opened_at, Alert.id)
        )
    )
    ids = [alert.id for alert in found]
    told: dict[int, list[Notification]] = {}
    shown: set[int] = set()
    if ids:
        for notification in db.session.scalars(
            select(Notification)
            .where(Notification.alert_id.in_(ids), Notification.created_at < end)
            .order_by(Notification.created_at, Notification.id)
        ):
            told.setdefault(int(notification.alert_id or 0), []).append(notification)
        # an address is shown where the scope lets the viewer see the notification itself
        shown = set(
            db.session.scalars(
                scoped(Notification, viewer)
                .where(Notification.alert_id.in_(ids))
                .with_only_columns(Notification.id)
            )
        )
    rows = []
    for alert in found:
        kind, _sep, address = alert.subject.partition(":")
        events = [
            EventRow(
                event.at,
                event.kind,
                event.step,
                names.get(event.party_id, "") if event.party_id else "",
                # why another party could not be reached names its addresses
                ""
                if event.kind == "unreachable"
                and not viewer.is_hoster
                and event.party_id != viewer.party_id
                else event.detail,
            )
            for event in alert.events
        ]
        notifications = []
        for item in told.get(alert.id, []):
            # the panel inbox is named by the party's name, not an address
            visible = item.id in shown or item.channel == "panel"
            code, words = _explained(item.error, language)
            notifications.append(
                NotificationRow(
                    item.id,
                    alert.id,
                    item.party_id,
                    names.get(item.party_id, _("another party")),
                    item.kind,
                    item.channel,
                    item.recipient if visible else None,
                    item.status,
                    item.created_at,
                    item.sent_at,
                    item.status_at,
                    item.read_at,
                    item.digest_id is not None,
                    item.error if visible else "",
                    f"{code} — {words}" if code else "",
                    alert.acknowledged_at
                    if alert.acknowledged_by_party_id == item.party_id
                    else None,
                )
            )
        rows.append(
            AlertRow(
                alert.id,
                subject_words(alert.subject, package.name),
                kind,
                address,
                alert.level,
                alert.reason,
                alert.status,
                alert.opened_at,
                alert.measured_at,
                alert.used_bytes,
                alert.quota_bytes,
                alert.percent,
                alert.refused,
                alert.since,
                alert.acknowledged_at,
                names.get(alert.acknowledged_by_party_id or 0, ""),
                alert.acknowledged_via or "",
                alert.resolved_at,
                alert.resolution or "",
                events,
                notifications,
            )
        )
    return rows


def _add(totals: FlowTotals, day: FlowDay | FlowTotals) -> FlowTotals:
    refused_days = (
        day.days_with_refusals if isinstance(day, FlowTotals) else (1 if day.refused else 0)
    )
    return FlowTotals(
        totals.delivered + day.delivered,
        totals.deferred + day.deferred,
        totals.bounced + day.bounced,
        totals.rejected + day.rejected,
        totals.refused + day.refused,
        totals.over_quota + day.over_quota,
        totals.days_with_refusals + refused_days,
        mailflow.earliest(totals.first_refused_at, day.first_refused_at),
        mailflow.latest(totals.last_refused_at, day.last_refused_at),
    )


def _mail(
    package: Package, start: datetime, end: datetime, log_followed: bool, language: str
) -> MailSection:
    by_address: dict[str, list[FlowDay]] = {}
    for flow in mailflow.daily_flow(package.id, start, end):
        by_address.setdefault(flow.address, []).append(
            FlowDay(
                flow.address,
                flow.day,
                flow.delivered,
                flow.deferred,
                flow.bounced,
                flow.rejected,
                flow.refused,
                flow.over_quota,
                flow.first_refused_at,
                flow.last_refused_at,
                flow.first_over_quota_at,
                flow.last_over_quota_at,
            )
        )
    mailboxes = []
    package_totals = FlowTotals()
    for address in sorted(by_address):
        days = sorted(by_address[address], key=lambda d: d.day)
        totals = FlowTotals()
        for day in days:
            totals = _add(totals, day)
        mailboxes.append(MailboxFlow(address, days, totals))
        package_totals = _add(package_totals, totals)

    listed = mailflow.refusals(package.id, start, end, REFUSALS_LISTED)
    recorded = (
        db.session.scalar(
            select(func.count(MailRefusal.id)).where(
                MailRefusal.package_id == package.id,
                MailRefusal.at >= start,
                MailRefusal.at < end,
            )
        )
        or 0
    )
    refusals = []
    codes: dict[tuple[str, str], int] = {}
    for refusal in listed:
        code, words = _explained(refusal.reason, language)
        if not code:
            code, words = _explained(refusal.dsn or "", language)
        refusals.append(
            RefusalRow(
                refusal.at,
                refusal.address,
                refusal.kind,
                refusal.over_quota,
                refusal.dsn or "",
                refusal.reason,
                code,
                words,
            )
        )
        codes[(code, words)] = codes.get((code, words), 0) + 1
    code_counts = [
        CodeCount(code, words, count)
        for (code, words), count in sorted(codes.items(), key=lambda item: (-item[1], item[0]))
    ]
    return MailSection(
        log_followed, mailboxes, package_totals, refusals, int(recorded), code_counts
    )


def history_start(package_id: int, start: datetime) -> datetime:
    """Where the silences' history begins: WEEKS before the period, or before the last
    delivery ahead of the period of a mailbox that was silent since (at most a year back),
    so that a silence that began before the period is judged by its own history."""
    last_of_each = (
        select(func.max(MailFlowHour.hour).label("last"))
        .where(
            MailFlowHour.package_id == package_id,
            MailFlowHour.delivered > 0,
            MailFlowHour.hour < start,
            MailFlowHour.hour >= start - HISTORY_LIMIT,
        )
        .group_by(MailFlowHour.address)
        .subquery()
    )
    earliest = db.session.scalar(select(func.min(last_of_each.c.last)))
    begin = min(start, earliest) if earliest is not None else start
    return begin - timedelta(weeks=silence.WEEKS)


def _silences(
    package: Package,
    start: datetime,
    end: datetime,
    since: datetime,
    covered: set[date],
    now: datetime,
) -> list[SilenceRow]:
    """Each mailbox's silent periods, from its deliveries per hour since ``since``."""
    delivered: dict[str, dict[datetime, int]] = {m.address: {} for m in package.mailboxes}
    for address, hour, count in db.session.execute(
        select(MailFlowHour.address, MailFlowHour.hour, MailFlowHour.delivered).where(
            MailFlowHour.package_id == package.id,
            MailFlowHour.hour >= since,
            MailFlowHour.hour < end,
            MailFlowHour.delivered > 0,
        )
    ):
        delivered.setdefault(address, {})[hour] = count
    rows = []
    for address in sorted(delivered):
        for found in silence.silent_periods(delivered[address], covered, start, end, now=now):
            rows.append(
                SilenceRow(
                    address,
                    found.start,
                    found.end,
                    float(found.expected),
                    bool(found.ongoing),
                    float(found.usual_per_day),
                )
            )
    return rows


def _names(package: Package, viewer: Actor, extra: Iterable[int]) -> dict[int, str]:
    """Names of the parties the report mentions, as far as the viewer may see them."""
    wanted = {a.party_id for a in package.assignments} | {package.hoster_id} | set(extra)
    return {
        party.id: party.name
        for party in db.session.scalars(scoped(Party, viewer).where(Party.id.in_(wanted - {0})))
    }


# --- the report ---------------------------------------------------------------------------------


def build(
    package: Package,
    start: datetime,
    end: datetime,
    viewer: Actor,
    now: datetime,
    language: str = "en",
) -> EvidenceReport:
    """The evidence report of ``package`` for ``[start, end)`` (UTC) as ``viewer`` may see it.

    The caller has checked that the package is in the viewer's scope. ``language`` is that
    of the status codes' explanations (the rest follows the request's locale)."""
    if end <= start:
        raise ValueError("the period ends before it starts")
    known_until = max(min(end, now), start)
    period_days = _days(start, end)
    # the day the package was made and today count as known (in part)
    before_days = {d for d in period_days if d < package.created_at.date()}
    after_days = {d for d in period_days if d > now.date()}
    checked_days = [d for d in period_days if d not in before_days and d not in after_days]

    # the node's logs: which days held records (with the weeks before, for the silences)
    since = history_start(package.id, start)
    sources = list(
        db.session.scalars(select(MailLogSource.id).where(MailLogSource.node_id == package.node_id))
    )
    covered: set[date] = set()
    if sources:
        covered = set(
            db.session.scalars(
                select(MailLogDay.day)
                .where(
                    MailLogDay.source_id.in_(sources),
                    MailLogDay.records > 0,
                    MailLogDay.day >= since.date(),
                    MailLogDay.day <= (end - timedelta(microseconds=1)).date(),
                )
                .distinct()
            )
        )

    # names: the package's parties, and everyone alerts and agreements mention (one query)
    of_package = Alert.package_id == package.id
    mentioned = {
        party_id
        for party_id in db.session.execute(
            union(
                select(Notification.party_id)
                .join(Alert, Notification.alert_id == Alert.id)
                .where(of_package),
                select(AlertEvent.party_id)
                .join(Alert, AlertEvent.alert_id == Alert.id)
                .where(of_package),
                select(Alert.acknowledged_by_party_id).where(of_package),
            )
        ).scalars()
        if party_id is not None
    }
    agreement_parties = {
        party_id
        for parties in db.session.scalars(
            select(Agreement.parties).where(Agreement.package_id == package.id)
        )
        for party_id in parties.values()
    }
    names = _names(package, viewer, mentioned | agreement_parties)

    usage = _usage(package, start, known_until)
    agreement = _agreement(package, start, end, names)
    alerts = _alerts(package, start, end, viewer, names, language)
    mail = _mail(package, start, end, bool(sources), language)
    silences = _silences(package, start, end, since, covered, now)

    unknowns: list[Unknown] = []
    if before_days:
        first, last = min(before_days), max(before_days)
        unknowns.append(
            Unknown(
                "before_package",
                _(
                    "The package did not exist yet (%(days)s): nothing of it is known.",
                    days=_day_range_text(first, last),
                ),
                first,
                last,
                len(before_days),
            )
        )
    if after_days:
        first, last = min(after_days), max(after_days)
        unknowns.append(
            Unknown(
                "after_now",
                _(
                    "The period runs past the moment the report was made (%(days)s): "
                    "that part has not happened yet.",
                    days=_day_range_text(first, last),
                ),
                first,
                last,
                len(after_days),
            )
        )
    if not sources:
        unknowns.append(
            Unknown(
                "no_log_source",
                _(
                    "Onus reads no mail log of this package's node: refused and delivered "
                    "messages are not known for any day of the period."
                ),
                checked_days[0] if checked_days else None,
                checked_days[-1] if checked_days else None,
                len(checked_days),
            )
        )
    else:
        for first, last, count in _ranges(d for d in checked_days if d not in covered):
            unknowns.append(
                Unknown(
                    "no_mail_log",
                    ngettext(
                        "No mail log records on %(days)s (%(num)d day): the mail figures "
                        "cannot speak for it.",
                        "No mail log records on %(days)s (%(num)d days): the mail figures "
                        "cannot speak for them.",
                        count,
                        days=_day_range_text(first, last),
                    ),
                    first,
                    last,
                    count,
                )
            )
    measured = {day.day for day in usage.days}
    for first, last, count in _ranges(d for d in checked_days if d not in measured):
        unknowns.append(
            Unknown(
                "no_usage",
                ngettext(
                    "No storage measurement on %(days)s (%(num)d day).",
                    "No storage measurement on %(days)s (%(num)d days).",
                    count,
                    days=_day_range_text(first, last),
                ),
                first,
                last,
                count,
            )
        )
    handed_over = sum(
        1
        for alert in alerts
        for item in alert.notifications
        if item.status == "sent" and not (item.channel == "panel" and item.read_at)
    )
    if handed_over:
        unknowns.append(
            Unknown(
                "sent_not_read",
                ngettext(
                    "%(num)d notification is only known to be sent: handed to the "
                    "recipient's mail server, webhook or inbox; whether it was read is not "
                    "known.",
                    "%(num)d notifications are only known to be sent: handed to the "
                    "recipient's mail server, webhook or inbox; whether they were read is "
                    "not known.",
                    handed_over,
                ),
                count=handed_over,
            )
        )
    if mail.refusals_recorded > len(mail.refusals):
        unknowns.append(
            Unknown(
                "refusals_not_listed",
                _(
                    "Only the newest %(listed)s of %(recorded)s refused messages are listed "
                    "one by one; the counts include them all.",
                    listed=len(mail.refusals),
                    recorded=mail.refusals_recorded,
                ),
                count=mail.refusals_recorded - len(mail.refusals),
            )
        )
    by_status: dict[str, int] = {}
    for alert in alerts:
        for item in alert.notifications:
            by_status[item.status] = by_status.get(item.status, 0) + 1
    summary = Summary(
        mail.totals.refused,
        mail.totals.over_quota,
        mail.totals.first_refused_at,
        mail.totals.last_refused_at,
        len(alerts),
        sum(by_status.values()),
        dict(sorted(by_status.items())),
        len(silences),
        len(unknowns),
    )
    roles = {a.role: a.party_id for a in package.assignments}
    return EvidenceReport(
        package_id=package.id,
        package=package.name,
        plan=package.plan.name,
        quota_bytes=package.plan.storage_quota_bytes,
        parties=[PartyRow(role, names.get(roles[role], "")) for role in ROLES if role in roles],
        start=start,
        end=end,
        made_at=now,
        viewer_kind=viewer.kind,
        summary=summary,
        usage=usage,
        agreement=agreement,
        alerts=alerts,
        mail=mail,
        silences=silences,
        unknowns=unknowns,
    )


def as_data(value: Any) -> Any:
    """The report (or a part) as JSON-ready data: ISO 8601 times, bytes as integers."""
    if is_dataclass(value) and not isinstance(value, type):
        data = {f.name: as_data(getattr(value, f.name)) for f in fields(value)}
        if isinstance(value, UsagePart):
            data["change_bytes"] = value.change_bytes
        if isinstance(value, EvidenceReport):
            data["last_day"] = value.last_day.isoformat()
        return data
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): as_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_data(v) for v in value]
    return value
