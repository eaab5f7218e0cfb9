"""Signed webhooks: every post (alert events, digests, the contact test) carries an HMAC-SHA256
signature of its exact body and the time under the contact's own key, the event and a delivery
id; an acknowledgement reaches the webhooks at once, through a real Celery worker, retried with
the same delivery id. Signatures are checked here by an implementation of the test's own, over
the raw bytes a real HTTP server on 127.0.0.1 received."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import delete, select

from panel.extensions import db
from panel.models import Alert, AuditEvent, Contact, Notification, Party, User
from panel.services import alert_actions, alerts, notifications, parties
from panel.services.channels import post_webhook, webhook_signature
from panel.services.errors import ServiceError
from tests.alerting import MIB, build_digests_and_send, evaluate, measure, round_, send
from tests.conftest import DatabaseStates, close_app, csrf_token, https_client, login, make_app
from tests.smtp import free_port
from tests.test_workers import (  # noqa: F401  (fixtures)
    Worker,
    finished,
    panel,
    queue,
    start_worker,
    stopping,
)
from tests.webhooks import WebhookRequest, WebhookSink
from tests.world import LOGINS, PASSWORD, World, actor_of
from workers.tasks import send_notification

T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
BETA_BOX = "info@beta.example"
TOLERANCE = 300  # seconds a receiver accepts between the signed time and its clock
DEADLINE = 60.0


def verify(secret: str, request: WebhookRequest, body: bytes | None = None) -> bool:
    """What a receiver does, written from the README: split the header, HMAC "<t>.<body>"
    over the raw bytes received under the key, compare in constant time, refuse an old t."""
    return valid(
        secret, request.headers["X-Onus-Signature"], request.body if body is None else body
    )


def valid(secret: str, header: str, body: bytes) -> bool:
    fields = dict(part.split("=", 1) for part in header.split(","))
    signed = fields["t"].encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(fields["t"])) <= TOLERANCE
    return hmac.compare_digest(expected, fields["v1"]) and fresh


def wait_until(check: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.2)


@pytest.fixture
def hook() -> Iterator[WebhookSink]:
    with WebhookSink() as sink:
        yield sink


@pytest.fixture
def hooked(database: DatabaseStates) -> Iterator[Flask]:
    """The seeded world in an app context, posting to webhooks on 127.0.0.1."""
    database.restore("world")
    app = make_app(database, ONUS_WEBHOOK_ALLOW_PRIVATE=True, ONUS_WEBHOOK_TIMEOUT=2)
    with app.app_context():
        yield app
    close_app(app)


def only_webhook(party_id: int, url: str) -> Contact:
    """The party's contacts become one webhook, added as the hoster would (with a key)."""
    db.session.execute(delete(Contact).where(Contact.party_id == party_id))
    db.session.commit()
    party = db.session.get_one(Party, party_id)
    return parties.add_contact(actor_of("hoster"), party, "webhook", url, "chat")


def beta_alert() -> Alert:
    return db.session.scalars(
        select(Alert).where(Alert.subject == f"mailbox:{BETA_BOX}").order_by(Alert.id.desc())
    ).first()  # type: ignore[return-value]


# --- the signature ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["json", "slack"])
def test_a_post_is_signed_over_the_exact_bytes_sent(
    hooked: Flask, hook: WebhookSink, shape: str
) -> None:
    document = {"event": "opened", "text": "Mailbox info@beta.example is 92 % full", "n": 1}
    assert post_webhook(hook.url, document, shape, secret="a1" * 32, delivery="17") == 200
    [request] = hook.wait_for(1)

    assert request.headers["X-Onus-Event"] == "opened"
    assert request.headers["X-Onus-Delivery"] == "17"
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", request.headers["X-Onus-Signature"])
    assert verify("a1" * 32, request)
    assert request.json == (document if shape == "json" else {"text": document["text"]})
    # anything else fails: another key, a changed body, a changed time
    assert not verify("b2" * 32, request)
    assert not verify("a1" * 32, request, request.body.replace(b"92", b"12"))
    assert not verify("a1" * 32, request, request.body + b" ")
    moved = re.sub(r"t=(\d+)", lambda m: f"t={int(m[1]) + 1}", request.headers["X-Onus-Signature"])
    assert not valid("a1" * 32, moved, request.body)


def test_a_signature_from_long_ago_is_refused_by_the_receiver() -> None:
    """The time is part of what is signed: a post recorded and played again an hour later
    fails the receiver's tolerance, and giving it a new time breaks the signature."""
    body = b'{"event": "opened"}'
    now = int(time.time())
    assert valid("k" * 64, webhook_signature("k" * 64, now, body), body)
    replayed = webhook_signature("k" * 64, now - 3600, body)
    assert not valid("k" * 64, replayed, body)
    assert not valid("k" * 64, replayed.replace(f"t={now - 3600}", f"t={now}"), body)


# --- every alert event, signed, named -----------------------------------------------------------


def test_opened_escalated_acknowledged_raised_resolved_each_arrive_signed_and_named(
    hooked: Flask, hook: WebhookSink
) -> None:
    w = World.load()
    hooks = {
        "owner": only_webhook(w.other_owner, f"{hook.url}/owner"),
        "builder": only_webhook(w.other_builder, f"{hook.url}/builder"),
        "hoster": only_webhook(w.hoster, f"{hook.url}/hoster"),
    }
    keys = {f"/hook/{name}": contact.secret for name, contact in hooks.items()}
    assert all(key and len(key) == 64 for key in keys.values())
    assert len(set(keys.values())) == 3, "each webhook its own key"

    measure(w.other_package, T0, mailboxes={BETA_BOX: 46 * MIB})  # warning: the owner
    evaluate([w.other_package], T0)
    round_(T0 + timedelta(hours=24, minutes=5))  # past the deadline: the hoster
    warning = beta_alert()
    person = db.session.scalars(select(User).where(User.email == LOGINS["other_owner"])).one()
    notifications.forget_counts()
    mails_before = notifications.immediate_today(w.hoster, T0 + timedelta(hours=25))

    at = T0 + timedelta(hours=25)
    alerts.acknowledge(warning, w.other_owner, person.id, "panel", at)
    alerts.acknowledge(warning, w.other_owner, person.id, "panel", at + timedelta(minutes=1))
    acked = db.session.scalars(
        select(Notification).where(Notification.kind == "acknowledged").order_by(Notification.id)
    ).all()
    assert sorted((n.channel, n.recipient, n.status) for n in acked) == [
        ("webhook", f"{hook.url}/hoster", "queued"),
        ("webhook", f"{hook.url}/owner", "queued"),
    ], "the webhooks of the parties told, once; no mail, nothing new in the inbox"
    notifications.forget_counts()
    assert notifications.immediate_today(w.hoster, at) == mails_before, "not a mail of the day"
    send([n.id for n in acked], at)

    measure(w.other_package, T0 + timedelta(hours=26), mailboxes={BETA_BOX: 50 * MIB})
    evaluate([w.other_package], T0 + timedelta(hours=26))  # critical: everyone at once
    measure(w.other_package, T0 + timedelta(hours=27), mailboxes={BETA_BOX: 10 * MIB})
    evaluate([w.other_package], T0 + timedelta(hours=27))  # resolved, critical: at once

    posts = hook.wait_for(10)
    base = hook.url.removesuffix("/hook")
    events: dict[str, list[str]] = {}
    for post in posts:
        assert verify(keys[post.path], post), post.path
        event = post.headers["X-Onus-Event"]
        assert post.json["event"] == event
        notification = db.session.get_one(Notification, int(post.headers["X-Onus-Delivery"]))
        assert (notification.kind, notification.recipient) == (event, base + post.path)
        events.setdefault(post.path, []).append(event)
    assert events == {
        "/hook/owner": ["opened", "acknowledged", "raised", "resolved"],
        "/hook/hoster": ["escalated", "acknowledged", "raised", "resolved"],
        "/hook/builder": ["opened", "resolved"],
    }
    acknowledged = next(p.json for p in posts if p.headers["X-Onus-Event"] == "acknowledged")
    assert acknowledged["alert"]["status"] == "acknowledged"
    assert acknowledged["alert"]["acknowledged_by"] == {"id": w.other_owner, "name": "Owner Beta"}
    assert acknowledged["alert"]["acknowledged_via"] == "panel"
    assert acknowledged["alert"]["acknowledged_at"] == at.isoformat()
    assert acknowledged["acknowledge_url"] is None
    assert acknowledged["text"] == (
        "Acknowledged by Owner Beta, warning: Mailbox info@beta.example is 92 % full"
    )
    assert db.session.scalars(
        select(Notification).where(Notification.kind == "acknowledged")
    ).all() == list(acked), "acknowledging twice told nobody twice"


def test_a_digest_is_signed_and_named_too(hooked: Flask, hook: WebhookSink) -> None:
    w = World.load()
    contact = only_webhook(w.other_owner, hook.url)
    measure(w.other_package, T0, mailboxes={BETA_BOX: 46 * MIB})
    evaluate([w.other_package], T0)
    measure(w.other_package, T0 + timedelta(hours=1), mailboxes={BETA_BOX: 10 * MIB})
    evaluate([w.other_package], T0 + timedelta(hours=1))  # resolved at warning: the digest
    build_digests_and_send(T0 + timedelta(hours=20))
    opened, digest = hook.wait_for(2)
    assert [opened.headers["X-Onus-Event"], digest.headers["X-Onus-Event"]] == [
        "opened",
        "digest",
    ]
    assert digest.json["event"] == "digest"
    assert [a["event"] for a in digest.json["alerts"]] == ["resolved"]
    assert contact.secret and verify(contact.secret, opened) and verify(contact.secret, digest)


def test_a_webhook_without_a_key_gets_one_before_its_first_post(
    hooked: Flask, hook: WebhookSink
) -> None:
    w = World.load()
    db.session.execute(delete(Contact).where(Contact.party_id == w.other_owner))
    db.session.add(Contact(party_id=w.other_owner, kind="webhook", value=hook.url))
    db.session.commit()
    measure(w.other_package, T0, mailboxes={BETA_BOX: 46 * MIB})
    evaluate([w.other_package], T0)
    [post] = hook.wait_for(1)

    db.session.remove()  # what was saved, not what the session holds
    contact = db.session.scalars(select(Contact).where(Contact.value == hook.url)).one()
    assert contact.secret and len(contact.secret) == 64
    assert verify(contact.secret, post)


def test_a_removed_webhook_is_not_posted_to(hooked: Flask, hook: WebhookSink) -> None:
    w = World.load()
    contact = only_webhook(w.other_owner, hook.url)
    measure(w.other_package, T0, mailboxes={BETA_BOX: 46 * MIB})
    [hook_id] = alerts.evaluate([w.other_package], T0).to_send
    parties.remove_contact(actor_of("hoster"), contact)
    outcome = send([hook_id], T0)
    assert outcome[str(hook_id)] == "failed: the webhook was removed from the party's contacts"
    time.sleep(0.2)
    assert hook.received == []


# --- the key on the contacts page, renewed --------------------------------------------------------


def test_the_party_sees_and_renews_its_key_audited_without_it(
    world_app: Flask, world: World, hook: WebhookSink
) -> None:
    world_app.config["ONUS_WEBHOOK_ALLOW_PRIVATE"] = True
    owner = https_client(world_app)
    assert login(owner, LOGINS["other_owner"], PASSWORD).status_code == 302
    form = {"kind": "webhook", "value": hook.url, "label": "chat", "webhook_format": "json"}
    added = owner.post("/contacts", data={"csrf_token": csrf_token(owner, "/contacts"), **form})
    assert added.status_code == 302
    with world_app.app_context():
        contact = db.session.scalars(select(Contact).where(Contact.value == hook.url)).one()
        contact_id, old_key = contact.id, contact.secret
        db.session.remove()
    assert old_key and len(old_key) == 64

    page = owner.get("/contacts").get_data(as_text=True)
    assert re.search(rf"<details[^>]*>.*?{old_key}.*?</details>", page, re.S), "behind a click"
    hoster = https_client(world_app)
    assert login(hoster, LOGINS["hoster"], PASSWORD).status_code == 302
    seen = hoster.get(f"/hoster/parties/{world.other_owner}").get_data(as_text=True)
    assert hook.url in seen and old_key not in seen, "the hoster sees the webhook, not its key"
    assert old_key not in hoster.get("/contacts").get_data(as_text=True)

    token = csrf_token(owner, "/contacts")
    owner.post(f"/contacts/{contact_id}/test", data={"csrf_token": token})
    assert owner.post(f"/contacts/{contact_id}/secret").status_code == 400  # no CSRF: nothing
    other = https_client(world_app)
    assert login(other, LOGINS["owner"], PASSWORD).status_code == 302
    foreign = other.post(
        f"/contacts/{contact_id}/secret", data={"csrf_token": csrf_token(other, "/contacts")}
    )
    assert foreign.status_code == 404
    renewed = owner.post(f"/contacts/{contact_id}/secret", data={"csrf_token": token})
    assert renewed.status_code == 302
    assert "A new key is made" in owner.get("/contacts").get_data(as_text=True)
    owner.post(f"/contacts/{contact_id}/test", data={"csrf_token": token})
    before, after = hook.wait_for(2)

    with world_app.app_context():
        new_key = db.session.get_one(Contact, contact_id).secret
        events = db.session.scalars(
            select(AuditEvent).where(
                AuditEvent.subject_type == "Contact", AuditEvent.subject_id == contact_id
            )
        ).all()
        db.session.remove()
    assert new_key and new_key != old_key
    assert before.headers["X-Onus-Event"] == after.headers["X-Onus-Event"] == "test"
    assert verify(old_key, before) and not verify(new_key, before)
    assert verify(new_key, after) and not verify(old_key, after)
    assert before.headers["X-Onus-Delivery"] != after.headers["X-Onus-Delivery"]
    [renewal] = [e for e in events if e.summary.startswith("Webhook key renewed")]
    assert renewal.summary == f"Webhook key renewed for {hook.url} of Owner Beta"
    assert renewal.actor_party_id == world.other_owner
    kept = json.dumps([[e.summary, e.before, e.after] for e in events])
    assert old_key not in kept and new_key not in kept, "no key in the audit log"


def test_only_a_webhook_has_a_key_to_renew(world_app: Flask, world: World) -> None:
    with world_app.app_context():
        contact = db.session.get_one(Contact, world.owner_contact)
        with pytest.raises(ServiceError, match="Only a webhook"):
            parties.renew_secret(actor_of("owner"), contact)
        with pytest.raises(ServiceError, match="your own contacts"):
            parties.renew_secret(actor_of("hoster"), contact)
        assert db.session.get_one(Contact, world.owner_contact).secret is None


# --- at once, retried with the same delivery, through a real worker ----------------------------


def settled(notification_id: int) -> Notification:
    """The notification as the worker left it (the session reads anew)."""
    db.session.rollback()
    return db.session.get_one(Notification, notification_id)


def webhook_requests(hook: WebhookSink, event: str) -> list[WebhookRequest]:
    return [r for r in hook.received if r.headers["X-Onus-Event"] == event]


def test_an_acknowledgement_is_posted_at_once_and_a_500_retried_with_the_same_delivery(
    panel: Flask,  # noqa: F811
    start_worker: Callable[..., Worker],  # noqa: F811
    hook: WebhookSink,
) -> None:
    panel.config["ONUS_WEBHOOK_ALLOW_PRIVATE"] = True
    with panel.app_context():
        w = World.load()
        key = only_webhook(w.other_owner, hook.url).secret
        measure(w.other_package, T0, mailboxes={BETA_BOX: 46 * MIB})
        ids = alerts.evaluate([w.other_package], T0).to_send
        alert_id = beta_alert().id
        db.session.remove()
    assert key is not None
    worker = start_worker(free_port(), settings={"ONUS_WEBHOOK_ALLOW_PRIVATE": "1"})
    with panel.app_context():
        notifications.send_soon(ids)
    wait_until(lambda: len(webhook_requests(hook, "opened")) == 1, "the warning posted")

    hook.answers = [500]  # the receiver fails once
    client = https_client(panel)
    assert login(client, LOGINS["other_owner"], PASSWORD).status_code == 302
    page = f"/alerts/{alert_id}"
    done = client.post(f"{page}/acknowledge", data={"csrf_token": csrf_token(client, page)})
    assert done.status_code == 302
    wait_until(lambda: len(webhook_requests(hook, "acknowledged")) == 2, "posted, retried")

    first, second = webhook_requests(hook, "acknowledged")
    assert first.headers["X-Onus-Delivery"] == second.headers["X-Onus-Delivery"]
    assert verify(key, first) and verify(key, second), worker.log[-2000:]
    assert first.body == second.body
    with panel.app_context():
        delivery = int(first.headers["X-Onus-Delivery"])
        wait_until(lambda: settled(delivery).status == "sent", "marked sent")
        assert (settled(delivery).kind, settled(delivery).attempts) == ("acknowledged", 2)
        db.session.remove()


def test_a_webhook_answering_4xx_fails_without_retry(
    panel: Flask,  # noqa: F811
    start_worker: Callable[..., Worker],  # noqa: F811
    hook: WebhookSink,
) -> None:
    panel.config["ONUS_WEBHOOK_ALLOW_PRIVATE"] = True
    hook.status = 410
    with panel.app_context():
        w = World.load()
        only_webhook(w.other_owner, hook.url)
        measure(w.other_package, T0, mailboxes={BETA_BOX: 46 * MIB})
        [hook_id] = alerts.evaluate([w.other_package], T0).to_send
        db.session.remove()
    worker = start_worker(free_port(), settings={"ONUS_WEBHOOK_ALLOW_PRIVATE": "1"})
    with panel.app_context():
        assert finished(send_notification.delay(hook_id), worker) == "failed"
        notification = db.session.get_one(Notification, hook_id)
        assert (notification.status, notification.attempts) == ("failed", 1)
        assert notification.error == "the webhook answered 410"
        db.session.remove()
    assert len(hook.received) == 1


def test_acknowledging_by_link_tells_the_webhooks_too(hooked: Flask, hook: WebhookSink) -> None:
    w = World.load()
    only_webhook(w.other_owner, hook.url)
    measure(w.other_package, T0, mailboxes={BETA_BOX: 46 * MIB})
    evaluate([w.other_package], T0)
    target = alert_actions.link_target(notifications.ack_token(beta_alert().id, w.other_owner))
    assert target is not None
    alert_actions.acknowledge_by_link(target, T0 + timedelta(hours=1))
    [acked] = db.session.scalars(
        select(Notification).where(Notification.kind == "acknowledged")
    ).all()
    send([acked.id], T0 + timedelta(hours=1))
    _opened, acknowledged = hook.wait_for(2)
    assert acknowledged.headers["X-Onus-Event"] == "acknowledged"
    assert acknowledged.json["alert"]["acknowledged_via"] == "link"
    assert acknowledged.json["alert"]["acknowledged_by"]["name"] == "Owner Beta"
