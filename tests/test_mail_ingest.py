"""Following a node's mail logs into the database: real files on disk that grow, rotate and
break; counts per mailbox and hour equal to one pass over the whole log; every refusal kept
with its code; the first over-quota refusal a critical alert to every party of the package;
a silent mailbox a warning to its owner; bounces to Onus's return address kept."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from panel.extensions import db
from panel.mailflow.logs import summarize
from panel.models import (
    Alert,
    AuditEvent,
    Mailbox,
    MailFlowHour,
    MailLogDay,
    MailLogSource,
    MailRefusal,
    Notification,
    Package,
    ReceivedBounce,
)
from panel.services import alerts, mail_alerts, mailflow, messages
from panel.services.scope import Actor
from tests.conftest import DatabaseStates, close_app, make_app
from tests.world import World

T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
FULL = "552 5.2.2 <{a}> Quota exceeded (mailbox for user is full)"


@pytest.fixture
def panel(database: DatabaseStates) -> Iterator[Flask]:
    database.restore("world")
    app = make_app(database, ONUS_BOUNCE_ADDRESS="bounces@example.net")
    with app.app_context():
        yield app
    close_app(app)


@pytest.fixture
def world(panel: Flask) -> World:
    return World.load()


def _hoster(world: World) -> Actor:
    from panel.models import User

    user = db.session.scalars(select(User).where(User.email == "hoster@one.example")).one()
    return Actor.for_membership(user, user.memberships[0].party)


def _address(world: World, prefix: str = "") -> str:
    """Alpha's info@ (hoster one's), or with ``foreign_`` gamma's (hoster two's)."""
    return db.session.get_one(Mailbox, getattr(world, f"{prefix}mailbox")).address


class Log:
    """A Postfix log written line by line, with RFC 3339 stamps (no year to guess)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.serial = 0

    def _line(self, at: datetime, rest: str) -> str:
        return f"{at.isoformat()} mx1 {rest}\n"

    def write(self, *lines: str) -> None:
        with self.path.open("a") as fh:
            fh.writelines(lines)

    def qid(self) -> str:
        self.serial += 1
        return f"Q{self.serial:09X}"

    def delivered(self, at: datetime, to: str, qid: str | None = None) -> str:
        return self._line(
            at,
            f"postfix/lmtp[9]: {qid or self.qid()}: to=<{to}>, relay=mx[private/dovecot-lmtp], "
            "delay=0.2, dsn=2.0.0, status=sent (250 2.0.0 Saved)",
        )

    def deferred(self, at: datetime, to: str, qid: str) -> str:
        return self._line(
            at,
            f"postfix/lmtp[9]: {qid}: to=<{to}>, relay=mx[private/dovecot-lmtp], delay=1, "
            f"dsn=4.2.2, status=deferred (host mx said: 452 4.2.2 <{to}> Mailbox is full)",
        )

    def bounced(self, at: datetime, to: str, qid: str | None = None) -> str:
        return self._line(
            at,
            f"postfix/lmtp[9]: {qid or self.qid()}: to=<{to}>, relay=mx[private/dovecot-lmtp], "
            f"delay=1, dsn=5.2.2, status=bounced (host mx said: {FULL.format(a=to)})",
        )

    def rejected(self, at: datetime, to: str) -> str:
        return self._line(
            at,
            "postfix/smtpd[8]: NOQUEUE: reject: RCPT from unknown[203.0.113.5]: 550 5.1.1 "
            f"<{to}>: Recipient address rejected: User unknown; from=<a@example.net> to=<{to}> "
            "proto=ESMTP helo=<x>",
        )


def _hours(package_id: int) -> dict[str, int]:
    totals = db.session.execute(
        select(
            func.sum(MailFlowHour.delivered),
            func.sum(MailFlowHour.deferred),
            func.sum(MailFlowHour.bounced),
            func.sum(MailFlowHour.rejected),
            func.sum(MailFlowHour.over_quota),
        ).where(MailFlowHour.package_id == package_id)
    ).one()
    names = ("delivered", "deferred", "bounced", "rejected", "over_quota")
    return {name: int(value or 0) for name, value in zip(names, totals, strict=True)}


def _source(world: World, path: Path, **kwargs: object) -> int:
    return mailflow.add_source(_hoster(world), world.node, str(path), **kwargs).id  # type: ignore[arg-type]


def test_a_followed_log_counts_as_one_pass_over_it_through_reads_and_rotations(
    world: World, tmp_path: Path
) -> None:
    info = _address(world)
    log = Log(tmp_path / "mail.log")
    log.write(log.delivered(T0, info), log.delivered(T0 + timedelta(minutes=5), info))
    source_id = _source(world, log.path)
    mailflow.ingest_source(source_id, T0 + timedelta(hours=1))
    # a message deferred in this read and bounced in the next is one bounced message
    held = log.qid()
    log.write(log.deferred(T0 + timedelta(minutes=30), info, held), "\x00\xff junk line\n")
    mailflow.ingest_source(source_id, T0 + timedelta(hours=1))
    log.write(log.bounced(T0 + timedelta(hours=1, minutes=30), info, held))
    log.write(log.rejected(T0 + timedelta(hours=2), info))
    # rotated: renamed and compressed, the new file already has lines of its own
    old = log.path.read_bytes()
    with gzip.open(tmp_path / "mail.log.1.gz", "wb") as fh:
        fh.write(old)
    log.path.unlink()
    log.write(log.delivered(T0 + timedelta(hours=3), info))
    outcome = mailflow.ingest_source(source_id, T0 + timedelta(hours=4))
    mailflow.ingest_source(source_id, T0 + timedelta(hours=4))  # nothing new: nothing counted

    alpha = world.package
    assert _hours(alpha) == {
        "delivered": 3, "deferred": 1, "bounced": 1, "rejected": 1, "over_quota": 1,
    }  # fmt: skip
    whole = (tmp_path / "mail.log.1.gz").read_bytes()
    expected = summarize(
        (gzip.decompress(whole) + log.path.read_bytes()).splitlines(), now=T0
    ).recipients[info]
    assert _hours(alpha)["delivered"] == expected.delivered
    assert _hours(alpha)["bounced"] == expected.bounced
    assert outcome.over_quota == {alpha: {info: [T0 + timedelta(hours=1, minutes=30)]}}
    source = db.session.get_one(MailLogSource, source_id)
    assert source.lines_skipped == 1
    assert source.lines_read == 7
    assert "rotated" in [note["kind"] for note in source.notes]
    assert source.last_record_at == T0 + timedelta(hours=3)
    assert source.last_error == ""
    refusals = db.session.scalars(select(MailRefusal).order_by(MailRefusal.at)).all()
    assert [(r.kind, r.over_quota, r.dsn, r.address) for r in refusals] == [
        ("bounced", True, "5.2.2", info),
        ("rejected", False, "5.1.1", info),
    ]
    assert "Quota exceeded" in refusals[0].reason
    days = db.session.scalars(select(MailLogDay).where(MailLogDay.source_id == source_id)).all()
    assert sum(day.records for day in days) == 6  # every line but the junk is a record
    hour_rows = db.session.scalars(
        select(MailFlowHour).where(MailFlowHour.package_id == alpha).order_by(MailFlowHour.hour)
    ).all()
    assert [(row.hour, row.delivered, row.bounced) for row in hour_rows] == [
        (T0, 2, 0),
        (T0 + timedelta(hours=1), 0, 1),
        (T0 + timedelta(hours=2), 0, 0),
        (T0 + timedelta(hours=3), 1, 0),
    ]
    assert hour_rows[1].first_over_quota_at == T0 + timedelta(hours=1, minutes=30)


def test_mail_to_addresses_nobody_hosts_is_counted_apart_and_other_hosters_are_not_matched(
    world: World, tmp_path: Path
) -> None:
    log = Log(tmp_path / "mail.log")
    gamma = _address(world, "foreign_")  # hoster two's mailbox, seen in hoster one's log
    log.write(log.delivered(T0, "someone@elsewhere.example"), log.delivered(T0, gamma))
    source_id = _source(world, log.path)
    mailflow.ingest_source(source_id, T0)
    assert db.session.get_one(MailLogSource, source_id).not_hosted == 2
    assert db.session.scalar(select(func.count()).select_from(MailFlowHour)) == 0


def test_a_new_source_can_start_at_the_end_of_what_is_there(world: World, tmp_path: Path) -> None:
    info = _address(world)
    log = Log(tmp_path / "mail.log")
    log.write(log.delivered(T0, info))
    source_id = _source(world, log.path, from_end=True)
    mailflow.ingest_source(source_id, T0)
    log.write(log.delivered(T0 + timedelta(minutes=1), info))
    mailflow.ingest_source(source_id, T0)
    assert _hours(world.package)["delivered"] == 1


def test_a_missing_or_unreadable_log_is_said_and_the_next_source_is_read(
    world: World, tmp_path: Path
) -> None:
    info = _address(world)
    missing = _source(world, tmp_path / "gone.log")
    folder = tmp_path / "a-folder"
    folder.mkdir()
    directory = _source(world, folder)
    log = Log(tmp_path / "mail.log")
    log.write(log.delivered(T0, info))
    good = _source(world, log.path)
    outcome = mailflow.ingest_node(world.node, T0)
    assert outcome.counts["errors"] == 2
    assert db.session.get_one(MailLogSource, missing).last_error
    assert db.session.get_one(MailLogSource, directory).last_error
    assert db.session.get_one(MailLogSource, good).lines_read == 1
    assert _hours(world.package)["delivered"] == 1
    # the log appears: it is read from its start, nothing lost
    (tmp_path / "gone.log").write_text(log.delivered(T0, info))
    mailflow.ingest_source(missing, T0)
    assert db.session.get_one(MailLogSource, missing).last_error == ""
    assert _hours(world.package)["delivered"] == 2


def test_two_reads_of_one_log_at_once_count_it_once(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = _address(world)
    log = Log(tmp_path / "mail.log")
    log.write(log.delivered(T0, info), log.delivered(T0, info))
    source_id = _source(world, log.path)
    real = mailflow.read_new

    def another_run_gets_there_first(*args: object, **kwargs: object) -> object:
        chunk = real(*args, **kwargs)  # type: ignore[arg-type]
        with db.engine.begin() as conn:  # another worker's transaction, committed meanwhile
            conn.execute(
                text("UPDATE mail_log_source SET position = :p WHERE id = :i"),
                {"p": chunk.position.to_json(), "i": source_id},
            )
        return chunk

    monkeypatch.setattr(mailflow, "read_new", another_run_gets_there_first)
    outcome = mailflow.ingest_source(source_id, T0)
    assert outcome.counts["raced"] == 1
    assert _hours(world.package)["delivered"] == 0  # the other run's counts are its own
    assert db.session.scalar(select(func.count()).select_from(MailRefusal)) == 0


def test_a_tampered_state_is_refused_and_said(world: World, tmp_path: Path) -> None:
    info = _address(world)
    log = Log(tmp_path / "mail.log")
    log.write(log.delivered(T0, info))
    source_id = _source(world, log.path)
    mailflow.ingest_source(source_id, T0)
    source = db.session.get_one(MailLogSource, source_id)
    assert source.state is not None
    source.state = b"x" * 32 + source.state[32:]
    db.session.commit()
    log.write(log.delivered(T0, info))
    mailflow.ingest_source(source_id, T0)
    source = db.session.get_one(MailLogSource, source_id)
    assert "state_lost" in [note["kind"] for note in source.notes]
    assert _hours(world.package)["delivered"] == 2


def test_sources_are_audited_and_checked(world: World, tmp_path: Path) -> None:
    actor = _hoster(world)
    source = mailflow.add_source(actor, world.node, str(tmp_path / "m.log"), "postfix")
    with pytest.raises(mailflow.ServiceError):
        mailflow.add_source(actor, world.node, str(tmp_path / "m.log"), "postfix")
    with pytest.raises(mailflow.ServiceError):
        mailflow.add_source(actor, world.node, "relative/m.log", "postfix")
    with pytest.raises(mailflow.ServiceError):
        mailflow.add_source(actor, world.node, "/var/log/x", "sendmail")
    mailflow.update_source(actor, source.id, "dovecot", False)
    mailflow.remove_source(actor, source.id)
    actions = db.session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.subject_type == "MailLogSource")
        .order_by(AuditEvent.id)
    ).all()
    assert actions == ["create", "update", "delete"]


def _refusing(log: Log, address: str, start: datetime, count: int) -> None:
    log.write(*(log.bounced(start + timedelta(minutes=3 * i), address) for i in range(count)))


def test_the_first_over_quota_refusal_is_a_critical_alert_to_every_party(
    world: World, tmp_path: Path
) -> None:
    info = _address(world)
    log = Log(tmp_path / "mail.log")
    source_id = _source(world, log.path)
    _refusing(log, info, T0, 3)
    now = T0 + timedelta(minutes=8)
    outcome = mail_alerts.after_ingest(mailflow.ingest_source(source_id, now), now)
    alert = db.session.scalars(select(Alert).where(Alert.subject == f"delivery:{info}")).one()
    assert (alert.level, alert.reason, alert.category, alert.refused) == (
        "critical",
        "refused",
        "delivery",
        3,
    )
    assert alert.since == T0 and alert.measured_at == T0 + timedelta(minutes=6)
    package = db.session.get_one(Package, world.package)
    told = {n.party_id for n in alert.notifications}
    assert told == {a.party_id for a in package.assignments}  # hoster, builder and owner
    assert outcome.counts["opened"] == 1 and outcome.to_send
    assert messages.title(alert) == (
        f"3 messages to {info} were refused in the last 10 minutes because the mailbox is full"
    )
    # more refusals: counted on the alert, nobody mailed again
    sent = db.session.scalar(select(func.count()).select_from(Notification))
    _refusing(log, info, T0 + timedelta(minutes=20), 2)
    later = T0 + timedelta(minutes=30)
    outcome = mail_alerts.after_ingest(mailflow.ingest_source(source_id, later), later)
    db.session.refresh(alert)
    assert alert.refused == 5 and outcome.counts["refused"] == 2
    assert db.session.scalar(select(func.count()).select_from(Notification)) == sent
    # mail gets through in a later hour: resolved, and whoever was told hears it
    log.write(log.delivered(T0 + timedelta(hours=1, minutes=5), info))
    done = T0 + timedelta(hours=1, minutes=10)
    outcome = mail_alerts.after_ingest(mailflow.ingest_source(source_id, done), done)
    db.session.refresh(alert)
    assert alert.status == "resolved" and outcome.counts["resolved"] == 1
    assert {n.kind for n in alert.notifications} == {"opened", "resolved"}


def test_refusals_over_a_long_span_say_since_when(world: World) -> None:
    alert = Alert(
        subject="delivery:info@alpha.example",
        reason="refused",
        refused=12,
        since=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        measured_at=datetime(2026, 12, 1, 14, 0, tzinfo=UTC),
    )
    assert messages.title(alert).startswith("12 messages to info@alpha.example were refused since")


def test_a_delivery_alert_without_refusals_for_a_day_resolves_in_the_round(
    world: World, tmp_path: Path
) -> None:
    info = _address(world)
    log = Log(tmp_path / "mail.log")
    source_id = _source(world, log.path)
    _refusing(log, info, T0, 1)
    mail_alerts.after_ingest(mailflow.ingest_source(source_id, T0), T0)
    assert mail_alerts.review(T0 + timedelta(hours=23)).counts["resolved"] == 0
    assert mail_alerts.review(T0 + timedelta(hours=24)).counts["resolved"] == 1
    alert = db.session.scalars(select(Alert).where(Alert.subject == f"delivery:{info}")).one()
    assert alert.resolution == "dropped"


def _hour(package_id: int, address: str, hour: datetime, delivered: int) -> MailFlowHour:
    return MailFlowHour(
        package_id=package_id,
        address=address,
        hour=hour,
        delivered=delivered,
        deferred=0,
        bounced=0,
        rejected=0,
        over_quota=0,
    )


def _history(package_id: int, address: str, source_id: int, start: datetime, days: int) -> None:
    """Office mail: 3 an hour from 9 to 17 on weekdays, every day's log covered."""
    for offset in range(days):
        day = start + timedelta(days=offset)
        db.session.add(MailLogDay(source_id=source_id, day=day.date(), records=100))
        if day.weekday() >= 5:
            continue
        for hour in range(9, 17):
            db.session.add(_hour(package_id, address, day.replace(hour=hour), 3))
    db.session.commit()


def _monday(at: datetime) -> datetime:
    return (at - timedelta(days=at.weekday())).replace(hour=0)


def test_a_mailbox_gone_silent_warns_whoever_answers_for_it(world: World, tmp_path: Path) -> None:
    # beta has an agreement (the default matrix): the owner answers for the mailbox
    info = db.session.scalars(
        select(Mailbox.address).where(Mailbox.package_id == world.other_package)
    ).one()
    source_id = _source(world, tmp_path / "mail.log")
    monday = _monday(T0) + timedelta(weeks=5)
    _history(world.other_package, info, source_id, monday - timedelta(weeks=5), 35)
    # the logs are alive (records today), but nothing for info@ since Friday
    now = monday.replace(hour=15)
    db.session.add(MailLogDay(source_id=source_id, day=now.date(), records=50))
    source = db.session.get_one(MailLogSource, source_id)
    source.last_record_at = now - timedelta(minutes=5)
    db.session.commit()
    assert mail_alerts.review(monday.replace(hour=9, minute=30)).counts["opened"] == 0
    outcome = mail_alerts.review(now)
    alert = db.session.scalars(select(Alert).where(Alert.subject == f"silence:{info}")).one()
    assert (alert.level, alert.reason, alert.category) == ("warning", "silent", "mailbox")
    assert alert.since == monday - timedelta(days=3) + timedelta(hours=17)
    assert outcome.counts["opened"] == 1
    owner = world.other_owner
    assert {n.party_id for n in alert.notifications} == {owner}
    assert mail_alerts.review(now + timedelta(minutes=15)).counts["opened"] == 0  # one alert
    # a message arrives: resolved
    db.session.add(_hour(world.other_package, info, now.replace(hour=16), 1))
    db.session.commit()
    assert mail_alerts.review(now + timedelta(hours=2)).counts["resolved"] == 1


def test_no_silence_when_the_logs_themselves_stopped(world: World, tmp_path: Path) -> None:
    info = _address(world)
    source_id = _source(world, tmp_path / "mail.log")
    monday = _monday(T0) + timedelta(weeks=5)
    _history(world.package, info, source_id, monday - timedelta(weeks=5), 35)
    source = db.session.get_one(MailLogSource, source_id)
    source.last_record_at = monday - timedelta(days=3)  # nothing read since Friday
    db.session.commit()
    assert mail_alerts.review(monday.replace(hour=15)).counts["opened"] == 0


def test_every_message_to_the_return_address_is_kept_with_what_onus_made_of_it(
    world: World,
) -> None:
    said, _outcome = alerts.receive_bounce(b"Subject: hello\n\njust mail\n", None, T0)
    assert said == "not a bounce: skipped"
    report = (
        b"From: MAILER-DAEMON@example.org\nTo: someone@example.org\n"
        b"Subject: Mail delivery failed\nContent-Type: text/plain\n\n"
        b"This message was created automatically by mail delivery software.\n\n"
        b"  nobody@example.org\n    552 5.2.2 Mailbox full\n"
    )
    alerts.receive_bounce(report, None, T0)
    kept = db.session.scalars(select(ReceivedBounce).order_by(ReceivedBounce.id)).all()
    assert [(b.is_bounce, b.status, b.recipient, b.notification_id) for b in kept] == [
        (False, None, None, None),
        (True, "5.2.2", "nobody@example.org", None),
    ]
    assert kept[1].outcome == "a bounce, but not of an Onus warning: skipped"
    assert kept[1].diagnostic == "552 5.2.2 Mailbox full"
    assert kept[0].size == len(b"Subject: hello\n\njust mail\n")


def test_daily_flow_adds_the_hours_and_finds_first_and_last_refusal(
    world: World, tmp_path: Path
) -> None:
    info = _address(world)
    log = Log(tmp_path / "mail.log")
    day = T0.replace(hour=0)
    log.write(
        log.delivered(day + timedelta(hours=8), info),
        log.bounced(day + timedelta(hours=9), info),
        log.rejected(day + timedelta(hours=20), info),
        log.bounced(day + timedelta(days=1, hours=1), info),
    )
    mailflow.ingest_source(_source(world, log.path), day + timedelta(days=2))
    flows = mailflow.daily_flow(world.package, day, day + timedelta(days=2))
    assert [(f.day, f.delivered, f.refused, f.over_quota) for f in flows] == [
        (day.date(), 1, 2, 1),
        ((day + timedelta(days=1)).date(), 0, 1, 1),
    ]
    assert flows[0].first_refused_at == day + timedelta(hours=9)
    assert flows[0].last_refused_at == day + timedelta(hours=20)
    assert isinstance(flows[0].day, date)


def test_a_refusal_of_the_policy_service_is_not_counted_again_from_the_log(
    world: World, tmp_path: Path
) -> None:
    """The policy service counts its answers itself; Postfix logs each one as an SMTP-time
    reject, which the ingest leaves out (and counts every other reject)."""
    info = _address(world)
    log = Log(tmp_path / "mail.log")
    log.write(
        log._line(
            T0,
            "postfix/smtpd[8]: NOQUEUE: reject: RCPT from unknown[203.0.113.5]: 452 4.2.2 "
            f"<{info}>: Recipient address rejected: 452 4.2.2 <{info}> Mailbox is full; try "
            f"again later (onus policy); from=<a@example.net> to=<{info}> proto=ESMTP helo=<x>",
        ),
        log.rejected(T0, info),
    )
    mailflow.ingest_source(_source(world, log.path), T0)
    assert _hours(world.package)["rejected"] == 1
    refusals = db.session.scalars(select(MailRefusal)).all()
    assert [r.dsn for r in refusals] == ["5.1.1"]
