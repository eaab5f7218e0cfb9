"""Usage history: record a measurement, thin old points, read history and the latest view."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from flask_babel import get_timezone
from sqlalchemy import delete, select, update

from panel.extensions import db
from panel.models import Package, PackageUsage, UsageSample
from panel.policy import alerts as policy

RAW_KEPT = timedelta(days=14)  # every measurement, for the last two weeks
DAILY_KEPT = timedelta(days=400)  # then one point a day for more than a year, then weekly


def components_of(report: dict[str, Any]) -> dict[str, list[int]]:
    """The flat component → [bytes, items] map of one account report (databases included)."""
    components: dict[str, list[int]] = {}
    for address, mailbox in report.get("mailboxes", {}).items():
        components[f"mailbox:{address}"] = [mailbox["bytes"], mailbox.get("messages", 0)]
    for docroot, site in report.get("sites", {}).items():
        for part, figures in site.get("parts", {}).items():
            components[f"site:{docroot}:{part}"] = [figures["bytes"], figures["files"]]
    other = report.get("other", {"bytes": 0, "files": 0})
    components["other"] = [other["bytes"], other["files"]]
    for name, database in report.get("databases", {}).items():
        if database.get("bytes") is not None:
            components[f"database:{name}"] = [database["bytes"], 0]
    return components


def _sum(components: dict[str, list[int]], prefix: str) -> int:
    return sum(v[0] for k, v in components.items() if k.startswith(prefix))


def record_measurement(
    package: Package, report: dict[str, Any], measured_at: datetime, seconds: float
) -> PackageUsage:
    """Keep a measurement as history and as the package's latest figures, in one transaction."""
    components = components_of(report)
    total = sum(v[0] for v in components.values())
    db.session.add(
        UsageSample(
            package_id=package.id,
            taken_at=measured_at,
            resolution="raw",
            total_bytes=total,
            components=components,
        )
    )
    latest = db.session.get(PackageUsage, package.id) or PackageUsage(package_id=package.id)
    latest.measured_at = measured_at
    latest.total_bytes = total
    latest.mail_bytes = _sum(components, "mailbox:")
    latest.site_bytes = _sum(components, "site:")
    latest.database_bytes = _sum(components, "database:")
    latest.other_bytes = components["other"][0]
    latest.skipped = sum(report.get("skipped", {}).values())
    latest.scan_seconds = seconds
    latest.report = report
    db.session.add(latest)
    db.session.commit()
    return latest


def latest_for(package_ids: Iterable[int]) -> dict[int, PackageUsage]:
    """The latest figures of many packages in one query (dashboards)."""
    ids = list(package_ids)
    if not ids:
        return {}
    rows = db.session.scalars(select(PackageUsage).where(PackageUsage.package_id.in_(ids)))
    return {row.package_id: row for row in rows}


def history(package_id: int, since: datetime) -> list[UsageSample]:
    """The package's points since ``since``, oldest first."""
    return list(
        db.session.scalars(
            select(UsageSample)
            .where(UsageSample.package_id == package_id, UsageSample.taken_at >= since)
            .order_by(UsageSample.taken_at)
        )
    )


def _week(moment: datetime) -> tuple[int, int]:
    year, week, _day = moment.isocalendar()
    return year, week


def _thin(
    older_than: datetime,
    source: str,
    target: str,
    bucket: Callable[[datetime], date | tuple[int, int]],
) -> int:
    """Keep one point per package and bucket (the fullest one), marked ``target``."""
    rows = db.session.execute(
        select(
            UsageSample.id, UsageSample.package_id, UsageSample.taken_at, UsageSample.total_bytes
        )
        .where(UsageSample.resolution == source, UsageSample.taken_at < older_than)
        .order_by(UsageSample.package_id, UsageSample.taken_at)
    ).all()
    keep: dict[tuple[int, Any], tuple[int, int]] = {}
    for row_id, package_id, taken_at, total in rows:
        key = (package_id, bucket(taken_at))
        if key not in keep or total > keep[key][1]:
            keep[key] = (row_id, total)
    kept = [row_id for row_id, _total in keep.values()]
    kept_ids = set(kept)
    dropped = [row[0] for row in rows if row[0] not in kept_ids]
    for start in range(0, max(len(dropped), len(kept)), 500):
        db.session.execute(
            delete(UsageSample).where(UsageSample.id.in_(dropped[start : start + 500]))
        )
        db.session.execute(
            update(UsageSample)
            .where(UsageSample.id.in_(kept[start : start + 500]))
            .values(resolution=target)
        )
    db.session.commit()
    return len(dropped)


def downsample(now: datetime) -> int:
    """Thin old history: raw points to one a day after two weeks, to one a week after 400
    days. The fullest point of each day or week is kept, so a peak is never lost."""
    dropped = _thin(_midnight(now - RAW_KEPT), "raw", "day", lambda moment: moment.date())
    return dropped + _thin(_midnight(now - DAILY_KEPT), "day", "week", _week)


def _midnight(moment: datetime) -> datetime:
    """The start of the UTC day: only whole days are thinned."""
    return datetime.combine(moment.astimezone(UTC).date(), time.min, UTC)


@dataclass(frozen=True)
class Slice:
    """One share of a package's storage, for bars and tables."""

    key: str
    bytes: int
    percent: float


class QuotaShare:
    """What is free and how full, for figures with ``quota_bytes`` and ``used_bytes``."""

    quota_bytes: int
    used_bytes: int

    @property
    def free_bytes(self) -> int:
        return max(self.quota_bytes - self.used_bytes, 0)

    @property
    def percent(self) -> float:
        return 100.0 * self.used_bytes / self.quota_bytes if self.quota_bytes else 0.0


@dataclass(frozen=True)
class UsageView(QuotaShare):
    """A package's latest usage against its plan, as the pages show it."""

    quota_bytes: int
    latest: PackageUsage | None
    slices: list[Slice]

    @property
    def used_bytes(self) -> int:
        return self.latest.total_bytes if self.latest else 0


def view_of(package: Package, latest: PackageUsage | None) -> UsageView:
    """Split the latest figures into mail / site / databases / other / free."""
    quota = package.plan.storage_quota_bytes
    if latest is None:
        return UsageView(quota, None, [])
    scale = max(quota, latest.total_bytes) or 1
    shares = [
        ("mail", latest.mail_bytes),
        ("site", latest.site_bytes),
        ("databases", latest.database_bytes),
        ("other", latest.other_bytes),
        ("free", max(quota - latest.total_bytes, 0)),
    ]
    return UsageView(quota, latest, [Slice(k, b, 100.0 * b / scale) for k, b in shares])


def views_of(packages: Iterable[Package]) -> dict[int, UsageView]:
    """Usage views of many packages, reading their latest figures in one query."""
    rows = list(packages)
    latest = latest_for(p.id for p in rows)
    return {p.id: view_of(p, latest.get(p.id)) for p in rows}


# --- storage over time, for the package pages' chart -------------------------------------------

HISTORY_SHOWN = timedelta(days=90)  # how far back the package pages' chart looks
HISTORY_MAX_POINTS = 60  # more samples than this: the last of each day only
FORECAST_AHEAD = timedelta(days=14)  # the forecast line reaches the quota or this far, sooner
_HOUR = timedelta(hours=1)
# the parts of the chart, bottom of the stack first
HISTORY_PARTS = (
    "mailboxes",
    "core",
    "plugins",
    "themes",
    "uploads",
    "backups",
    "cache",
    "site_other",
    "databases",
    "other",
)
# a site part (PARTS in panel/measure/docroot.py) → the chart's part; any other → site_other.
# Drupal's and the static sites' ``files`` stay "site_other": the key cannot tell them apart.
_HISTORY_PART_OF_SITE_PART = {
    "core": "core",
    "plugins": "plugins",
    "modules": "plugins",
    "themes": "themes",
    "uploads": "uploads",
    "images": "uploads",
    "media": "uploads",
    "image": "uploads",
    "backups": "backups",
    "cache": "cache",
    "image_cache": "cache",
    "tmp": "cache",
}


def history_part(key: str) -> str:
    """The chart's part of a usage component (``components_of``'s key)."""
    kind, _sep, rest = key.partition(":")
    if kind == "mailbox":
        return "mailboxes"
    if kind == "database":
        return "databases"
    if kind == "site":
        part = rest.rpartition(":")[2]  # a docroot may hold colons; the part is last
        return _HISTORY_PART_OF_SITE_PART.get(part, "site_other")
    return "other"


def history_parts(components: Mapping[str, Sequence[int]]) -> dict[str, int]:
    """One measurement's bytes per chart part, in HISTORY_PARTS order (parts it has not
    left out)."""
    sums: dict[str, int] = {}
    for key, figures in components.items():
        part = history_part(key)
        sums[part] = sums.get(part, 0) + int(figures[0])
    return {p: sums[p] for p in HISTORY_PARTS if p in sums}


@dataclass(frozen=True)
class HistoryPart:
    """One part's bytes at every measured point of a history."""

    key: str  # one of HISTORY_PARTS
    values: list[int]


@dataclass(frozen=True)
class ForecastLine:
    """The package total projected from its last measured point at the forecast's rate."""

    bytes_per_hour: float
    hours_to_full: float  # from the last measured point
    reaches_quota: bool  # the line ends at the quota (else FORECAST_AHEAD from the last point)
    points: list[tuple[datetime, int]]  # after the last measured point, to the end


@dataclass(frozen=True)
class UsageHistory:
    """A package's storage over time by part, against its quota, with the forecast."""

    quota_bytes: int
    taken_at: list[datetime]  # the measured points, oldest first (UTC)
    daily: bool  # thinned to the last measurement of each day
    parts: list[HistoryPart]  # in HISTORY_PARTS order; parts zero throughout left out
    totals: list[int]  # the package total at each measured point
    forecast: ForecastLine | None  # None: not growing, already full, or too little history

    @property
    def times(self) -> list[datetime]:
        """Every point of the chart's x axis: the measured ones, then the forecast's."""
        projected = self.forecast.points if self.forecast else []
        return self.taken_at + [at for at, _used in projected]

    @property
    def forecast_values(self) -> list[int | None]:
        """The forecast line along ``times``: from the last measured total on; [] without."""
        if not self.forecast or not self.totals:
            return []
        before: list[int | None] = [None] * (len(self.totals) - 1)
        return [*before, self.totals[-1], *(used for _at, used in self.forecast.points)]


def history_chart(
    package: Package, since: datetime, now: datetime, zone: tzinfo = UTC
) -> UsageHistory:
    """The package's storage since ``since`` by part, for a stacked chart: every measurement
    (the last of each day in ``zone`` when there are more than HISTORY_MAX_POINTS), the plan's
    quota, and the forecast of :func:`panel.policy.alerts.forecast` drawn forward to the quota
    or FORECAST_AHEAD, whichever comes first. One query for the samples (and the plan, unless
    it is loaded already)."""
    quota = package.plan.storage_quota_bytes
    window_start = min(since, now - max(policy.FORECAST_WINDOWS))
    rows = db.session.execute(
        select(UsageSample.taken_at, UsageSample.total_bytes, UsageSample.components)
        .where(
            UsageSample.package_id == package.id,
            UsageSample.taken_at >= window_start,
            UsageSample.taken_at <= now,
        )
        .order_by(UsageSample.taken_at, UsageSample.id)
    ).all()
    prediction = policy.forecast(
        [policy.Point(at, total) for at, total, _components in rows], quota, now
    )
    shown = [row for row in rows if row[0] >= since]
    daily = len(shown) > HISTORY_MAX_POINTS
    if daily:
        last_of_day = {row[0].astimezone(zone).date(): row for row in shown}
        shown = list(last_of_day.values())
    points = [history_parts(components) for _at, _total, components in shown]
    parts = [
        HistoryPart(p, [point.get(p, 0) for point in points])
        for p in HISTORY_PARTS
        if any(point.get(p) for point in points)
    ]
    taken_at = [row[0] for row in shown]
    totals = [int(row[1]) for row in shown]
    line = None
    if shown and prediction and prediction.hours_to_full:  # None: not growing; 0.0: full
        line = _forecast_line(taken_at, totals[-1], quota, prediction)
    return UsageHistory(quota, taken_at, daily, parts, totals, line)


def _forecast_line(
    taken_at: list[datetime], used: int, quota: int, prediction: policy.Forecast
) -> ForecastLine:
    """From the last measured point at the predicted rate: points as far apart as the measured
    ones (so the chart's slope reads true on its evenly spaced axis), then the end."""
    start = taken_at[-1]
    hours = float(prediction.hours_to_full or 0.0)
    ahead = FORECAST_AHEAD / _HOUR
    reaches = hours <= ahead
    span = min(hours, ahead)
    rate = float(prediction.bytes_per_hour)
    step = _forecast_step(taken_at, span)
    points = [
        (start + timedelta(hours=step * k), round(used + rate * step * k))
        for k in range(1, int(span // step) + 1)
        if step * k < span
    ]
    points.append((start + timedelta(hours=span), quota if reaches else round(used + rate * span)))
    return ForecastLine(rate, hours, reaches, points)


def _forecast_step(taken_at: list[datetime], span: float) -> float:
    """Hours between the forecast's points: the median interval of the measured points (a
    day when there is one point), at least an hour, and no more than HISTORY_MAX_POINTS."""
    gaps = [(b - a) / _HOUR for a, b in itertools.pairwise(taken_at)]
    step = statistics.median(gaps) if gaps else 24.0
    return max(step, 1.0, span / HISTORY_MAX_POINTS)


def usage_history_for(package: Package, now: datetime | None = None) -> UsageHistory:
    """The package pages' chart: HISTORY_SHOWN back from now, days in the viewer's zone."""
    moment = now or datetime.now(UTC)
    return history_chart(package, moment - HISTORY_SHOWN, moment, get_timezone() or UTC)
