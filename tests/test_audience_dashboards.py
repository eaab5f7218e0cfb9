"""The builder's and the owner's dashboards: exact figures, only their own packages, the
acknowledge button, and the test message to a contact through a real SMTP server."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from panel.extensions import db
from panel.models import Alert, AuditEvent, Contact, Package, Party
from panel.models.base import utcnow
from panel.services import alerts, parties, space, usage
from panel.services.scope import Actor
from tests.alerting import MIB, report
from tests.conftest import csrf_token, https_client, login
from tests.smtp import SMTPSink, free_port
from tests.webhooks import WebhookSink
from tests.world import LOGINS, PASSWORD, World

HTML_TAGS = re.compile(r"<[^>]+>")


def text_of(html: str) -> str:
    """A page's text with tags dropped and spaces collapsed, as a reader sees it."""
    return re.sub(r"\s+", " ", HTML_TAGS.sub(" ", html)).replace("&#39;", "'")


def logged_in(app: Flask, role: str) -> FlaskClient:
    client = https_client(app)
    response = login(client, LOGINS[role], PASSWORD)
    assert response.status_code == 302, role
    return client


def actor_of(role: str) -> Actor:
    from panel.models import User

    user = db.session.scalars(select(User).where(User.email == LOGINS[role])).one()
    return Actor.for_membership(user, user.memberships[0].party)


def site_report(
    parts: dict[str, int],
    stale: list[int] | None = None,
    mailboxes: dict[str, int] | None = None,
    databases: dict[str, int] | None = None,
    other: int = 0,
) -> dict[str, Any]:
    """A scanner report with the site's parts, its stale backup archives and databases."""
    found = report(mailboxes=mailboxes, parts=parts, other=other)
    found["sites"]["public_html"]["stale_backups"] = [
        {"path": f"wp-content/backups/old-{i}.zip", "bytes": size}
        for i, size in enumerate(stale or [])
    ]
    found["databases"] = {name: {"bytes": size} for name, size in (databases or {}).items()}
    return found


def record(package_id: int, data: dict[str, Any], at: Any) -> None:
    usage.record_measurement(db.session.get_one(Package, package_id), data, at, 0.01)


ALPHA_PARTS = {
    "core": 10 * MIB,
    "plugins": 20 * MIB,
    "themes": 5 * MIB,
    "uploads": 15 * MIB,
    "backups": 30 * MIB,
    "cache": 4 * MIB,
}
BETA_PARTS = {"core": 9 * MIB, "cache": 7 * MIB, "backups": 33 * MIB}


def measure_both(app: Flask, w: World) -> None:
    """Alpha: 84 MiB of site, 2 stale archives (12 + 8 MiB), 4 MiB cache, a 20 MiB mailbox.
    Beta: 33 MiB of stale backups and 7 MiB of cache, which alpha's people must not see."""
    with app.app_context():
        now = utcnow()
        record(
            w.package,
            site_report(ALPHA_PARTS, [12 * MIB, 8 * MIB], {"info@alpha.example": 20 * MIB}),
            now,
        )
        record(w.other_package, site_report(BETA_PARTS, [33 * MIB]), now)
        db.session.remove()


# --- the builder ----------------------------------------------------------------------------------


def test_builder_overview_figures_are_exact(world_app: Flask, world: World) -> None:
    measure_both(world_app, world)
    with world_app.app_context():
        overview = space.builder_overview(actor_of("builder"))
        [alpha] = overview.packages
        assert alpha.package.name == "alpha" and alpha.client == "Owner Alpha"
        assert alpha.site_bytes == 84 * MIB
        assert alpha.used_bytes == 104 * MIB and alpha.quota_bytes == 150 * MIB
        assert [(p.key, p.bytes) for p in alpha.parts] == [
            ("backups", 30 * MIB),
            ("plugins", 20 * MIB),
            ("uploads", 15 * MIB),
            ("core", 10 * MIB),
            ("themes", 5 * MIB),
            ("cache", 4 * MIB),
        ]
        assert alpha.parts[0].percent == pytest.approx(100 * 30 / 84)
        assert (alpha.stale_bytes, alpha.stale_count, alpha.cache_bytes) == (20 * MIB, 2, 4 * MIB)
        assert alpha.cleanup_bytes == 24 * MIB
        assert overview.alerts == [] and overview.to_acknowledge == []

        other = space.builder_overview(actor_of("other_builder"))
        [beta] = other.packages
        assert beta.package.name == "beta" and beta.cleanup_bytes == 40 * MIB
        assert beta.stale_count == 1
        # beta's agreement (version 1) waits for Builder Two
        assert [(p.name, s.version) for p, s in other.to_acknowledge] == [("beta", 1)]


def test_builder_dashboard_shows_its_packages_only(world_app: Flask, world: World) -> None:
    measure_both(world_app, world)
    page = text_of(logged_in(world_app, "builder").get("/builder/").get_data(as_text=True))
    assert "Packages you build for" in page
    assert "alpha" in page and "Owner Alpha" in page
    assert "104 MiB of 150 MiB (69 %)" in page
    assert "24 MiB (2 stale backups, 20 MiB; caches, 4 MiB)" in page
    assert "plugins: 20 MiB (24 %)" in page and "backups: 30 MiB (36 %)" in page
    assert "No open alerts for you." in page and "No agreement is waiting for you." in page
    for foreign in ("beta", "Owner Beta", "33 MiB", "40 MiB", "7 MiB"):
        assert foreign not in page, foreign

    other = text_of(logged_in(world_app, "other_builder").get("/builder/").get_data(as_text=True))
    assert "40 MiB (one stale backup, 33 MiB; caches, 7 MiB)" in other
    assert "Agreement for beta, version 1" in other
    assert "alpha" not in other and "Owner Alpha" not in other and "24 MiB" not in other


def test_builder_sees_the_alerts_it_was_told_about(world_app: Flask, world: World) -> None:
    with world_app.app_context():
        now = utcnow()
        record(world.package, site_report({}, mailboxes={"info@alpha.example": 55 * MIB}), now)
        alerts.evaluate([world.package], now)  # critical: every party of alpha is told
        alert_id = db.session.scalars(select(Alert.id)).one()
        assert [a.id for a in space.builder_overview(actor_of("builder")).alerts] == [alert_id]
        assert space.builder_overview(actor_of("other_builder")).alerts == []
        db.session.remove()
    page = logged_in(world_app, "builder").get("/builder/").get_data(as_text=True)
    assert f'href="/alerts/{alert_id}"' in page
    assert "Mailbox info@alpha.example is 110 % full" in text_of(page)
    other = logged_in(world_app, "other_builder").get("/builder/").get_data(as_text=True)
    assert f"/alerts/{alert_id}" not in other and "info@alpha.example" not in other


# --- the owner ------------------------------------------------------------------------------------


def measure_a_growing_week(app: Flask, w: World) -> None:
    """Alpha over four days: the mailbox grows 2 MiB a day to 30 MiB; the site 45 MiB, a
    database 6 MiB, other files 3 MiB. Used 84 MiB of 150, 66 MiB free, 2 MiB a day:
    full in 33 days."""
    with app.app_context():
        now = utcnow()
        for days_ago in (4, 3, 2, 1, 0):
            record(
                w.package,
                site_report(
                    {"core": 25 * MIB, "uploads": 20 * MIB},
                    mailboxes={"info@alpha.example": (30 - 2 * days_ago) * MIB},
                    databases={"wp_alpha": 6 * MIB},
                    other=3 * MIB,
                ),
                now - timedelta(days=days_ago),
            )
        db.session.remove()


def test_owner_space_figures_are_exact(world_app: Flask, world: World) -> None:
    measure_a_growing_week(world_app, world)
    with world_app.app_context():
        me = actor_of("owner")
        alpha = db.session.get_one(Package, world.package)
        found = space.owner_space(me, alpha)
        assert (found.used_bytes, found.quota_bytes, found.free_bytes) == (
            84 * MIB,
            150 * MIB,
            66 * MIB,
        )
        assert found.percent == pytest.approx(56.0)
        assert [(s.key, s.name, s.bytes, round(s.percent)) for s in found.shares] == [
            ("mailbox", "info@alpha.example", 30 * MIB, 20),
            ("site", "", 45 * MIB, 30),
            ("databases", "", 6 * MIB, 4),
            ("other", "", 3 * MIB, 2),
            ("free", "", 66 * MIB, 44),
        ]
        assert found.filling.state == "growing"
        assert found.filling.bytes_per_day == pytest.approx(2 * MIB)
        assert found.filling.words == "full in about 33 days"
        assert [(r.value, r.usable) for r in found.routes] == [("owner@elsewhere.example", True)]
        # another owner's package does not exist for this owner
        from panel.services.errors import NotFound

        with pytest.raises(NotFound):
            space.owner_space(me, db.session.get_one(Package, world.other_package))
        db.session.remove()


def test_owner_dashboard_in_plain_words(world_app: Flask, world: World) -> None:
    measure_a_growing_week(world_app, world)
    with world_app.app_context():
        record(world.other_package, site_report({"core": 77 * MIB}), utcnow())
        owner = db.session.get_one(Party, world.owner)
        hoster = actor_of("hoster")
        parties.add_contact(hoster, owner, "email", "info@alpha.example", "office")
        db.session.remove()
    html = logged_in(world_app, "owner").get("/client/").get_data(as_text=True)
    page = text_of(html)
    assert "Your space" in page
    assert "84 MiB of 150 MiB used (56 %), 66 MiB free." in page
    for row in (
        "Mailbox info@alpha.example 30 MiB 20 %",
        "Your website 45 MiB 30 %",
        "Your website's databases 6 MiB 4 %",
        "Other files 3 MiB 2 %",
        "Free 66 MiB 44 %",
    ):
        assert row in page, row
    assert 'role="img"' in html and "<table" in html  # the picture, and its numbers as a table
    assert "Growing by about 2 MiB a day: full in about 33 days." in page
    assert "We warn you at: owner@elsewhere.example (email)" in page
    assert "Not at info@alpha.example (email): this package serves that address" in page
    assert page.count("Send a test message") == 2
    assert "No agreement yet" in page
    for foreign in ("beta", "77 MiB", "other_owner@elsewhere.example"):
        assert foreign not in page, foreign


def test_owner_filling_not_growing_or_not_known(world_app: Flask, world: World) -> None:
    with world_app.app_context():
        now = utcnow()
        steady = site_report({"core": 10 * MIB})
        for days_ago in (2, 1, 0):
            record(world.package, steady, now - timedelta(days=days_ago))
        record(world.other_package, steady, now)
        db.session.remove()
    page = text_of(logged_in(world_app, "owner").get("/client/").get_data(as_text=True))
    assert "Not growing over the last week." in page
    other = text_of(logged_in(world_app, "other_owner").get("/client/").get_data(as_text=True))
    assert "Not enough measurements yet to say how fast it fills." in other


def test_owner_acknowledges_an_alert_from_the_dashboard(world_app: Flask, world: World) -> None:
    with world_app.app_context():
        now = utcnow()
        record(world.package, site_report({}, mailboxes={"info@alpha.example": 55 * MIB}), now)
        alerts.evaluate([world.package], now)
        alert_id = db.session.scalars(select(Alert.id)).one()
        db.session.remove()
    client = logged_in(world_app, "owner")
    html = client.get("/client/").get_data(as_text=True)
    action = f'action="/alerts/{alert_id}/acknowledge"'
    assert action in html
    form = html[html.index(action) :]
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    response = client.post(f"/alerts/{alert_id}/acknowledge", data={"csrf_token": token[1]})
    assert response.status_code == 302
    with world_app.app_context():
        alert = db.session.get_one(Alert, alert_id)
        assert alert.status == "acknowledged" and alert.acknowledged_by_party_id == world.owner
        db.session.remove()
    after = client.get("/client/").get_data(as_text=True)
    assert action not in after and "acknowledged" in text_of(after)


# --- the test message -----------------------------------------------------------------------------


def post_test(client: FlaskClient, contact_id: int, **extra: str) -> Any:
    token = csrf_token(client, "/contacts")
    return client.post(f"/contacts/{contact_id}/test", data={"csrf_token": token, **extra})


def audit_of(app: Flask, contact_id: int) -> list[AuditEvent]:
    with app.app_context():
        found = db.session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "test",
                AuditEvent.subject_type == "Contact",
                AuditEvent.subject_id == contact_id,
            )
        ).all()
        db.session.expunge_all()
        db.session.remove()
        return list(found)


def test_a_test_message_arrives_in_the_partys_language(world_app: Flask, world: World) -> None:
    client = logged_in(world_app, "owner")
    with SMTPSink() as smtp:
        world_app.config.update(ONUS_MAIL_SERVER=smtp.host, ONUS_MAIL_PORT=smtp.port)
        response = post_test(client, world.owner_contact, next="/client/")
        [received] = smtp.wait_for(1)
    assert response.status_code == 302 and response.headers["Location"] == "/client/"
    assert received.rcpt_tos == ["owner@elsewhere.example"]
    message = received.message
    assert message["To"] == "owner@elsewhere.example"
    # Owner Alpha speaks Dutch: the message is what the Dutch catalogue makes of it (the
    # viewer here reads English)
    with world_app.test_request_context(), force_locale("nl"):
        subject = _("Onus test message for %(party)s", party="Owner Alpha")
        first_words = _(
            "This is a test message from Onus. Warnings about the storage of the packages of "
            "%(party)s will reach you here. You do not need to do anything.",
            party="Owner Alpha",
        )
    assert message["Subject"] == subject
    assert message.get_content().strip() == first_words
    page = text_of(client.get("/client/").get_data(as_text=True))
    assert "A test message was handed to the mail server for owner@elsewhere.example." in page
    [event] = audit_of(world_app, world.owner_contact)
    assert event.actor_party_id == world.owner and event.after["result"] == "sent"
    assert event.summary == "Test message to owner@elsewhere.example (email): sent"


def test_a_dead_mail_server_is_said_clearly(world_app: Flask, world: World) -> None:
    world_app.config.update(ONUS_MAIL_SERVER="127.0.0.1", ONUS_MAIL_PORT=free_port())
    client = logged_in(world_app, "builder")
    response = post_test(client, world.builder_contact)
    assert response.status_code == 302 and response.headers["Location"] == "/contacts"
    page = text_of(client.get("/contacts").get_data(as_text=True))
    assert "Onus could not connect to its mail server 127.0.0.1:" in page
    assert "the test message was not sent" in page
    [event] = audit_of(world_app, world.builder_contact)
    assert event.after["result"] == "unreachable"


def test_a_refusal_is_explained(world_app: Flask, world: World) -> None:
    client = logged_in(world_app, "owner")
    refuse = {"owner@elsewhere.example": "550 5.1.1 No such user"}
    with SMTPSink(refuse=refuse) as smtp:
        world_app.config.update(ONUS_MAIL_SERVER=smtp.host, ONUS_MAIL_PORT=smtp.port)
        post_test(client, world.owner_contact)
        assert smtp.received == []
    page = text_of(client.get("/contacts").get_data(as_text=True))
    assert "refused the test message to owner@elsewhere.example" in page
    assert "550 5.1.1: the recipient's address does not exist" in page
    [event] = audit_of(world_app, world.owner_contact)
    assert event.after["result"] == "refused"


def test_a_webhook_gets_the_test_message(world_app: Flask, world: World) -> None:
    world_app.config.update(ONUS_WEBHOOK_ALLOW_PRIVATE=True)
    with WebhookSink() as hook:
        with world_app.app_context():
            owner = db.session.get_one(Party, world.other_owner)
            contact = parties.add_contact(actor_of("hoster"), owner, "webhook", hook.url, "chat")
            contact_id = contact.id
            db.session.remove()
        client = logged_in(world_app, "other_owner")
        post_test(client, contact_id)
        [request] = hook.wait_for(1)
    assert request.json["type"] == "test" and request.json["party"] == "Owner Beta"
    assert "This is a test message from Onus." in request.json["text"]  # Owner Beta: English
    page = text_of(client.get("/contacts").get_data(as_text=True))
    assert "took the test message (HTTP 200)" in page


def test_another_partys_contact_is_missing(world_app: Flask, world: World) -> None:
    for role, contact in (
        ("owner", world.other_owner_contact),
        ("builder", world.owner_contact),
        ("hoster", world.owner_contact),  # the hoster sees it, but it is not the hoster's
    ):
        client = logged_in(world_app, role)
        assert post_test(client, contact).status_code == 404, role
    with world_app.app_context():
        assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "test")).all() == []
        db.session.remove()


def test_without_csrf_nothing_is_sent(world_app: Flask, world: World) -> None:
    client = logged_in(world_app, "owner")
    with SMTPSink() as smtp:
        world_app.config.update(ONUS_MAIL_SERVER=smtp.host, ONUS_MAIL_PORT=smtp.port)
        response = client.post(f"/contacts/{world.owner_contact}/test")
        assert response.status_code == 400
        assert smtp.received == []
    assert audit_of(world_app, world.owner_contact) == []


def test_test_messages_are_limited_per_contact(world_app: Flask, world: World) -> None:
    world_app.config.update(ONUS_MAIL_SERVER="127.0.0.1", ONUS_MAIL_PORT=free_port())
    with world_app.app_context():
        owner = db.session.get_one(Party, world.owner)
        contact = parties.add_contact(actor_of("owner"), owner, "email", "limit@else.example", "")
        contact_id = contact.id
        db.session.remove()
    client = logged_in(world_app, "owner")
    for _attempt in range(5):
        assert post_test(client, contact_id).status_code == 302
    refused = post_test(client, contact_id)
    assert refused.status_code == 429
    assert "At most 5 test messages an hour go to one contact." in refused.get_data(as_text=True)
    assert len(audit_of(world_app, contact_id)) == 5
    # another contact of the party is not held up
    assert post_test(client, world.owner_contact).status_code == 302


def test_the_contacts_page_has_a_test_button_per_contact(world_app: Flask, world: World) -> None:
    html = logged_in(world_app, "owner").get("/contacts").get_data(as_text=True)
    assert f'action="/contacts/{world.owner_contact}/test"' in html
    with world_app.app_context():
        owned = select(Contact).where(Contact.party_id == world.owner)
        count = len(db.session.scalars(owned).all())
        db.session.remove()
    assert html.count("Send a test message") == count


# --- a constant number of queries -----------------------------------------------------------------


def queries_of(call: Any) -> int:
    from sqlalchemy import event

    count = 0

    def counted(*_args: Any) -> None:
        nonlocal count
        count += 1

    engine = db.engine
    event.listen(engine, "before_cursor_execute", counted)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", counted)
    return count


def test_the_figures_take_the_same_queries_for_one_package_or_many(
    world_app: Flask, world: World
) -> None:
    measure_a_growing_week(world_app, world)
    with world_app.app_context():
        record(world.other_package, site_report(BETA_PARTS, [33 * MIB]), utcnow())
        # the hoster sees both packages of its tenancy, the builder and the owner one each
        # (Builder Two's beta has an agreement, as one of the hoster's two has: its
        # acknowledgements take one more query, once)
        builder, owner, hoster = actor_of("other_builder"), actor_of("owner"), actor_of("hoster")
        assert len(space.builder_overview(hoster).packages) == 2
        db.session.expunge_all()
        one = queries_of(lambda: space.builder_overview(builder))
        db.session.expunge_all()
        many = queries_of(lambda: space.builder_overview(hoster))
        assert one == many
        db.session.expunge_all()
        one = queries_of(lambda: space.owner_spaces(owner))
        db.session.expunge_all()
        many = queries_of(lambda: space.owner_spaces(hoster))
        assert one == many
        db.session.remove()


def test_the_builders_package_page_says_what_a_clean_up_frees(
    world_app: Flask, world: World
) -> None:
    measure_both(world_app, world)
    client = logged_in(world_app, "builder")
    page = text_of(client.get(f"/builder/packages/{world.package}").get_data(as_text=True))
    assert "A clean-up would free 24 MiB: 2 stale backups, 20 MiB; caches, 4 MiB." in page
    assert client.get(f"/builder/packages/{world.other_package}").status_code == 404
