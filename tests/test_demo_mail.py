"""The demo's mail log, read as a node's worker reads it: the counts equal the log's truth,
the school's full info@ is a critical delivery alert to every party, and the bakery's order
mail that stopped is a warning to the bakery."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from panel.extensions import db
from panel.hostingtree import STORY_FULL, STORY_SILENT, write_story_mail_log
from panel.models import Alert, MailFlowHour, MailLogSource, Package, Party
from panel.models.base import utcnow
from panel.services import demo, mail_alerts, mailflow
from tests.conftest import DatabaseStates, close_app, make_app


@pytest.fixture
def story(database: DatabaseStates, tmp_path: Path) -> Iterator[Path]:
    database.restore("empty")
    app: Flask = make_app(database)
    with app.app_context():
        yield tmp_path / "node"
    close_app(app)


def test_the_demo_log_read_by_the_panel_tells_the_story(story: Path) -> None:
    # a moment after the story's agreements are made: they route the warnings by then
    now = utcnow().replace(microsecond=0) + timedelta(minutes=1)
    truth = write_story_mail_log(story / demo.MAIL_LOG, now=now.timestamp())
    loaded = demo.load_story("demo-password", story)
    ingested = mailflow.ingest_node(loaded.node_id, now)
    opened = mail_alerts.after_ingest(ingested, now)
    assert opened.counts["opened"] == 1  # the school's info@, refusing mail

    hosted = {a: t for a, t in truth.items() if a in demo_addresses()}
    for address, expected in hosted.items():
        row = db.session.execute(
            select(
                func.sum(MailFlowHour.delivered),
                func.sum(MailFlowHour.deferred),
                func.sum(MailFlowHour.bounced),
                func.sum(MailFlowHour.rejected),
                func.sum(MailFlowHour.over_quota),
            ).where(MailFlowHour.address == address)
        ).one()
        assert [int(v or 0) for v in row] == [
            expected[k] for k in ("delivered", "deferred", "bounced", "rejected", "over_quota")
        ], address
    source = db.session.scalars(select(MailLogSource)).one()
    assert source.lines_skipped == 0 and source.last_error == ""
    assert source.not_hosted == sum(t["delivered"] for a, t in truth.items() if a not in hosted)

    full = db.session.scalars(select(Alert).where(Alert.subject == f"delivery:{STORY_FULL}")).one()
    assert full.level == "critical"
    assert full.refused == truth[STORY_FULL]["over_quota"]
    school = db.session.get_one(Package, full.package_id)
    assert {n.party_id for n in full.notifications} == {a.party_id for a in school.assignments}

    silent = mail_alerts.review(now)
    assert silent.counts["opened"] == 1
    subject = f"silence:{STORY_SILENT}"
    quiet = db.session.scalars(select(Alert).where(Alert.subject == subject)).one()
    told = {db.session.get_one(Party, n.party_id).name for n in quiet.notifications}
    assert told == {"Bakkerij Van Dam"}  # the bakery's agreement: the owner answers for mail


def demo_addresses() -> set[str]:
    return {
        f"{local}@{domain}"
        for _name, _owner, _builder, domain, locals_, _db in demo.PACKAGES
        for local in locals_
    }
