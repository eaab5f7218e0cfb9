"""What the mail server says about full mailboxes, heard between scans: Dovecot's
``quota_warning`` (a mailbox crossed a percentage of its quota) and ``doveadm quota get``
(every mailbox's exact figures).

How a figure from Dovecot becomes an alert at once, through the services that exist: it is a
real measurement of that one mailbox, so it becomes a new measurement point of the package
(:func:`panel.services.usage.record_measurement`) made from the package's latest report with
that mailbox's bytes (and messages) replaced and everything else as last measured, followed by
:func:`panel.services.alerts.evaluate` of that package. The alert then opens, rises (or, for an
exact figure, falls) by the same thresholds, hysteresis, forecast and routing as after a scan,
and the history stays true: the point says what was known at that moment, the next scan
replaces the mailbox's figure with its own again. The alert's timeline gets a step saying
Dovecot reported it.

- A warning alone says the mailbox is at least PERCENT full: the mailbox counts as PERCENT of
  its quota in Onus, or as last measured when that was fuller (a warning never lowers
  anything). With the exact figure from ``doveadm`` the figure is taken as it is.
- Dovecot counts messages, the scanner counts the mailbox's files (indexes too), so the two
  can differ by a few percent; the next scan's figure simply follows.
- A package never measured has no report to carry the rest from: the warning is recorded and
  the first scan opens the alert (a point with only one mailbox would make the package look
  almost empty). A cancelled package is not evaluated at all, so the warning is only recorded.
- The hook speaks for the system, not for a person: the mailbox is found by its address,
  which is unique across Onus, without a tenant's scope (as the measurements are).
"""

from __future__ import annotations

import copy
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from panel.extensions import db
from panel.mailflow.doveadm import Reading, UserQuota
from panel.measure.units import format_size
from panel.models import Alert, Mailbox, PackageStatus, PackageUsage, QuotaWarning
from panel.policy.alerts import RANK
from panel.services import alerts, usage

EVENT = "dovecot"  # the alert timeline's step for what the mail server reported
NOT_MEASURED = "package not measured yet: the first scan opens the alert"
CANCELLED = "package cancelled: recorded only"
_IN_CHUNK = 500  # addresses per query


@dataclass(frozen=True)
class Figure:
    """What the mail server said about one mailbox, as it goes into the measurement."""

    address: str
    used_bytes: int
    source: str  # "dovecot": a quota_warning; "doveadm": doveadm's exact figure
    percent: int  # of the mail server's quota (of Onus's, estimated, without doveadm)
    quota_bytes: int | None  # the limit the percentage is of; None: unlimited at Dovecot
    messages: int | None = None


@dataclass
class Heard:
    """What Onus did with one warning (the hook prints ``outcome``)."""

    outcome: str
    warning_id: int | None = None  # None: recorded nowhere (not hosted here)
    alert_id: int | None = None  # the mailbox's open alert afterwards
    level: str | None = None
    to_send: list[int] = field(default_factory=list)


@dataclass
class BulkOutcome:
    """What a read of ``doveadm quota get -A`` output did, with the counts the CLI prints."""

    counts: Counter[str] = field(default_factory=Counter)
    to_send: list[int] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)  # one line per alert opened or raised


def normalized(address: str) -> str:
    """Dovecot's ``%u`` as Onus stores addresses (lower case, no spaces)."""
    return address.strip().lower()


def _mailboxes(addresses: Iterable[str]) -> dict[str, Mailbox]:
    wanted = sorted(set(addresses))
    found: dict[str, Mailbox] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        for mailbox in db.session.scalars(
            select(Mailbox).where(Mailbox.address.in_(wanted[start : start + _IN_CHUNK]))
        ):
            found[mailbox.address] = mailbox
    return found


def _measured(latest: PackageUsage | None, address: str) -> int | None:
    """The mailbox's bytes in the package's latest measurement."""
    if latest is None:
        return None
    box = (latest.report or {}).get("mailboxes", {}).get(address) or {}
    value = box.get("bytes")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _point_at(latest: PackageUsage, now: datetime) -> datetime:
    """The new point comes after the latest one, whatever the clocks say."""
    return now if now > latest.measured_at else latest.measured_at + timedelta(seconds=1)


def _with_figures(latest: PackageUsage, figures: Iterable[Figure], at: datetime) -> dict[str, Any]:
    """The latest report with the mailboxes' figures replaced; the rest as last measured,
    and when the files were last scanned kept (``scanned_at``)."""
    report = copy.deepcopy(latest.report or {})
    report.setdefault("scanned_at", latest.measured_at.isoformat())
    boxes = report.setdefault("mailboxes", {})
    for figure in figures:
        box = boxes.setdefault(figure.address, {"bytes": 0, "messages": 0, "folders": {}})
        before = box.get("bytes") or 0
        box["bytes"] = figure.used_bytes
        if figure.messages is not None:
            box["messages"] = figure.messages
        box["reported"] = {"by": figure.source, "at": at.isoformat(), "percent": figure.percent}
        if isinstance(report.get("bytes"), int):
            report["bytes"] += figure.used_bytes - before
    return report


def _open_mailbox_alerts(package_ids: Iterable[int]) -> dict[str, Alert]:
    """Open (or acknowledged) storage alerts of the packages' mailboxes, by address."""
    ids = sorted(set(package_ids))
    if not ids:
        return {}
    return {
        alert.subject.partition(":")[2]: alert
        for alert in db.session.scalars(
            select(Alert).where(
                Alert.package_id.in_(ids),
                Alert.open_key.is_not(None),
                Alert.subject.like("mailbox:%"),
            )
        )
    }


def _change(before: tuple[int, str] | None, after: Alert | None) -> str:
    """What the evaluation did to the mailbox's alert, in a few words."""
    if after is None:
        if before is None:
            return "no alert: below the alert thresholds"
        return f"the {before[1]} alert #{before[0]} was resolved"
    if before is None:
        return f"opened a {after.level} alert #{after.id}"
    if before[0] == after.id:
        return f"the {after.level} alert #{after.id} stands"
    verb = "raised" if RANK[after.level] > RANK[before[1]] else "lowered"
    return f"{verb} the alert to {after.level} #{after.id}"


def _detail(figure: Figure) -> str:
    """The timeline's words for what Dovecot reported."""
    if figure.source == "doveadm":
        limit = format_size(figure.quota_bytes) if figure.quota_bytes else "no limit"
        return (
            f"Dovecot (doveadm) measured {figure.address}: "
            f"{format_size(figure.used_bytes)} of {limit}"
        )
    return (
        f"Dovecot reported {figure.address} at {figure.percent} % of its quota "
        f"(counted as {format_size(figure.used_bytes)})"
    )


def record_warning(
    address: str, percent: int, now: datetime, exact: UserQuota | None = None
) -> Heard:
    """Dovecot's ``quota_warning`` for ``address`` at ``percent``: store it and let the
    mailbox's alert open or rise at once. ``exact``: doveadm's figures for the mailbox, when
    it could be asked. An address no package here serves is recorded nowhere."""
    address = normalized(address)
    mailbox = _mailboxes([address]).get(address)
    if mailbox is None:
        return Heard(f"{address}: not hosted here")
    package = mailbox.package
    latest = db.session.get(PackageUsage, package.id)
    if exact is not None:
        figure = Figure(
            address,
            exact.used_bytes,
            "doveadm",
            percent,
            exact.limit_bytes,
            exact.messages,
        )
    else:
        quota = mailbox.effective_quota_bytes
        estimate = quota * percent // 100
        used = max(_measured(latest, address) or 0, estimate)
        figure = Figure(address, used, "dovecot", percent, quota)
    warning = QuotaWarning(
        package_id=package.id,
        mailbox_id=mailbox.id,
        at=now,
        percent=percent,
        source=figure.source,
        used_bytes=figure.used_bytes,
        quota_bytes=figure.quota_bytes,
        outcome="recorded",
    )
    db.session.add(warning)
    if latest is None or package.status == PackageStatus.CANCELLED:
        warning.outcome = NOT_MEASURED if latest is None else CANCELLED
        db.session.commit()
        return Heard(f"{address}: {warning.outcome}", warning.id)
    at = _point_at(latest, now)
    previous = _open_mailbox_alerts([package.id]).get(address)
    before = (previous.id, previous.level) if previous is not None else None
    if figure.source == "doveadm" or figure.used_bytes != _measured(latest, address):
        report = _with_figures(latest, [figure], at)
        usage.record_measurement(package, report, at, latest.scan_seconds)
    else:
        db.session.commit()  # measured at least that full already: the point would say nothing
    out = alerts.evaluate([package.id], at)
    alert = _open_mailbox_alerts([package.id]).get(address)
    warning.outcome = _change(before, alert)[:300]
    if alert is not None:
        alerts.add_event(alert, EVENT, at, _detail(figure))
    db.session.commit()
    return Heard(
        f"{address}: {warning.outcome}",
        warning.id,
        alert.id if alert is not None else None,
        alert.level if alert is not None else None,
        out.to_send,
    )


def _percent_of(quota: UserQuota, onus_quota: int) -> int:
    """The percentage a warning row keeps: of Dovecot's limit, else of Onus's quota."""
    percent = quota.percent
    if percent is None:
        percent = 100.0 * quota.used_bytes / onus_quota if onus_quota > 0 else 0.0
    return int(percent)


def read_doveadm(reading: Reading, now: datetime) -> BulkOutcome:
    """Every hosted mailbox's figures from ``doveadm -f json quota get -A``: one measurement
    point per package with its mailboxes' exact figures, one evaluation of those packages,
    and a warning row plus a timeline step for each mailbox whose alert opened or rose (a
    figure that changes nothing is a measurement, not news). Users no package here serves
    are counted and left alone."""
    out = BulkOutcome()
    out.counts["users"] = len(reading.users)
    out.counts["skipped"] = reading.skipped
    by_address: dict[str, UserQuota] = {}
    for user, quota in reading.users.items():
        by_address.setdefault(normalized(user), quota)
    hosted = _mailboxes(by_address)
    out.counts["not hosted"] = len(by_address) - len(hosted)
    per_package: dict[int, list[Mailbox]] = defaultdict(list)
    for mailbox in hosted.values():
        per_package[mailbox.package_id].append(mailbox)
    before = {
        address: (alert.id, alert.level)
        for address, alert in _open_mailbox_alerts(per_package).items()
    }
    figures: dict[str, tuple[Mailbox, Figure]] = {}
    evaluated: list[int] = []
    at = now
    for package_id, mailboxes in sorted(per_package.items()):
        package = mailboxes[0].package
        latest = db.session.get(PackageUsage, package_id)
        if latest is None or package.status == PackageStatus.CANCELLED:
            out.counts["packages not measured yet" if latest is None else "packages cancelled"] += 1
            continue
        package_at = _point_at(latest, now)
        at = max(at, package_at)
        made = []
        for mailbox in sorted(mailboxes, key=lambda m: m.address):
            quota = by_address[mailbox.address]
            figure = Figure(
                mailbox.address,
                quota.used_bytes,
                "doveadm",
                _percent_of(quota, mailbox.effective_quota_bytes),
                quota.limit_bytes,
                quota.messages,
            )
            figures[mailbox.address] = (mailbox, figure)
            made.append(figure)
        usage.record_measurement(
            package, _with_figures(latest, made, package_at), package_at, latest.scan_seconds
        )
        out.counts["measured"] += len(made)
        evaluated.append(package_id)
    out.counts["packages"] = len(evaluated)
    result = alerts.evaluate(evaluated, at)
    out.to_send.extend(result.to_send)
    after = _open_mailbox_alerts(evaluated)
    for address, (mailbox, figure) in sorted(figures.items()):
        alert = after.get(address)
        previous = before.get(address)
        if alert is None or (previous is not None and RANK[alert.level] <= RANK[previous[1]]):
            continue  # nothing new about this mailbox
        change = _change(previous, alert)
        db.session.add(
            QuotaWarning(
                package_id=mailbox.package_id,
                mailbox_id=mailbox.id,
                at=at,
                percent=figure.percent,
                source="doveadm",
                used_bytes=figure.used_bytes,
                quota_bytes=figure.quota_bytes,
                outcome=change[:300],
            )
        )
        alerts.add_event(alert, EVENT, at, _detail(figure))
        out.counts["alerts"] += 1
        out.changes.append(f"{address}: {change}")
    db.session.commit()
    return out
