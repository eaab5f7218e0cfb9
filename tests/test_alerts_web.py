"""Alerts on the web: the list with its exact figures, the inbox, one alert with its history
and notifications, acknowledging in the panel and through a mail's link (a GET changes
nothing), invalid and expired links, the nav count, package pages, the webhook format.

The world's alpha has one mailbox (info@alpha.example, 50 MiB by the plan) and no
agreement, so every party of alpha is told about its alerts.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner
from sqlalchemy import func, select

from panel.extensions import db
from panel.models import Alert, AlertEvent, AuditEvent, Contact, Notification, Party
from panel.models.base import utcnow
from panel.services import alerts, notifications
from tests.alerting import MIB, measure
from tests.conftest import csrf_token, https_client, login, row_counts
from tests.smtp import SMTPSink
from tests.world import LOGINS, PASSWORD, World

MAILBOX = "info@alpha.example"


def client_for(app: Flask, role: str) -> FlaskClient:
    client = https_client(app)
    assert login(client, LOGINS[role], PASSWORD).status_code == 302
    return client


def text_of(response: Any) -> str:
    """The page's text with tags dropped and white space squeezed, as a reader sees it."""
    html = response.get_data(as_text=True)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#39;", "'")


def nav_count(response: Any) -> str | None:
    match = re.search(r'class="nav-alerts">Alerts <span class="badge">(\d+)', response.text)
    return match.group(1) if match else None


def growing_mailbox(
    app: Flask, package_id: int, address: str, now: datetime, sizes_mib: list[float]
) -> int:
    """Measure the package's mailbox once a day (the last size now), evaluate, and return
    the open alert's id; the notifications stay queued (nothing is sent)."""
    with app.app_context():
        days = len(sizes_mib) - 1
        for index, size in enumerate(sizes_mib):
            at = now - timedelta(days=days - index, minutes=1)
            measure(package_id, at, mailboxes={address: int(size * MIB)})
        alerts.evaluate([package_id], now)
        alert_id = db.session.scalars(
            select(Alert.id).where(Alert.package_id == package_id, Alert.status != "resolved")
        ).one()
        db.session.remove()
        return alert_id


@pytest.fixture
def alpha_alert(world_app: Flask, world: World) -> int:
    """A warning on alpha's mailbox: 46 MiB of 50 MiB (92 %), growing 1 MiB a day."""
    return growing_mailbox(world_app, world.package, MAILBOX, utcnow(), [42, 43, 44, 45, 46])


@pytest.fixture
def gamma_alert(world_app: Flask, world: World) -> int:
    """A critical alert of the other hoster's gamma: 55 MiB of 50 MiB."""
    return growing_mailbox(world_app, world.foreign_package, "info@gamma.example", utcnow(), [55])


def ack_path(app: Flask, alert_id: int, party_id: int) -> str:
    with app.app_context():
        return "/ack/" + notifications.ack_token(alert_id, party_id)


# --- the list, the count, the scope ------------------------------------------------------------


def test_the_list_shows_the_exact_figures_and_the_nav_counts_open_alerts(
    world_app: Flask, alpha_alert: int, gamma_alert: int
) -> None:
    hoster = client_for(world_app, "hoster")
    page = hoster.get("/alerts")
    assert page.status_code == 200
    text = text_of(page)
    row = re.search(r"warning alpha mailbox info@alpha\.example .*? open", text)
    assert row, text
    assert "46 MiB of 50 MiB (92 %)" in row.group(0)
    assert "full in about 4 days" in row.group(0)
    assert f'href="/alerts/{alpha_alert}"' in page.text
    assert "gamma" not in text  # the other hoster's alert does not exist here
    assert nav_count(page) == "1"

    for role in ("builder", "owner"):
        seen = client_for(world_app, role).get("/alerts")
        assert "46 MiB of 50 MiB (92 %)" in text_of(seen), role
        assert nav_count(seen) == "1", role
    for role in ("other_builder", "other_owner"):
        unseen = client_for(world_app, role).get("/alerts")
        assert "alpha" not in text_of(unseen).replace("Alpha", ""), role
        assert nav_count(unseen) is None, role
    other = client_for(world_app, "other_hoster").get("/alerts")
    assert "55 MiB of 50 MiB (110 %)" in text_of(other)
    assert nav_count(other) == "1"


@pytest.mark.parametrize("role", ["other_hoster", "other_builder", "other_owner"])
def test_a_foreign_alert_is_404(world_app: Flask, alpha_alert: int, role: str) -> None:
    client = client_for(world_app, role)
    before = row_counts(world_app)
    assert client.get(f"/alerts/{alpha_alert}").status_code == 404
    token = csrf_token(client, "/alerts")
    refused = client.post(f"/alerts/{alpha_alert}/acknowledge", data={"csrf_token": token})
    assert refused.status_code == 404
    assert row_counts(world_app) == before


def test_the_inbox_lists_the_partys_panel_notifications_with_links(
    world_app: Flask, world: World, alpha_alert: int
) -> None:
    page = client_for(world_app, "owner").get("/alerts")
    inbox = text_of(page).split("Your inbox", 1)[1]
    assert "opened warning mailbox info@alpha.example · alpha · 92 %" in inbox
    assert page.text.count(f'href="/alerts/{alpha_alert}"') == 2  # the list and the inbox
    empty = client_for(world_app, "other_owner").get("/alerts")
    assert "Nothing yet." in text_of(empty).split("Your inbox", 1)[1]


def test_the_alert_page_tells_the_story_for_the_viewers_role(
    world_app: Flask, alpha_alert: int
) -> None:
    owner = client_for(world_app, "owner")
    text = text_of(owner.get(f"/alerts/{alpha_alert}"))
    assert "warning Mailbox info@alpha.example is 92 % full" in text
    assert "46 MiB of 50 MiB (92 %)" in text
    assert "full in about 4 days" in text
    assert "Biggest parts INBOX: 46 MiB" in text
    assert "Delete or archive old mail in info@alpha.example" in text
    assert "Or give the mailbox a larger quota." not in text  # the hoster's way
    assert re.search(r"History .* opened 0 — threshold: 92(\.0)? %", text)
    hoster = text_of(client_for(world_app, "hoster").get(f"/alerts/{alpha_alert}"))
    assert "Or give the mailbox a larger quota." in hoster


def test_notifications_show_what_became_of_them_and_only_to_whom_the_viewer_may_see(
    world_app: Flask, world: World, alpha_alert: int
) -> None:
    with world_app.app_context():
        rows = db.session.scalars(
            select(Notification).where(Notification.alert_id == alpha_alert)
        ).all()
        by = {(n.party_id, n.channel): n for n in rows}
        failed = by[(world.owner, "email")]
        failed.status, failed.error = "bounced", "552 5.2.2 Mailbox full"
        sent = by[(world.builder, "email")]
        sent.status, sent.sent_at = "sent", utcnow()
        db.session.commit()

    owner = text_of(client_for(world_app, "owner").get(f"/alerts/{alpha_alert}"))
    assert "“Sent” means handed to the recipient’s mail server" in owner
    assert "not read" in owner
    assert "owner@elsewhere.example opened bounced" in owner
    assert "552 5.2.2 Mailbox full" in owner
    assert "552 5.2.2 — the recipient's mailbox is full" in owner  # the code in plain words
    assert "builder@elsewhere.example" not in owner  # another party's address
    assert "hoster@elsewhere.example" not in owner

    builder = text_of(client_for(world_app, "builder").get(f"/alerts/{alpha_alert}"))
    assert "builder@elsewhere.example opened sent" in builder
    assert "owner@elsewhere.example" not in builder

    hoster = text_of(client_for(world_app, "hoster").get(f"/alerts/{alpha_alert}"))
    for address in ("owner@", "builder@", "hoster@"):
        assert f"{address}elsewhere.example" in hoster
    assert "queued" in hoster  # the hoster's own mail: the server is dead


def test_why_a_party_was_unreachable_is_shown_to_it_and_its_hoster_only(
    world_app: Flask, world: World, alpha_alert: int
) -> None:
    with world_app.app_context():
        alert = db.session.get_one(Alert, alpha_alert)
        why = "email to owner@elsewhere.example bounced: 552 5.2.2 Mailbox full"
        alert.events.append(
            AlertEvent(at=utcnow(), kind="unreachable", step=0, party_id=world.owner, detail=why)
        )
        db.session.commit()
    for role, shown in (("owner", True), ("hoster", True), ("builder", False)):
        text = text_of(client_for(world_app, role).get(f"/alerts/{alpha_alert}"))
        assert "could not be reached 0 Owner Alpha" in text, role
        assert ("552 5.2.2 Mailbox full" in text) is shown, role


# --- acknowledging in the panel ---------------------------------------------------------------


def audit_rows(app: Flask, action: str = "acknowledge") -> list[AuditEvent]:
    with app.app_context():
        found = db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()
        db.session.expunge_all()
        return list(found)


def test_the_acknowledge_button_records_the_step_and_an_audit_event(
    world_app: Flask, world: World, alpha_alert: int
) -> None:
    owner = client_for(world_app, "owner")
    page = owner.get(f"/alerts/{alpha_alert}")
    assert f'action="/alerts/{alpha_alert}/acknowledge"' in page.text
    token = csrf_token(owner, f"/alerts/{alpha_alert}")
    done = owner.post(f"/alerts/{alpha_alert}/acknowledge", data={"csrf_token": token})
    assert done.status_code == 302 and done.headers["Location"] == f"/alerts/{alpha_alert}"
    after = owner.get(f"/alerts/{alpha_alert}")
    text = text_of(after)
    assert "Acknowledged: escalation stops." in text
    assert "Status acknowledged" in text
    assert re.search(r"Acknowledged by Owner Alpha at .+?, in the panel", text)
    assert f'action="/alerts/{alpha_alert}/acknowledge"' not in after.text
    assert nav_count(after) is None

    with world_app.app_context():
        alert = db.session.get_one(Alert, alpha_alert)
        assert alert.status == "acknowledged" and alert.acknowledged_via == "panel"
        assert alert.acknowledged_by_party_id == world.owner
        assert [e.kind for e in alert.events][-1] == "acknowledged"
    [event] = audit_rows(world_app)
    assert event.subject_type == "Alert" and event.subject_id == alpha_alert
    assert event.actor_party_id == world.owner and event.hoster_id == world.hoster
    assert event.after and event.after["status"] == "acknowledged"

    # again: nothing changes, no second audit event
    before = row_counts(world_app)
    token = csrf_token(owner, f"/alerts/{alpha_alert}")
    owner.post(f"/alerts/{alpha_alert}/acknowledge", data={"csrf_token": token})
    assert row_counts(world_app) == before


def test_acknowledging_without_the_csrf_token_is_refused(
    world_app: Flask, alpha_alert: int
) -> None:
    owner = client_for(world_app, "owner")
    before = row_counts(world_app)
    assert owner.post(f"/alerts/{alpha_alert}/acknowledge").status_code == 400
    assert row_counts(world_app) == before


# --- the acknowledge link ----------------------------------------------------------------------


def test_the_link_page_changes_nothing_on_get_and_acknowledges_on_post(
    world_app: Flask, world: World, alpha_alert: int
) -> None:
    path = ack_path(world_app, alpha_alert, world.owner)
    anonymous = https_client(world_app)
    before = row_counts(world_app)
    for _ in range(2):  # a mail scanner, then the person
        page = anonymous.get(path)
        assert page.status_code == 200
    assert row_counts(world_app) == before
    text = text_of(page)
    for fact in ("Package alpha", "mailbox info@alpha.example", "warning", "(92 %)"):
        assert fact in text
    assert "For Owner Alpha" in text
    assert f'action="{path}"' in page.text

    token = csrf_token(anonymous, path)
    done = anonymous.post(path, data={"csrf_token": token})
    assert done.status_code == 302 and done.headers["Location"] == path
    shown = text_of(anonymous.get(path))
    assert re.search(r"Acknowledged by Owner Alpha at .+ \(UTC\)\.", shown), shown
    assert "the acknowledgement is recorded" in shown
    with world_app.app_context():
        alert = db.session.get_one(Alert, alpha_alert)
        assert alert.status == "acknowledged" and alert.acknowledged_via == "link"
        assert alert.acknowledged_by_user_id is None
        event = alert.events[-1]
        assert (event.kind, event.party_id, event.user_id) == ("acknowledged", world.owner, None)
    [audit] = audit_rows(world_app)
    assert audit.actor_user_id is None and audit.hoster_id == world.hoster
    assert "Owner Alpha" in audit.summary


def test_the_link_shows_who_acknowledged_first(
    world_app: Flask, world: World, alpha_alert: int
) -> None:
    with world_app.app_context():
        alert = db.session.get_one(Alert, alpha_alert)
        alerts.acknowledge(alert, world.builder, None, "panel", utcnow())
    page = https_client(world_app).get(ack_path(world_app, alpha_alert, world.owner))
    text = text_of(page)
    assert "Acknowledged by Builder One at" in text
    assert "<button" not in page.text.split("<main", 1)[1]


def test_a_tampered_or_expired_link_is_404(
    world_app: Flask, world: World, alpha_alert: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = ack_path(world_app, alpha_alert, world.owner)
    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    with world_app.app_context():
        max_age = world_app.config["ONUS_ACK_LINK_MAX_AGE"]
        monkeypatch.setattr(
            TimestampSigner, "get_timestamp", lambda _s: int(time.time()) - max_age - 60
        )
        expired = "/ack/" + notifications.ack_token(alpha_alert, world.owner)
        monkeypatch.undo()
    client = https_client(world_app)
    before = row_counts(world_app)
    for bad in (tampered, expired, "/ack/not-a-token"):
        page = client.get(bad)
        assert page.status_code == 404, bad
        assert "This link is not valid or has expired; log in to see the alert." in text_of(page)
        assert client.post(bad).status_code in (400, 404)
    assert row_counts(world_app) == before
    assert client.get(path).status_code == 200  # the real one still works


def test_a_resolved_alerts_link_says_so_and_acknowledges_nothing(
    world_app: Flask, world: World, alpha_alert: int
) -> None:
    with world_app.app_context():
        now = utcnow()
        measure(world.package, now, mailboxes={MAILBOX: 10 * MIB})
        alerts.evaluate([world.package], now + timedelta(seconds=1))
        assert db.session.get_one(Alert, alpha_alert).status == "resolved"
        db.session.remove()
    path = ack_path(world_app, alpha_alert, world.owner)
    client = https_client(world_app)
    page = client.get(path)
    assert "This alert is resolved already" in text_of(page)
    assert f'action="{path}"' not in page.text
    before = row_counts(world_app)
    refused = client.post(path, data={"csrf_token": csrf_token(client, "/login")})
    assert refused.status_code == 400
    assert "resolved already" in text_of(refused)
    assert row_counts(world_app) == before
    # and the list shows it among the resolved ones
    listed = text_of(client_for(world_app, "owner").get("/alerts"))
    resolved = listed.split("Resolved in the last 30 days", 1)[1].split("Your inbox")[0]
    assert "mailbox info@alpha.example" in resolved
    assert "the measure dropped below the level" in resolved


# --- package pages -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "page"),
    [
        ("hoster", "/hoster/packages/{}"),
        ("builder", "/builder/packages/{}"),
        ("owner", "/client/packages/{}"),
    ],
)
def test_package_pages_list_the_open_alerts(
    world_app: Flask, world: World, alpha_alert: int, role: str, page: str
) -> None:
    response = client_for(world_app, role).get(page.format(world.package))
    assert response.status_code == 200
    section = text_of(response).split("Alerts", 2)[2]
    assert "warning mailbox info@alpha.example : 92 %" in section
    assert f'href="/alerts/{alpha_alert}"' in response.text


def test_a_package_without_alerts_says_so(world_app: Flask, world: World) -> None:
    response = client_for(world_app, "owner").get(f"/client/packages/{world.package}")
    assert "No open alerts." in text_of(response)


# --- the webhook format of a contact -----------------------------------------------------------


def test_the_webhook_format_is_saved_audited_and_shown(world_app: Flask, world: World) -> None:
    owner = client_for(world_app, "owner")
    data = {
        "kind": "webhook",
        "value": "https://chat.elsewhere.example/hooks/onus",
        "label": "team chat",
        "webhook_format": "slack",
    }
    saved = owner.post("/contacts", data={"csrf_token": csrf_token(owner, "/contacts"), **data})
    assert saved.status_code == 302
    with world_app.app_context():
        contact = db.session.scalars(select(Contact).where(Contact.value == data["value"])).one()
        assert (contact.kind, contact.webhook_format) == ("webhook", "slack")
        event = db.session.scalars(
            select(AuditEvent).where(
                AuditEvent.subject_type == "Contact", AuditEvent.subject_id == contact.id
            )
        ).one()
        assert event.after and event.after["webhook_format"] == "slack"
    page = text_of(owner.get("/contacts"))
    assert "webhook Slack / Mattermost https://chat.elsewhere.example/hooks/onus" in page


def test_a_bad_webhook_format_is_refused_and_changes_nothing(world_app: Flask) -> None:
    owner = client_for(world_app, "owner")
    before = row_counts(world_app)
    refused = owner.post(
        "/contacts",
        data={
            "csrf_token": csrf_token(owner, "/contacts"),
            "kind": "webhook",
            "value": "https://chat.elsewhere.example/hooks/onus",
            "label": "",
            "webhook_format": "xml",
        },
    )
    assert refused.status_code == 400
    assert row_counts(world_app) == before


def test_an_email_contact_keeps_the_default_format(world_app: Flask, world: World) -> None:
    from panel.services import parties
    from panel.services.errors import ServiceError
    from tests.test_agreements_web import hoster_actor

    with world_app.app_context():
        actor = hoster_actor()
        party = db.session.get_one(Party, world.owner)
        contact = parties.add_contact(actor, party, "email", "x@elsewhere.example", "", "slack")
        assert contact.webhook_format == "json"
        count = db.session.scalar(select(func.count()).select_from(Contact))
        with pytest.raises(ServiceError):
            parties.add_contact(actor, party, "webhook", "https://h.example/x", "", "xml")
        assert db.session.scalar(select(func.count()).select_from(Contact)) == count


# --- a real mail carries the link -------------------------------------------------------------


def test_a_sent_mail_carries_a_working_link(world_app: Flask, world: World) -> None:
    with SMTPSink() as smtp:
        world_app.config.update(ONUS_MAIL_SERVER=smtp.host, ONUS_MAIL_PORT=smtp.port)
        with world_app.app_context():
            from tests.alerting import evaluate

            now = utcnow()
            measure(world.package, now - timedelta(minutes=1), mailboxes={MAILBOX: 55 * MIB})
            evaluate([world.package], now)
            db.session.remove()
        received = smtp.wait_for(3)
    to_owner = next(r for r in received if "owner@elsewhere.example" in r.rcpt_tos)
    body = to_owner.message.get_body(("plain",))
    assert body is not None
    link = re.search(r"https://localhost(/ack/\S+)", body.get_content())
    assert link, body.get_content()
    page = https_client(world_app).get(link.group(1))
    assert page.status_code == 200 and "For Owner Alpha" in text_of(page)
    hoster = client_for(world_app, "hoster")
    listed = text_of(hoster.get("/alerts"))
    assert "critical alpha mailbox info@alpha.example 55 MiB of 50 MiB (110 %)" in listed
    with world_app.app_context():
        alert_id = db.session.scalars(select(AlertEvent.alert_id)).first()
    story = text_of(hoster.get(f"/alerts/{alert_id}"))
    for address in ("owner@", "builder@", "hoster@"):
        assert f"{address}elsewhere.example opened sent" in story
