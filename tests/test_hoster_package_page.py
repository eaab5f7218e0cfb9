"""The hoster's package page: upgrading the plan (audited, the agreement reissued) and who
was told what about the package's alerts."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from panel.extensions import db
from panel.models import Agreement, AuditEvent, Notification, Package, Plan
from tests.conftest import csrf_token, row_counts
from tests.test_alerts_web import alpha_alert, client_for, text_of  # noqa: F401 - fixture
from tests.world import World


def test_the_hoster_upgrades_a_package_and_it_is_audited(world_app: Flask, world: World) -> None:
    client = client_for(world_app, "hoster")
    page = f"/hoster/packages/{world.other_package}"
    text = text_of(client.get(page))
    assert "Plan one: 150 MiB, 3 mailboxes." in text
    assert "Plan spare (1 GiB)" in text and "Plan two" not in text  # own plans only
    response = client.post(
        f"{page}/plan",
        data={"csrf_token": csrf_token(client, page), "plan-plan_id": world.spare_plan},
    )
    assert response.status_code == 302
    with world_app.app_context():
        beta = db.session.get_one(Package, world.other_package)
        assert beta.plan_id == world.spare_plan
        event = db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.subject_type == "Package")
            .order_by(AuditEvent.id.desc())
        ).first()
        assert event is not None
        assert (event.before or {})["plan_id"] == world.plan
        assert (event.after or {})["plan_id"] == world.spare_plan
        versions = db.session.scalars(
            select(Agreement.version).where(Agreement.package_id == beta.id)
        ).all()
        assert sorted(versions) == [1, 2]  # the new limits are a new version to acknowledge


def test_another_hosters_plan_is_refused_and_changes_nothing(
    world_app: Flask, world: World
) -> None:
    client = client_for(world_app, "hoster")
    page = f"/hoster/packages/{world.package}"
    with world_app.app_context():
        foreign_plan = db.session.scalars(select(Plan.id).where(Plan.name == "Plan two")).one()
    before = row_counts(world_app)
    response = client.post(
        f"{page}/plan", data={"csrf_token": csrf_token(client, page), "plan-plan_id": foreign_plan}
    )
    assert response.status_code in (400, 404)
    assert row_counts(world_app) == before


def test_the_package_page_lists_who_was_told_what(
    world_app: Flask,
    world: World,
    alpha_alert: int,  # noqa: F811
) -> None:
    with world_app.app_context():
        told = db.session.scalars(
            select(Notification).where(Notification.alert_id == alpha_alert)
        ).all()
        owner_mail = next(n for n in told if n.channel == "email" and n.party_id == world.owner)
        owner_mail.status, owner_mail.error = "bounced", "552 5.2.2 Mailbox full"
        db.session.commit()
        count = len(told)
    text = text_of(client_for(world_app, "hoster").get(f"/hoster/packages/{world.package}"))
    section = text.split("Who was told what", 1)[1]
    assert section.count("mailbox info@alpha.example · warning") == count
    assert "Owner Alpha email owner@elsewhere.example opened bounced" in section
    assert "552 5.2.2 — the recipient's mailbox is full" in section
