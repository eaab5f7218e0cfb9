"""The hoster's dashboard: packages riskiest first (level, forecast, unacknowledged alerts,
missing agreement, fullness, name), filtered, searched and paged in SQL in a constant number
of queries; the open alerts with their step and who has been told; never another hoster's.

The scene adds to the seeded world (alpha: no agreement, beta: waiting) packages of hoster
one with chosen alerts, forecasts, agreements and usage, and a critical alert on hoster two's
gamma that hoster one must never see.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from panel.extensions import db
from panel.models import (
    Alert,
    Assignment,
    Domain,
    Notification,
    Package,
    PackageUsage,
    TermsTemplate,
    User,
)
from panel.services import agreements
from panel.services.accounts import actor_for
from panel.services.dashboard import (
    PackageFilters,
    hoster_packages,
    open_alerts,
    page_number,
    summarize_told,
)
from panel.services.scope import Actor
from tests.conftest import https_client, login
from tests.world import LOGINS, PASSWORD, World

MIB = 1024 * 1024
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

# the risk order of the scene, alpha and beta included
EXPECTED = [
    "crit-soon",  # critical, full in about 5 hours, 2 unacknowledged (a notice too)
    "crit-old",  # critical, no forecast
    "warn-a",  # warning, 100 h, 1 unacknowledged, no agreement
    "warn-c",  # warning, 100 h, 1 unacknowledged, agreed by all
    "warn-b",  # warning, 100 h, acknowledged (0 unacknowledged), no agreement
    "notice-x",  # notice
    "calm-90",  # no alert, no agreement, 90 %
    "calm-10",  # no alert (a resolved critical one), no agreement, 10 %
    "alpha",  # no alert, no agreement, not measured
    "calm-wait",  # no alert, waiting, 50 %
    "beta",  # no alert, waiting, not measured
]


def actor_of(role: str) -> Actor:
    user = db.session.scalars(select(User).where(User.email == LOGINS[role])).one()
    actor = actor_for(user, None)
    assert actor is not None
    return actor


def client_for(app: Flask, role: str) -> FlaskClient:
    client = https_client(app)
    assert login(client, LOGINS[role], PASSWORD).status_code == 302
    return client


def add_package(
    world: World,
    name: str,
    *,
    builder: int | None = None,
    plan: int | None = None,
    node: int | None = None,
    domains: tuple[str, ...] = (),
    usage: tuple[int, int, int, int] | None = None,  # mail, site, databases, other (MiB)
    hoster: int | None = None,
    owner: int | None = None,
) -> Package:
    """A package straight into the database (no audit: these are fixtures)."""
    package = Package(
        hoster_id=hoster or world.hoster,
        name=name,
        plan_id=plan or world.plan,
        node_id=node or world.node,
        status="active",
    )
    package.domains = [Domain(name=d) for d in (domains or (f"{name}.test",))]
    package.assignments = [
        Assignment(role="hoster", party_id=hoster or world.hoster),
        Assignment(role="owner", party_id=owner or world.owner),
    ]
    if builder is not None:
        package.assignments.append(Assignment(role="builder", party_id=builder))
    db.session.add(package)
    db.session.flush()
    if usage is not None:
        mail, site, databases, other = (v * MIB for v in usage)
        db.session.add(
            PackageUsage(
                package_id=package.id,
                measured_at=NOW,
                total_bytes=mail + site + databases + other,
                mail_bytes=mail,
                site_bytes=site,
                database_bytes=databases,
                other_bytes=other,
                skipped=0,
                scan_seconds=0.1,
                report={},
            )
        )
    return package


def add_alert(
    package: Package,
    level: str,
    *,
    subject: str = "package",
    status: str = "open",
    hours: float | None = None,
    step: int = 0,
    percent: float = 90.0,
    acknowledged_by: int | None = None,
) -> Alert:
    alert = Alert(
        package_id=package.id,
        subject=subject,
        category="capacity",
        level=level,
        reason="threshold",
        status=status,
        open_key=None if status == "resolved" else f"{package.id}:{subject}",
        used_bytes=int(percent * 1.5 * MIB),
        quota_bytes=150 * MIB,
        percent=percent,
        hours_to_full=hours,
        opened_at=NOW - timedelta(hours=3),
        measured_at=NOW,
        step=step,
        step_at=NOW,
        acknowledged_at=NOW if status == "acknowledged" else None,
        acknowledged_by_party_id=acknowledged_by,
        resolved_at=NOW if status == "resolved" else None,
    )
    db.session.add(alert)
    db.session.flush()
    return alert


def tell(alert: Alert, party_id: int, channel: str, status: str) -> None:
    db.session.add(
        Notification(
            alert_id=alert.id,
            party_id=party_id,
            kind="opened",
            channel=channel,
            recipient=f"p{party_id}@elsewhere.example",
            status=status,
            dedup_key=f"test:{alert.id}:{party_id}:{channel}:{status}",
            status_at=NOW,
            created_at=NOW,
        )
    )
    db.session.flush()


def agree(package: Package, everyone: bool) -> None:
    """Hoster one's terms applied to the package; acknowledged by all of it, or by the hoster."""
    db.session.commit()
    db.session.refresh(package)
    terms = db.session.scalars(select(TermsTemplate).where(TermsTemplate.name.isnot(None))).first()
    assert terms is not None
    hoster = actor_of("hoster")
    agreement = agreements.apply_template(hoster, package, terms)
    agreements.acknowledge(hoster, agreement, "127.0.0.1", "en")
    if everyone:
        for role in ("builder", "owner"):
            agreements.acknowledge(actor_of(role), agreement, "127.0.0.1", "en")


def build_scene(world: World) -> dict[str, int]:
    ids: dict[str, int] = {}
    crit_soon = add_package(world, "crit-soon", builder=world.builder, usage=(60, 70, 10, 5))
    alert = add_alert(crit_soon, "critical", hours=5.0, step=1, percent=97.0)
    ids["crit-soon-notice"] = add_alert(
        crit_soon, "notice", subject="mailbox:info@crit-soon.test", percent=85.0
    ).id
    tell(alert, world.owner, "panel", "sent")
    tell(alert, world.owner, "email", "sent")
    tell(alert, world.builder, "panel", "sent")
    tell(alert, world.builder, "email", "bounced")
    tell(alert, world.hoster, "panel", "sent")
    ids["crit-soon-alert"] = alert.id
    crit_old = add_package(world, "crit-old", usage=(10, 10, 0, 0))
    ids["crit-old-alert"] = add_alert(crit_old, "critical", percent=100.0).id
    warn_a = add_package(world, "warn-a", plan=world.spare_plan, usage=(1, 1, 0, 0))
    ids["warn-a-alert"] = add_alert(warn_a, "warning", hours=100.0).id
    warn_b = add_package(world, "warn-b", node=world.spare_node, usage=(100, 30, 0, 0))
    ids["warn-b-alert"] = add_alert(
        warn_b, "warning", hours=100.0, status="acknowledged", acknowledged_by=world.owner
    ).id
    warn_c = add_package(world, "warn-c", builder=world.builder, domains=("Shop-Example.test",))
    ids["warn-c-alert"] = add_alert(warn_c, "warning", hours=100.0).id
    notice = add_package(world, "notice-x", builder=world.other_builder)
    ids["notice-x-alert"] = add_alert(notice, "notice", hours=None, percent=81.0).id
    add_package(world, "calm-90", usage=(60, 70, 5, 0), node=world.spare_node)
    calm_10 = add_package(world, "calm-10", usage=(5, 10, 0, 0), plan=world.spare_plan)
    add_alert(calm_10, "critical", status="resolved", subject="mailbox:x@calm-10.test")
    calm_wait = add_package(world, "calm-wait", builder=world.builder, usage=(30, 40, 5, 0))
    gamma = db.session.get_one(Package, world.foreign_package)
    ids["gamma-alert"] = add_alert(gamma, "critical", hours=1.0).id
    db.session.commit()
    agree(warn_c, everyone=True)
    agree(calm_wait, everyone=False)
    for name in ("crit-soon", "crit-old", "warn-a", "warn-b", "warn-c", "calm-90", "calm-wait"):
        ids[name] = db.session.scalars(select(Package.id).where(Package.name == name)).one()
    return ids


@pytest.fixture
def scene(world_app: Flask, world: World) -> dict[str, int]:
    with world_app.app_context():
        return build_scene(world)


def names(app: Flask, filters: dict[str, Any] | None = None, **kwargs: Any) -> list[str]:
    with app.test_request_context():
        listing = hoster_packages(
            actor_of("hoster"), PackageFilters.from_args(filters or {}), **kwargs
        )
        return [row.name for row in listing.rows]


ROW = re.compile(r'<tr data-package="\d+">\s*<td[^>]*><a [^>]*>([^<]+)</a>')


def shown(client: FlaskClient, query: str = "") -> list[str]:
    response = client.get(f"/hoster/{query}")
    assert response.status_code == 200, query
    return ROW.findall(response.get_data(as_text=True))


# --- the order --------------------------------------------------------------------------------


def test_packages_come_riskiest_first(world_app: Flask, scene: dict[str, int]) -> None:
    assert names(world_app) == EXPECTED
    hoster = client_for(world_app, "hoster")
    assert shown(hoster) == EXPECTED


def test_the_sql_agreement_state_is_what_states_of_says(
    world_app: Flask, scene: dict[str, int]
) -> None:
    with world_app.test_request_context():
        hoster = actor_of("hoster")
        listing = hoster_packages(hoster, PackageFilters())
        kinds = {row.name: row.agreement.kind for row in listing.rows}
        for kind in ("none", "waiting", "agreed"):
            filtered = hoster_packages(hoster, PackageFilters(agreement=kind))
            assert {row.name for row in filtered.rows} == {n for n, k in kinds.items() if k == kind}
    assert kinds["warn-c"] == "agreed" and kinds["calm-wait"] == "waiting"
    assert kinds["beta"] == "waiting" and kinds["alpha"] == "none"


def test_a_new_agreement_version_waits_again(world_app: Flask, scene: dict[str, int]) -> None:
    with world_app.app_context():
        package = db.session.get_one(Package, scene["warn-c"])
        terms = db.session.scalars(select(TermsTemplate)).first()
        assert terms is not None
        agreements.apply_template(actor_of("hoster"), package, terms, "plan changed")
    assert "warn-c" in names(world_app, {"agreement": "waiting"})
    assert "warn-c" not in names(world_app, {"agreement": "agreed"})


# --- filters and search -------------------------------------------------------------------------


def test_each_filter(world_app: Flask, world: World, scene: dict[str, int]) -> None:
    def only(filters: dict[str, Any]) -> list[str]:
        return names(world_app, filters)

    assert only({"node": world.spare_node}) == ["warn-b", "calm-90"]
    assert only({"plan": world.spare_plan}) == ["warn-a", "calm-10"]
    assert only({"builder": world.builder}) == ["crit-soon", "warn-c", "alpha", "calm-wait"]
    assert only({"builder": world.other_builder}) == ["notice-x", "beta"]
    assert only({"builder": "none"}) == ["crit-old", "warn-a", "warn-b", "calm-90", "calm-10"]
    assert only({"agreement": "none"}) == [n for n in EXPECTED if n not in _WITH_AGREEMENT]
    assert only({"agreement": "waiting"}) == ["calm-wait", "beta"]
    assert only({"agreement": "agreed"}) == ["warn-c"]
    assert only({"level": "critical"}) == ["crit-soon", "crit-old"]
    assert only({"level": "warning"}) == ["warn-a", "warn-c", "warn-b"]
    assert only({"level": "notice"}) == ["notice-x"]
    assert only({"level": "none"}) == ["calm-90", "calm-10", "alpha", "calm-wait", "beta"]
    assert only({"level": "warning", "agreement": "none", "node": world.node}) == ["warn-a"]
    assert only({"level": "none", "builder": world.builder}) == ["alpha", "calm-wait"]


_WITH_AGREEMENT = {"warn-c", "calm-wait", "beta"}


def test_search_by_account_or_domain_ignores_case(
    world_app: Flask, world: World, scene: dict[str, int]
) -> None:
    assert names(world_app, {"q": "WARN"}) == ["warn-a", "warn-c", "warn-b"]
    assert names(world_app, {"q": "shop-ex"}) == ["warn-c"]  # its domain
    assert names(world_app, {"q": "alpha-extra"}) == ["alpha"]
    assert names(world_app, {"q": "%"}) == []  # a wildcard is just a character
    assert names(world_app, {"q": "_"}) == []
    assert names(world_app, {"q": "gamma"}) == []  # another hoster's
    assert names(world_app, {"q": "  calm  ", "plan": world.spare_plan}) == ["calm-10"]
    hoster = client_for(world_app, "hoster")
    assert shown(hoster, "?q=Shop") == ["warn-c"]
    assert "No packages match." in hoster.get("/hoster/?q=nothing-like-it").get_data(as_text=True)


def test_the_form_shows_every_option_and_keeps_the_choice(
    world_app: Flask, world: World, scene: dict[str, int]
) -> None:
    hoster = client_for(world_app, "hoster")
    page = hoster.get(
        f"/hoster/?node={world.spare_node}&plan={world.plan}&builder={world.builder}"
        "&agreement=none&level=warning&q=warn"
    ).get_data(as_text=True)
    for field in ("q", "node-filter", "plan-filter", "builder-filter", "agreement-filter"):
        assert f'<label for="{field}">' in page and f'id="{field}"' in page
    assert '<label for="level-filter">' in page
    assert f'<option value="{world.spare_node}" selected>node-spare</option>' in page
    assert f'<option value="{world.plan}" selected>Plan one</option>' in page
    assert f'<option value="{world.builder}" selected>Builder One</option>' in page
    assert '<option value="none" selected>no agreement</option>' in page
    assert '<option value="warning" selected>warning</option>' in page
    assert 'value="warn"' in page
    assert "node-two" not in page and "Plan two" not in page  # hoster two's


# --- what a row and an alert say -------------------------------------------------------------


def test_rows_show_exact_figures(world_app: Flask, world: World, scene: dict[str, int]) -> None:
    with world_app.test_request_context():
        rows = {r.name: r for r in hoster_packages(actor_of("hoster"), PackageFilters()).rows}
    calm = rows["calm-90"]
    assert calm.used_bytes == 135 * MIB and calm.quota_bytes == 150 * MIB
    assert round(calm.percent) == 90 and calm.free_bytes == 15 * MIB
    assert [(s.key, s.bytes) for s in calm.slices] == [
        ("mail", 60 * MIB),
        ("site", 70 * MIB),
        ("databases", 5 * MIB),
        ("other", 0),
        ("free", 15 * MIB),
    ]
    soon = rows["crit-soon"]
    assert (soon.level, soon.unacknowledged, soon.hours_to_full) == ("critical", 2, 5.0)
    assert soon.owner_name == "Owner Alpha" and soon.builder_name == "Builder One"
    assert soon.domains == ["crit-soon.test"] and soon.node_name == "node-one"
    assert rows["warn-b"].unacknowledged == 0 and rows["calm-10"].level is None
    assert rows["alpha"].domains == ["alpha.example", "alpha-extra.example"]
    assert not rows["alpha"].measured and rows["alpha"].slices == []

    hoster = client_for(world_app, "hoster")
    page = hoster.get("/hoster/").get_data(as_text=True)
    assert "135 MiB (90 %) of 150 MiB" in page
    assert 'aria-label="mail 60 MiB, website 70 MiB, databases 5 MiB, other 0 B, free 15 MiB"' in (
        page
    )
    assert "full in about 5 hours" in page and "full in about 4 days" in page
    assert "Owner Alpha · builder: Builder One" in page
    assert "waiting for Builder One, Owner Alpha since" in page  # calm-wait: the hoster agreed
    assert "agreed by all" in page and "no agreement" in page
    assert "not measured" in page
    assert "Plan spare (1 GiB)" in page


def test_open_alerts_say_step_and_who_was_told(
    world_app: Flask, world: World, scene: dict[str, int]
) -> None:
    with world_app.test_request_context():
        panel = open_alerts(actor_of("hoster"))
    assert panel.total == 7  # the resolved one and gamma's are not there
    first = panel.alerts[0]
    assert (first.id, first.level, first.step, first.acknowledged) == (
        scene["crit-soon-alert"],
        "critical",
        1,
        False,
    )
    assert [(t.party_name, t.outcome) for t in first.told] == [
        ("Owner Alpha", "sent"),
        ("Builder One", "bounced"),
        ("Hoster one", "panel"),
    ]
    assert panel.alerts[1].id == scene["crit-old-alert"]
    # level; open before acknowledged; soonest forecast; longest open; then the oldest id
    assert [a.id for a in panel.alerts] == [
        scene[key]
        for key in (
            "crit-soon-alert",
            "crit-old-alert",
            "warn-a-alert",
            "warn-c-alert",
            "warn-b-alert",
            "crit-soon-notice",
            "notice-x-alert",
        )
    ]
    acknowledged = next(a for a in panel.alerts if a.id == scene["warn-b-alert"])
    assert acknowledged.acknowledged_by == "Owner Alpha"
    assert scene["gamma-alert"] not in {a.id for a in panel.alerts}

    hoster = client_for(world_app, "hoster")
    page = hoster.get("/hoster/").get_data(as_text=True)
    section = page.split('id="open-alerts-heading"')[1].split("</section>")[0]
    assert "the whole package" in section  # the subject in words
    assert "mailbox info@crit-soon.test" in section
    assert "escalation step 1" in section
    assert "Owner Alpha (sent), Builder One (bounced), Hoster one (panel inbox)" in section
    assert "acknowledged by Owner Alpha" in section and "not acknowledged" in section
    assert f'href="/alerts/{scene["crit-soon-alert"]}"' in section
    assert f'href="/hoster/packages/{scene["crit-soon"]}"' in section
    assert "full in about 5 hours" in section
    assert 'href="/alerts"' in section and "All alerts (7 not resolved)" in section
    assert "gamma" not in page


def test_open_alerts_limit_keeps_the_total(world_app: Flask, scene: dict[str, int]) -> None:
    with world_app.test_request_context():
        panel = open_alerts(actor_of("hoster"), limit=2)
    assert [a.id for a in panel.alerts] == [scene["crit-soon-alert"], scene["crit-old-alert"]]
    assert panel.total == 7


def test_summarize_told_keeps_the_best_route_per_party() -> None:
    rows = [
        (7, "Seven", "email", "failed", 3),
        (7, "Seven", "panel", "sent", 2),
        (7, "Seven", "webhook", "queued", 5),
        (8, "Eight", "email", "withdrawn", 1),
        (9, "Nine", "email", "held", 4),
    ]
    assert [(t.party_name, t.outcome) for t in summarize_told(rows)] == [
        ("Seven", "queued"),
        ("Nine", "held"),
    ]


# --- scope ----------------------------------------------------------------------------------------


def test_another_hosters_packages_never_appear(
    world_app: Flask, world: World, scene: dict[str, int]
) -> None:
    hoster = client_for(world_app, "hoster")
    for query in ("", "?q=gamma", f"?node={world.foreign_node}", f"?plan={world.foreign_plan}"):
        page = hoster.get(f"/hoster/{query}").get_data(as_text=True)
        assert "gamma.example" not in page and ">gamma<" not in page, query
        assert "Owner Gamma" not in page and "node-two" not in page, query
    assert shown(hoster, f"?node={world.foreign_node}") == []
    other = client_for(world_app, "other_hoster")
    page = other.get("/hoster/").get_data(as_text=True)
    assert shown(other) == ["gamma"]
    assert "crit-soon" not in page and "Builder One" not in page
    assert f'href="/alerts/{scene["gamma-alert"]}"' in page
    for role in ("builder", "owner"):
        assert client_for(world_app, role).get("/hoster/").status_code == 403


# --- pages ------------------------------------------------------------------------------------


def bulk(world: World, count: int, prefix: str = "bulk") -> None:
    for index in range(count):
        package = add_package(
            world,
            f"{prefix}-{index:03d}",
            builder=world.builder if index % 2 else None,
            plan=world.spare_plan,
            domains=(f"{prefix}-{index:03d}.test", f"www-{prefix}-{index:03d}.test"),
            usage=(index % 50, 10, 1, 0),
        )
        if index % 3 == 0:
            alert = add_alert(package, ("notice", "warning", "critical")[index % 9 // 3], step=1)
            tell(alert, world.owner, "panel", "sent")
            tell(alert, world.owner, "email", "sent")
    db.session.commit()


def test_pages_keep_the_filters(world_app: Flask, world: World) -> None:
    with world_app.app_context():
        bulk(world, 55)
    with world_app.test_request_context():
        hoster = actor_of("hoster")
        first = hoster_packages(hoster, PackageFilters(plan=world.spare_plan), 1)
        second = hoster_packages(hoster, PackageFilters(plan=world.spare_plan), 2)
        beyond = hoster_packages(hoster, PackageFilters(plan=world.spare_plan), 99)
        small = hoster_packages(hoster, PackageFilters(), 2, per_page=20)
    assert (first.total, first.pages, len(first.rows), len(second.rows)) == (55, 2, 50, 5)
    assert {r.id for r in first.rows}.isdisjoint({r.id for r in second.rows})
    assert (beyond.page, [r.id for r in beyond.rows]) == (2, [r.id for r in second.rows])
    assert (small.total, small.pages, small.first_number, small.last_number) == (57, 3, 21, 40)

    client = client_for(world_app, "hoster")
    query = f"?plan={world.spare_plan}&q=bulk"
    page = client.get(f"/hoster/{query}").get_data(as_text=True)
    assert len(ROW.findall(page)) == 50
    assert "page 1 of 2" in page and "Packages 1–50 of 55" in page
    assert f'rel="next" href="/hoster/?page=2&amp;q=bulk&amp;plan={world.spare_plan}"' in page
    assert 'rel="prev"' not in page
    assert '<nav class="pager" aria-label="Pages of packages">' in page
    page = client.get(f"/hoster/{query}&page=2").get_data(as_text=True)
    assert len(ROW.findall(page)) == 5 and "page 2 of 2" in page
    assert f'rel="prev" href="/hoster/?page=1&amp;q=bulk&amp;plan={world.spare_plan}"' in page
    assert 'rel="next"' not in page
    assert "page 2 of 2" in client.get(f"/hoster/{query}&page=7").get_data(as_text=True)
    assert "page 1 of 2" in client.get(f"/hoster/{query}&page=abc").get_data(as_text=True)


@contextmanager
def counted(app: Flask) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_the_query_count_does_not_grow_with_the_packages(world_app: Flask, world: World) -> None:
    client = client_for(world_app, "hoster")
    with world_app.app_context():
        bulk(world, 5, "few")
    with counted(world_app) as few:
        assert client.get("/hoster/").status_code == 200
    with world_app.app_context():
        bulk(world, 50, "many")
    with counted(world_app) as many:
        page = client.get("/hoster/").get_data(as_text=True)
    assert len(ROW.findall(page)) == 50
    # the same statements, whatever the number of packages; states_of skips reading the
    # acknowledgements when no package of the page has an agreement (as here, with 55)
    assert len(many) <= len(few) <= 14, "\n".join([*few, "----", *many])
    with world_app.test_request_context(), counted(world_app) as service:
        hoster = actor_of("hoster")
        service.clear()
        hoster_packages(hoster, PackageFilters(level="warning", agreement="none", q="many"))
        listing = len(service)
        open_alerts(hoster)
    assert listing <= 8 and len(service) - listing == 2


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "page=abc",
        "page=-3",
        "page=0",
        "page=99999999999999999999999",
        "level=bogus",
        "node=99999",
        "node=abc",
        "plan=1e5",
        "plan=-1",
        "builder=xyz",
        "builder=99999",
        "agreement=zzz",
        "q=" + "x" * 1000,
        "q=%25%27%22%3C",
        "node=&plan=&builder=&agreement=&level=&q=&page=",
    ],
)
def test_bad_query_arguments_never_fail(world_app: Flask, world: World, query: str) -> None:
    hoster = client_for(world_app, "hoster")
    response = hoster.get(f"/hoster/?{query}")
    assert response.status_code == 200, query


def test_filters_from_arguments() -> None:
    read = PackageFilters.from_args
    assert read({"level": "bogus", "agreement": "x", "node": "abc"}) == PackageFilters()
    assert read({"node": " 3 ", "builder": "none", "q": "  A b "}) == PackageFilters(
        q="A b", node=3, builder="none"
    )
    assert read({"plan": "2", "level": "none"}).query_args() == {"plan": 2, "level": "none"}
    assert page_number("abc") == 1 and page_number("0") == 1 and page_number("4") == 4
    assert not PackageFilters().active and PackageFilters(level="none").active


def test_the_page_in_dutch(world_app: Flask, scene: dict[str, int]) -> None:
    with world_app.app_context():
        user = db.session.scalars(select(User).where(User.email == LOGINS["hoster"])).one()
        user.language = "nl"
        db.session.commit()
    hoster = client_for(world_app, "hoster")
    response = hoster.get("/hoster/")
    assert response.status_code == 200
    assert shown(hoster) == EXPECTED


def test_nothing_to_show(app: Flask) -> None:
    from panel.services import accounts

    with app.app_context():
        accounts.create_hoster("Empty hosting", "empty@host.example", PASSWORD)
    client = https_client(app)
    assert login(client, "empty@host.example", PASSWORD).status_code == 302
    page = client.get("/hoster/").get_data(as_text=True)
    assert "No packages yet." in page and "No open alerts." in page
    assert 'class="pager"' not in page
