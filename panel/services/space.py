"""The figures a builder and an owner see first: plain data read through the scope.

A builder asks "which of my clients' sites is bloated, and by what?": its packages with
each site's split (summed over the package's sites), what a clean-up would free (the stale
backup archives the scanner found, and the caches), the alerts it answers for and the
agreements waiting for it. An owner asks "how full am I, what is eating it, and what did
I agree to?": each mailbox, the website, the databases and what is free, how fast it is
filling, and where Onus will warn it.

Both read a constant number of queries, however many packages.

"The alerts a builder answers for" is kept simple on purpose: the alerts, not resolved, on
its packages that its party was told about (a notification to it exists). That follows the
agreement's matrix and escalations as they happened, rather than guessing them again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from panel.extensions import db
from panel.models import (
    Alert,
    AlertStatus,
    Assignment,
    Notification,
    Package,
    PackageUsage,
    Party,
    UsageSample,
)
from panel.models.base import utcnow
from panel.policy import alerts as policy
from panel.services import agreements, messages, notifications, usage
from panel.services.scope import Actor, get_scoped, scoped

SITE_PARTS = ("core", "plugins", "themes", "uploads", "backups", "cache", "other")
SPEED_WINDOW = timedelta(days=7)  # the history "how fast is it filling" reads
LEVEL_RANK = {"critical": 0, "warning": 1, "notice": 2}


# --- the builder --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartShare:
    """One part of the sites (core, plugins, ...) with its bytes and share of the sites."""

    key: str
    bytes: int
    percent: float  # of the sites' bytes


@dataclass(frozen=True)
class BuilderPackage(usage.QuotaShare):
    """One package a builder builds for, as its dashboard shows it."""

    package: Package
    client: str  # the owner's name ("" when the package has no owner)
    measured_at: datetime | None
    used_bytes: int
    quota_bytes: int
    site_bytes: int
    parts: list[PartShare]  # summed over the package's sites, largest first, zero parts left out
    stale_bytes: int  # the stale backup archives the scanner listed
    stale_count: int
    cache_bytes: int

    @property
    def cleanup_bytes(self) -> int:
        """What a clean-up would free: stale backups and caches."""
        return self.stale_bytes + self.cache_bytes


@dataclass(frozen=True)
class BuilderOverview:
    packages: list[BuilderPackage]
    alerts: list[Alert]  # open or acknowledged alerts this party was told about
    to_acknowledge: list[tuple[Package, agreements.AgreementState]]


def site_figures(report: dict[str, Any]) -> tuple[dict[str, int], int, int]:
    """A report's site parts summed over its sites, and the stale backups' bytes and count."""
    parts = dict.fromkeys(SITE_PARTS, 0)
    stale_bytes = stale_count = 0
    for site in (report.get("sites") or {}).values():
        for part, figures in (site.get("parts") or {}).items():
            parts[part] = parts.get(part, 0) + int(figures.get("bytes", 0))
        for archive in site.get("stale_backups") or ():
            stale_bytes += int(archive.get("bytes", 0))
            stale_count += 1
    return parts, stale_bytes, stale_count


def _builder_package(package: Package, latest: PackageUsage | None) -> BuilderPackage:
    owner = package.owner
    quota = package.plan.storage_quota_bytes
    if latest is None:
        return BuilderPackage(package, owner.name if owner else "", None, 0, quota, 0, [], 0, 0, 0)
    parts, stale_bytes, stale_count = site_figures(latest.report or {})
    site_bytes = sum(parts.values())
    shares = [
        PartShare(key, size, 100.0 * size / site_bytes if site_bytes else 0.0)
        for key, size in sorted(parts.items(), key=lambda item: -item[1])
        if size
    ]
    return BuilderPackage(
        package=package,
        client=owner.name if owner else "",
        measured_at=latest.measured_at,
        used_bytes=latest.total_bytes,
        quota_bytes=quota,
        site_bytes=site_bytes,
        parts=shares,
        stale_bytes=stale_bytes,
        stale_count=stale_count,
        cache_bytes=parts.get("cache", 0),
    )


def _told_alerts(actor: Actor) -> list[Alert]:
    """Alerts not resolved on the actor's packages that its party was told about."""
    told = scoped(Notification, actor).with_only_columns(Notification.alert_id)
    rows = db.session.scalars(
        scoped(Alert, actor)
        .where(Alert.status != AlertStatus.RESOLVED, Alert.id.in_(told))
        .options(selectinload(Alert.package))
        .order_by(Alert.opened_at.desc(), Alert.id.desc())
    ).all()
    return sorted(rows, key=lambda a: LEVEL_RANK.get(a.level, 3))


def builder_overview(actor: Actor) -> BuilderOverview:
    """The builder's packages with their site split and clean-up, its alerts, the
    agreements waiting for it: six queries however many packages."""
    rows = db.session.scalars(
        scoped(Package, actor)
        .options(
            selectinload(Package.assignments).selectinload(Assignment.party),
            selectinload(Package.plan),
            selectinload(Package.domains),
        )
        .order_by(Package.name)
    ).all()
    latest = usage.latest_for(p.id for p in rows)
    states = agreements.states_of(p.id for p in rows)
    waiting = [(p, states[p.id]) for p in rows if actor.party_id in states[p.id].pending]
    return BuilderOverview(
        packages=[_builder_package(p, latest.get(p.id)) for p in rows],
        alerts=_told_alerts(actor),
        to_acknowledge=waiting,
    )


# --- the owner ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Share:
    """One share of the package in plain words: a mailbox, the website, databases, ..."""

    key: str  # "mailbox", "site", "databases", "other", "free"
    name: str  # the mailbox's address, else empty
    bytes: int
    percent: float  # of the package's size


@dataclass(frozen=True)
class Route:
    """A contact of the party and whether a warning about this package may use it."""

    contact_id: int | None  # None: a login address used because the party has no contacts
    kind: str
    value: str
    usable: bool
    served_by_package: bool  # not usable: this package serves the address


@dataclass(frozen=True)
class Filling:
    """How fast the package is filling: ``state`` is "growing", "steady" (not growing) or
    "unknown" (too few measurements over the last week to say)."""

    state: str
    bytes_per_day: float = 0.0
    hours_to_full: float | None = None

    @property
    def words(self) -> str:
        """ "full in about N days" when growing; empty otherwise."""
        return messages.forecast_words(self.hours_to_full) if self.state == "growing" else ""


@dataclass(frozen=True)
class OwnerSpace(usage.QuotaShare):
    package: Package
    measured_at: datetime | None
    quota_bytes: int
    used_bytes: int
    shares: list[Share]  # each mailbox, the website(s), databases, other, free
    filling: Filling
    routes: list[Route]
    unreachable: str = ""  # why no route is usable, when none is
    alerts: list[Alert] = field(default_factory=list)

    @property
    def measured(self) -> bool:
        return self.measured_at is not None


def _shares(package: Package, latest: PackageUsage | None) -> list[Share]:
    if latest is None:
        return []
    quota = package.plan.storage_quota_bytes

    def share(key: str, name: str, size: int) -> Share:
        return Share(key, name, size, 100.0 * size / quota if quota else 0.0)

    measured = (latest.report or {}).get("mailboxes") or {}
    found = [
        share("mailbox", address, int(measured[address].get("bytes", 0)))
        for address in sorted(measured)
    ]
    found += [
        share("site", "", latest.site_bytes),
        share("databases", "", latest.database_bytes),
        share("other", "", latest.other_bytes),
        share("free", "", max(quota - latest.total_bytes, 0)),
    ]
    return found


def filling_of(points: Sequence[policy.Point], quota: int, now: datetime) -> Filling:
    """How fast a package is filling, from its points of the last week (the alerts' own
    robust forecast)."""
    found = policy.forecast(points, quota, now)
    if found is None:
        return Filling("unknown")
    if found.bytes_per_hour <= 0:
        return Filling("steady", 0.0, None)
    return Filling("growing", found.bytes_per_hour * 24, found.hours_to_full)


def _routes(party: Party, package: Package) -> tuple[list[Route], str]:
    """The party's contacts, each marked usable for a warning about ``package`` or not:
    ``notifications.routes`` decides, so the page says what the sender will do."""
    usable, why = notifications.routes(party, package)
    wanted = set(usable)
    domains = agreements.package_domains(package)
    if not party.contacts:  # reached at its people's logins
        return [Route(None, kind, value, True, False) for kind, value in usable], why
    return [
        Route(
            contact.id,
            contact.kind,
            contact.value,
            (contact.kind, contact.value) in wanted,
            agreements.served_by(contact, domains),
        )
        for contact in party.contacts
    ], why


def owner_spaces(actor: Actor, now: datetime | None = None) -> list[OwnerSpace]:
    """The owner's "Your space" for each of the actor's packages, in constant queries."""
    now = now or utcnow()
    rows = db.session.scalars(
        scoped(Package, actor)
        .options(selectinload(Package.plan), selectinload(Package.domains))
        .order_by(Package.name)
    ).all()
    return _spaces(actor, list(rows), now)


def owner_space(actor: Actor, package: Package, now: datetime | None = None) -> OwnerSpace:
    """The owner's "Your space" for one package the actor sees (else :class:`NotFound`)."""
    return _spaces(actor, [get_scoped(Package, package.id, actor)], now or utcnow())[0]


def _spaces(actor: Actor, rows: list[Package], now: datetime) -> list[OwnerSpace]:
    ids = [p.id for p in rows]
    if not ids:
        return []
    latest = usage.latest_for(ids)
    points: dict[int, list[policy.Point]] = {pid: [] for pid in ids}
    history = db.session.execute(
        select(UsageSample.package_id, UsageSample.taken_at, UsageSample.total_bytes)
        .where(UsageSample.package_id.in_(ids), UsageSample.taken_at >= now - SPEED_WINDOW)
        .order_by(UsageSample.taken_at)
    )
    for package_id, taken_at, total in history:
        points[package_id].append(policy.Point(taken_at, total))
    party = db.session.scalars(
        scoped(Party, actor)
        .where(Party.id == actor.party_id)
        .options(selectinload(Party.contacts), selectinload(Party.memberships))
    ).one()
    open_alerts: dict[int, list[Alert]] = {pid: [] for pid in ids}
    for alert in db.session.scalars(
        scoped(Alert, actor)
        .where(Alert.package_id.in_(ids), Alert.status != AlertStatus.RESOLVED)
        .order_by(Alert.opened_at.desc(), Alert.id.desc())
    ):
        open_alerts[alert.package_id].append(alert)
    spaces = []
    for package in rows:
        found = latest.get(package.id)
        quota = package.plan.storage_quota_bytes
        routes, why = _routes(party, package)
        spaces.append(
            OwnerSpace(
                package=package,
                measured_at=found.measured_at if found else None,
                quota_bytes=quota,
                used_bytes=found.total_bytes if found else 0,
                shares=_shares(package, found),
                filling=filling_of(points[package.id], quota, now),
                routes=routes,
                unreachable="" if any(r.usable for r in routes) else why,
                alerts=sorted(open_alerts[package.id], key=lambda a: LEVEL_RANK.get(a.level, 3)),
            )
        )
    return spaces
