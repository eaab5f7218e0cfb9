"""The story of DESIGN.md replayed with a clock that moves, on the demo's data and files: the
school's site keeps backups that grow, then a campaign fills info@. Real files measured by
the scanner, real mail to a real SMTP server; who got what, when, by which channel."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from panel.extensions import db
from panel.models import Alert, Notification, Package, Party, TermsTemplate, User
from panel.services import agreements, alerts, demo, measurement
from panel.services.scope import Actor
from tests.alerting import build_digests_and_send, send
from tests.conftest import DatabaseStates, close_app, make_app
from tests.smtp import SMTPSink

MIB = 1024 * 1024
HOSTER, BUILDER, OWNER = (
    "hoster@snelhost.example",
    "jan@webbouwer.example",
    "directie@sprint-post.example",
)
SCHOOL_DOMAIN = "sportschool-desprint.nl"


@pytest.fixture
def story(database: DatabaseStates, tmp_path: Path) -> Iterator[tuple[Flask, SMTPSink, Path]]:
    database.restore("empty")
    with SMTPSink() as smtp:
        app = make_app(database, ONUS_MAIL_SERVER=smtp.host, ONUS_MAIL_PORT=smtp.port)
        with app.app_context():
            demo.load_story("story-password", tmp_path / "node")
            yield app, smtp, tmp_path
        close_app(app)


def grow(folder: Path, name: str, size: int, at: datetime) -> None:
    """A file of ``size`` bytes, dated ``at`` (a backup archive, a sign-up mail)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"x" * size)
    os.utime(path, (at.timestamp(), at.timestamp()))


def test_the_story_with_onus_everyone_hears_of_their_part_in_time(
    story: tuple[Flask, SMTPSink, Path],
) -> None:
    _app, smtp, tmp_path = story
    settings = measurement.NodeSettings(tmp_path / "cache", None, None)
    school = db.session.scalars(select(Package).where(Package.name == "sprint")).one()
    school_id = school.id
    home = tmp_path / "node" / "home" / "sprint"
    backups = home / "public_html" / "wp-content" / "updraft"
    inbox = home / "mail" / SCHOOL_DOMAIN / "info" / "new"
    assert backups.is_dir() and inbox.is_dir()

    # this time the school agrees terms first: mail is the school's, the site the
    # builder's, the package's size the hoster's (not yet acknowledged: binding all the same)
    henk = db.session.scalars(select(User).where(User.email == HOSTER)).one()
    snelhost = henk.memberships[0].party
    terms = db.session.scalars(select(TermsTemplate)).one()
    agreements.apply_template(Actor.for_membership(henk, snelhost), school, terms)

    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    log: list[tuple[int, str, str, str]] = []  # hour, recipient, subject, channel

    def tick(hour: int) -> None:
        at = start + timedelta(hours=hour)
        package = db.session.get_one(Package, school_id)
        measurement.measure_package(package, settings, at=at)
        outcome = alerts.evaluate([school_id], at)
        outcome.add(alerts.escalate_due(at))
        send(outcome.to_send, at)
        if hour % 24 == 18:  # the daily digest
            build_digests_and_send(at)
        seen = {(h, r, s) for h, r, s, _c in log}
        for received in smtp.received:
            for rcpt in received.rcpt_tos:
                subject = str(received.message["Subject"]).strip()
                if not any(r == rcpt and s == subject for _h, r, s in seen):
                    log.append((hour, rcpt, subject, "email"))

    # day 0 and 1: the site's backup plugin adds a 4 MiB archive a day
    for hour in range(0, 48, 6):
        if hour % 24 == 0:
            grow(backups, f"backup_day{hour // 24}-db.gz", 4 * MIB, start + timedelta(hours=hour))
        tick(hour)
    # day 2 and 3: the campaign, sign-ups arrive at info@ (about 1 MiB every 6 hours)
    for hour in range(48, 96, 6):
        for n in range(10):
            name = f"{hour}{n:02d}.M{n}P1.node1,S={100 * 1024}"
            grow(inbox, name, 100 * 1024, start + timedelta(hours=hour))
        tick(hour)

    opened = db.session.scalars(select(Alert).order_by(Alert.id)).all()
    story_of_alerts = [(a.subject, a.level, a.status, a.resolution) for a in opened]
    print("\n".join(f"{h:3d}h {r:32} {s}" for h, r, s, _c in log))
    print(story_of_alerts)

    # the owner heard at its own address, never in the full mailbox, from the first hour
    recipients = {r for _h, r, _s, _c in log}
    assert recipients == {HOSTER, BUILDER, OWNER}
    assert min(h for h, r, _s, _c in log if r == OWNER) == 0
    by_alert = {(a.subject, a.level): told_by_email(a) for a in opened}
    assert story_of_alerts == [
        ("package", "warning", "resolved", "raised"),
        ("mailbox:info@sportschool-desprint.nl", "warning", "resolved", "raised"),
        ("mailbox:info@sportschool-desprint.nl", "critical", "open", None),
        ("package", "critical", "open", None),
    ]
    # the package: its size is the hoster's, the backups the builder's, the mail (a third
    # of it) the owner's; all three were told at once
    # (a day later the reminder, in the evening's digest)
    assert by_alert[("package", "warning")] == {
        "Snelhost": ["opened", "reminder"],
        "Webbouwer": ["opened", "reminder"],
        "Sportschool De Sprint": ["opened", "reminder"],
    }
    # info@ is the school's alone; unacknowledged after 24 h it went to the hoster
    assert by_alert[("mailbox:info@sportschool-desprint.nl", "warning")] == {
        "Sportschool De Sprint": ["opened", "reminder"],
        "Snelhost": ["escalated", "reminder"],
    }
    digests = [(h, r) for h, r, s, _c in log if "Daily summary" in s or "Dagelijks" in s]
    assert sorted(digests) == sorted([(42, BUILDER), (42, OWNER), (42, HOSTER)])
    # the campaign made it critical: every party at once, then reminded a day later
    assert by_alert[("mailbox:info@sportschool-desprint.nl", "critical")] == {
        "Sportschool De Sprint": ["raised", "reminder"],
        "Snelhost": ["raised", "reminder"],
        "Webbouwer": ["opened", "reminder"],
    }
    # and nobody got a mail per measurement: 16 measurements, a handful of mails each
    per_recipient = {r: sum(1 for _h, x, _s, _c in log if x == r) for r in recipients}
    assert all(count <= 7 for count in per_recipient.values()), per_recipient


def told_by_email(alert: Alert) -> dict[str, list[str]]:
    """Party name → the kinds of email notifications it got about the alert, in order."""
    told: dict[str, list[str]] = {}
    for name, kind in db.session.execute(
        select(Party.name, Notification.kind)
        .join(Notification, Notification.party_id == Party.id)
        .where(Notification.alert_id == alert.id, Notification.channel == "email")
        .order_by(Notification.id)
    ):
        told.setdefault(name, []).append(kind)
    return told
