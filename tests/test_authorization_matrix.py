"""Every route × every role × own or foreign object, for reads and writes.

The cases run on the seeded world plus one open alert: alpha's mailbox over its quota
(critical, so every party of alpha is told), saved once as the state "world-alert".

A route the table does not list fails ``test_every_route_is_in_the_matrix``. A write that
is refused must change nothing (every table's row count and the audit log stay the same);
a write that succeeds must leave an audit event, except for a person's own preferences.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from panel.extensions import db
from tests.conftest import DatabaseStates, close_app, https_client, make_app, row_counts
from tests.world import LOGINS, PASSWORD, PLAN_FORM, ROLES, World, actor_of

LOGIN, FORBIDDEN, MISSING, REFUSED = "login", "forbidden", "missing", "refused"
OK, CHANGED = "ok", "changed"
# the API answers no token with a 401 problem (never a login redirect), and reads only the
# bearer token: the matrix sends each role's token there, with the role's session cookie
UNAUTHORIZED = "unauthorized"
Data = Callable[[World, str], dict[str, Any]]


def expect(default: str, **roles: str) -> dict[str, str]:
    table = dict.fromkeys(ROLES, default)
    table.update(roles)
    return table


LOGGED_IN = expect(OK, anonymous=LOGIN)
LOGGED_IN_WRITE = expect(CHANGED, anonymous=LOGIN)
HOSTER_LIST = expect(FORBIDDEN, anonymous=LOGIN, hoster=OK, other_hoster=OK)
HOSTER_CREATE = expect(FORBIDDEN, anonymous=LOGIN, hoster=CHANGED, other_hoster=CHANGED)
HOSTER_READ = expect(FORBIDDEN, anonymous=LOGIN, hoster=OK, other_hoster=MISSING)
HOSTER_WRITE = expect(FORBIDDEN, anonymous=LOGIN, hoster=CHANGED, other_hoster=MISSING)
BUILDER_LIST = expect(FORBIDDEN, anonymous=LOGIN, builder=OK, other_builder=OK)
BUILDER_READ = expect(FORBIDDEN, anonymous=LOGIN, builder=OK, other_builder=MISSING)
OWNER_LIST = expect(FORBIDDEN, anonymous=LOGIN, owner=OK, other_owner=OK)
OWNER_READ = expect(FORBIDDEN, anonymous=LOGIN, owner=OK, other_owner=MISSING)
# The world's agreement is beta's: its parties are the hoster, other_builder and other_owner;
# to everyone else beta (and so its agreement) does not exist. Acknowledging is for the
# parties of the version only; one that sees the package without being a party of the
# version is refused with 400 (tests/test_agreements_web.py), which the world has no case of.
AGREEMENT_READ = expect(MISSING, anonymous=LOGIN, hoster=OK, other_builder=OK, other_owner=OK)
AGREEMENT_ACKNOWLEDGE = expect(
    MISSING, anonymous=LOGIN, hoster=CHANGED, other_builder=CHANGED, other_owner=CHANGED
)
# The alert is alpha's: its parties are the hoster, builder and owner.
ALERT_READ = expect(MISSING, anonymous=LOGIN, hoster=OK, builder=OK, owner=OK)
ALERT_ACKNOWLEDGE = expect(MISSING, anonymous=LOGIN, hoster=CHANGED, builder=CHANGED, owner=CHANGED)
API_LIST = expect(OK, anonymous=UNAUTHORIZED)
API_ALPHA = expect(MISSING, anonymous=UNAUTHORIZED, hoster=OK, builder=OK, owner=OK)
API_AGREEMENT = expect(MISSING, anonymous=UNAUTHORIZED, hoster=OK, other_builder=OK, other_owner=OK)
API_ACKNOWLEDGE = expect(
    MISSING, anonymous=UNAUTHORIZED, hoster=CHANGED, builder=CHANGED, owner=CHANGED
)


def none(_w: World, _r: str) -> dict[str, Any]:
    return {}


def plan_data(name: str) -> Data:
    return lambda _w, _r: {**PLAN_FORM, "name": name}


def node_data(_w: World, _r: str) -> dict[str, Any]:
    return {
        "name": "node-new",
        "layout": "vmail",
        "home_template": "",
        "mail_template": "",
        "docroot_template": "",
    }


def package_data(w: World, _r: str) -> dict[str, Any]:
    return {"name": "alpha", "plan_id": w.plan, "node_id": w.node, "status": "suspended"}


def new_package_data(w: World, _r: str) -> dict[str, Any]:
    return {
        "name": "delta",
        "plan_id": w.plan,
        "node_id": w.node,
        "status": "active",
        "owner_id": w.owner,
        "builder_id": "0",
        "domains": "delta.example",
    }


def terms_data(name: str) -> Data:
    """A valid terms form: the default matrix, levels and grace."""

    def data(_w: World, _r: str) -> dict[str, Any]:
        from panel.policy.agreement import CATEGORIES, DEFAULT_MATRIX

        values: dict[str, Any] = {
            "name": name,
            "text_en": "Terms.",
            "text_nl": "Voorwaarden.",
            "threshold_notice": "75",
            "threshold_warning": "90",
            "threshold_critical": "100",
            "deadline_notice": "72",
            "deadline_warning": "24",
            "deadline_critical": "2",
            "at_full": "defer",
            "defer_hours": "72",
            "upgrade": "suggest",
        }
        for category in CATEGORIES:
            entry = DEFAULT_MATRIX[category]
            values[f"responsible_{category}"] = ",".join(entry["responsible"])
            values[f"escalation_{category}"] = ",".join(entry["escalation"]) or "none"
        return values

    return data


def invitation_token(app: Flask, w: World) -> str:
    from itsdangerous import URLSafeTimedSerializer

    from panel.models import Invitation

    with app.app_context():
        invitation_id = db.session.scalars(select(Invitation.id)).first()
        return URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="onus-invitation").dumps(
            invitation_id
        )


# (rule, method) -> (path with {world ids}, form data, expected outcome per role)
MATRIX: dict[tuple[str, str], tuple[str, Data, dict[str, str]]] = {
    ("/", "GET"): ("/", none, expect(OK, anonymous="to_login")),
    ("/login", "GET"): ("/login", none, expect(OK)),
    ("/login", "POST"): (
        "/login",
        lambda _w, _r: {"email": LOGINS["hoster"], "password": PASSWORD},
        expect(OK),
    ),
    ("/logout", "POST"): ("/logout", none, expect("to_login", anonymous=LOGIN)),
    ("/invite/<token>", "GET"): ("/invite/{token}", none, expect(OK)),
    ("/invite/<token>", "POST"): (
        "/invite/{token}",
        lambda _w, _r: {
            "name": "New Person",
            "password": "a long new password",
            "confirm": "a long new password",
        },
        expect(CHANGED),
    ),
    ("/switch", "POST"): (
        "/switch",
        lambda w, r: {"party_id": w.ids.get(r, 0)},
        expect(OK, anonymous=LOGIN),
    ),
    ("/account", "GET"): ("/account", none, LOGGED_IN),
    ("/account", "POST"): (
        "/account",
        lambda _w, _r: {"language": "nl", "timezone": "Europe/Amsterdam"},
        LOGGED_IN,
    ),
    ("/account/password", "POST"): (
        "/account/password",
        lambda _w, _r: {
            "pw-current": PASSWORD,
            "pw-password": "another long password",
            "pw-confirm": "another long password",
        },
        LOGGED_IN,
    ),
    ("/contacts", "GET"): ("/contacts", none, LOGGED_IN),
    ("/contacts", "POST"): (
        "/contacts",
        lambda _w, _r: {
            "kind": "email",
            "value": "second@elsewhere.example",
            "label": "phone mail",
        },
        LOGGED_IN_WRITE,
    ),
    ("/contacts/<int:contact_id>/delete", "POST"): (
        "/contacts/{builder_contact}/delete",
        none,
        expect(MISSING, anonymous=LOGIN, builder=CHANGED),
    ),
    # a test message to the party's own contact (the matrix's mail server is not there:
    # the failure is flashed and audited all the same)
    # a new signing key for the party's own webhook
    ("/contacts/<int:contact_id>/secret", "POST"): (
        "/contacts/{builder_webhook}/secret",
        none,
        expect(MISSING, anonymous=LOGIN, builder=CHANGED),
    ),
    # API tokens: each person's own; the token made here is shown once (201)
    ("/account/tokens", "GET"): ("/account/tokens", none, LOGGED_IN),
    ("/account/tokens", "POST"): (
        "/account/tokens",
        lambda _w, _r: {"name": "a script"},
        LOGGED_IN_WRITE,
    ),
    ("/account/tokens/<int:token_id>/revoke", "POST"): (
        "/account/tokens/{builder_token}/revoke",
        none,
        expect(MISSING, anonymous=LOGIN, builder=CHANGED),
    ),
    # Prometheus: any token, scoped like its person (tests/test_metrics.py checks the figures)
    ("/metrics", "GET"): ("/metrics", none, expect(OK, anonymous=UNAUTHORIZED)),
    ("/contacts/<int:contact_id>/test", "POST"): (
        "/contacts/{builder_contact}/test",
        none,
        expect(MISSING, anonymous=LOGIN, builder=CHANGED),
    ),
    ("/builder/", "GET"): ("/builder/", none, BUILDER_LIST),
    ("/builder/packages/<int:package_id>", "GET"): (
        "/builder/packages/{package}",
        none,
        BUILDER_READ,
    ),
    ("/client/", "GET"): ("/client/", none, OWNER_LIST),
    ("/client/packages/<int:package_id>", "GET"): ("/client/packages/{package}", none, OWNER_READ),
    ("/hoster/", "GET"): ("/hoster/", none, HOSTER_LIST),
    ("/hoster/audit", "GET"): ("/hoster/audit", none, HOSTER_LIST),
    ("/hoster/plans", "GET"): ("/hoster/plans", none, HOSTER_LIST),
    ("/hoster/plans/new", "GET"): ("/hoster/plans/new", none, HOSTER_LIST),
    ("/hoster/plans/new", "POST"): ("/hoster/plans/new", plan_data("Plan new"), HOSTER_CREATE),
    ("/hoster/plans/<int:plan_id>/edit", "GET"): ("/hoster/plans/{plan}/edit", none, HOSTER_READ),
    ("/hoster/plans/<int:plan_id>/edit", "POST"): (
        "/hoster/plans/{plan}/edit",
        plan_data("Plan renamed"),
        HOSTER_WRITE,
    ),
    ("/hoster/plans/<int:plan_id>/delete", "POST"): (
        "/hoster/plans/{spare_plan}/delete",
        none,
        HOSTER_WRITE,
    ),
    ("/hoster/nodes", "GET"): ("/hoster/nodes", none, HOSTER_LIST),
    ("/hoster/nodes/new", "GET"): ("/hoster/nodes/new", none, HOSTER_LIST),
    ("/hoster/nodes/new", "POST"): ("/hoster/nodes/new", node_data, HOSTER_CREATE),
    ("/hoster/nodes/<int:node_id>/edit", "GET"): ("/hoster/nodes/{node}/edit", none, HOSTER_READ),
    ("/hoster/nodes/<int:node_id>/edit", "POST"): (
        "/hoster/nodes/{node}/edit",
        node_data,
        HOSTER_WRITE,
    ),
    ("/hoster/nodes/<int:node_id>/delete", "POST"): (
        "/hoster/nodes/{spare_node}/delete",
        none,
        HOSTER_WRITE,
    ),
    ("/hoster/parties", "GET"): ("/hoster/parties", none, HOSTER_LIST),
    ("/hoster/parties/new", "GET"): ("/hoster/parties/new", none, HOSTER_LIST),
    ("/hoster/parties/new", "POST"): (
        "/hoster/parties/new",
        lambda _w, _r: {"kind": "owner", "name": "New client", "language": "nl"},
        HOSTER_CREATE,
    ),
    ("/hoster/parties/<int:party_id>", "GET"): ("/hoster/parties/{owner}", none, HOSTER_READ),
    ("/hoster/parties/<int:party_id>/edit", "GET"): (
        "/hoster/parties/{owner}/edit",
        none,
        HOSTER_READ,
    ),
    ("/hoster/parties/<int:party_id>/edit", "POST"): (
        "/hoster/parties/{owner}/edit",
        lambda _w, _r: {"name": "Owner renamed", "language": "en"},
        HOSTER_WRITE,
    ),
    ("/hoster/parties/<int:party_id>/contacts", "POST"): (
        "/hoster/parties/{owner}/contacts",
        lambda _w, _r: {
            "contact-kind": "webhook",
            "contact-value": "https://hooks.elsewhere.example/onus",
            "contact-label": "chat",
        },
        HOSTER_WRITE,
    ),
    ("/hoster/contacts/<int:contact_id>/delete", "POST"): (
        "/hoster/contacts/{owner_contact}/delete",
        none,
        HOSTER_WRITE,
    ),
    ("/hoster/parties/<int:party_id>/invite", "POST"): (
        "/hoster/parties/{owner}/invite",
        lambda _w, _r: {"invite-email": "colleague@elsewhere.example", "invite-name": "Colleague"},
        HOSTER_WRITE,
    ),
    ("/hoster/packages/new", "GET"): ("/hoster/packages/new", none, HOSTER_LIST),
    ("/hoster/packages/new", "POST"): (
        "/hoster/packages/new",
        new_package_data,
        expect(FORBIDDEN, anonymous=LOGIN, hoster=CHANGED, other_hoster=REFUSED),
    ),
    ("/hoster/packages/<int:package_id>", "GET"): ("/hoster/packages/{package}", none, HOSTER_READ),
    ("/hoster/packages/<int:package_id>/edit", "GET"): (
        "/hoster/packages/{package}/edit",
        none,
        HOSTER_READ,
    ),
    ("/hoster/packages/<int:package_id>/edit", "POST"): (
        "/hoster/packages/{package}/edit",
        package_data,
        HOSTER_WRITE,
    ),
    ("/hoster/packages/<int:package_id>/measure", "POST"): (
        "/hoster/packages/{package}/measure",
        none,
        HOSTER_READ,
    ),
    ("/hoster/packages/<int:package_id>/assign", "POST"): (
        "/hoster/packages/{package}/assign",
        lambda w, _r: {"assign-role": "builder", "assign-party_id": w.other_builder},
        HOSTER_WRITE,
    ),
    ("/hoster/packages/<int:package_id>/plan", "POST"): (
        "/hoster/packages/{package}/plan",
        lambda w, _r: {"plan-plan_id": w.spare_plan},
        HOSTER_WRITE,
    ),
    ("/hoster/packages/<int:package_id>/domains", "POST"): (
        "/hoster/packages/{package}/domains",
        lambda _w, _r: {"domain-name": "alpha2.example"},
        HOSTER_WRITE,
    ),
    ("/hoster/domains/<int:domain_id>/delete", "POST"): (
        "/hoster/domains/{spare_domain}/delete",
        none,
        HOSTER_WRITE,
    ),
    ("/hoster/packages/<int:package_id>/mailboxes", "POST"): (
        "/hoster/packages/{package}/mailboxes",
        lambda _w, _r: {
            "mailbox-local": "sales",
            "mailbox-domain": "alpha.example",
            "mailbox-quota_bytes": "",
        },
        HOSTER_WRITE,
    ),
    ("/hoster/mailboxes/<int:mailbox_id>/edit", "GET"): (
        "/hoster/mailboxes/{mailbox}/edit",
        none,
        HOSTER_READ,
    ),
    ("/hoster/mailboxes/<int:mailbox_id>/edit", "POST"): (
        "/hoster/mailboxes/{mailbox}/edit",
        lambda _w, _r: {"local": "info", "domain": "alpha.example", "quota_bytes": "20 MiB"},
        HOSTER_WRITE,
    ),
    ("/hoster/packages/<int:package_id>/sites", "POST"): (
        "/hoster/packages/{package}/sites",
        lambda _w, _r: {"site-domain": "shop.alpha.example", "site-docroot": "shop"},
        HOSTER_WRITE,
    ),
    ("/hoster/packages/<int:package_id>/databases", "POST"): (
        "/hoster/packages/{package}/databases",
        lambda _w, _r: {"database-name": "extra", "database-engine": "mysql"},
        HOSTER_WRITE,
    ),
    ("/hoster/<any(mailboxes, sites, databases):kind>/<int:part_id>/delete", "POST"): (
        "/hoster/mailboxes/{mailbox}/delete",
        none,
        HOSTER_WRITE,
    ),
    # terms and agreements
    ("/hoster/terms", "GET"): ("/hoster/terms", none, HOSTER_LIST),
    ("/hoster/terms/new", "GET"): ("/hoster/terms/new", none, HOSTER_LIST),
    ("/hoster/terms/new", "POST"): ("/hoster/terms/new", terms_data("New terms"), HOSTER_CREATE),
    ("/hoster/terms/<int:template_id>/edit", "GET"): (
        "/hoster/terms/{terms}/edit",
        none,
        HOSTER_READ,
    ),
    ("/hoster/terms/<int:template_id>/edit", "POST"): (
        "/hoster/terms/{terms}/edit",
        terms_data(""),
        HOSTER_WRITE,
    ),
    ("/hoster/packages/<int:package_id>/agreement", "POST"): (
        "/hoster/packages/{package}/agreement",
        lambda w, _r: {"terms-template_id": w.terms},
        HOSTER_WRITE,
    ),
    ("/packages/<int:package_id>/agreement", "GET"): (
        "/packages/{other_package}/agreement",
        none,
        AGREEMENT_READ,
    ),
    ("/agreements/<int:agreement_id>", "GET"): ("/agreements/{agreement}", none, AGREEMENT_READ),
    ("/agreements/<int:agreement_id>/acknowledge", "POST"): (
        "/agreements/{agreement}/acknowledge",
        none,
        AGREEMENT_ACKNOWLEDGE,
    ),
    # alerts; the acknowledge link of a mail needs no login (the owner's link, whoever uses it)
    ("/alerts", "GET"): ("/alerts", none, LOGGED_IN),
    ("/alerts/<int:alert_id>", "GET"): ("/alerts/{alert}", none, ALERT_READ),
    ("/alerts/<int:alert_id>/acknowledge", "POST"): (
        "/alerts/{alert}/acknowledge",
        none,
        ALERT_ACKNOWLEDGE,
    ),
    ("/ack/<token>", "GET"): ("/ack/{ack_token}", none, expect(OK)),
    ("/ack/<token>", "POST"): ("/ack/{ack_token}", none, expect(CHANGED)),
    # the evidence report of alpha, for every party of it; its print styles for anyone
    ("/packages/<int:package_id>/report", "GET"): (
        "/packages/{package}/report",
        none,
        expect(MISSING, anonymous=LOGIN, hoster=OK, builder=OK, owner=OK),
    ),
    ("/packages/<int:package_id>/report.csv", "GET"): (
        "/packages/{package}/report.csv",
        none,
        expect(MISSING, anonymous=LOGIN, hoster=OK, builder=OK, owner=OK),
    ),
    ("/packages/<int:package_id>/report.json", "GET"): (
        "/packages/{package}/report.json",
        none,
        expect(MISSING, anonymous=LOGIN, hoster=OK, builder=OK, owner=OK),
    ),
    # mail flow: the hoster's mail log sources (one followed on node-one, see
    # follow_a_mail_log), the bounces received; a package's mail for every party of it
    ("/hoster/mail-logs", "GET"): ("/hoster/mail-logs", none, HOSTER_LIST),
    ("/hoster/mail-logs", "POST"): (
        "/hoster/mail-logs",
        lambda w, _r: {
            "source-node_id": w.node,
            "source-path": "/var/log/exim4/mainlog",
            "source-log_format": "exim",
        },
        expect(FORBIDDEN, anonymous=LOGIN, hoster=CHANGED, other_hoster=REFUSED),
    ),
    ("/hoster/mail-logs/<int:source_id>/edit", "GET"): (
        "/hoster/mail-logs/{mail_source}/edit",
        none,
        HOSTER_READ,
    ),
    ("/hoster/mail-logs/<int:source_id>/edit", "POST"): (
        "/hoster/mail-logs/{mail_source}/edit",
        lambda _w, _r: {"log_format": "exim"},  # and paused
        HOSTER_WRITE,
    ),
    ("/hoster/mail-logs/<int:source_id>/delete", "POST"): (
        "/hoster/mail-logs/{mail_source}/delete",
        none,
        HOSTER_WRITE,
    ),
    ("/hoster/nodes/<int:node_id>/read-mail-logs", "POST"): (
        "/hoster/nodes/{node}/read-mail-logs",
        none,
        HOSTER_READ,
    ),
    ("/hoster/bounces", "GET"): ("/hoster/bounces", none, HOSTER_LIST),
    ("/packages/<int:package_id>/mail", "GET"): (
        "/packages/{package}/mail",
        none,
        expect(MISSING, anonymous=LOGIN, hoster=OK, builder=OK, owner=OK),
    ),
    # the REST API: its description is public; the rest needs a token of a party that sees
    # the package (alpha's, or beta's agreement)
    ("/api/v1/openapi.json", "GET"): ("/api/v1/openapi.json", none, expect(OK)),
    ("/api/v1/me", "GET"): ("/api/v1/me", none, API_LIST),
    ("/api/v1/packages", "GET"): ("/api/v1/packages", none, API_LIST),
    ("/api/v1/packages/<int:package_id>", "GET"): (
        "/api/v1/packages/{package}",
        none,
        API_ALPHA,
    ),
    ("/api/v1/packages/<int:package_id>/usage", "GET"): (
        "/api/v1/packages/{package}/usage",
        none,
        API_ALPHA,
    ),
    ("/api/v1/packages/<int:package_id>/usage/history", "GET"): (
        "/api/v1/packages/{package}/usage/history",
        none,
        API_ALPHA,
    ),
    ("/api/v1/packages/<int:package_id>/mail-flow", "GET"): (
        "/api/v1/packages/{package}/mail-flow",
        none,
        API_ALPHA,
    ),
    ("/api/v1/packages/<int:package_id>/agreement", "GET"): (
        "/api/v1/packages/{other_package}/agreement",
        none,
        API_AGREEMENT,
    ),
    ("/api/v1/agreements", "GET"): ("/api/v1/agreements", none, API_LIST),
    ("/api/v1/alerts", "GET"): ("/api/v1/alerts", none, API_LIST),
    ("/api/v1/alerts/<int:alert_id>", "GET"): ("/api/v1/alerts/{alert}", none, API_ALPHA),
    ("/api/v1/alerts/<int:alert_id>/acknowledge", "POST"): (
        "/api/v1/alerts/{alert}/acknowledge",
        none,
        API_ACKNOWLEDGE,
    ),
}


def open_an_alert(app: Flask, w: World) -> None:
    """Alpha's mailbox at 110 % of its quota: one open critical alert, its notifications
    queued (nothing is sent); its id and the owner's acknowledge link go into the world."""
    from panel.models import Alert
    from panel.models.base import utcnow
    from panel.services import alerts, notifications
    from tests.alerting import measure

    with app.app_context():
        now = utcnow()
        measure(w.package, now, mailboxes={"info@alpha.example": 55 * 1024 * 1024})
        alerts.evaluate([w.package], now)
        alert_id = db.session.scalars(select(Alert.id)).one()
        w.ids["alert"] = alert_id
        w.ids["ack_token"] = notifications.ack_token(alert_id, w.owner)  # type: ignore[assignment]
        db.session.remove()


def follow_a_mail_log(app: Flask, w: World) -> None:
    """Hoster one follows /var/log/mail.log on node-one; its id goes into the world."""
    from panel.models import MailLogSource

    with app.app_context():
        source = MailLogSource(node_id=w.node, path="/var/log/mail.log", log_format="postfix")
        db.session.add(source)
        db.session.commit()
        w.ids["mail_source"] = source.id
        db.session.remove()


def api_tokens(app: Flask, w: World) -> dict[str, str]:
    """An API token for each role's person, in their party (saved with the world); their
    ids go into the world as ``<role>_token``."""
    from panel.services import api_tokens as tokens

    found = {}
    with app.app_context():
        for role in LOGINS:
            token, found[role] = tokens.create(actor_of(role), "matrix")
            w.ids[f"{role}_token"] = token.id
        db.session.remove()
    return found


def add_a_webhook(app: Flask, w: World) -> None:
    """The builder's party gets a webhook besides its mail address; its id goes into the
    world as ``builder_webhook``."""
    from panel.models import Contact

    with app.app_context():
        webhook = Contact(
            party_id=w.builder, kind="webhook", value="https://hooks.example/onus", secret="0" * 64
        )
        db.session.add(webhook)
        db.session.commit()
        w.ids["builder_webhook"] = webhook.id
        db.session.remove()


def _routes(app: Flask) -> set[tuple[str, str]]:
    return {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }


class Matrix:
    """One app for the module; the database is restored to the world before every case."""

    def __init__(self, database: DatabaseStates) -> None:
        self.database = database
        database.restore("world")
        self.app = make_app(database, WTF_CSRF_ENABLED=False)
        with self.app.app_context():
            self.world = World.load()
        open_an_alert(self.app, self.world)
        follow_a_mail_log(self.app, self.world)
        self.api_tokens = api_tokens(self.app, self.world)
        add_a_webhook(self.app, self.world)
        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()
        database.save("world-alert")
        self.cookies: dict[str, str] = {}
        for role, email in LOGINS.items():
            client = https_client(self.app)
            response = client.post("/login", data={"email": email, "password": PASSWORD})
            assert response.status_code == 302, role
            cookie = client.get_cookie("session")
            assert cookie is not None and cookie.secure and cookie.http_only
            self.cookies[role] = cookie.value
        self.token = invitation_token(self.app, self.world)
        self.written = True  # the first case starts from the saved state

    def client(self, role: str, method: str) -> FlaskClient:
        """A client of ``role``; the database is restored before a write and after one (a
        read changes nothing worth restoring: restoring before each of the ~500 reads was
        a fifth of the module's time)."""
        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()
        if method != "GET" or self.written:
            self.database.restore("world-alert")
        self.written = method != "GET"
        client = https_client(self.app)
        if role != "anonymous":
            client.set_cookie("session", self.cookies[role], secure=True, httponly=True)
        return client


@pytest.fixture(scope="module")
def matrix(database: DatabaseStates) -> Iterator[Matrix]:
    found = Matrix(database)
    yield found
    close_app(found.app)


def test_every_route_is_in_the_matrix(matrix: Matrix) -> None:
    routes = _routes(matrix.app)
    assert routes - MATRIX.keys() == set(), "routes missing from the authorization matrix"
    assert MATRIX.keys() - routes == set(), "matrix lists routes the app does not have"


CASES = [(key, role) for key in MATRIX for role in ROLES]


@pytest.mark.parametrize(
    ("key", "role"), CASES, ids=[f"{m} {r} as {role}" for (r, m), role in CASES]
)
def test_route_as_role(matrix: Matrix, key: tuple[str, str], role: str) -> None:
    path_template, data, outcomes = MATRIX[key]
    method = key[1]
    expected = outcomes[role]
    client = matrix.client(role, method)
    path = path_template.format(token=matrix.token, **matrix.world.ids)
    is_api = path.startswith("/api/")
    if (is_api or path == "/metrics") and role != "anonymous":
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {matrix.api_tokens[role]}"
    if method == "GET":
        response = client.get(path)
    else:
        before = row_counts(matrix.app)
        response = client.post(path, data=data(matrix.world, role))
        after = row_counts(matrix.app)
    status, location = response.status_code, response.headers.get("Location", "")

    if is_api:
        wanted = "application/json" if expected in (OK, CHANGED) else "application/problem+json"
        assert response.mimetype == wanted, (status, response.mimetype)
    if expected == UNAUTHORIZED:
        assert status == 401
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm="onus"')
    elif expected == LOGIN:
        assert status == 302 and location.startswith("/login?next="), (status, location)
    elif expected == "to_login":
        assert status == 302 and location == "/login", (status, location)
    elif expected == FORBIDDEN:
        assert status == 403
    elif expected == MISSING:
        assert status == 404
    elif expected == REFUSED:
        assert status == 400
    else:
        assert status in (200, 201, 302), (status, response.get_data(as_text=True)[:2000])
        assert not location.startswith("/login"), location
    if method == "POST":
        flashed = response.headers.get("Set-Cookie", "")
        if expected == CHANGED:
            assert after["audit_event"] > before["audit_event"], f"no audit event: {flashed}"
        elif expected != OK:
            assert after == before, "a refused write changed something"
