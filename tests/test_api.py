"""The REST API under /api/v1 with real tokens of the world's people: every endpoint for
the roles that see it and the roles that do not, pagination with its Link header, filters,
problem documents (401 with its challenge, 400 listing each bad parameter, 404 alike for
foreign and unknown ids, 405, 429, 500), and acknowledging an alert (audited, on its
timeline). A session cookie alone opens nothing here.

The world's alpha (hoster, builder, owner) has one mailbox, info@alpha.example (50 MiB by
the plan) and no agreement; beta (hoster, other_builder, other_owner) has version 1 of an
agreement; gamma is the other hoster's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, event, func, select

from panel.extensions import db
from panel.models import (
    Alert,
    AlertEvent,
    ApiToken,
    Assignment,
    AuditEvent,
    MailFlowHour,
    Package,
    Party,
    User,
)
from panel.models.base import utcnow
from panel.services import alerts, api_tokens, packages, usage
from panel.services.scope import Actor
from tests.alerting import MIB, measure, report
from tests.conftest import DatabaseStates, close_app, https_client, login, make_app
from tests.world import LOGINS, PASSWORD, TERMS_EN, TERMS_NL, World

PROBLEM = "application/problem+json"
MAILBOX = "info@alpha.example"


def make_tokens(app: Flask) -> dict[str, str]:
    """A token for each of the world's people, in their (only) party."""
    found = {}
    with app.app_context():
        for role, email in LOGINS.items():
            user = db.session.scalars(select(User).where(User.email == email)).one()
            actor = Actor.for_membership(user, user.memberships[0].party)
            found[role] = api_tokens.create(actor, f"{role} script")[1]
        db.session.remove()
    return found


@pytest.fixture
def tokens(world_app: Flask, world: World) -> dict[str, str]:
    return make_tokens(world_app)


@pytest.fixture
def client(world_app: Flask) -> FlaskClient:
    return https_client(world_app)


def call(client: FlaskClient, path: str, token: str | None, method: str = "GET") -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.open(path, method=method, headers=headers)


def as_role(client: FlaskClient, tokens: dict[str, str], role: str, path: str) -> Any:
    response = call(client, path, tokens[role])
    assert response.status_code == 200, (role, path, response.get_data(as_text=True))
    assert response.mimetype == "application/json"
    return response.get_json()


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["title"] and body["detail"]
    assert body["instance"] == response.request.path
    return body


def open_alert(app: Flask, w: World) -> int:
    """Alpha's mailbox at 110 %: one open critical alert, every party of alpha told."""
    with app.app_context():
        now = utcnow()
        measure(w.package, now, mailboxes={MAILBOX: 55 * MIB})
        alerts.evaluate([w.package], now)
        alert_id = db.session.scalars(select(Alert.id)).one()
        db.session.remove()
        return alert_id


# --- authentication -----------------------------------------------------------------------------


def test_without_a_valid_token_every_endpoint_answers_401_with_a_challenge(
    world_app: Flask, client: FlaskClient, tokens: dict[str, str], world: World
) -> None:
    for token in (None, "onus_not-a-real-token", "not even the prefix"):
        response = call(client, "/api/v1/packages", token)
        body = assert_problem(response, 401)
        challenge = response.headers["WWW-Authenticate"]
        assert challenge.startswith('Bearer realm="onus"')
        assert ('error="invalid_token"' in challenge) == (token is not None)
        assert "Bearer" in body["detail"]
    # a Basic or a bare header is no bearer token either
    response = client.get("/api/v1/me", headers={"Authorization": f"Basic {tokens['hoster']}"})
    assert_problem(response, 401)
    response = client.get("/api/v1/me", headers={"Authorization": tokens["hoster"]})
    assert_problem(response, 401)


def test_a_revoked_token_is_refused(
    world_app: Flask, client: FlaskClient, tokens: dict[str, str], world: World
) -> None:
    assert call(client, "/api/v1/me", tokens["owner"]).status_code == 200
    with world_app.app_context():
        token = db.session.scalars(select(ApiToken).where(ApiToken.name == "owner script")).one()
        actor = Actor.for_membership(token.user, token.party)
        api_tokens.revoke(actor, token, utcnow())
    assert_problem(call(client, "/api/v1/me", tokens["owner"]), 401)


def test_a_session_cookie_alone_opens_nothing(world_app: Flask, world: World) -> None:
    client = https_client(world_app)
    assert login(client, LOGINS["hoster"], PASSWORD).status_code == 302
    assert client.get("/hoster/").status_code == 200  # the cookie works for the panel
    assert_problem(client.get("/api/v1/packages"), 401)
    assert_problem(client.post(f"/api/v1/alerts/{1}/acknowledge"), 401)


def test_me_names_the_person_and_the_party(
    client: FlaskClient, tokens: dict[str, str], world: World
) -> None:
    for role, email in LOGINS.items():
        body = as_role(client, tokens, role, "/api/v1/me")
        assert body["user"]["email"] == email
        assert body["party"]["id"] == world.ids[role]
        assert body["party"]["kind"] == role.removeprefix("other_")
        assert body["token"]["name"] == f"{role} script"
        assert body["token"]["prefix"] == tokens[role][:11]
        assert body["token"]["last_used_at"].endswith("Z")


def test_words_are_in_the_token_persons_language(
    world_app: Flask, client: FlaskClient, tokens: dict[str, str], world: World
) -> None:
    path = f"/api/v1/packages/{world.foreign_package}"
    english = assert_problem(call(client, path, tokens["owner"]), 404)
    assert english["detail"] == "There is nothing here, or it is not yours."
    with world_app.app_context():
        user = db.session.scalars(select(User).where(User.email == LOGINS["owner"])).one()
        user.language = "nl"
        db.session.commit()
        db.session.remove()
    dutch = assert_problem(call(client, path, tokens["owner"]), 404)
    assert dutch["detail"] == "Hier is niets, of het is niet van jou."
    # the browser's language does not change it, nor does it outlive the request
    response = client.get(
        path, headers={"Authorization": f"Bearer {tokens['owner']}", "Accept-Language": "en"}
    )
    assert response.get_json()["detail"] == dutch["detail"]
    assert call(client, path, tokens["builder"]).get_json()["detail"] == english["detail"]


# --- packages -----------------------------------------------------------------------------------


def names(body: dict[str, Any]) -> list[str]:
    return [item["name"] for item in body["items"]]


def test_each_role_lists_exactly_its_packages(
    client: FlaskClient, tokens: dict[str, str], world: World
) -> None:
    seen = {role: names(as_role(client, tokens, role, "/api/v1/packages")) for role in LOGINS}
    assert seen == {
        "hoster": ["alpha", "beta"],
        "other_hoster": ["gamma"],
        "builder": ["alpha"],
        "other_builder": ["beta"],
        "owner": ["alpha"],
        "other_owner": ["beta"],
    }
    alpha = as_role(client, tokens, "owner", f"/api/v1/packages/{world.package}")
    assert alpha["plan"]["name"] == "Plan one"
    assert alpha["plan"]["quota_bytes"] == 150 * MIB
    assert alpha["node"] == {"id": world.node, "name": "node-one"}
    assert alpha["domains"] == ["alpha.example", "alpha-extra.example"]
    assert alpha["parties"] == {
        "hoster": {"id": world.hoster, "name": "Hoster one"},
        "builder": {"id": world.builder, "name": "Builder One"},
        "owner": {"id": world.owner, "name": "Owner Alpha"},
    }
    assert alpha["usage"]["measured_at"] is None
    assert alpha["agreement"] == {"state": "none", "version": None}
    beta = as_role(client, tokens, "other_owner", f"/api/v1/packages/{world.other_package}")
    assert beta["agreement"] == {"state": "waiting", "version": 1}


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/packages/{id}",
        "/api/v1/packages/{id}/usage",
        "/api/v1/packages/{id}/usage/history",
        "/api/v1/packages/{id}/agreement",
        "/api/v1/packages/{id}/mail-flow",
    ],
)
def test_a_foreign_package_is_as_missing_as_an_unknown_one(
    client: FlaskClient, tokens: dict[str, str], world: World, path: str
) -> None:
    foreign = assert_problem(
        call(client, path.format(id=world.foreign_package), tokens["hoster"]), 404
    )
    unknown = assert_problem(call(client, path.format(id=987654), tokens["hoster"]), 404)
    huge = assert_problem(call(client, path.format(id=2**70), tokens["hoster"]), 404)
    assert foreign["detail"] == unknown["detail"] == huge["detail"]
    assert {k: v for k, v in foreign.items() if k != "instance"} == {
        k: v for k, v in unknown.items() if k != "instance"
    }
    # a builder of another package of the same hoster: the same
    assert_problem(call(client, path.format(id=world.package), tokens["other_builder"]), 404)


def test_packages_are_paginated_with_links(
    world_app: Flask, client: FlaskClient, tokens: dict[str, str], world: World
) -> None:
    first = call(client, "/api/v1/packages?per_page=1&status=active", tokens["hoster"])
    body = first.get_json()
    assert (names(body), body["page"], body["per_page"], body["total"]) == (["alpha"], 1, 1, 2)
    links = dict(
        (rel, url) for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', first.headers["Link"])
    )
    assert set(links) == {"first", "next", "last"}
    assert "status=active" in links["next"] and "page=2" in links["next"]
    second = call(client, links["next"], tokens["hoster"])
    assert names(second.get_json()) == ["beta"]
    assert 'rel="prev"' in second.headers["Link"] and 'rel="next"' not in second.headers["Link"]
    beyond = call(client, "/api/v1/packages?per_page=1&page=5", tokens["hoster"]).get_json()
    assert (beyond["items"], beyond["total"]) == ([], 2)
    assert names(as_role(client, tokens, "hoster", "/api/v1/packages?status=suspended")) == []


def test_bad_query_parameters_are_each_named(
    client: FlaskClient, tokens: dict[str, str], world: World
) -> None:
    response = call(client, "/api/v1/packages?page=0&per_page=201&status=gone", tokens["hoster"])
    body = assert_problem(response, 400)
    assert sorted(e["parameter"] for e in body["errors"]) == ["page", "per_page", "status"]
    assert all(e["detail"] for e in body["errors"])
    typo = assert_problem(call(client, "/api/v1/packages?per-page=5", tokens["hoster"]), 400)
    assert [e["parameter"] for e in typo["errors"]] == ["per-page"]
    assert_problem(call(client, f"/api/v1/packages/{world.package}?x=1", tokens["hoster"]), 400)
    for query in ("per_page=0", "page=abc", "page=1.5", "per_page=-3"):
        assert_problem(call(client, f"/api/v1/packages?{query}", tokens["hoster"]), 400)
    for query in ("per_page=200", "page=1000000"):
        assert call(client, f"/api/v1/packages?{query}", tokens["hoster"]).status_code == 200


def test_a_list_of_many_packages_reads_a_handful_of_queries(
    world_app: Flask, client: FlaskClient, tokens: dict[str, str], world: World
) -> None:
    def statements(path: str) -> int:
        call(client, path, tokens["hoster"])  # the token's last use is written once
        seen: list[str] = []
        with world_app.app_context():
            engine = db.engine
            listener = lambda *args: seen.append(args[2])  # noqa: E731
            event.listen(engine, "before_cursor_execute", listener)
            try:
                assert call(client, path, tokens["hoster"]).status_code == 200
            finally:
                event.remove(engine, "before_cursor_execute", listener)
        return len(seen)

    two = statements("/api/v1/packages?per_page=200")
    with world_app.app_context():
        hoster = db.session.get_one(Party, world.hoster)
        owner = db.session.get_one(Party, world.owner)
        builder = db.session.get_one(Party, world.builder)
        user = db.session.scalars(select(User).where(User.email == LOGINS["hoster"])).one()
        actor = Actor.for_membership(user, hoster)
        for n in range(30):
            created = packages.create_package(
                actor,
                {
                    "name": f"many{n}",
                    "plan_id": world.plan,
                    "node_id": world.node,
                    "status": "active",
                },
                owner,
                builder,
                [f"many{n}.example"],
            )
            measure(created.id, utcnow(), mailboxes={})
        db.session.remove()
    many = statements("/api/v1/packages?per_page=200")
    assert (
        len(call(client, "/api/v1/packages?per_page=200", tokens["hoster"]).get_json()["items"])
        == 32
    )
    assert many == two <= 16


# --- usage --------------------------------------------------------------------------------------


def measure_with_files(app: Flask, package_id: int, at: datetime) -> None:
    """A measurement whose site names its largest file and a stale backup."""
    found = report(mailboxes={MAILBOX: 10 * MIB}, parts={"core": 20 * MIB, "backups": 5 * MIB})
    site = found["sites"]["public_html"]
    site["largest"] = [{"path": "wp-content/backup-2024.zip", "bytes": 5 * MIB}]
    site["stale_backups"] = [
        {"path": "wp-content/backup-2024.zip", "bytes": 5 * MIB, "modified": "2024-01-01T00:00:00Z"}
    ]
    found["databases"] = {"wp_alpha": {"bytes": 3 * MIB}}
    with app.app_context():
        package = db.session.get_one(Package, package_id)
        usage.record_measurement(package, found, at, 0.1)
        db.session.remove()


def test_usage_is_the_latest_measurement_and_owners_see_no_files(
    world_app: Flask, client: FlaskClient, tokens: dict[str, str], world: World
) -> None:
    path = f"/api/v1/packages/{world.package}/usage"
    empty = as_role(client, tokens, "owner", path)
    assert (empty["measured_at"], empty["split"], empty["mailboxes"]) == (None, None, [])
    at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    measure_with_files(world_app, world.package, at)
    for role in ("hoster", "builder", "owner"):
        body = as_role(client, tokens, role, path)
        assert body["measured_at"] == "2026-11-30T12:00:00Z"
        assert body["used_bytes"] == 38 * MIB
        assert body["quota_bytes"] == 150 * MIB
        assert body["free_bytes"] == 112 * MIB
        assert body["split"] == {
            "mail": 10 * MIB,
            "site": 25 * MIB,
            "databases": 3 * MIB,
            "other": 0,
            "free": 112 * MIB,
        }
        assert body["mailboxes"] == [
            {
                "address": MAILBOX,
                "bytes": 10 * MIB,
                "messages": 10 * MIB // 50_000,
                "quota_bytes": 50 * MIB,
                "percent": 20.0,
                "missing": False,
            }
        ]
        (site,) = body["sites"]
        assert site["docroot"] == "public_html"
        assert site["parts"][0] == {"part": "core", "bytes": 20 * MIB, "files": 1}
        assert body["databases"] == [{"name": "wp_alpha", "bytes": 3 * MIB}]
        shown = "largest_files" in site, "stale_backups" in site
        assert shown == ((False, False) if role == "owner" else (True, True)), role
        if role != "owner":
            assert site["stale_backups"][0]["path"] == "wp-content/backup-2024.zip"
    assert "backup-2024" not in call(client, path, tokens["owner"]).get_data(as_text=True)
    summary = as_role(client, tokens, "owner", f"/api/v1/packages/{world.package}")["usage"]
    assert summary["used_bytes"] == 38 * MIB and summary["percent"] == pytest.approx(25.33, 0.01)


def test_usage_history_is_filtered_and_paginated(
    world_app: Flask, client: FlaskClient, tokens: dict[str, str], world: World
) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with world_app.app_context():
        for day in range(5):
            measure(world.package, start + timedelta(days=day), mailboxes={MAILBOX: day * MIB})
        db.session.remove()
    path = f"/api/v1/packages/{world.package}/usage/history"
    body = as_role(client, tokens, "builder", path)
    assert body["total"] == 5
    assert [s["taken_at"] for s in body["items"]][:2] == [
        "2026-11-01T00:00:00Z",
        "2026-11-02T00:00:00Z",
    ]
    assert body["items"][3]["parts"] == {"mailboxes": 3 * MIB, "other": 0}
    assert body["items"][3]["total_bytes"] == 3 * MIB
    window = as_role(
        client,
        tokens,
        "owner",
        f"{path}?since=2026-11-02T00:00:00Z&until=2026-11-04T00:00:00%2B00:00&per_page=2",
    )
    assert window["total"] == 3
    assert [s["taken_at"] for s in window["items"]] == [
        "2026-11-02T00:00:00Z",
        "2026-11-03T00:00:00Z",
    ]
    # another zone means the same moment
    later = as_role(client, tokens, "owner", f"{path}?since=2026-11-04T01:00:00%2B01:00")
    assert later["total"] == 2
    bad = assert_problem(
        call(client, f"{path}?since=yesterday&until=2026-11-04T00:00:00", tokens["owner"]), 400
    )
    assert [e["parameter"] for e in bad["errors"]] == ["since", "until"]


# --- alerts -------------------------------------------------------------------------------------


def test_alerts_are_listed_for_the_parties_of_their_package(
    world_app: Flask, client: FlaskClient, tokens: dict[str, str], world: World
) -> None:
    alert_id = open_alert(world_app, world)
    for role in ("hoster", "builder", "owner"):
        body = as_role(client, tokens, role, "/api/v1/alerts")
        assert [a["id"] for a in body["items"]] == [alert_id]
        (alert,) = body["items"]
        assert alert["package"] == {"id": world.package, "name": "alpha"}
        assert (alert["level"], alert["status"], alert["subject"]) == (
            "critical",
            "open",
            f"mailbox:{MAILBOX}",
        )
        assert alert["percent"] == 110.0 and alert["opened_at"].endswith("Z")
        assert MAILBOX in alert["title"]
    for role in ("other_hoster", "other_builder", "other_owner"):
        assert as_role(client, tokens, role, "/api/v1/alerts")["total"] == 0
        assert_problem(call(client, f"/api/v1/alerts/{alert_id}", tokens[role]), 404)
    hoster = tokens["hoster"]
    for query, total in (
        ("status=open", 1),
        ("status=acknowledged", 0),
        ("level=critical", 1),
        ("level=notice", 0),
        (f"package_id={world.package}", 1),
        (f"package_id={world.other_package}", 0),
        (f"package_id={world.foreign_package}", 0),
    ):
        assert call(client, f"/api/v1/alerts?{query}", hoster).get_json()["total"] == total, query
    bad = assert_problem(
        call(client, "/api/v1/alerts?status=closed&level=loud&package_id=x", hoster), 400
    )
    assert sorted(e["parameter"] for e in bad["errors"]) == ["level", "package_id", "status"]
    detail = as_role(client, tokens, "owner", f"/api/v1/alerts/{alert_id}")
    assert detail["events"][0]["kind"] == "opened"
    assert all(e["at"].endswith("Z") for e in detail["events"])


def test_acknowledging_is_audited_on_the_timeline_and_twice_changes_nothing(
    world_app: Flask, client: FlaskClient, tokens: dict[str, str], world: World
) -> None:
    alert_id = open_alert(world_app, world)
    path = f"/api/v1/alerts/{alert_id}/acknowledge"
    assert_problem(call(client, path, tokens["other_owner"], "POST"), 404)
    assert_problem(call(client, path, tokens["owner"], "GET"), 405)
    response = call(client, path, tokens["owner"], "POST")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["status"], body["acknowledged_via"]) == ("acknowledged", "api")
    assert body["acknowledged_by"] == {"id": world.owner, "name": "Owner Alpha"}
    acknowledged = [e for e in body["events"] if e["kind"] == "acknowledged"]
    assert [(e["party"], e["detail"]) for e in acknowledged] == [("Owner Alpha", "via api")]
    with world_app.app_context():
        owner_user = db.session.scalars(select(User).where(User.email == LOGINS["owner"])).one()
        audited = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "acknowledge")
        ).all()
        assert [(a.actor_user_id, a.actor_party_id) for a in audited] == [
            (owner_user.id, world.owner)
        ]
        assert "via api" in audited[0].summary
        db.session.remove()
    # twice, and by another party of the package: unchanged, no second audit event
    again = call(client, path, tokens["builder"], "POST")
    assert again.status_code == 200
    assert again.get_json()["acknowledged_by"]["name"] == "Owner Alpha"
    with world_app.app_context():
        assert (
            db.session.scalar(
                select(func.count(AuditEvent.id)).where(AuditEvent.action == "acknowledge")
            )
            == 1
        )
        assert (
            db.session.scalar(
                select(func.count(AlertEvent.id)).where(AlertEvent.kind == "acknowledged")
            )
            == 1
        )
        db.session.remove()


def test_a_resolved_alert_or_a_party_off_the_package_is_refused(
    world_app: Flask, client: FlaskClient, tokens: dict[str, str], world: World
) -> None:
    alert_id = open_alert(world_app, world)
    with world_app.app_context():
        # the hoster's own assignment gone: the hoster still sees alpha, but is no party of it
        db.session.execute(
            delete(Assignment).where(
                Assignment.package_id == world.package, Assignment.role == "hoster"
            )
        )
        db.session.commit()
    path = f"/api/v1/alerts/{alert_id}/acknowledge"
    body = assert_problem(call(client, path, tokens["hoster"], "POST"), 403)
    assert body["detail"] == "Your party is not part of this package."
    with world_app.app_context():
        later = utcnow() + timedelta(hours=1)
        measure(world.package, later, mailboxes={MAILBOX: 1 * MIB})
        alerts.evaluate([world.package], later)
        db.session.remove()
    body = assert_problem(call(client, path, tokens["owner"], "POST"), 409)
    assert "resolved" in body["detail"]
    with world_app.app_context():
        assert db.session.get_one(Alert, alert_id).acknowledged_at is None
        assert (
            db.session.scalar(
                select(func.count(AuditEvent.id)).where(AuditEvent.action == "acknowledge")
            )
            == 0
        )
        db.session.remove()


# --- agreements ---------------------------------------------------------------------------------


def test_agreements_in_force_and_their_terms_in_the_readers_language(
    world_app: Flask, client: FlaskClient, tokens: dict[str, str], world: World
) -> None:
    listed = {role: as_role(client, tokens, role, "/api/v1/agreements") for role in LOGINS}
    assert {role: body["total"] for role, body in listed.items()} == {
        "hoster": 1,
        "other_hoster": 0,
        "builder": 0,
        "other_builder": 1,
        "owner": 0,
        "other_owner": 1,
    }
    (agreement,) = listed["hoster"]["items"]
    assert agreement["id"] == world.agreement
    assert agreement["package"] == {"id": world.other_package, "name": "beta"}
    assert (agreement["version"], agreement["state"]) == (1, "waiting")
    assert agreement["parties"]["owner"] == {
        "id": world.other_owner,
        "name": "Owner Beta",
        "acknowledged_at": None,
    }
    assert set(agreement["levels"]) == {"notice", "warning", "critical"}
    path = f"/api/v1/packages/{world.other_package}/agreement"
    english = as_role(client, tokens, "other_owner", path)
    assert english["language"] == "en" and english["terms"].startswith(TERMS_EN)
    with world_app.app_context():
        user = db.session.scalars(select(User).where(User.email == LOGINS["other_owner"])).one()
        user.language = "nl"
        db.session.commit()
        db.session.remove()
    dutch = as_role(client, tokens, "other_owner", path)
    assert dutch["language"] == "nl" and dutch["terms"].startswith(TERMS_NL)
    for role in ("builder", "owner", "other_hoster"):
        assert_problem(call(client, path, tokens[role]), 404)
    none = assert_problem(
        call(client, f"/api/v1/packages/{world.package}/agreement", tokens["owner"]), 404
    )
    assert none["detail"] == "This package has no agreement."


# --- mail flow ----------------------------------------------------------------------------------


def test_mail_flow_per_day_and_per_mailbox(
    world_app: Flask, client: FlaskClient, tokens: dict[str, str], world: World
) -> None:
    today = datetime.now(UTC).replace(hour=3, minute=0, second=0, microsecond=0)
    with world_app.app_context():
        for hour, delivered, bounced, over_quota in (
            (today, 5, 2, 2),
            (today - timedelta(days=1), 7, 0, 0),
            (today - timedelta(days=20), 100, 0, 0),
        ):
            db.session.add(
                MailFlowHour(
                    package_id=world.package,
                    address=MAILBOX,
                    hour=hour,
                    delivered=delivered,
                    bounced=bounced,
                    over_quota=over_quota,
                )
            )
        db.session.commit()
        db.session.remove()
    path = f"/api/v1/packages/{world.package}/mail-flow"
    body = as_role(client, tokens, "owner", path)
    assert body["days"] == 7 and len(body["daily"]) == 7
    assert body["daily"][-1] == {
        "day": today.date().isoformat(),
        "delivered": 5,
        "deferred": 0,
        "refused": 2,
        "refused_mailbox_full": 2,
    }
    assert body["daily"][-2]["delivered"] == 7 and body["daily"][0]["delivered"] == 0
    assert body["totals"] == {
        "delivered": 12,
        "deferred": 0,
        "refused": 2,
        "refused_mailbox_full": 2,
    }
    assert [(m["address"], m["delivered"]) for m in body["mailboxes"]] == [(MAILBOX, 12)]
    month = as_role(client, tokens, "hoster", f"{path}?days=30")
    assert month["totals"]["delivered"] == 112 and len(month["daily"]) == 30
    for days in ("0", "91", "week"):
        bad = assert_problem(call(client, f"{path}?days={days}", tokens["owner"]), 400)
        assert [e["parameter"] for e in bad["errors"]] == ["days"]


# --- other problems -----------------------------------------------------------------------------


def test_unknown_paths_and_methods_under_the_api_are_problems_and_the_panel_keeps_its_pages(
    client: FlaskClient, tokens: dict[str, str]
) -> None:
    assert_problem(call(client, "/api/v1/nothing-here", tokens["hoster"]), 404)
    assert_problem(call(client, "/api/v2/packages", None), 404)
    wrong = call(client, "/api/v1/packages", tokens["hoster"], "DELETE")
    assert_problem(wrong, 405)
    assert "GET" in wrong.headers["Allow"]
    page = client.get("/no-such-page")
    assert page.status_code == 404 and page.mimetype == "text/html"


@pytest.fixture
def failing_app(database: DatabaseStates) -> Iterator[Flask]:
    """The world, with errors handled as in production and a view that fails."""
    database.restore("world")
    app = make_app(database, PROPAGATE_EXCEPTIONS=False, ONUS_API_LIMIT="3/minute")

    def fail() -> str:
        raise RuntimeError("a bug")

    app.add_url_rule("/api/v1/fail", "api_fail", fail)
    app.add_url_rule("/fail", "page_fail", fail)
    yield app
    close_app(app)


def test_a_server_error_under_the_api_is_a_problem(failing_app: Flask) -> None:
    client = https_client(failing_app)
    body = assert_problem(client.get("/api/v1/fail"), 500)
    assert "a bug" not in str(body)
    page = client.get("/fail")
    assert page.status_code == 500 and page.mimetype == "text/html"


def test_the_rate_limit_is_per_token_and_answers_a_problem(failing_app: Flask) -> None:
    tokens = make_tokens(failing_app)
    client = https_client(failing_app)
    for _n in range(3):
        assert call(client, "/api/v1/me", tokens["owner"]).status_code == 200
    refused = call(client, "/api/v1/me", tokens["owner"])
    assert_problem(refused, 429)
    assert int(refused.headers["Retry-After"]) > 0
    assert call(client, "/api/v1/me", tokens["builder"]).status_code == 200


def test_the_openapi_document_is_public_and_describes_every_route(
    world_app: Flask, client: FlaskClient
) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    doc = response.get_json()
    assert doc["openapi"].startswith("3.1")
    routes = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
        for rule in world_app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    described = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert routes == described
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    for path, ops in doc["paths"].items():
        for op in ops.values():
            problems = [r for code, r in op["responses"].items() if code != "200"]
            assert all(PROBLEM in r["content"] for r in problems), path
