"""Alerts from what the mail logs say: a mailbox refusing mail because it is full, and a
mailbox that has gone silent.

The first over-quota refusal read for a mailbox opens a critical ``delivery`` alert, so every
party of the package hears at once ("3 messages to info@ were refused in the last 10
minutes"); the refusals that follow are counted on it, not mailed again. It resolves when mail
is delivered to the mailbox again after the last refusal, or a day passes without one.

A mailbox whose mail stops for far longer than its own history makes plausible
(:mod:`panel.policy.silence`) gets a ``silence`` warning for whoever answers for the mailbox
(its owner by default); it resolves with the next delivery. A silence is judged up to the
newest record of the node's logs: a log that stopped says nothing about the mailbox.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from panel.extensions import db
from panel.mailflow.hourly import hour_of
from panel.models import (
    Alert,
    AlertStatus,
    Mailbox,
    MailFlowHour,
    MailLogDay,
    MailLogSource,
    Package,
    PackageStatus,
    UsageSample,
)
from panel.policy import alerts as policy
from panel.policy import silence as quiet
from panel.services import agreements
from panel.services.alerts import (
    Outcome,
    add_event,
    close,
    in_batches,
    load_packages,
    responsible_parties,
    roles_of,
    tell,
    told_parties,
)
from panel.services.mailflow import IngestOutcome

REFUSALS_QUIET = timedelta(hours=24)  # a delivery alert with no refusal for this long resolves
# delivered counts read for a silence: its history is the WEEKS before it began
HISTORY = timedelta(weeks=2 * quiet.WEEKS)


def _open(package_ids: Sequence[int], kind: str) -> dict[tuple[int, str], Alert]:
    """The open alerts of one kind ("delivery", "silence") of the packages, by address."""
    return {
        (alert.package_id, alert.subject.partition(":")[2]): alert
        for alert in db.session.scalars(
            select(Alert)
            .where(
                Alert.package_id.in_(package_ids),
                Alert.open_key.is_not(None),
                Alert.subject.startswith(f"{kind}:"),
            )
            .options(selectinload(Alert.notifications), selectinload(Alert.events))
        )
    }


def _figures(package_id: int, address: str) -> tuple[int, int]:
    """The mailbox's used bytes at its latest measurement, and its quota."""
    mailbox = db.session.scalars(select(Mailbox).where(Mailbox.address == address)).first()
    quota = mailbox.effective_quota_bytes if mailbox is not None else 0
    components = db.session.scalars(
        select(UsageSample.components)
        .where(UsageSample.package_id == package_id)
        .order_by(UsageSample.taken_at.desc())
        .limit(1)
    ).first()
    used = int((components or {}).get(f"mailbox:{address}", [0])[0])
    return used, quota


def _new(
    package: Package, kind: str, address: str, level: str, reason: str, now: datetime
) -> Alert:
    used, quota = _figures(package.id, address)
    subject = f"{kind}:{address}"
    alert = Alert(
        package_id=package.id,
        subject=subject,
        category="delivery" if kind == "delivery" else "mailbox",
        level=level,
        reason=reason,
        status=AlertStatus.OPEN,
        open_key=f"{package.id}:{subject}",
        used_bytes=used,
        quota_bytes=quota,
        percent=round(100.0 * used / quota, 2) if quota > 0 else 0.0,
        hours_to_full=None,
        opened_at=now,
        measured_at=now,
        step=0,
        step_at=now,
        reminders=0,
        next_reminder_at=None,
        refused=0,
        events=[],
        notifications=[],
    )
    db.session.add(alert)
    return alert


def _open_and_tell(
    alert: Alert, package: Package, detail: str, now: datetime, out: Outcome
) -> None:
    alert.next_reminder_at = policy.next_reminder_at(now, 0)
    db.session.flush()
    add_event(alert, "opened", now, detail)
    first = responsible_parties(
        package, [alert.category], alert.level, agreements.versions(package.id), now
    )
    tell(alert, first, "opened", now, out)
    out.counts["opened"] += 1


def _resolve(alert: Alert, now: datetime, detail: str, out: Outcome) -> None:
    told = {p: r for p, r in roles_of(alert.package).items() if p in told_parties(alert)}
    close(alert, "dropped", now, detail)
    tell(alert, told, "resolved", now, out)
    out.counts["resolved"] += 1


# --- refusals ---------------------------------------------------------------------------------


def after_ingest(ingested: IngestOutcome, now: datetime) -> Outcome:
    """Open or grow the delivery alerts of the mailboxes with over-quota refusals just read,
    and resolve those whose mailbox took mail again."""
    out = Outcome()
    package_ids = sorted(set(ingested.over_quota) | set(ingested.delivered))
    if not package_ids:
        return out
    current = _open(package_ids, "delivery")
    loaded = load_packages(sorted(ingested.over_quota), now)
    packages = {package.id: package for package in loaded}

    def apply(package_id: int) -> bool:
        wrote = False
        for address, times in sorted(ingested.over_quota.get(package_id, {}).items()):
            alert = current.get((package_id, address))
            first, last = min(times), max(times)
            if alert is None:
                package = packages[package_id]
                if package.status == PackageStatus.CANCELLED:
                    continue
                alert = _new(package, "delivery", address, "critical", "refused", now)
                alert.refused, alert.since, alert.measured_at = len(times), first, last
                _open_and_tell(
                    alert, package, f"{len(times)} refused because the mailbox is full", now, out
                )
                current[(package_id, address)] = alert
            else:
                alert.refused += len(times)
                alert.since = min(alert.since or first, first)
                alert.measured_at = max(alert.measured_at, last)
                out.counts["refused"] += len(times)
            wrote = True
        wrote |= _resolve_delivered(package_id, current, now, out)
        return wrote

    in_batches(package_ids, apply, out, "mail alerts of package")
    del loaded
    return out


def _resolve_delivered(
    package_id: int, current: dict[tuple[int, str], Alert], now: datetime, out: Outcome
) -> bool:
    """Resolve the package's delivery alerts whose mailbox had mail delivered in an hour after
    the one of its last refusal, or that saw no refusal for REFUSALS_QUIET."""
    wrote = False
    for (alert_package, address), alert in list(current.items()):
        if alert_package != package_id or alert.open_key is None:
            continue
        last = alert.measured_at
        delivered_after = db.session.scalar(
            select(func.count())
            .select_from(MailFlowHour)
            .where(
                MailFlowHour.package_id == package_id,
                MailFlowHour.address == address,
                MailFlowHour.hour > hour_of(last),
                MailFlowHour.delivered > 0,
            )
        )
        if delivered_after:
            _resolve(alert, now, "mail delivered to the mailbox again", out)
            wrote = True
        elif now - last >= REFUSALS_QUIET:
            _resolve(alert, now, "no refusal for a day", out)
            wrote = True
    return wrote


# --- silence ------------------------------------------------------------------------------------


def review(now: datetime) -> Outcome:
    """The alert round's part: resolve delivery alerts that went quiet and silence alerts whose
    mailbox took mail again; open silence alerts for the mailboxes gone silent."""
    out = Outcome()
    delivery = _open(_packages_with_open("delivery"), "delivery")
    for package_id in sorted({p for p, _a in delivery}):
        if _resolve_delivered(package_id, delivery, now, out):
            db.session.commit()
    silences = _open(_packages_with_open("silence"), "silence")
    for (package_id, address), alert in silences.items():
        since = alert.since or alert.opened_at
        if db.session.scalar(
            select(func.count())
            .select_from(MailFlowHour)
            .where(
                MailFlowHour.package_id == package_id,
                MailFlowHour.address == address,
                MailFlowHour.hour >= hour_of(since),
                MailFlowHour.delivered > 0,
            )
        ):
            _resolve(alert, now, "mail delivered to the mailbox again", out)
            db.session.commit()
    _find_silences(now, out, set(silences) | set(delivery))
    return out


def _packages_with_open(kind: str) -> list[int]:
    return list(
        db.session.scalars(
            select(Alert.package_id)
            .where(Alert.open_key.is_not(None), Alert.subject.startswith(f"{kind}:"))
            .distinct()
        )
    )


def _find_silences(now: datetime, out: Outcome, skip: set[tuple[int, str]]) -> None:
    """Mailboxes with enough history and no delivery for a while, on nodes whose logs are
    alive, checked against their own history; a silence found opens a warning."""
    since = hour_of(now) - HISTORY
    candidates = db.session.execute(
        select(MailFlowHour.package_id, MailFlowHour.address)
        .join(Package, MailFlowHour.package_id == Package.id)
        .where(MailFlowHour.hour >= since, Package.status != PackageStatus.CANCELLED)
        .group_by(MailFlowHour.package_id, MailFlowHour.address)
        .having(
            func.sum(MailFlowHour.delivered) >= quiet.MIN_HISTORY_MESSAGES,
            func.max(MailFlowHour.hour) < hour_of(now),
        )
        .order_by(MailFlowHour.package_id, MailFlowHour.address)
    ).all()
    wanted = [(p, a) for p, a in candidates if (p, a) not in skip]
    if not wanted:
        return
    package_ids = sorted({p for p, _a in wanted})
    covered = _covered_days(package_ids, since)
    hours = _delivered(wanted, since)
    loaded = load_packages([p for p in package_ids if p in covered], now)
    packages = {package.id: package for package in loaded}
    for (package_id, address), delivered in hours.items():
        if package_id not in packages:
            continue
        days, latest = covered[package_id]
        found = quiet.silence_now(delivered, days, min(now, latest))
        if found is None:
            continue
        package = packages[package_id]
        alert = _new(package, "silence", address, "warning", "silent", now)
        alert.since = found.start
        _open_and_tell(
            alert,
            package,
            f"no mail since {found.start.isoformat()}; {found.expected:.0f} expected, "
            f"usually {found.usual_per_day:.0f} a day",
            now,
            out,
        )
        db.session.commit()
    del loaded


def _covered_days(package_ids: list[int], since: datetime) -> dict[int, tuple[set[date], datetime]]:
    """Per package: the days its node's logs held records, and the newest record. A silence
    is judged up to that record only: mail that kept flowing to others shows the log was
    alive, and a log that stopped says nothing about the mailboxes after it stopped."""
    rows = db.session.execute(
        select(Package.id, MailLogSource.id, MailLogSource.last_record_at)
        .join(MailLogSource, MailLogSource.node_id == Package.node_id)
        .where(
            Package.id.in_(package_ids),
            MailLogSource.enabled.is_(True),
            MailLogSource.last_record_at.is_not(None),
        )
    ).all()
    by_source: dict[int, set[date]] = {}
    for source_id, day in db.session.execute(
        select(MailLogDay.source_id, MailLogDay.day).where(
            MailLogDay.source_id.in_({source for _p, source, _l in rows}),
            MailLogDay.day >= since.date(),
            MailLogDay.records > 0,
        )
    ):
        by_source.setdefault(source_id, set()).add(day)
    found: dict[int, tuple[set[date], datetime]] = {}
    for package_id, source_id, last in rows:
        days, latest = found.get(package_id, (set(), last))
        found[package_id] = (days | by_source.get(source_id, set()), max(latest, last))
    return found


def _delivered(
    wanted: list[tuple[int, str]], since: datetime
) -> dict[tuple[int, str], dict[datetime, int]]:
    keys = set(wanted)
    rows = db.session.execute(
        select(
            MailFlowHour.package_id, MailFlowHour.address, MailFlowHour.hour, MailFlowHour.delivered
        )
        .where(
            MailFlowHour.package_id.in_({p for p, _a in wanted}),
            MailFlowHour.hour >= since,
            MailFlowHour.delivered != 0,
        )
        .order_by(MailFlowHour.package_id, MailFlowHour.address)
    )
    found: dict[tuple[int, str], dict[datetime, int]] = {key: {} for key in wanted}
    for key, group in itertools.groupby(rows, key=operator.itemgetter(0, 1)):
        if key in keys:
            found[key] = {hour: count for _p, _a, hour, count in group}
    return found
