"""Prometheus /metrics: the figures of the database as the token's person sees them — a
hoster its whole tenancy with its mail logs and workers, a builder or owner only their
packages — after a real scan, alerts mailed through a real SMTP server, and a real read of
a Postfix log; no token, a bad one or a revoked one gets a 401 a scraper understands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, func, select

from panel.extensions import db
from panel.models import (
    Alert,
    MailLogSource,
    Notification,
    Package,
    PackageUsage,
    Party,
    Plan,
    WorkerHeartbeat,
)
from panel.models.base import utcnow
from panel.services import alerts, api_tokens, mailflow, metrics, packages, worker_status
from tests.alerting import MIB, evaluate, measure
from tests.smtp import SMTPSink
from tests.world import World, actor_of

T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
ALPHA_BOX, BETA_BOX = "info@alpha.example", "info@beta.example"
OTHER_OWNER = "other_owner@elsewhere.example"
# a path a label must escape: a quote and a backslash
LOG_NAME = 'mail "one" \\ main.log'

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def w(mailing: Flask) -> World:
    return World.load()


def token(role: str) -> str:
    return api_tokens.create(actor_of(role), "prometheus")[1]


def parse(text: str) -> Samples:
    """Every sample, parsed as Prometheus parses it."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client: FlaskClient, raw: str) -> Samples:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return parse(response.get_data(as_text=True))


def of(samples: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: value for (sample, labels), value in samples.items() if sample == name}


def packages_in(samples: Samples) -> set[str]:
    return {dict(labels)["package"] for labels in of(samples, "onus_package_quota_bytes")}


def postfix(at: datetime, rest: str) -> str:
    return f"{at.isoformat()} mx1 postfix/{rest}\n"


def story(w: World, smtp: SMTPSink, tmp_path: Path) -> int:
    """Scans, alerts (one mail refused, one alert acknowledged), a worker's beat and a read
    of a Postfix log; the followed log's id."""
    smtp.refuse[OTHER_OWNER] = "550 5.1.1 <other_owner@elsewhere.example>: no such user"
    measure(w.other_package, T0, mailboxes={BETA_BOX: 46 * MIB})
    measure(w.package, T0, mailboxes={ALPHA_BOX: 50 * MIB}, parts={"uploads": 9 * MIB}, other=MIB)
    evaluate([w.package, w.other_package], T0)
    critical = db.session.scalars(
        select(Alert).where(Alert.package_id == w.package, Alert.level == "critical")
    ).one()
    alerts.acknowledge(critical, w.owner, None, "link", T0 + timedelta(minutes=5))
    worker_status.record_heartbeat("worker-1")

    log = tmp_path / LOG_NAME
    full = f"552 5.2.2 <{ALPHA_BOX}> Quota exceeded (mailbox for user is full)"
    lmtp = f"lmtp[9]: %s: to=<{ALPHA_BOX}>, relay=mx[private/dovecot-lmtp], delay=1, "
    log.write_text(
        postfix(T0, lmtp % "Q000000001" + "dsn=2.0.0, status=sent (250 2.0.0 Saved)")
        + postfix(T0, lmtp % "Q000000002" + f"dsn=5.2.2, status=bounced (host mx said: {full})")
        + postfix(  # a quarter later: the bounce before it has settled
            T0 + timedelta(minutes=15),
            "smtpd[8]: NOQUEUE: reject: RCPT from unknown[203.0.113.5]: 550 5.1.1 "
            f"<{ALPHA_BOX}>: Recipient address rejected: User unknown; from=<a@example.net> "
            f"to=<{ALPHA_BOX}> proto=ESMTP helo=<x>",
        )
        + "not a log line\n"
    )
    source = mailflow.add_source(actor_of("hoster"), w.node, str(log))
    mailflow.ingest_source(source.id, T0 + timedelta(hours=1))
    return source.id


def test_a_hosters_token_sees_its_tenancy_as_the_database_has_it(
    w: World, mailing: Flask, smtp: SMTPSink, tmp_path: Path
) -> None:
    source_id = story(w, smtp, tmp_path)
    samples = scrape(mailing.test_client(), token("hoster"))

    assert packages_in(samples) == {"alpha", "beta"}
    quota = db.session.get_one(Plan, db.session.get_one(Package, w.package).plan_id)
    assert of(samples, "onus_package_quota_bytes")[(("package", "alpha"),)] == (
        quota.storage_quota_bytes
    )
    for package_id, name in ((w.package, "alpha"), (w.other_package, "beta")):
        latest = db.session.get_one(PackageUsage, package_id)
        key = (("package", name),)
        assert of(samples, "onus_package_used_bytes")[key] == latest.total_bytes
        assert of(samples, "onus_package_measured_timestamp_seconds")[key] == T0.timestamp()
        assert of(samples, "onus_package_scan_duration_seconds")[key] == latest.scan_seconds
        parts = {
            dict(labels)["part"]: value
            for labels, value in of(samples, "onus_package_part_bytes").items()
            if dict(labels)["package"] == name
        }
        assert parts == {
            "mail": latest.mail_bytes,
            "site": latest.site_bytes,
            "database": latest.database_bytes,
            "other": latest.other_bytes,
        }
    assert of(samples, "onus_package_used_bytes")[(("package", "alpha"),)] == 60 * MIB

    unresolved = db.session.execute(
        select(Alert.level, Alert.status, func.count())
        .where(Alert.status != "resolved")
        .group_by(Alert.level, Alert.status)
    ).all()
    expected = {
        (("level", level), ("status", status)): 0.0
        for level in ("notice", "warning", "critical")
        for status in ("open", "acknowledged")
    }
    expected.update({(("level", lv), ("status", st)): n for lv, st, n in unresolved})
    assert of(samples, "onus_alerts") == expected
    assert expected[(("level", "critical"), ("status", "acknowledged"))] == 1

    told = db.session.execute(
        select(Notification.channel, Notification.status, func.count()).group_by(
            Notification.channel, Notification.status
        )
    ).all()
    assert of(samples, "onus_notifications") == {
        (("channel", channel), ("status", status)): n for channel, status, n in told
    }
    assert {"failed", "sent"} <= {status for _c, status, _n in told}

    refused = of(samples, "onus_mail_refused_total")
    assert refused == {
        (("package", "alpha"), ("result", "bounced")): 1,
        (("package", "alpha"), ("result", "rejected")): 1,
        (("package", "beta"), ("result", "bounced")): 0,
        (("package", "beta"), ("result", "rejected")): 0,
    }
    assert of(samples, "onus_mail_refused_over_quota_total") == {
        (("package", "alpha"),): 1,
        (("package", "beta"),): 0,
    }

    source = db.session.get_one(MailLogSource, source_id)
    key = (("node", "node-one"), ("path", source.path))
    assert LOG_NAME in source.path  # the quote and backslash came back through the parser
    assert of(samples, "onus_mail_log_lines_read_total") == {key: source.lines_read}
    assert source.lines_read == 4
    assert of(samples, "onus_mail_log_lines_skipped_total") == {key: 1}
    assert source.last_read_seconds is not None and source.last_read_seconds > 0
    assert of(samples, "onus_mail_log_read_duration_seconds") == {key: source.last_read_seconds}
    assert of(samples, "onus_mail_log_last_read_timestamp_seconds") == {
        key: (T0 + timedelta(hours=1)).timestamp()
    }
    assert of(samples, "onus_mail_log_last_record_timestamp_seconds") == {
        key: (T0 + timedelta(minutes=15)).timestamp()
    }
    assert of(samples, "onus_mail_log_failing") == {key: 0}

    beat = db.session.get_one(WorkerHeartbeat, "worker-1").last_seen
    assert of(samples, "onus_worker_last_seen_timestamp_seconds") == {(): beat.timestamp()}


def test_a_log_read_is_timed_and_a_failing_one_is_said(
    w: World, mailing: Flask, tmp_path: Path
) -> None:
    source = mailflow.add_source(actor_of("hoster"), w.node, str(tmp_path / "gone.log"))
    assert source.last_read_seconds is None
    mailflow.ingest_source(source.id, T0)
    read = db.session.get_one(MailLogSource, source.id)
    assert read.last_read_seconds is not None and read.last_read_seconds >= 0
    assert read.last_error

    samples = scrape(mailing.test_client(), token("hoster"))
    key = (("node", "node-one"), ("path", read.path))
    assert of(samples, "onus_mail_log_failing") == {key: 1}
    assert of(samples, "onus_mail_log_lines_read_total") == {key: 0}


@pytest.mark.parametrize(
    ("role", "visible"),
    [
        ("builder", {"alpha"}),
        ("owner", {"alpha"}),
        ("other_owner", {"beta"}),
        ("other_hoster", {"gamma"}),
    ],
)
def test_a_token_sees_only_what_its_person_sees(
    w: World, mailing: Flask, smtp: SMTPSink, tmp_path: Path, role: str, visible: set[str]
) -> None:
    story(w, smtp, tmp_path)
    samples = scrape(mailing.test_client(), token(role))

    assert packages_in(samples) == visible
    named = {dict(labels).get("package") for (_name, labels) in samples} - {None}
    assert named == visible, "no figure of another package, refusals included"
    assert not [name for name, _labels in samples if name.startswith("onus_mail_log_")]
    # the workers are the installation's: every hoster sees them beat, no builder or owner
    assert bool(of(samples, "onus_worker_last_seen_timestamp_seconds")) == role.endswith("hoster")
    party = actor_of(role).party_id
    told = db.session.execute(
        select(Notification.channel, Notification.status, func.count())
        .where(Notification.party_id == party)
        .group_by(Notification.channel, Notification.status)
    ).all()
    assert of(samples, "onus_notifications") == {
        (("channel", channel), ("status", status)): n for channel, status, n in told
    }
    alerted = sum(of(samples, "onus_alerts").values())
    if role == "other_hoster":
        assert alerted == 0 and not told
    else:
        assert alerted >= 1 and told


def test_without_a_valid_token_a_scrape_gets_401(w: World, mailing: Flask) -> None:
    client = mailing.test_client()
    revoked = token("hoster")
    hoster = actor_of("hoster")
    [made] = api_tokens.tokens_of(hoster)
    api_tokens.revoke(hoster, made, utcnow())
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer onus_not-a-token"},
        {"Authorization": f"Basic {revoked}"},
        {"Authorization": f"Bearer {revoked}"},
    ):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="onus"'
        assert "onus_package" not in response.get_data(as_text=True)
    assert scrape(client, token("hoster"))  # a fresh one works


def test_a_scrape_is_the_same_few_queries_however_many_packages(
    w: World, smtp: SMTPSink, tmp_path: Path
) -> None:
    story(w, smtp, tmp_path)
    hoster = actor_of("hoster")

    def rendered() -> tuple[int, set[str]]:
        """The statements rendering the hoster's figures took, and the packages shown."""
        seen: list[str] = []

        def note(*args: object) -> None:
            seen.append(str(args[2]))

        event.listen(db.engine, "before_cursor_execute", note)
        try:
            text = metrics.render(hoster).decode()
        finally:
            event.remove(db.engine, "before_cursor_execute", note)
        return len(seen), packages_in(parse(text))

    before, shown = rendered()
    assert shown == {"alpha", "beta"}
    for name in ("delta", "epsilon", "zeta"):
        package = packages.create_package(
            hoster,
            {"name": name, "plan_id": w.plan, "node_id": w.node, "status": "active"},
            db.session.get_one(Party, w.owner),
            None,
            [f"{name}.example"],
        )
        measure(package.id, T0, other=MIB)
    after, shown = rendered()
    assert shown == {"alpha", "beta", "delta", "epsilon", "zeta"}
    assert after == before == 6  # packages, refusals, alerts, notifications, logs, workers
