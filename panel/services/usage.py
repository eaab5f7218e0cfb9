"""Usage history: record a measurement, thin old points, read history and the latest view."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, select, update

from panel.extensions import db
from panel.models import Package, PackageUsage, UsageSample

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


@dataclass(frozen=True)
class UsageView:
    """A package's latest usage against its plan, as the pages show it."""

    quota_bytes: int
    latest: PackageUsage | None
    slices: list[Slice]

    @property
    def used_bytes(self) -> int:
        return self.latest.total_bytes if self.latest else 0

    @property
    def free_bytes(self) -> int:
        return max(self.quota_bytes - self.used_bytes, 0)

    @property
    def percent(self) -> float:
        return 100.0 * self.used_bytes / self.quota_bytes if self.quota_bytes else 0.0


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
