"""The hoster's dashboard: which package is about to hurt someone, and who has agreed to
nothing.

:func:`hoster_packages` lists the actor's packages ordered by risk, filtered and paged in
SQL: a page of 50 out of 10,000 reads what it shows, in a constant number of queries
(count, rows, domains, parties, the agreement states of the page, the filter options).
:func:`open_alerts` lists the unresolved alerts, most urgent first, with who has been told
(two queries).

Risk order: the highest unresolved alert level (critical, warning, notice, none), then the
soonest forecast full (``Alert.hours_to_full``, unresolved alerts), then more open
(unacknowledged) alerts, then the agreement (none before waiting before agreed), then the
fullest package (latest usage against the plan's quota), then the name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import aliased

from panel.extensions import db
from panel.models import (
    Acknowledgement,
    Agreement,
    Alert,
    AlertStatus,
    Assignment,
    Domain,
    HostingNode,
    Notification,
    NotificationStatus,
    Package,
    PackageUsage,
    Party,
    PartyKind,
    Plan,
    Role,
)
from panel.services import agreements, messages
from panel.services.agreements import AgreementState
from panel.services.scope import Actor, scoped
from panel.services.usage import Slice

PER_PAGE = 50
MAX_QUERY = 100
LEVELS = ("critical", "warning", "notice")
LEVEL_FILTERS = (*LEVELS, "none")
AGREEMENT_FILTERS = ("none", "waiting", "agreed")  # also the risk order: none first
NO_LEVEL = len(LEVELS)  # the rank of a package without an unresolved alert
UNRESOLVED = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)
WITHOUT_BUILDER = "none"


def _level_rank(column: Any) -> ColumnElement[int]:
    return case({level: rank for rank, level in enumerate(LEVELS)}, value=column, else_=NO_LEVEL)


# --- filters ----------------------------------------------------------------------------------


def _positive_int(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**31 else None


@dataclass(frozen=True)
class PackageFilters:
    """What the hoster asked for; anything unreadable is simply not a filter."""

    q: str = ""
    node: int | None = None
    plan: int | None = None
    builder: int | str | None = None  # a builder party id, or "none": without a builder
    agreement: str = ""  # one of AGREEMENT_FILTERS, or "" for all
    level: str = ""  # one of LEVEL_FILTERS, or "" for all

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> PackageFilters:
        builder = str(args.get("builder", "")).strip()
        agreement = str(args.get("agreement", "")).strip()
        level = str(args.get("level", "")).strip()
        return cls(
            q=str(args.get("q", "")).strip()[:MAX_QUERY],
            node=_positive_int(args.get("node")),
            plan=_positive_int(args.get("plan")),
            builder=WITHOUT_BUILDER if builder == WITHOUT_BUILDER else _positive_int(builder),
            agreement=agreement if agreement in AGREEMENT_FILTERS else "",
            level=level if level in LEVEL_FILTERS else "",
        )

    @property
    def active(self) -> bool:
        return any(self.query_args().values())

    def query_args(self) -> dict[str, Any]:
        """The filters as query arguments, only those set (for links that keep them)."""
        values = {
            "q": self.q,
            "node": self.node,
            "plan": self.plan,
            "builder": self.builder,
            "agreement": self.agreement,
            "level": self.level,
        }
        return {key: value for key, value in values.items() if value not in (None, "")}


def page_number(value: Any) -> int:
    return _positive_int(value) or 1


# --- the rows -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageRow:
    """One package as the risk-ordered list shows it."""

    id: int
    name: str
    status: str
    domains: list[str]
    plan_name: str
    quota_bytes: int
    node_name: str
    owner_name: str | None
    builder_name: str | None
    measured_at: datetime | None
    used_bytes: int
    mail_bytes: int
    site_bytes: int
    database_bytes: int
    other_bytes: int
    level: str | None  # the highest unresolved alert level
    unacknowledged: int  # open alerts nobody acknowledged yet
    hours_to_full: float | None  # the soonest forecast among unresolved alerts
    agreement: AgreementState

    @property
    def measured(self) -> bool:
        return self.measured_at is not None

    @property
    def free_bytes(self) -> int:
        return max(self.quota_bytes - self.used_bytes, 0)

    @property
    def forecast(self) -> str:
        """ "full in about 3 days" (in the viewer's language); empty when not growing."""
        return messages.forecast_words(self.hours_to_full)

    @property
    def percent(self) -> float:
        return 100.0 * self.used_bytes / self.quota_bytes if self.quota_bytes else 0.0

    @property
    def slices(self) -> list[Slice]:
        """mail / site / databases / other / free, as shares of the bar (as the package page)."""
        if not self.measured:
            return []
        scale = max(self.quota_bytes, self.used_bytes) or 1
        shares = [
            ("mail", self.mail_bytes),
            ("site", self.site_bytes),
            ("databases", self.database_bytes),
            ("other", self.other_bytes),
            ("free", self.free_bytes),
        ]
        return [Slice(key, size, 100.0 * size / scale) for key, size in shares]


@dataclass(frozen=True)
class Option:
    id: int
    name: str


@dataclass(frozen=True)
class PackagePage:
    rows: list[PackageRow]
    total: int
    page: int
    per_page: int
    nodes: list[Option] = field(default_factory=list)
    plans: list[Option] = field(default_factory=list)
    builders: list[Option] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first_number(self) -> int:
        """The position of the page's first row in the whole list (1-based; 0 when empty)."""
        return (self.page - 1) * self.per_page + 1 if self.rows else 0

    @property
    def last_number(self) -> int:
        return (self.page - 1) * self.per_page + len(self.rows)


def _alert_figures(actor: Actor) -> Any:
    """Per package with unresolved alerts: the highest level's rank, the soonest forecast
    and how many are still open (not acknowledged)."""
    return (
        scoped(Alert, actor)
        .with_only_columns(
            Alert.package_id.label("package_id"),
            func.min(_level_rank(Alert.level)).label("level_rank"),
            func.min(Alert.hours_to_full).label("hours_to_full"),
            func.sum(case((Alert.status == AlertStatus.OPEN, 1), else_=0)).label("unacknowledged"),
        )
        .where(Alert.status.in_(UNRESOLVED))
        .group_by(Alert.package_id)
        .subquery("alert_figures")
    )


def _agreement_ranks(actor: Actor) -> Any:
    """Per package with an agreement: 1 while its newest version waits for a party, 2 when
    every party of it acknowledged it (what ``agreements.states_of`` says, in SQL)."""
    visible = scoped(Package, actor).with_only_columns(Package.id)
    newest = (
        select(Agreement.package_id, func.max(Agreement.version).label("version"))
        .where(Agreement.package_id.in_(visible))
        .group_by(Agreement.package_id)
        .subquery("newest_agreement")
    )
    current = aliased(Agreement, name="current_agreement")

    def acknowledged(role: str) -> ColumnElement[bool]:
        party = current.parties[role].as_integer()
        return or_(
            party.is_(None),
            exists().where(
                Acknowledgement.agreement_id == current.id, Acknowledgement.party_id == party
            ),
        )

    everyone = and_(*(acknowledged(role) for role in Role))
    return (
        select(
            current.package_id.label("package_id"),
            case((everyone, 2), else_=1).label("agreement_rank"),
        )
        .join(
            newest,
            and_(current.package_id == newest.c.package_id, current.version == newest.c.version),
        )
        .subquery("agreement_ranks")
    )


def _filtered(
    stmt: Select[Any],
    actor: Actor,
    filters: PackageFilters,
    level_rank: ColumnElement[int],
    agreement_rank: ColumnElement[int],
) -> Select[Any]:
    stmt = stmt.where(scoped(Package, actor).whereclause)  # type: ignore[arg-type]
    if filters.q:
        needle = filters.q.lower()
        domains = (
            scoped(Domain, actor)
            .with_only_columns(Domain.package_id)
            .where(func.lower(Domain.name).contains(needle, autoescape=True))
        )
        stmt = stmt.where(
            or_(
                func.lower(Package.name).contains(needle, autoescape=True),
                Package.id.in_(domains),
            )
        )
    if filters.node is not None:
        stmt = stmt.where(Package.node_id == filters.node)
    if filters.plan is not None:
        stmt = stmt.where(Package.plan_id == filters.plan)
    if filters.builder is not None:
        building = (
            scoped(Assignment, actor)
            .with_only_columns(Assignment.package_id)
            .where(Assignment.role == Role.BUILDER)
        )
        if filters.builder == WITHOUT_BUILDER:
            stmt = stmt.where(Package.id.not_in(building))
        else:
            stmt = stmt.where(
                Package.id.in_(building.where(Assignment.party_id == filters.builder))
            )
    if filters.level:  # the statement joins the alert figures then
        stmt = stmt.where(level_rank == LEVEL_FILTERS.index(filters.level))  # none: NO_LEVEL
    if filters.agreement:  # and the agreement ranks
        stmt = stmt.where(agreement_rank == AGREEMENT_FILTERS.index(filters.agreement))
    return stmt


def hoster_packages(
    actor: Actor, filters: PackageFilters, page: int = 1, per_page: int = PER_PAGE
) -> PackagePage:
    """One page of the actor's packages, riskiest first, with the total and filter options."""
    alerts = _alert_figures(actor)
    ranks = _agreement_ranks(actor)
    level_rank = func.coalesce(alerts.c.level_rank, NO_LEVEL)
    unacknowledged = func.coalesce(alerts.c.unacknowledged, 0)
    agreement_rank = func.coalesce(ranks.c.agreement_rank, 0)

    def narrowed(stmt: Select[Any]) -> Select[Any]:
        return _filtered(stmt, actor, filters, level_rank, agreement_rank)

    counting = select(func.count()).select_from(Package)
    if filters.level:
        counting = counting.outerjoin(alerts, alerts.c.package_id == Package.id)
    if filters.agreement:
        counting = counting.outerjoin(ranks, ranks.c.package_id == Package.id)
    total = db.session.scalar(narrowed(counting)) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)

    fullness = cast(PackageUsage.total_bytes, Float) / func.nullif(
        cast(Plan.storage_quota_bytes, Float), 0
    )
    # first the page's ids, sorted on narrow rows (the sort of 10,000 is the cost), ...
    keys = (
        select(
            Package.id.label("id"),
            level_rank.label("level_rank"),
            alerts.c.hours_to_full.label("hours_to_full"),
            unacknowledged.label("unacknowledged"),
            agreement_rank.label("agreement_rank"),
            fullness.label("fullness"),
            Package.name.label("name"),
        )
        .select_from(Package)
        .join(Plan, Plan.id == Package.plan_id)
        .outerjoin(PackageUsage, PackageUsage.package_id == Package.id)
        .outerjoin(alerts, alerts.c.package_id == Package.id)
        .outerjoin(ranks, ranks.c.package_id == Package.id)
    )
    chosen = (
        narrowed(keys)
        .order_by(
            level_rank,
            alerts.c.hours_to_full.is_(None),
            alerts.c.hours_to_full,
            unacknowledged.desc(),
            agreement_rank,
            fullness.is_(None),
            fullness.desc(),
            Package.name,
            Package.id,
        )
        .offset((page - 1) * per_page)
        .limit(per_page)
        .subquery("chosen")
    )
    # ... then what they show, in the same order
    stmt = (
        select(
            Package.id,
            Package.name,
            Package.status,
            Plan.name.label("plan_name"),
            Plan.storage_quota_bytes,
            HostingNode.name.label("node_name"),
            PackageUsage.measured_at,
            PackageUsage.total_bytes,
            PackageUsage.mail_bytes,
            PackageUsage.site_bytes,
            PackageUsage.database_bytes,
            PackageUsage.other_bytes,
            chosen.c.level_rank,
            chosen.c.unacknowledged,
            chosen.c.hours_to_full,
        )
        .select_from(chosen)
        .join(Package, Package.id == chosen.c.id)
        .join(Plan, Plan.id == Package.plan_id)
        .join(HostingNode, HostingNode.id == Package.node_id)
        .outerjoin(PackageUsage, PackageUsage.package_id == Package.id)
        .order_by(
            chosen.c.level_rank,
            chosen.c.hours_to_full.is_(None),
            chosen.c.hours_to_full,
            chosen.c.unacknowledged.desc(),
            chosen.c.agreement_rank,
            chosen.c.fullness.is_(None),
            chosen.c.fullness.desc(),
            chosen.c.name,
            chosen.c.id,
        )
    )
    found = db.session.execute(stmt).all()
    ids = [row.id for row in found]
    domains, people = _domains_and_people(actor, ids)
    states = agreements.states_of(ids) if ids else {}
    rows = [
        PackageRow(
            id=row.id,
            name=row.name,
            status=row.status,
            domains=domains.get(row.id, []),
            plan_name=row.plan_name,
            quota_bytes=row.storage_quota_bytes,
            node_name=row.node_name,
            owner_name=people.get((row.id, Role.OWNER)),
            builder_name=people.get((row.id, Role.BUILDER)),
            measured_at=row.measured_at,
            used_bytes=row.total_bytes or 0,
            mail_bytes=row.mail_bytes or 0,
            site_bytes=row.site_bytes or 0,
            database_bytes=row.database_bytes or 0,
            other_bytes=row.other_bytes or 0,
            level=LEVELS[row.level_rank] if row.level_rank < NO_LEVEL else None,
            unacknowledged=int(row.unacknowledged or 0),
            hours_to_full=row.hours_to_full,
            agreement=states[row.id],
        )
        for row in found
    ]
    nodes, plans, builders = _options(actor)
    return PackagePage(rows, total, page, per_page, nodes, plans, builders)


def _domains_and_people(
    actor: Actor, ids: list[int]
) -> tuple[dict[int, list[str]], dict[tuple[int, str], str]]:
    """The page's domains and the names of its owners and builders: two queries."""
    if not ids:
        return {}, {}
    domains: dict[int, list[str]] = {}
    for package_id, name in db.session.execute(
        scoped(Domain, actor)
        .with_only_columns(Domain.package_id, Domain.name)
        .where(Domain.package_id.in_(ids))
        .order_by(Domain.id)
    ):
        domains.setdefault(package_id, []).append(name)
    people = {
        (package_id, role): name
        for package_id, role, name in db.session.execute(
            select(Assignment.package_id, Assignment.role, Party.name)
            .join(Party, Party.id == Assignment.party_id)
            .where(
                scoped(Assignment, actor).whereclause,  # type: ignore[arg-type]
                Assignment.package_id.in_(ids),
                Assignment.role.in_((Role.OWNER, Role.BUILDER)),
            )
        )
    }
    return domains, people


def _options(actor: Actor) -> tuple[list[Option], list[Option], list[Option]]:
    """The actor's nodes, plans and builders for the filter form, in one query."""
    found = union_all(
        select(literal("node").label("kind"), HostingNode.id, HostingNode.name).where(
            scoped(HostingNode, actor).whereclause  # type: ignore[arg-type]
        ),
        select(literal("plan").label("kind"), Plan.id, Plan.name).where(
            scoped(Plan, actor).whereclause  # type: ignore[arg-type]
        ),
        select(literal("builder").label("kind"), Party.id, Party.name).where(
            scoped(Party, actor).whereclause,  # type: ignore[arg-type]
            Party.kind == PartyKind.BUILDER,
        ),
    ).subquery("options")
    grouped: dict[str, list[Option]] = {"node": [], "plan": [], "builder": []}
    for kind, option_id, name in db.session.execute(
        select(found.c.kind, found.c.id, found.c.name).order_by(
            func.lower(found.c.name), found.c.id
        )
    ):
        grouped[kind].append(Option(option_id, name))
    return grouped["node"], grouped["plan"], grouped["builder"]


# --- open alerts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Told:
    """A party told about an alert, and how far the best route got: ``sent``, ``sending``,
    ``queued``, ``held`` (waiting for the digest), ``bounced``, ``failed`` — by mail or
    webhook — or ``panel`` (only the panel inbox)."""

    party_name: str
    outcome: str


# the best outcome first; the panel inbox is always "sent", so it counts only when alone
OUTCOMES = (
    NotificationStatus.SENT,
    NotificationStatus.SENDING,
    NotificationStatus.QUEUED,
    NotificationStatus.HELD,
    NotificationStatus.BOUNCED,
    NotificationStatus.FAILED,
)


@dataclass(frozen=True)
class OpenAlert:
    id: int
    package_id: int
    package_name: str
    subject: str
    words: str  # the subject in words, in the viewer's language
    level: str
    status: str
    step: int
    percent: float
    hours_to_full: float | None
    opened_at: datetime
    acknowledged_by: str | None
    told: list[Told]

    @property
    def acknowledged(self) -> bool:
        return self.status == AlertStatus.ACKNOWLEDGED

    @property
    def forecast(self) -> str:
        """The forecast in words while not full yet (as the alerts list says it)."""
        return "" if self.percent >= 100 else messages.forecast_words(self.hours_to_full)


@dataclass(frozen=True)
class AlertPanel:
    alerts: list[OpenAlert]
    total: int  # every unresolved alert the actor sees


def summarize_told(rows: Iterable[tuple[int, str, str, str, int]]) -> list[Told]:
    """(party id, name, channel, status, first id) rows of one alert → who was told, in the
    order they were first told, with each party's best outcome."""
    ranking = [str(outcome) for outcome in OUTCOMES] + ["panel"]
    first: dict[int, int] = {}
    names: dict[int, str] = {}
    best: dict[int, int] = {}  # party id -> index in ranking
    for party_id, name, channel, status, first_id in rows:
        outcome = "panel" if channel == "panel" else str(status)
        if outcome not in ranking:
            continue  # withdrawn: it never went out
        names[party_id] = name
        first[party_id] = min(first.get(party_id, first_id), first_id)
        best[party_id] = min(best.get(party_id, len(ranking)), ranking.index(outcome))
    return [Told(names[p], ranking[best[p]]) for p in sorted(best, key=lambda p: first[p])]


def open_alerts(actor: Actor, limit: int = 20) -> AlertPanel:
    """Unresolved alerts, most urgent first — level, then not acknowledged, then the
    soonest forecast, then the longest open — with who has been told: two queries."""
    acknowledger = aliased(Party, name="acknowledger")
    found = db.session.execute(
        scoped(Alert, actor)
        .with_only_columns(
            Alert,
            Package.name.label("package_name"),
            acknowledger.name.label("acknowledged_by"),
            func.count().over().label("total"),
        )
        .join(Package, Package.id == Alert.package_id)
        .outerjoin(acknowledger, acknowledger.id == Alert.acknowledged_by_party_id)
        .where(Alert.status.in_(UNRESOLVED))
        .order_by(
            _level_rank(Alert.level),
            case((Alert.status == AlertStatus.OPEN, 0), else_=1),
            Alert.hours_to_full.is_(None),
            Alert.hours_to_full,
            Alert.opened_at,
            Alert.id,
        )
        .limit(limit)
    ).all()
    told: dict[int, list[tuple[int, str, str, str, int]]] = {}
    if found:
        for alert_id, *rest in db.session.execute(
            select(
                Notification.alert_id,
                Notification.party_id,
                Party.name,
                Notification.channel,
                Notification.status,
                func.min(Notification.id),
            )
            .join(Party, Party.id == Notification.party_id)
            .where(
                scoped(Notification, actor).whereclause,  # type: ignore[arg-type]
                Notification.alert_id.in_([row.Alert.id for row in found]),
            )
            .group_by(
                Notification.alert_id,
                Notification.party_id,
                Party.name,
                Notification.channel,
                Notification.status,
            )
        ):
            told.setdefault(alert_id, []).append(tuple(rest))  # type: ignore[arg-type]
    items = []
    for row in found:
        alert = row.Alert
        items.append(
            OpenAlert(
                id=alert.id,
                package_id=alert.package_id,
                package_name=row.package_name,
                subject=alert.subject,
                words=_subject_words(alert, row.package_name),
                level=alert.level,
                status=alert.status,
                step=alert.step,
                percent=alert.percent,
                hours_to_full=alert.hours_to_full,
                opened_at=alert.opened_at,
                acknowledged_by=row.acknowledged_by,
                told=summarize_told(told.get(alert.id, [])),
            )
        )
    return AlertPanel(items, int(found[0].total) if found else 0)


def _subject_words(alert: Alert, package_name: str) -> str:
    if alert.subject == "package":  # the package's name is read already: no lazy load
        return messages.subject_words(_NamedAlert(alert.subject, package_name))  # type: ignore[arg-type]
    return messages.subject_words(alert)


@dataclass(frozen=True)
class _Named:
    name: str


class _NamedAlert:
    """Just what ``messages.subject_words`` reads of an alert."""

    def __init__(self, subject: str, package_name: str) -> None:
        self.subject = subject
        self.package = _Named(package_name)
