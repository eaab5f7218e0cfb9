"""The evidence report on real rows: a week in which info@alpha.example filled up and mail
bounced, with the agreement in force, the alert and who was told, every refusal, the days
the logs do not cover — exact figures, totals that add up, the privacy of addresses, the
CSV and the JSON telling the same, bad periods refused, and a constant number of queries.

The world's alpha: hoster "Hoster one", builder "Builder One", owner "Owner Alpha", each
with one address at elsewhere.example; one mailbox info@alpha.example (50 MiB).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select, update

from panel.extensions import db
from panel.models import (
    Acknowledgement,
    Agreement,
    Alert,
    MailFlowHour,
    MailLogDay,
    MailLogSource,
    MailRefusal,
    Notification,
    Package,
    Party,
    TermsTemplate,
    User,
)
from panel.models.base import utcnow
from panel.policy.agreement import text_hash
from panel.services import agreements, alert_actions, alerts, evidence
from panel.services.scope import Actor
from panel.web.reports import safe_cell
from tests.alerting import MIB, measure
from tests.conftest import https_client, login
from tests.world import LOGINS, PASSWORD, World

INFO, SALES = "info@alpha.example", "sales@alpha.example"
FIRST, LAST = date(2025, 2, 26), date(2025, 3, 7)  # the period, the last day included
START = datetime(2025, 2, 26, tzinfo=UTC)
END = datetime(2025, 3, 8, tzinfo=UTC)
CREATED = datetime(2025, 1, 1, 10, tzinfo=UTC)
UNCOVERED = {date(2025, 3, 4), date(2025, 3, 6)}  # days the node's log held nothing
SCRIPT = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://evil.example","click")'
FULL = "552 5.2.2 Mailbox full"
BOUNCE = "552 5.2.2 <owner@elsewhere.example>: mailbox full"
QUERY = "start=2025-02-26&end=2025-03-07"


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=UTC)


# (address, hour, delivered, bounced, rejected, over quota, first/last over quota)
FLOWS: list[tuple[str, datetime, int, int, int, int, datetime | None, datetime | None]] = [
    (INFO, at(26, 9, month=2), 10, 0, 0, 0, None, None),
    (INFO, at(27, 9, month=2), 10, 0, 0, 0, None, None),
    (INFO, at(28, 9, month=2), 10, 0, 0, 0, None, None),
    (INFO, at(1, 9), 5, 0, 0, 0, None, None),
    (SALES, at(1, 15), 2, 0, 0, 0, None, None),
    (INFO, at(2, 9), 3, 0, 0, 0, None, None),
    (INFO, at(2, 10), 0, 2, 0, 2, at(2, 10, 15), at(2, 10, 40)),
    (INFO, at(2, 14), 0, 0, 1, 1, at(2, 14, 5), at(2, 14, 5)),
    (INFO, at(3, 8), 0, 4, 0, 4, at(3, 8, 1), at(3, 8, 59)),
    (INFO, at(5, 12), 0, 1, 0, 0, None, None),
    (SALES, at(7, 23), 0, 1, 0, 1, at(7, 23, 30), at(7, 23, 30)),
    (SALES, at(8, 0), 0, 1, 0, 1, at(8, 0, 10), at(8, 0, 10)),  # after the period
]
# (address, at, kind, over quota, dsn, reason)
REFUSALS: list[tuple[str, datetime, str, bool, str, str]] = [
    (INFO, at(2, 10, 15), "bounced", True, "5.2.2", "552 5.2.2 Mailbox full"),
    (INFO, at(2, 10, 40), "bounced", True, "5.2.2", "552 5.2.2 Mailbox full"),
    (INFO, at(2, 14, 5), "rejected", True, "4.2.2", f"452 4.2.2 {SCRIPT} quota exceeded"),
    *[(INFO, at(3, 8, m), "bounced", True, "5.2.2", FULL) for m in (1, 20, 40, 59)],
    (INFO, at(5, 12, 30), "bounced", False, "5.7.1", f"{FORMULA} 554 5.7.1 rejected as spam"),
    (SALES, at(7, 23, 30), "bounced", True, "5.2.2", "552 5.2.2 Mailbox full"),
    (SALES, at(8, 0, 10), "bounced", True, "5.2.2", "552 5.2.2 Mailbox full"),  # after
]  # fmt: skip
# the fullest measurement of each day: (taken at, info@, plugins, backups) in MiB
USAGE = [
    (at(26, 12, month=2), 38, 30, 20),
    (at(27, 12, month=2), 40, 30, 20),
    (at(28, 12, month=2), 42, 30, 24),
    (at(1, 12), 45, 30, 28),
    (at(2, 10), 55, 30, 32),
    (at(3, 12), 55, 30, 32),
    (at(5, 12), 55, 30, 36),
    (at(6, 12), 20, 30, 36),
    (at(7, 12), 21, 30, 40),
]
ALERT_AT = at(2, 10, 1)


@dataclass
class Story:
    world: World
    alert_id: int
    delivery_alert_id: int
    hoster: Actor
    owner: Actor
    builder: Actor


def actor_of(email: str) -> Actor:
    user = db.session.scalars(select(User).where(User.email == email)).one()
    return Actor.for_membership(user, user.memberships[0].party)


def _version(package: Package, number: int, made: datetime, reason: str) -> Agreement:
    """A version as ``agreements.apply_template`` writes it, made at ``made`` (agreements
    are never changed afterwards, so the test writes them with their time)."""
    terms = db.session.scalars(select(TermsTemplate)).first()
    assert terms is not None
    version = Agreement(
        package_id=package.id,
        version=number,
        template_id=terms.id,
        reason=reason,
        text_en=terms.text_en,
        text_nl=terms.text_nl,
        matrix=terms.matrix,
        thresholds=terms.thresholds,
        deadlines=terms.deadlines,
        grace=terms.grace,
        limits={
            "storage_quota_bytes": package.plan.storage_quota_bytes,
            "mailbox_count": package.plan.mailbox_count,
            "default_mailbox_quota_bytes": package.plan.default_mailbox_quota_bytes,
        },
        parties={a.role: a.party_id for a in package.assignments},
        party_names={a.role: a.party.name for a in package.assignments},
        created_at=made,
    )
    db.session.add(version)
    db.session.flush()
    return version


def _acknowledge(version: Agreement, who: Actor, when: datetime) -> None:
    role = agreements.role_of(version, who.party_id)
    assert role is not None
    text = agreements.shown_text(version, role, "en")
    db.session.add(
        Acknowledgement(
            agreement_id=version.id,
            party_id=who.party_id,
            role=role,
            user_id=who.user_id,
            at=when,
            address="192.0.2.1",
            language="en",
            text=text,
            text_hash=text_hash(text),
        )
    )


def _agreements(world: World, hoster: Actor, owner: Actor) -> None:
    """Version 1 from 20 February, acknowledged by the owner; version 2 from 4 March noon,
    acknowledged by the hoster only after the period; the builder never acknowledged."""
    package = db.session.get_one(Package, world.package)
    first = _version(package, 1, datetime(2025, 2, 20, tzinfo=UTC), "terms applied")
    _acknowledge(first, owner, datetime(2025, 2, 21, 9, tzinfo=UTC))
    second = _version(package, 2, at(4, 12), "plan changed")
    _acknowledge(second, hoster, datetime(2025, 3, 10, 8, tzinfo=UTC))
    db.session.commit()


def _mail(world: World) -> None:
    source = MailLogSource(node_id=world.node, path="/var/log/mail.log", log_format="postfix")
    db.session.add(source)
    db.session.flush()
    day = date(2025, 1, 20)
    while day <= LAST:
        if day not in UNCOVERED:
            db.session.add(MailLogDay(source_id=source.id, day=day, records=100))
        day += timedelta(days=1)
    # four weeks of history before the period: ten messages for info@ at 09:00 every day
    for offset in range(1, 29):
        hour = datetime.combine(FIRST - timedelta(days=offset), datetime.min.time(), UTC)
        db.session.add(
            MailFlowHour(
                package_id=world.package,
                address=INFO,
                hour=hour + timedelta(hours=9),
                delivered=10,
            )
        )
    for address, hour, delivered, bounced, rejected, over, first, last in FLOWS:
        db.session.add(
            MailFlowHour(
                package_id=world.package,
                address=address,
                hour=hour,
                delivered=delivered,
                deferred=0,
                bounced=bounced,
                rejected=rejected,
                over_quota=over,
                first_over_quota_at=first,
                last_over_quota_at=last,
            )
        )
    for address, when, kind, over, dsn, reason in REFUSALS:
        db.session.add(
            MailRefusal(
                package_id=world.package,
                source_id=source.id,
                address=address,
                at=when,
                kind=kind,
                over_quota=over,
                dsn=dsn,
                reason=reason,
                server="postfix",
            )
        )
    db.session.commit()


def _alert_rows(world: World) -> int:
    """A delivery alert (as the mail flow makes them), and two that the period must leave
    out: one resolved before it, one opened after it."""

    def alert(subject: str, opened: datetime, resolved: datetime | None, **more: Any) -> Alert:
        row = Alert(
            package_id=world.package,
            subject=subject,
            category="delivery" if subject.startswith("delivery") else "mailbox",
            level="critical",
            reason=more.pop("reason", "threshold"),
            status="resolved" if resolved else "open",
            open_key=None if resolved else f"{world.package}:{subject}",
            used_bytes=55 * MIB,
            quota_bytes=50 * MIB,
            percent=110.0,
            opened_at=opened,
            measured_at=opened,
            step_at=opened,
            resolved_at=resolved,
            resolution="dropped" if resolved else None,
            **more,
        )
        db.session.add(row)
        return row

    delivery = alert(
        f"delivery:{INFO}",
        at(2, 10, 15),
        at(6, 12),
        reason="refused",
        refused=8,
        since=at(2, 10, 15),
    )
    alert("package", datetime(2025, 2, 10, tzinfo=UTC), datetime(2025, 2, 20, tzinfo=UTC))
    alert(f"silence:{SALES}", at(9, 8), None, reason="silent")
    db.session.commit()
    return delivery.id


def _notification(alert_id: int, party_id: int, channel: str) -> Notification:
    return db.session.scalars(
        select(Notification).where(
            Notification.alert_id == alert_id,
            Notification.party_id == party_id,
            Notification.channel == channel,
        )
    ).one()


def make_story(world: World) -> Story:
    hoster = actor_of(LOGINS["hoster"])
    owner = actor_of(LOGINS["owner"])
    builder = actor_of(LOGINS["builder"])
    db.session.execute(
        update(Package).where(Package.id == world.package).values(created_at=CREATED)
    )
    db.session.commit()
    _agreements(world, hoster, owner)
    for taken, info, plugins, backups in USAGE:
        if taken.date() == date(2025, 3, 2):  # an earlier, smaller measurement that day
            measure(world.package, at(2, 6), mailboxes={INFO: 48 * MIB},
                    parts={"plugins": 30 * MIB, "backups": 28 * MIB}, other=MIB)  # fmt: skip
        measure(
            world.package,
            taken,
            mailboxes={INFO: info * MIB},
            parts={"plugins": plugins * MIB, "backups": backups * MIB},
            other=MIB,
        )
        if taken.date() == date(2025, 3, 2):
            alerts.evaluate([world.package], ALERT_AT)
    alert_id = db.session.scalars(select(Alert.id).where(Alert.subject == f"mailbox:{INFO}")).one()
    # what became of the emails: the owner's bounced, the hoster's was handed over, the
    # builder's failed; the hoster acknowledged the next morning
    outcomes = {
        world.owner: ("bounced", BOUNCE),
        world.hoster: ("sent", ""),
        world.builder: ("failed", "Connection refused"),
    }
    for party_id, (status, error) in outcomes.items():
        item = _notification(alert_id, party_id, "email")
        item.status, item.error, item.status_at = status, error, at(2, 10, 5)
        item.sent_at = at(2, 10, 5) if status == "sent" else None
    db.session.commit()
    alert_actions.acknowledge_in_panel(hoster, db.session.get_one(Alert, alert_id), at(3, 9))
    delivery_id = _alert_rows(world)
    _mail(world)
    db.session.remove()
    return Story(world, alert_id, delivery_id, hoster, owner, builder)


@pytest.fixture
def story(world_app: Flask, world: World) -> Story:
    with world_app.app_context():
        return make_story(world)


def build_as(
    role_actor: Actor, package_id: int, now: datetime | None = None
) -> evidence.EvidenceReport:
    package = db.session.get_one(Package, package_id)
    return evidence.build(package, START, END, role_actor, now or utcnow())


def client_for(app: Flask, role: str) -> FlaskClient:
    client = https_client(app)
    assert login(client, LOGINS[role], PASSWORD).status_code == 302
    return client


def text_of(response: Any) -> str:
    html = response.get_data(as_text=True)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --- the figures ---------------------------------------------------------------------------------


def test_refused_messages_per_mailbox_and_day_with_first_and_last(
    world_app: Flask, story: Story
) -> None:
    with world_app.app_context():
        report = build_as(story.hoster, story.world.package)
    mail = report.mail
    assert mail.log_followed
    by_address = {m.address: m for m in mail.mailboxes}
    assert sorted(by_address) == [INFO, SALES]
    refused = {
        (d.address, d.day.isoformat()): (
            d.refused, d.over_quota, d.first_refused_at, d.last_refused_at
        )
        for m in mail.mailboxes
        for d in m.days
        if d.refused
    }  # fmt: skip
    assert refused == {
        (INFO, "2025-03-02"): (3, 3, at(2, 10, 15), at(2, 14, 5)),
        (INFO, "2025-03-03"): (4, 4, at(3, 8, 1), at(3, 8, 59)),
        (INFO, "2025-03-05"): (1, 0, at(5, 12, 30), at(5, 12, 30)),
        (SALES, "2025-03-07"): (1, 1, at(7, 23, 30), at(7, 23, 30)),
    }
    info = by_address[INFO].totals
    assert (info.delivered, info.bounced, info.rejected, info.refused, info.over_quota) == (
        38, 7, 1, 8, 7,
    )  # fmt: skip
    assert (info.first_refused_at, info.last_refused_at, info.days_with_refusals) == (
        at(2, 10, 15),
        at(5, 12, 30),
        3,
    )
    # what came after the period is not counted
    assert (by_address[SALES].totals.refused, by_address[SALES].totals.delivered) == (1, 2)
    assert mail.refusals_recorded == 9 == len(mail.refusals)
    assert mail.refusals[0].at == at(7, 23, 30)  # newest first
    full = [r for r in mail.refusals if r.code == "552 5.2.2"]
    assert len(full) == 7 and "mailbox is full" in full[0].explanation
    assert {c.code: c.count for c in mail.codes} == {"552 5.2.2": 7, "452 4.2.2": 1, "554 5.7.1": 1}


def test_the_numbers_add_up(world_app: Flask, story: Story) -> None:
    with world_app.app_context():
        report = build_as(story.hoster, story.world.package)
    fields = ("delivered", "deferred", "bounced", "rejected", "refused", "over_quota")
    for mailbox in report.mail.mailboxes:
        for name in fields:
            assert getattr(mailbox.totals, name) == sum(getattr(d, name) for d in mailbox.days)
        for day in mailbox.days:
            assert day.refused == day.bounced + day.rejected
        assert mailbox.totals.days_with_refusals == sum(1 for d in mailbox.days if d.refused)
    for name in fields:
        assert getattr(report.mail.totals, name) == sum(
            getattr(m.totals, name) for m in report.mail.mailboxes
        )
    totals = report.mail.totals
    assert (totals.delivered, totals.refused, totals.over_quota) == (40, 9, 8)
    assert (totals.first_refused_at, totals.last_refused_at) == (at(2, 10, 15), at(7, 23, 30))
    assert report.summary.refused == totals.refused == report.mail.refusals_recorded
    assert report.summary.notifications == sum(report.summary.notifications_by_status.values())
    assert report.summary.notifications == sum(len(a.notifications) for a in report.alerts)
    for day in report.usage.days:
        assert day.total_bytes == sum(day.parts.values())


def test_usage_over_time_per_part(world_app: Flask, story: Story) -> None:
    with world_app.app_context():
        report = build_as(story.hoster, story.world.package)
    usage = report.usage
    assert usage.quota_bytes == 150 * MIB
    assert [d.day for d in usage.days] == [t.date() for t, *_rest in USAGE]
    mailbox, plugins, backups = (
        f"mailbox:{INFO}",
        "site:public_html:plugins",
        "site:public_html:backups",
    )
    assert [p.key for p in usage.parts] == [mailbox, "site:public_html:backups", plugins, "other"]
    second = next(d for d in usage.days if d.day == date(2025, 3, 2))
    assert second.taken_at == at(2, 10)  # the fullest of the day, not the first
    assert second.parts == {mailbox: 55 * MIB, plugins: 30 * MIB, backups: 32 * MIB, "other": MIB}
    assert second.total_bytes == 118 * MIB
    changes = {
        p.key: (p.first_bytes, p.last_bytes, p.change_bytes, p.peak_bytes) for p in usage.parts
    }
    assert changes[mailbox] == (38 * MIB, 21 * MIB, -17 * MIB, 55 * MIB)
    assert changes[backups] == (20 * MIB, 40 * MIB, 20 * MIB, 40 * MIB)


def test_what_it_does_not_know_is_listed_exactly(world_app: Flask, story: Story) -> None:
    with world_app.app_context():
        report = build_as(story.hoster, story.world.package)
    gaps = [(u.kind, u.first_day, u.last_day, u.days) for u in report.unknowns if u.days]
    assert gaps == [
        ("no_mail_log", date(2025, 3, 4), date(2025, 3, 4), 1),
        ("no_mail_log", date(2025, 3, 6), date(2025, 3, 6), 1),
        ("no_usage", date(2025, 3, 4), date(2025, 3, 4), 1),
    ]
    sent_only = [
        n
        for a in report.alerts
        for n in a.notifications
        if n.status == "sent" and not (n.channel == "panel" and n.read_at)
    ]
    unread = [u for u in report.unknowns if u.kind == "sent_not_read"]
    assert len(unread) == 1 and unread[0].count == len(sent_only) > 0
    assert "whether they were read is not known" in unread[0].text
    assert "2025-03-04" in report.unknowns[0].text


def test_before_the_package_existed_and_without_a_log_source(
    world_app: Flask, world: World
) -> None:
    with world_app.app_context():
        created = datetime(2025, 1, 3, 10, tzinfo=UTC)
        db.session.execute(
            update(Package).where(Package.id == world.package).values(created_at=created)
        )
        db.session.commit()
        package = db.session.get_one(Package, world.package)
        start, end = datetime(2024, 12, 30, tzinfo=UTC), datetime(2025, 1, 5, tzinfo=UTC)
        report = evidence.build(package, start, end, actor_of(LOGINS["owner"]), utcnow())
        kinds = [(u.kind, u.first_day, u.last_day, u.days) for u in report.unknowns]
        assert kinds == [
            ("before_package", date(2024, 12, 30), date(2025, 1, 2), 4),
            ("no_log_source", date(2025, 1, 3), date(2025, 1, 4), 2),
            ("no_usage", date(2025, 1, 3), date(2025, 1, 4), 2),
        ]
        assert "Onus reads no mail log" in report.unknowns[1].text
        assert not report.mail.log_followed
        # a period reaching past now says that part has not happened yet
        now = datetime(2025, 1, 4, 12, tzinfo=UTC)
        later = evidence.build(
            package, start, end + timedelta(days=1), actor_of(LOGINS["owner"]), now
        )
        kinds = [(u.kind, u.first_day, u.last_day, u.days) for u in later.unknowns]
        assert kinds == [
            ("before_package", date(2024, 12, 30), date(2025, 1, 2), 4),
            ("after_now", date(2025, 1, 5), date(2025, 1, 5), 1),
            ("no_log_source", date(2025, 1, 3), date(2025, 1, 4), 2),
            ("no_usage", date(2025, 1, 3), date(2025, 1, 4), 2),
        ]


def test_the_agreement_in_force_and_who_acknowledged_it(world_app: Flask, story: Story) -> None:
    with world_app.app_context():
        report = build_as(story.owner, story.world.package)
    section = report.agreement
    assert section.none_until is None
    first, second = section.versions
    assert (first.version, first.in_force_from, first.in_force_until) == (1, START, at(4, 12))
    assert (second.version, second.in_force_from, second.in_force_until) == (2, at(4, 12), None)
    assert second.reason == "plan changed"
    acks = {
        (v.version, p.party): (p.acknowledged_at, p.after_period)
        for v in section.versions
        for p in v.parties
    }
    assert acks == {
        (1, "Hoster one"): (None, False),
        (1, "Builder One"): (None, False),
        (1, "Owner Alpha"): (datetime(2025, 2, 21, 9, tzinfo=UTC), False),
        (2, "Hoster one"): (datetime(2025, 3, 10, 8, tzinfo=UTC), True),
        (2, "Builder One"): (None, False),
        (2, "Owner Alpha"): (None, False),
    }  # fmt: skip
    owner_ack = next(p for p in first.parties if p.role == "owner")
    assert owner_ack.person == "Owner Alpha" and len(owner_ack.text_hash) == 64
    mailbox = next(r for r in first.responsibilities if r.category == "mailbox")
    assert (mailbox.responsible, mailbox.escalation) == (["owner"], ["hoster"])


def test_alerts_open_in_the_period_with_what_became_of_each_notification(
    world_app: Flask, story: Story
) -> None:
    with world_app.app_context():
        report = build_as(story.hoster, story.world.package)
    assert [a.id for a in report.alerts] == [story.alert_id, story.delivery_alert_id]
    mailbox, delivery = report.alerts
    assert (mailbox.level, mailbox.subject_kind, mailbox.address) == ("critical", "mailbox", INFO)
    assert (mailbox.acknowledged_at, mailbox.acknowledged_by) == (at(3, 9), "Hoster one")
    assert (delivery.reason, delivery.refused, delivery.since) == (
        "refused",
        8,
        at(2, 10, 15),
    )
    assert delivery.subject == f"mail refused for {INFO} (mailbox full)"
    emails = {
        n.party: (n.channel, n.recipient, n.status)
        for n in mailbox.notifications
        if n.channel == "email"
    }
    assert emails == {
        "Owner Alpha": ("email", "owner@elsewhere.example", "bounced"),
        "Hoster one": ("email", "hoster@elsewhere.example", "sent"),
        "Builder One": ("email", "builder@elsewhere.example", "failed"),
    }  # fmt: skip
    bounced = next(n for n in mailbox.notifications if n.status == "bounced")
    assert bounced.error_explained.startswith("552 5.2.2 — ")
    hoster_email = next(
        n for n in mailbox.notifications if n.party == "Hoster one" and n.channel == "email"
    )
    assert hoster_email.acknowledged_at == at(3, 9) and hoster_email.sent_at == at(2, 10, 5)
    assert {n.channel for n in mailbox.notifications} == {"email", "panel"}
    assert [e.kind for e in mailbox.events][:1] == ["opened"]


def test_an_owner_sees_who_was_told_but_not_another_partys_address(
    world_app: Flask, story: Story
) -> None:
    with world_app.app_context():
        report = build_as(story.owner, story.world.package)
    emails = {
        n.party: (n.recipient, n.status, n.error)
        for a in report.alerts
        for n in a.notifications
        if n.channel == "email"
    }
    assert emails == {
        "Owner Alpha": ("owner@elsewhere.example", "bounced", BOUNCE),
        "Hoster one": (None, "sent", ""),
        "Builder One": (None, "failed", ""),
    }  # fmt: skip
    page = client_for(world_app, "owner").get(f"/packages/{story.world.package}/report?{QUERY}")
    assert page.status_code == 200
    assert "owner@elsewhere.example" in page.text
    assert "hoster@elsewhere.example" not in page.text
    assert "builder@elsewhere.example" not in page.text
    assert "private to that party" in page.text
    for path in ("report.json", "report.csv"):
        download = client_for(world_app, "builder").get(
            f"/packages/{story.world.package}/{path}?{QUERY}"
        )
        assert download.status_code == 200
        assert "builder@elsewhere.example" in download.text
        assert "owner@elsewhere.example" not in download.text, path
        assert "hoster@elsewhere.example" not in download.text, path
    hoster = client_for(world_app, "hoster").get(f"/packages/{story.world.package}/report?{QUERY}")
    for address in (
        "owner@elsewhere.example",
        "hoster@elsewhere.example",
        "builder@elsewhere.example",
    ):
        assert address in hoster.text


def test_silent_periods(world_app: Flask, story: Story) -> None:
    with world_app.app_context():
        report = build_as(story.hoster, story.world.package)
    assert len(report.silences) == 1
    silence = report.silences[0]
    # info@ had ten a day at 09:00; after 2 March 10:00 nothing arrived; the uncovered
    # days 4 and 6 March expect nothing, 3, 5 and 7 March ten each
    assert (silence.address, silence.start, silence.end, silence.ongoing) == (
        INFO,
        at(2, 10),
        END,
        False,
    )
    assert silence.expected == pytest.approx(30.0)
    assert silence.usual_per_day == pytest.approx(268 * 24 / 672)


# --- the web -------------------------------------------------------------------------------------


def test_the_page_shows_the_sections_in_order_and_escapes_what_logs_said(
    world_app: Flask, story: Story
) -> None:
    with world_app.app_context():  # what a log says is the log's, not Onus's, to trust
        odd = f"{SCRIPT}@alpha.example"
        db.session.add(MailFlowHour(package_id=story.world.package, address=odd, hour=at(7, 1)))
        db.session.add(
            MailRefusal(package_id=story.world.package, address=odd, at=at(7, 1), kind="bounced")
        )
        db.session.commit()
        db.session.remove()
    page = client_for(world_app, "builder").get(f"/packages/{story.world.package}/report?{QUERY}")
    assert page.status_code == 200
    text = text_of(page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;@alpha.example" in page.text
    headings = re.findall(r"<h2 [^>]*>([^<]+)</h2>", page.text)
    assert headings == [
        "In short",
        "Storage over time",
        "The agreement in force",
        "Alerts and who was told",
        "Mail delivered and refused",
        "Silent periods",
        "What this report does not know",
    ]
    assert SCRIPT not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "2025-02-26 to 2025-03-07 (UTC)" in text
    assert "55 MiB" in text and "118 MiB" in text
    assert re.search(r"2025-03-03 0 0 4 0 4 4 ", text), text
    assert re.search(r"Package 40 0 8 1 9 8 ", text)
    assert "No mail log records on 2025-03-04 (1 day)" in text
    assert (
        f'href="/packages/{story.world.package}/report.csv?start=2025-02-26&amp;end=2025-03-07"'
        in page.text
    )
    assert (
        f'href="/packages/{story.world.package}/report.json?start=2025-02-26&amp;end=2025-03-07"'
        in page.text
    )
    css = https_client(world_app).get("/static/onus.css")
    assert "@media print" in css.text and "header.top" in css.text
    css.close()


def parse_csv(body: str) -> dict[str, list[dict[str, str]]]:
    tables: dict[str, list[dict[str, str]]] = {}
    columns: list[str] = []
    for row in csv.reader(io.StringIO(body, newline="")):
        if row[0] == "section":
            columns = row[1:]
            continue
        tables.setdefault(row[0], []).append(dict(zip(columns, row[1:], strict=True)))
    return tables


def test_csv_and_json_tell_the_same(world_app: Flask, story: Story) -> None:
    client = client_for(world_app, "hoster")
    base = f"/packages/{story.world.package}/report"
    as_json = client.get(f"{base}.json?{QUERY}")
    as_csv = client.get(f"{base}.csv?{QUERY}")
    assert as_json.status_code == as_csv.status_code == 200
    assert as_csv.mimetype == "text/csv"
    assert as_csv.headers["Content-Disposition"] == (
        'attachment; filename="onus-evidence-alpha-2025-02-26-2025-03-07.csv"'
    )
    assert "attachment" in as_json.headers["Content-Disposition"]
    assert as_csv.headers["Cache-Control"] == as_json.headers["Cache-Control"] == "no-store"
    assert "\r\n" in as_csv.text
    data = json.loads(as_json.text)
    tables = parse_csv(as_csv.text)
    assert (
        data["start"] == "2025-02-26T00:00:00+00:00" and data["end"] == "2025-03-08T00:00:00+00:00"
    )

    days = [d for m in data["mail"]["mailboxes"] for d in m["days"]]
    assert len(tables["mail_day"]) == len(days)
    for row, day in zip(tables["mail_day"], days, strict=True):
        assert row["address"] == day["address"] and row["day"] == day["day"]
        for name in ("delivered", "bounced", "rejected", "refused", "over_quota"):
            assert int(row[name]) == day[name]
        assert row["first_refused_at"] == (day["first_refused_at"] or "")
    package_total = tables["mail_total"][-1]
    assert package_total["address"] == "*"
    assert int(package_total["refused"]) == data["mail"]["totals"]["refused"] == 9
    usage = [r for r in tables["usage"] if r["part"] == "total"]
    assert [int(r["bytes"]) for r in usage] == [d["total_bytes"] for d in data["usage"]["days"]]
    assert isinstance(data["usage"]["days"][0]["total_bytes"], int)
    assert len(tables["refusal"]) == len(data["mail"]["refusals"]) == 9
    assert len(tables["notification"]) == data["summary"]["notifications"]
    assert [(u["kind"], u["first_day"]) for u in tables["unknown"]] == [
        (u["kind"], u["first_day"] or "") for u in data["unknowns"]
    ]
    assert {r["version"] for r in tables["agreement"]} == {"1", "2"}
    assert len(tables["silence"]) == len(data["silences"]) == 1
    # a formula in what a server said is made harmless in the CSV, kept as it was in JSON
    spam = next(r for r in tables["refusal"] if "5.7.1" in r["code"])
    assert spam["reason"].startswith("'=HYPERLINK(")
    assert any(r["reason"].startswith("=HYPERLINK(") for r in data["mail"]["refusals"])
    assert all(
        not cell.startswith(("=", "+", "@"))
        for t in tables.values()
        for r in t
        for cell in r.values()
    )


def test_formula_cells_are_neutralised() -> None:
    for text in ("=1+1", "+31 6 123", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert safe_cell(text) == "'" + text
    assert safe_cell(-5) == -5 and safe_cell("a=b") == "a=b" and safe_cell(None) == ""
    assert safe_cell(date(2025, 3, 1)) == "2025-03-01" and safe_cell(True) == "yes"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("start=2025-02-30&end=2025-03-07", "The first day is not a date: write it as YYYY-MM-DD."),
        ("start=yesterday", "The first day is not a date: write it as YYYY-MM-DD."),
        ("start=2025-03-01&end=3/7/2025", "The last day is not a date: write it as YYYY-MM-DD."),
        ("start=2025-03-07&end=2025-03-01", "The last day is before the first day."),
        (
            "start=2024-01-01&end=2025-03-01",
            "A report covers at most 400 days: choose a shorter period.",
        ),
        ("end=0001-01-05", "Choose a day between 1970-01-01 and 9000-12-31."),
        ("start=9999-12-30&end=9999-12-31", "Choose a day between 1970-01-01 and 9000-12-31."),
    ],
)
def test_a_bad_period_is_refused_with_the_reason(
    world_app: Flask, world: World, query: str, message: str
) -> None:
    client = client_for(world_app, "owner")
    base = f"/packages/{world.package}/report"
    page = client.get(f"{base}?{query}")
    assert page.status_code == 400
    assert message in text_of(page)
    assert 'role="alert"' in page.text
    as_json = client.get(f"{base}.json?{query}")
    assert as_json.status_code == 400 and message in as_json.json["errors"]
    as_csv = client.get(f"{base}.csv?{query}")
    assert as_csv.status_code == 400 and message in as_csv.text


def test_the_default_period_is_the_last_30_days(world_app: Flask, world: World) -> None:
    data = client_for(world_app, "owner").get(f"/packages/{world.package}/report.json").json
    today = utcnow().date()
    assert data["end"] == (today + timedelta(days=1)).isoformat() + "T00:00:00+00:00"
    assert data["start"] == (today - timedelta(days=29)).isoformat() + "T00:00:00+00:00"
    page = client_for(world_app, "owner").get(f"/packages/{world.package}/report")
    assert page.status_code == 200
    assert f'value="{today.isoformat()}"' in page.text
    assert '<label for="start">' in page.text and '<label for="end">' in page.text


@pytest.mark.parametrize("role", ["other_builder", "other_owner", "other_hoster"])
def test_another_partys_package_is_404(world_app: Flask, story: Story, role: str) -> None:
    client = client_for(world_app, role)
    for suffix in ("", ".csv", ".json"):
        response = client.get(f"/packages/{story.world.package}/report{suffix}?{QUERY}")
        assert response.status_code == 404, suffix
        assert INFO not in response.text


def test_logged_out_goes_to_login(world_app: Flask, world: World) -> None:
    response = https_client(world_app).get(f"/packages/{world.package}/report.json")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


# --- efficiency -------------------------------------------------------------------------------


@contextmanager
def counted() -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_a_constant_number_of_queries(world_app: Flask, story: Story) -> None:
    with world_app.app_context():
        with counted() as before:
            build_as(story.hoster, story.world.package)
        db.session.remove()
        # much more of everything: alerts with notifications, refusals, days, samples
        for n in range(5):
            db.session.add(
                Alert(
                    package_id=story.world.package, subject=f"mailbox:x{n}@alpha.example",
                    category="mailbox", level="notice", reason="threshold", status="resolved",
                    used_bytes=1, quota_bytes=2, percent=50.0, opened_at=at(3, n),
                    measured_at=at(3, n), step_at=at(3, n), resolved_at=at(4, n),
                )
            )  # fmt: skip
        db.session.flush()
        for alert in db.session.scalars(select(Alert).where(Alert.level == "notice")):
            for party in (story.world.owner, story.world.builder):
                db.session.add(
                    Notification(
                        alert_id=alert.id, party_id=party, kind="opened", channel="email",
                        recipient="x@elsewhere.example", status="sent",
                        dedup_key=f"t{alert.id}-{party}",
                        status_at=at(3, 1), created_at=at(3, 1), sent_at=at(3, 1),
                    )
                )  # fmt: skip
        for n in range(30):
            db.session.add(
                MailRefusal(
                    package_id=story.world.package, address=f"x{n}@alpha.example",
                    at=at(1 + n % 7, 5, n), kind="bounced", reason="552 5.2.2 full",
                )
            )  # fmt: skip
            db.session.add(
                MailFlowHour(
                    package_id=story.world.package, address=f"x{n}@alpha.example",
                    hour=at(1 + n % 7, 5), bounced=1,
                )
            )  # fmt: skip
        db.session.commit()
        db.session.remove()
        with counted() as after:
            report = build_as(story.hoster, story.world.package)
        assert len(report.alerts) == 7 and len(report.mail.mailboxes) == 32
    assert len(after) == len(before), (len(before), len(after))
    assert len(after) <= 30


def test_parties_are_named_even_when_not_visible(world_app: Flask, story: Story) -> None:
    """A name the viewer may not look up (none here) would read "another party"; every
    party of the package is named for its owner."""
    with world_app.app_context():
        report = build_as(story.owner, story.world.package)
        names = {n.party for a in report.alerts for n in a.notifications}
        parties = set(db.session.scalars(select(Party.name).where(Party.id.in_(
            [story.world.hoster, story.world.builder, story.world.owner]
        ))))  # fmt: skip
    assert names == parties
    assert [(p.role, p.party) for p in report.parties] == [
        ("hoster", "Hoster one"),
        ("builder", "Builder One"),
        ("owner", "Owner Alpha"),
    ]
