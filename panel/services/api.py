"""What the REST API answers: plain, JSON-ready dicts read through the scope.

Each reader takes the caller's :class:`Actor` and reads in a constant number of queries,
however many rows a page holds. Times are RFC 3339 in UTC, sizes are bytes. What a page
hides from an audience the API hides from it too: an owner's usage names no files (the
largest files, the stale backups), as the owner's package page does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import selectinload

from panel.extensions import db
from panel.models import (
    Agreement,
    Alert,
    ApiToken,
    Assignment,
    Package,
    PackageUsage,
    Party,
    PartyKind,
    UsageSample,
    User,
)
from panel.policy.agreement import ROLES
from panel.policy.wording import LANGUAGES
from panel.services import agreements, mailflow, messages, usage
from panel.services.alerts import event_detail
from panel.services.scope import Actor, scoped

M = TypeVar("M")


@dataclass(frozen=True)
class Page:
    """One page of a list: its rows as dicts and how many rows the whole list has."""

    items: list[dict[str, Any]]
    total: int


def rfc3339(moment: datetime | None) -> str | None:
    """A stored time as RFC 3339 in UTC (``...Z``), or None."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _paged(stmt: Select[tuple[M]], page: int, per_page: int) -> tuple[list[M], int]:
    """The rows of one page of ``stmt`` (ordered already) and the count of all its rows."""
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = db.session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    return list(rows), int(total or 0)


# --- who is calling -----------------------------------------------------------------------------


def me(user: User, party: Party, token: ApiToken) -> dict[str, Any]:
    return {
        "user": {
            "id": user.id,
            "name": user.name,
            "email": user.email,
            "language": user.language,
            "timezone": user.timezone,
        },
        "party": {"id": party.id, "name": party.name, "kind": party.kind},
        "token": {
            "id": token.id,
            "name": token.name,
            "prefix": token.prefix,
            "created_at": rfc3339(token.created_at),
            "last_used_at": rfc3339(token.last_used_at),
        },
    }


# --- packages -----------------------------------------------------------------------------------


def _party(party: Party | None) -> dict[str, Any] | None:
    return None if party is None else {"id": party.id, "name": party.name}


def _usage_summary(view: usage.UsageView) -> dict[str, Any]:
    return {
        "measured_at": rfc3339(view.latest.measured_at) if view.latest else None,
        "used_bytes": view.used_bytes,
        "quota_bytes": view.quota_bytes,
        "free_bytes": view.free_bytes,
        "percent": round(view.percent, 2),
    }


def _package(
    package: Package, view: usage.UsageView, state: agreements.AgreementState
) -> dict[str, Any]:
    plan = package.plan
    return {
        "id": package.id,
        "name": package.name,
        "status": package.status,
        "created_at": rfc3339(package.created_at),
        "plan": {
            "id": plan.id,
            "name": plan.name,
            "quota_bytes": plan.storage_quota_bytes,
            "mailbox_count": plan.mailbox_count,
            "default_mailbox_quota_bytes": plan.default_mailbox_quota_bytes,
        },
        "node": {"id": package.node.id, "name": package.node.name},
        "domains": [domain.name for domain in package.domains],
        "parties": {role: _party(package.party_for(role)) for role in ROLES},
        "usage": _usage_summary(view),
        "agreement": {"state": state.kind, "version": state.version},
    }


def _packages_query(actor: Actor) -> Select[tuple[Package]]:
    return scoped(Package, actor).options(
        selectinload(Package.plan),
        selectinload(Package.node),
        selectinload(Package.domains),
        selectinload(Package.assignments).selectinload(Assignment.party),
    )


def _package_dicts(rows: Sequence[Package]) -> list[dict[str, Any]]:
    views = usage.views_of(rows)
    states = agreements.states_of(p.id for p in rows)
    return [_package(p, views[p.id], states[p.id]) for p in rows]


def packages(actor: Actor, status: str | None, page: int, per_page: int) -> Page:
    """The packages the actor sees, by name: seven queries for any page size."""
    stmt = _packages_query(actor).order_by(Package.name, Package.id)
    if status is not None:
        stmt = stmt.where(Package.status == status)
    rows, total = _paged(stmt, page, per_page)
    return Page(_package_dicts(rows), total)


def one_package(actor: Actor, package_id: int) -> dict[str, Any] | None:
    """One package the actor sees, else None (foreign and unknown alike)."""
    found = db.session.scalars(_packages_query(actor).where(Package.id == package_id)).first()
    return None if found is None else _package_dicts([found])[0]


def _files(entries: Any) -> list[dict[str, Any]]:
    return [
        {"path": str(e.get("path", "")), "bytes": int(e.get("bytes", 0))} for e in entries or ()
    ]


def usage_detail(package: Package, latest: PackageUsage | None, kind: str) -> dict[str, Any]:
    """The latest measurement in full; ``kind`` is the caller's audience (an owner's
    answer names no files)."""
    view = usage.view_of(package, latest)
    detail: dict[str, Any] = {"package_id": package.id, **_usage_summary(view)}
    report = latest.report if latest is not None else {}
    detail["split"] = {s.key: s.bytes for s in view.slices} or None
    detail["skipped"] = latest.skipped if latest is not None else 0
    measured = report.get("mailboxes") or {}
    mailboxes = []
    for mailbox in package.mailboxes:
        figures = measured.get(mailbox.address)
        if figures is None:
            continue
        size, quota = int(figures.get("bytes", 0)), mailbox.effective_quota_bytes
        mailboxes.append(
            {
                "address": mailbox.address,
                "bytes": size,
                "messages": int(figures.get("messages", 0)),
                "quota_bytes": quota,
                "percent": round(100.0 * size / quota, 2) if quota else 0.0,
                "missing": bool(figures.get("missing", False)),
            }
        )
    detail["mailboxes"] = mailboxes
    sites = []
    for docroot, site in sorted((report.get("sites") or {}).items()):
        parts = site.get("parts") or {}
        entry = {
            "docroot": docroot,
            "kind": str(site.get("kind", "")),
            "version": site.get("version"),
            "bytes": int(site.get("bytes", 0)),
            "files": int(site.get("files", 0)),
            "missing": bool(site.get("missing", False)),
            "parts": [
                {"part": part, "bytes": int(f.get("bytes", 0)), "files": int(f.get("files", 0))}
                for part, f in sorted(parts.items(), key=lambda item: -int(item[1]["bytes"]))
            ],
        }
        if kind != PartyKind.OWNER:
            entry["largest_files"] = _files(site.get("largest"))
            entry["stale_backups"] = _files(site.get("stale_backups"))
        sites.append(entry)
    detail["sites"] = sites
    detail["databases"] = [
        {"name": name, "bytes": database.get("bytes")}
        for name, database in sorted((report.get("databases") or {}).items())
    ]
    return detail


def usage_history(
    package: Package, since: datetime | None, until: datetime | None, page: int, per_page: int
) -> Page:
    """The package's measured points, oldest first, each split by the chart's parts."""
    stmt = select(UsageSample).where(UsageSample.package_id == package.id)
    if since is not None:
        stmt = stmt.where(UsageSample.taken_at >= since)
    if until is not None:
        stmt = stmt.where(UsageSample.taken_at <= until)
    rows, total = _paged(stmt.order_by(UsageSample.taken_at, UsageSample.id), page, per_page)
    items = [
        {
            "taken_at": rfc3339(sample.taken_at),
            "resolution": sample.resolution,
            "total_bytes": sample.total_bytes,
            "parts": usage.history_parts(sample.components),
        }
        for sample in rows
    ]
    return Page(items, total)


# --- alerts -------------------------------------------------------------------------------------


def _alert(alert: Alert) -> dict[str, Any]:
    acknowledger = alert.acknowledged_by_party
    return {
        "id": alert.id,
        "package": {"id": alert.package.id, "name": alert.package.name},
        "subject": alert.subject,
        "about": messages.subject_words(alert),
        "title": messages.title(alert),
        "category": alert.category,
        "level": alert.level,
        "reason": alert.reason,
        "status": alert.status,
        "used_bytes": alert.used_bytes,
        "quota_bytes": alert.quota_bytes,
        "percent": round(alert.percent, 2),
        "hours_to_full": alert.hours_to_full,
        "opened_at": rfc3339(alert.opened_at),
        "measured_at": rfc3339(alert.measured_at),
        "acknowledged_at": rfc3339(alert.acknowledged_at),
        "acknowledged_by": _party(acknowledger),
        "acknowledged_via": alert.acknowledged_via,
        "resolved_at": rfc3339(alert.resolved_at),
        "resolution": alert.resolution,
    }


def _alerts_query(actor: Actor) -> Select[tuple[Alert]]:
    return scoped(Alert, actor).options(
        selectinload(Alert.package), selectinload(Alert.acknowledged_by_party)
    )


def alerts(
    actor: Actor,
    status: str | None,
    package_id: int | None,
    level: str | None,
    page: int,
    per_page: int,
) -> Page:
    """The alerts the actor sees, newest first: four queries for any page size."""
    stmt = _alerts_query(actor).order_by(Alert.opened_at.desc(), Alert.id.desc())
    if status is not None:
        stmt = stmt.where(Alert.status == status)
    if package_id is not None:
        stmt = stmt.where(Alert.package_id == package_id)
    if level is not None:
        stmt = stmt.where(Alert.level == level)
    rows, total = _paged(stmt, page, per_page)
    return Page([_alert(a) for a in rows], total)


def alert_detail(actor: Actor, alert: Alert) -> dict[str, Any]:
    """An alert with its timeline; parties are named as far as the actor sees them."""
    named = {e.party_id for e in alert.events if e.party_id is not None}
    names = {
        party.id: party.name
        for party in db.session.scalars(scoped(Party, actor).where(Party.id.in_(named)))
    }
    return {
        **_alert(alert),
        "events": [
            {
                "kind": event.kind,
                "at": rfc3339(event.at),
                "step": event.step,
                "party": names.get(event.party_id),
                "detail": event_detail(event, actor),
            }
            for event in alert.events
        ],
    }


def one_alert(actor: Actor, alert_id: int) -> Alert | None:
    """An alert the actor sees, with its timeline and its package's parties, else None."""
    return db.session.scalars(
        _alerts_query(actor)
        .where(Alert.id == alert_id)
        .options(
            selectinload(Alert.events),
            selectinload(Alert.package).selectinload(Package.assignments),
        )
    ).first()


# --- agreements ---------------------------------------------------------------------------------


def _agreement(agreement: Agreement) -> dict[str, Any]:
    acked = {ack.party_id: ack for ack in agreement.acknowledgements}
    parties = {
        role: {
            "id": party_id,
            "name": agreement.party_names.get(role, role),
            "acknowledged_at": rfc3339(acked[party_id].at) if party_id in acked else None,
        }
        for role, party_id in agreement.parties.items()
    }
    return {
        "id": agreement.id,
        "package": {"id": agreement.package.id, "name": agreement.package.name},
        "version": agreement.version,
        "reason": agreement.reason,
        "created_at": rfc3339(agreement.created_at),
        "state": "agreed" if all(p in acked for p in agreement.parties.values()) else "waiting",
        "parties": {role: parties[role] for role in ROLES if role in parties},
        "matrix": agreement.matrix,
        "levels": agreement.thresholds,
        "deadlines_hours": agreement.deadlines,
        "grace": agreement.grace,
        "limits": agreement.limits,
    }


def _in_force(actor: Actor) -> Select[tuple[Agreement]]:
    """Each visible package's newest agreement version."""
    visible = scoped(Package, actor).with_only_columns(Package.id)
    newest = (
        select(Agreement.package_id, func.max(Agreement.version).label("version"))
        .where(Agreement.package_id.in_(visible))
        .group_by(Agreement.package_id)
        .subquery()
    )
    return (
        select(Agreement)
        .join(
            newest,
            (Agreement.package_id == newest.c.package_id) & (Agreement.version == newest.c.version),
        )
        .join(Package, Package.id == Agreement.package_id)
        .options(selectinload(Agreement.package), selectinload(Agreement.acknowledgements))
    )


def agreements_in_force(actor: Actor, page: int, per_page: int) -> Page:
    """The agreements in force on the packages the actor sees, by package name."""
    rows, total = _paged(_in_force(actor).order_by(Package.name, Package.id), page, per_page)
    return Page([_agreement(a) for a in rows], total)


def agreement_in_force(actor: Actor, package: Package, language: str) -> dict[str, Any] | None:
    """The package's agreement in force with its terms as the actor's party reads them."""
    found = db.session.scalars(_in_force(actor).where(Agreement.package_id == package.id)).first()
    if found is None:
        return None
    role = agreements.role_of(found, actor.party_id) or actor.kind
    shown = language if language in LANGUAGES else "en"  # as shown_text falls back
    return {
        **_agreement(found),
        "language": shown,
        "terms": agreements.shown_text(found, role, shown),
    }


# --- mail flow ----------------------------------------------------------------------------------


def _counts(flows: Sequence[mailflow.DayFlow]) -> dict[str, int]:
    return {
        "delivered": sum(f.delivered for f in flows),
        "deferred": sum(f.deferred for f in flows),
        "refused": sum(f.refused for f in flows),
        "refused_mailbox_full": sum(f.over_quota for f in flows),
    }


def mail_flow(package: Package, days: int, today: date) -> dict[str, Any]:
    """Messages per day (UTC) and per mailbox over the last ``days`` days up to today: two
    queries (the hours and the refusals)."""
    end = datetime.combine(today + timedelta(days=1), time(), tzinfo=UTC)
    start = end - timedelta(days=days)
    flows = mailflow.daily_flow(package.id, start, end)
    by_day: dict[date, list[mailflow.DayFlow]] = {
        (start + timedelta(days=n)).date(): [] for n in range(days)
    }
    by_address: dict[str, list[mailflow.DayFlow]] = {m.address: [] for m in package.mailboxes}
    for flow in flows:
        by_day.setdefault(flow.day, []).append(flow)
        by_address.setdefault(flow.address, []).append(flow)
    return {
        "package_id": package.id,
        "days": days,
        "start": rfc3339(start),
        "end": rfc3339(end),
        "totals": _counts(flows),
        "daily": [{"day": day.isoformat(), **_counts(found)} for day, found in by_day.items()],
        "mailboxes": [
            {"address": address, **_counts(found)} for address, found in sorted(by_address.items())
        ],
    }
