"""Alerts from measurements, routed per agreement, escalated, acknowledged, resolved; every
notification through a real SMTP server (aiosmtpd) or a real webhook receiver, and what
became of it recorded. The clock is the ``now`` each service is given."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from flask import Flask, current_app
from sqlalchemy import delete, func, select, text

from panel.cli import bounce_command
from panel.extensions import db
from panel.models import Alert, AlertEvent, Contact, Notification
from panel.services import alerts, notifications
from tests.alerting import MIB, build_digests_and_send, evaluate, measure, round_, send
from tests.conftest import DatabaseStates, close_app, make_app
from tests.smtp import SMTPSink, free_port
from tests.webhooks import WebhookSink
from tests.world import World

# after the world was made (its agreement must exist at the time of the measurements)
T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
ALPHA_BOX = "info@alpha.example"
BETA_BOX = "info@beta.example"
OWNER, OTHER_OWNER = "owner@elsewhere.example", "other_owner@elsewhere.example"
BUILDER, OTHER_BUILDER = "builder@elsewhere.example", "other_builder@elsewhere.example"
HOSTER = "hoster@elsewhere.example"


@pytest.fixture
def w(mailing: Flask) -> World:
    return World.load()


def to(smtp: SMTPSink) -> list[str]:
    """Every recipient that mail was handed to, in order."""
    return [address for received in smtp.received for address in received.rcpt_tos]


def subjects(smtp: SMTPSink, address: str) -> list[str]:
    # a long subject is folded right after "Subject:"; unfolded it keeps the leading space
    return [str(r.message["Subject"]).strip() for r in smtp.received if address in r.rcpt_tos]


def open_alert(package_id: int, subject: str) -> Alert:
    return db.session.scalars(
        select(Alert)
        .where(Alert.package_id == package_id, Alert.subject == subject)
        .order_by(Alert.id.desc())
    ).first()  # type: ignore[return-value]


def count(model: type, *where: object) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def steady(package_id: int, days: int, start: datetime = T0, **figures: object) -> datetime:
    """Flat measurements every 6 hours for ``days``, each evaluated; the last time."""
    at = start
    for step in range(days * 4):
        at = start + timedelta(hours=6 * step)
        measure(package_id, at, **figures)  # type: ignore[arg-type]
        evaluate([package_id], at)
    return at


# --- routing --------------------------------------------------------------------------------------


def test_a_full_mailbox_under_the_agreement_goes_to_its_owner_only(
    w: World, smtp: SMTPSink
) -> None:
    # beta's agreement (the default matrix) gives the mailbox to the owner, Owner Beta
    steady(w.other_package, 1, mailboxes={BETA_BOX: 46 * MIB}, parts={"core": 20 * MIB})

    alert = open_alert(w.other_package, f"mailbox:{BETA_BOX}")
    assert (alert.level, alert.status, alert.percent) == ("warning", "open", 92.0)
    smtp.wait_for(1)
    assert to(smtp) == [OTHER_OWNER], "one mail, to the owner, at its address outside beta"
    [subject] = subjects(smtp, OTHER_OWNER)
    assert subject == "[Onus] Warning: Mailbox info@beta.example is 92 % full"
    told = db.session.execute(
        select(Notification.channel, Notification.recipient).where(
            Notification.alert_id == alert.id
        )
    ).all()
    assert sorted(tuple(row) for row in told) == [("email", OTHER_OWNER), ("panel", "Owner Beta")]


def test_a_package_filled_by_backups_goes_to_the_hoster_and_the_builder(
    w: World, smtp: SMTPSink
) -> None:
    figures = {"mailboxes": {BETA_BOX: 20 * MIB}, "parts": {"backups": 90 * MIB, "core": 26 * MIB}}
    steady(w.other_package, 1, **figures)

    alert = open_alert(w.other_package, "package")
    assert (alert.level, alert.category, round(alert.percent)) == ("warning", "capacity", 91)
    smtp.wait_for(2)
    assert sorted(to(smtp)) == [HOSTER, OTHER_BUILDER]
    hoster_mail = next(r for r in smtp.received if HOSTER in r.rcpt_tos).message
    text = hoster_mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "public_html: backups: 90 MiB" in text
    assert "Offer the owner a larger plan (plan now: Plan one)." in text
    builder_mail = next(r for r in smtp.received if OTHER_BUILDER in r.rcpt_tos).message
    builder_text = builder_mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Remove backup archives kept on the package" in builder_text


def test_critical_goes_to_every_party_at_once(w: World, smtp: SMTPSink) -> None:
    at = steady(w.other_package, 1, mailboxes={BETA_BOX: 46 * MIB})
    assert to(smtp) == [OTHER_OWNER]
    at += timedelta(hours=6)
    measure(w.other_package, at, mailboxes={BETA_BOX: 50 * MIB})
    evaluate([w.other_package], at)

    warning, critical = db.session.scalars(
        select(Alert).where(Alert.subject == f"mailbox:{BETA_BOX}").order_by(Alert.id)
    ).all()
    assert (warning.status, warning.resolution) == ("resolved", "raised")
    assert (critical.level, critical.status) == ("critical", "open")
    smtp.wait_for(4)
    assert sorted(to(smtp)[1:]) == [HOSTER, OTHER_BUILDER, OTHER_OWNER]
    assert subjects(smtp, HOSTER) == ["[Onus] Critical: Mailbox info@beta.example is 100 % full"]


def test_without_an_agreement_every_party_is_told(w: World, smtp: SMTPSink) -> None:
    steady(w.package, 1, mailboxes={ALPHA_BOX: 46 * MIB})
    smtp.wait_for(3)
    assert sorted(to(smtp)) == [BUILDER, HOSTER, OWNER]
    # Owner Alpha and Builder One read Dutch
    assert subjects(smtp, OWNER) != subjects(smtp, HOSTER)


# --- no noise -------------------------------------------------------------------------------------


def test_a_repeated_measurement_sends_nothing_new(w: World, smtp: SMTPSink) -> None:
    steady(w.other_package, 3, mailboxes={BETA_BOX: 46 * MIB})  # 12 measurements, 3 days
    alerts_made = count(Alert)
    assert alerts_made == 1
    assert to(smtp) == [OTHER_OWNER]


def test_flapping_around_a_level_sends_nothing_new(w: World, smtp: SMTPSink) -> None:
    at = T0
    for step, mib in enumerate([45.2, 44.8, 45.1, 44.7, 45.3, 44.9, 45.0, 44.6] * 2):
        at = T0 + timedelta(hours=6 * step)
        measure(w.other_package, at, mailboxes={BETA_BOX: int(mib * MIB)})
        evaluate([w.other_package], at)
    assert count(Alert) == 1, "a wobble of half a percent around 90 % is one alert"
    assert to(smtp) == [OTHER_OWNER]
    # and a real drop resolves it, told to whoever was told
    at += timedelta(hours=6)
    measure(w.other_package, at, mailboxes={BETA_BOX: 30 * MIB})
    evaluate([w.other_package], at)
    alert = open_alert(w.other_package, f"mailbox:{BETA_BOX}")
    assert (alert.status, alert.resolution) == ("resolved", "dropped")
    resolved = db.session.scalars(
        select(Notification).where(
            Notification.alert_id == alert.id, Notification.kind == "resolved"
        )
    ).all()
    assert {(n.channel, n.status) for n in resolved} == {("panel", "sent"), ("email", "held")}
    build_digests_and_send(at + timedelta(hours=1))
    assert subjects(smtp, OTHER_OWNER)[-1] == "[Onus] Daily summary: 1 storage alert"


def test_a_reminder_held_for_the_digest_is_withdrawn_when_the_alert_resolves_first(
    w: World, smtp: SMTPSink
) -> None:
    # a notice waits for the digest; its reminder a day later too; then the mail is cleaned
    measure(w.other_package, T0, mailboxes={BETA_BOX: 41 * MIB})
    evaluate([w.other_package], T0)
    round_(T0 + timedelta(hours=25))
    alert = open_alert(w.other_package, f"mailbox:{BETA_BOX}")
    kinds = db.session.execute(
        select(Notification.kind, Notification.status).where(
            Notification.alert_id == alert.id, Notification.channel == "email"
        )
    ).all()
    assert sorted(tuple(k) for k in kinds) == [("opened", "held"), ("reminder", "held")]
    measure(w.other_package, T0 + timedelta(hours=26), mailboxes={BETA_BOX: 20 * MIB})
    evaluate([w.other_package], T0 + timedelta(hours=26))
    build_digests_and_send(T0 + timedelta(hours=27))

    smtp.wait_for(1)
    [received] = smtp.received
    text = received.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Resolved: Mailbox info@beta.example" in text
    assert "Reminder" not in text
    reminder = db.session.scalars(
        select(Notification).where(
            Notification.alert_id == alert.id,
            Notification.kind == "reminder",
            Notification.channel == "email",
        )
    ).one()
    assert (reminder.status, reminder.digest_id) == ("withdrawn", None)
    assert count(Notification, Notification.status == "held") == 0


def test_many_packages_near_a_level_make_one_digest_for_the_hoster(
    w: World, smtp: SMTPSink
) -> None:
    # notices (80 %) on two packages and a mailbox: held, then one mail per party
    measure(w.package, T0, mailboxes={ALPHA_BOX: 10 * MIB}, parts={"core": 112 * MIB})
    measure(w.other_package, T0, mailboxes={BETA_BOX: 41 * MIB}, parts={"core": 80 * MIB})
    evaluate([w.package, w.other_package], T0)
    subjects_ = sorted(db.session.scalars(select(Alert.subject + " " + Alert.level)))
    assert subjects_ == ["mailbox:info@beta.example notice", "package notice", "package notice"]
    assert to(smtp) == [], "notices wait for the digest"
    build_digests_and_send(T0 + timedelta(hours=23))
    smtp.wait_for(5)
    # alpha has no agreement: all its parties; beta's package notice goes to the hoster
    # (capacity), Builder Two (site files, 66 %) and Owner Beta (mail, 34 %)
    assert sorted(to(smtp)) == [BUILDER, HOSTER, OTHER_BUILDER, OTHER_OWNER, OWNER]
    hoster_digest = next(r for r in smtp.received if HOSTER in r.rcpt_tos).message
    assert hoster_digest["Subject"] == "[Onus] Daily summary: 2 storage alerts"
    held = count(Notification, Notification.status == "held")
    assert held == 0


def refuse_alerts_of(package_id: int) -> Callable[[], None]:
    """Make the database itself refuse new alerts of one package (a trigger), as a full disk
    or a broken row would; returns what lifts it."""
    if db.engine.dialect.name == "sqlite":
        db.session.execute(
            text(
                "CREATE TRIGGER refuse_alert BEFORE INSERT ON alert "
                f"WHEN NEW.package_id = {package_id} BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        )
        lift = "DROP TRIGGER refuse_alert"
    else:
        db.session.execute(
            text(
                "CREATE FUNCTION refuse_alert() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.package_id = {package_id} THEN RAISE EXCEPTION 'refused'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
        )
        db.session.execute(
            text(
                "CREATE TRIGGER refuse_alert BEFORE INSERT ON alert "
                "FOR EACH ROW EXECUTE FUNCTION refuse_alert()"
            )
        )
        lift = "DROP TRIGGER refuse_alert ON alert; DROP FUNCTION refuse_alert()"
    db.session.commit()

    def lifted() -> None:
        for statement in lift.split("; "):
            db.session.execute(text(statement))
        db.session.commit()

    return lifted


def test_a_package_that_fails_is_counted_and_the_round_goes_on(w: World, smtp: SMTPSink) -> None:
    lift = refuse_alerts_of(w.package)
    try:
        measure(w.package, T0, mailboxes={ALPHA_BOX: 46 * MIB})
        measure(w.other_package, T0, mailboxes={BETA_BOX: 46 * MIB})
        outcome = evaluate([w.package, w.other_package], T0)
        assert (outcome.counts["failed"], outcome.counts["opened"]) == (1, 1)
        assert [a.package_id for a in db.session.scalars(select(Alert))] == [w.other_package]
        assert count(Notification, Notification.alert_id.is_(None)) == 0
        smtp.wait_for(1)
        assert to(smtp) == [OTHER_OWNER]
    finally:
        lift()
    # the next round opens what the failed one could not
    outcome = evaluate([w.package, w.other_package], T0 + timedelta(minutes=15))
    assert (outcome.counts["failed"], outcome.counts["opened"]) == (0, 1)
    assert open_alert(w.package, f"mailbox:{ALPHA_BOX}").level == "warning"


# --- escalation, acknowledgement ------------------------------------------------------------------


def test_an_unacknowledged_warning_escalates_to_the_next_party_after_its_deadline(
    w: World, smtp: SMTPSink
) -> None:
    measure(w.other_package, T0, mailboxes={BETA_BOX: 46 * MIB})
    evaluate([w.other_package], T0)
    round_(T0 + timedelta(hours=23))
    assert to(smtp) == [OTHER_OWNER], "within the 24 h deadline nothing more"
    round_(T0 + timedelta(hours=24, minutes=5))
    alert = open_alert(w.other_package, f"mailbox:{BETA_BOX}")
    assert alert.step == 1
    assert [e.kind for e in alert.events] == ["opened", "escalated", "reminded"]
    assert alert.events[1].detail == "deadline: to the hoster"
    smtp.wait_for(2)
    assert to(smtp) == [OTHER_OWNER, HOSTER]
    assert subjects(smtp, HOSTER) == [
        "[Onus] Escalated to you, warning: Mailbox info@beta.example is 92 % full"
    ]


def test_acknowledging_stops_escalation_and_the_alert_stays_open(w: World, smtp: SMTPSink) -> None:
    measure(w.other_package, T0, mailboxes={BETA_BOX: 46 * MIB})
    evaluate([w.other_package], T0)
    alert = open_alert(w.other_package, f"mailbox:{BETA_BOX}")
    alerts.acknowledge(alert, w.other_owner, None, "link", T0 + timedelta(hours=2))
    alerts.acknowledge(alert, w.other_owner, None, "link", T0 + timedelta(hours=3))  # no-op

    round_(T0 + timedelta(days=5))
    assert (alert.status, alert.step) == ("acknowledged", 0)
    assert [e.kind for e in alert.events] == ["opened", "acknowledged"]
    assert to(smtp) == [OTHER_OWNER]
    # someone outside the package cannot acknowledge it
    with pytest.raises(alerts.ServiceError, match="not part of this package"):
        alerts.acknowledge(alert, w.owner, None, "link", T0)


# --- channels that do not work --------------------------------------------------------------------


def only_contact(party_id: int, kind: str, value: str, webhook_format: str = "json") -> None:
    """Replace a party's contacts by one (as bad data may have it: no validation)."""
    db.session.execute(delete(Contact).where(Contact.party_id == party_id))
    db.session.add(
        Contact(party_id=party_id, kind=kind, value=value, webhook_format=webhook_format)
    )
    db.session.commit()


def test_an_owner_reachable_only_inside_the_package_makes_it_escalate_at_once(
    w: World, smtp: SMTPSink
) -> None:
    only_contact(w.other_owner, "email", BETA_BOX)  # the full mailbox itself
    measure(w.other_package, T0, mailboxes={BETA_BOX: 46 * MIB})
    evaluate([w.other_package], T0)

    alert = open_alert(w.other_package, f"mailbox:{BETA_BOX}")
    kinds = [(e.kind, e.detail) for e in alert.events]
    assert kinds == [
        ("opened", "threshold: 92.0 %"),
        ("unreachable", "Owner Beta can only be reached at info@beta.example, which beta serves"),
        ("escalated", "unreachable: to the hoster"),
    ]
    smtp.wait_for(1)
    assert to(smtp) == [HOSTER], "never into the full mailbox; the hoster hears at once"


def test_a_permanent_smtp_refusal_fails_the_warning_and_escalates(w: World, smtp: SMTPSink) -> None:
    smtp.refuse[OTHER_OWNER] = "550 5.1.1 <other_owner@elsewhere.example>: no such user"
    measure(w.other_package, T0, mailboxes={BETA_BOX: 46 * MIB})
    evaluate([w.other_package], T0)

    failed = db.session.scalars(select(Notification).where(Notification.status == "failed")).one()
    assert failed.recipient == OTHER_OWNER
    assert failed.error == "550 5.1.1 <other_owner@elsewhere.example>: no such user"
    alert = open_alert(w.other_package, f"mailbox:{BETA_BOX}")
    assert [e.kind for e in alert.events] == ["opened", "unreachable", "escalated"]
    assert to(smtp) == [HOSTER]


def test_a_temporary_refusal_is_kept_for_a_retry(w: World, smtp: SMTPSink) -> None:
    smtp.refuse[OTHER_OWNER] = "452 4.2.2 Mailbox full, try later"
    measure(w.other_package, T0, mailboxes={BETA_BOX: 46 * MIB})
    outcome = alerts.evaluate([w.other_package], T0)
    [email_id] = outcome.to_send
    assert send([email_id], T0) == {str(email_id): "deferred: 452 4.2.2 Mailbox full, try later"}
    email = db.session.get_one(Notification, email_id)
    assert (email.status, email.attempts) == ("queued", 1)
    del smtp.refuse[OTHER_OWNER]
    assert send([email_id], T0 + timedelta(minutes=1)) == {str(email_id): "sent"}
    assert send([email_id], T0 + timedelta(minutes=2)) == {str(email_id): "sent"}  # once
    assert to(smtp) == [OTHER_OWNER]
    assert db.session.get_one(Notification, email_id).attempts == 2


def test_a_dead_mail_server_keeps_the_warning_queued(database: DatabaseStates) -> None:
    database.restore("world")
    app = make_app(database, ONUS_MAIL_SERVER="127.0.0.1", ONUS_MAIL_PORT=free_port())
    with app.app_context():
        w = World.load()
        measure(w.other_package, T0, mailboxes={BETA_BOX: 46 * MIB})
        [email_id] = alerts.evaluate([w.other_package], T0).to_send
        [outcome] = send([email_id], T0).values()
        assert outcome.startswith("deferred: ConnectionRefusedError")
        email = db.session.get_one(Notification, email_id)
        assert email.status == "queued"
        # the round after the lease sends it again (its task may have been lost)
        assert notifications.stuck(T0 + timedelta(minutes=4)) == []
        assert notifications.stuck(T0 + timedelta(minutes=6)) == [email_id]
    close_app(app)


def test_webhooks_get_the_json_document_or_the_slack_shape(w: World, smtp: SMTPSink) -> None:
    with WebhookSink() as hook:
        for party_id, path, shape in (
            (w.other_owner, "owner", "slack"),
            (w.other_builder, "builder", "json"),
        ):
            db.session.add(
                Contact(
                    party_id=party_id,
                    kind="webhook",
                    value=f"{hook.url}/{path}",
                    webhook_format=shape,
                )
            )
        db.session.commit()
        current_app.config["ONUS_WEBHOOK_ALLOW_PRIVATE"] = True
        measure(w.other_package, T0, mailboxes={BETA_BOX: 50 * MIB})  # critical: everyone
        evaluate([w.other_package], T0)
        posts = hook.wait_for(2)
    by_path = {post.path: post.json for post in posts}
    assert by_path["/hook/owner"] == {"text": "Critical: Mailbox info@beta.example is 100 % full"}
    document = by_path["/hook/builder"]
    assert document["event"] == "opened"
    assert document["alert"]["level"] == "critical"
    assert document["alert"]["subject"] == f"mailbox:{BETA_BOX}"
    assert document["acknowledge_url"].startswith("https://localhost/ack/")


@pytest.mark.parametrize(("status", "delay"), [(500, 0.0), (200, 3.0)])
def test_a_webhook_that_fails_or_hangs_is_retried_later(
    w: World, smtp: SMTPSink, status: int, delay: float
) -> None:
    with WebhookSink(status=status, delay=delay) as hook:
        only_contact(w.other_owner, "webhook", hook.url)
        current_app.config.update(ONUS_WEBHOOK_ALLOW_PRIVATE=True, ONUS_WEBHOOK_TIMEOUT=1)
        measure(w.other_package, T0, mailboxes={BETA_BOX: 46 * MIB})
        [hook_id] = alerts.evaluate([w.other_package], T0).to_send
        [outcome] = send([hook_id], T0).values()
        expected = "the webhook answered 500" if status == 500 else "no answer within"
        assert outcome.startswith("deferred") and expected in outcome, outcome
        assert db.session.get_one(Notification, hook_id).status == "queued"
        hook.status, hook.delay = 200, 0.0
        assert send([hook_id], T0 + timedelta(minutes=10)) == {str(hook_id): "sent"}


# --- bounces --------------------------------------------------------------------------------------


def dsn(to_address: str, recipient: str) -> bytes:
    """A delivery status notification as Postfix writes it (RFC 3464)."""
    report = EmailMessage()
    report["From"] = "MAILER-DAEMON@mx.elsewhere.example (Mail Delivery System)"
    report["To"] = to_address
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report.set_content("I'm sorry to have to inform you that your message could not be delivered.")
    report.make_mixed()
    status = (
        "Reporting-MTA: dns; mx.elsewhere.example\n\n"
        f"Final-Recipient: rfc822; {recipient}\nAction: failed\nStatus: 5.2.2\n"
        "Diagnostic-Code: smtp; 552 5.2.2 Mailbox full\n"
    )
    raw = report.as_bytes().replace(
        b"multipart/mixed", b'multipart/report; report-type="delivery-status"'
    )
    boundary = report.get_boundary()
    assert boundary is not None
    part = (
        f"--{boundary}\nContent-Type: message/delivery-status\n\n{status}\n--{boundary}--\n"
    ).encode()
    return raw.replace(f"--{boundary}--".encode(), part)


def test_a_bounced_warning_is_marked_and_escalates(w: World, smtp: SMTPSink) -> None:
    measure(w.other_package, T0, mailboxes={BETA_BOX: 46 * MIB})
    evaluate([w.other_package], T0)
    [mail] = smtp.wait_for(1)
    return_path = mail.mail_from
    assert return_path.startswith("onus+n") and return_path.endswith("@p.test")

    # as Postfix's pipe to `onus bounce` delivers it: the message on stdin, the recipient
    runner = current_app.test_cli_runner()
    result = runner.invoke(
        bounce_command, ["--recipient", return_path], input=dsn(return_path, OTHER_OWNER)
    )
    assert result.exit_code == 0, result.output
    notification = db.session.scalars(
        select(Notification).where(Notification.status == "bounced")
    ).one()
    assert result.output == (
        f"warning {notification.id} to {OTHER_OWNER} bounced: 5.2.2 552 5.2.2 Mailbox full\n"
    )
    assert notification.channel == "email"

    alert = open_alert(w.other_package, f"mailbox:{BETA_BOX}")
    assert [e.kind for e in alert.events] == ["opened", "unreachable", "escalated"]
    assert "bounced" in alert.events[1].detail
    # the hoster's warning is queued for the worker (the command hands it to the broker)
    escalated = db.session.scalars(
        select(Notification).where(
            Notification.kind == "escalated", Notification.channel == "email"
        )
    ).one()
    assert (escalated.recipient, escalated.status) == (HOSTER, "queued")
    # a forged return address, a delay notice, junk: recorded nothing, said so
    forged = return_path.replace("onus+n", "onus+n9")
    for raw, recipient, said in (
        (dsn(forged, "x@y"), forged, "a bounce, but not of an Onus warning: skipped"),
        (
            dsn(return_path, OTHER_OWNER)
            .replace(b"Action: failed", b"Action: delayed")
            .replace(b"Status: 5.2.2", b"Status: 4.2.2"),
            return_path,
            "a delay notice",
        ),
        (b"\xff\xfe not mail at all", None, "not a bounce: skipped"),
    ):
        args = ["--recipient", recipient] if recipient else []
        result = runner.invoke(bounce_command, args, input=raw)
        assert result.exit_code == 0 and said in result.output, result.output
    assert count(AlertEvent, AlertEvent.kind == "unreachable") == 1
    assert count(Notification, Notification.status == "bounced") == 1
