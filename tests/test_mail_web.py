"""Mail flow on the web: the hoster's mail log sources (with what the reads found), adding,
changing, removing and reading them now; a package's messages per mailbox and day with every
refusal explained in the viewer's language; the bounces that came back.

The world's alpha and beta live on hoster one's node-one (node-spare has no package), gamma
on hoster two's node-two. Alpha has one mailbox, info@alpha.example.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from panel.extensions import db
from panel.models import (
    Alert,
    AuditEvent,
    HostingNode,
    MailFlowHour,
    MailLogSource,
    MailRefusal,
    Notification,
    ReceivedBounce,
    User,
)
from panel.models.base import utcnow
from panel.services import alerts
from tests.alerting import MIB, measure
from tests.conftest import csrf_token, https_client, row_counts
from tests.test_alerts_web import client_for, text_of
from tests.world import LOGINS, World

MAILBOX = "info@alpha.example"
FULL = "552 5.2.2 <info@alpha.example>: Recipient address rejected: Mailbox full"
FULL_EN = (
    "552 5.2.2 — the recipient's mailbox is full; "
    "the message was refused and the sender got it back"
)
FULL_NL = (
    "552 5.2.2 — de mailbox van de ontvanger is vol; "
    "het bericht is geweigerd en de afzender krijgt het terug"
)
UNKNOWN_USER = "550 5.1.1 <nobody@alpha.example>: Recipient address rejected: User unknown"


def add_source(app: Flask, node_id: int, path: str = "/var/log/mail.log", **values: Any) -> int:
    with app.app_context():
        source = MailLogSource(
            node_id=node_id,
            path=path,
            log_format=values.pop("log_format", "postfix"),
            enabled=values.pop("enabled", True),
            lines_read=values.pop("lines_read", 0),
            lines_skipped=values.pop("lines_skipped", 0),
            not_hosted=values.pop("not_hosted", 0),
            last_error=values.pop("last_error", ""),
            notes=values.pop("notes", []),
            **values,
        )
        db.session.add(source)
        db.session.commit()
        source_id = source.id
        db.session.remove()
        return source_id


def audit_of(app: Flask, source_id: int) -> list[tuple[str, Any, Any]]:
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.subject_type == "MailLogSource", AuditEvent.subject_id == source_id)
            .order_by(AuditEvent.id)
        ).all()
        return [(e.action, e.before, e.after) for e in events]


def set_language(app: Flask, role: str, language: str) -> None:
    with app.app_context():
        user = db.session.scalars(select(User).where(User.email == LOGINS[role])).one()
        user.language = language
        db.session.commit()


def node_id(app: Flask, name: str) -> int:
    with app.app_context():
        return db.session.scalars(select(HostingNode.id).where(HostingNode.name == name)).one()


# --- the sources page ---------------------------------------------------------------------------


def test_the_sources_page_shows_every_node_and_what_the_reads_found(
    world_app: Flask, world: World
) -> None:
    read_at = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
    add_source(
        world_app,
        world.node,
        lines_read=12345,
        lines_skipped=17,
        not_hosted=42,
        last_read_at=read_at,
        last_record_at=read_at - timedelta(minutes=5),
        last_error="[Errno 13] Permission denied: '/var/log/mail.log'",
        notes=[
            {"kind": "rotated", "path": "/var/log/mail.log.1", "detail": "", "bytes": None},
            {"kind": "missed", "path": "/var/log/mail.log.2.gz", "detail": "gone", "bytes": 2048},
            {"kind": "missed", "path": "/var/log", "detail": "no rotated file", "bytes": None},
            {"kind": "truncated", "path": "/var/log/mail.log", "detail": "", "bytes": 4096},
            {"kind": "error", "path": "/var/log/mail.log", "detail": "Permission denied"},
        ],
    )
    add_source(world_app, world.foreign_node, "/var/log/exim4/mainlog", log_format="exim")
    page = client_for(world_app, "hoster").get("/hoster/mail-logs")
    assert page.status_code == 200
    text = text_of(page)
    assert "One log could not be read at its last read:" in text
    assert "node-one: /var/log/mail.log — [Errno 13] Permission denied" in text
    row = text.split("Node node-one", 1)[1].split("Node node-spare", 1)[0]
    assert "/var/log/mail.log postfix yes" in row
    assert "12345 17 42 Change" in row
    assert "Last read failed: [Errno 13] Permission denied" in row
    assert "The log was rotated; Onus finished the old file /var/log/mail.log.1." in row
    assert "2048 bytes of /var/log/mail.log.2.gz were never read: gone" in row
    assert "Part of the log may never be read (how much is unknown): /var/log: no rotated" in row
    assert "/var/log/mail.log became shorter than the 4 KiB Onus had read" in row
    assert "/var/log/mail.log could not be read: Permission denied" in row
    assert f'action="/hoster/nodes/{world.node}/read-mail-logs"' in page.text
    spare = text.split("Node node-spare", 1)[1]
    assert "Onus reads no mail log on this node" in spare
    # the other hoster's node and log do not exist here
    assert "node-two" not in text and "mainlog" not in text
    # the nodes page links here
    nodes = client_for(world_app, "hoster").get("/hoster/nodes")
    assert 'href="/hoster/mail-logs"' in nodes.text and 'href="/hoster/bounces"' in nodes.text


def test_the_add_form_offers_only_the_hosters_own_nodes(world_app: Flask, world: World) -> None:
    page = client_for(world_app, "hoster").get("/hoster/mail-logs").text
    assert f'<option value="{world.node}">node-one</option>' in page
    assert "node-spare</option>" in page
    assert f'value="{world.foreign_node}"' not in page


# --- adding, changing, removing -----------------------------------------------------------------


def test_add_change_and_remove_a_source_each_leave_an_audit_event(
    world_app: Flask, world: World
) -> None:
    hoster = client_for(world_app, "hoster")
    added = hoster.post(
        "/hoster/mail-logs",
        data={
            "csrf_token": csrf_token(hoster, "/hoster/mail-logs"),
            "source-node_id": world.node,
            "source-path": " /var/log/mail.log ",
            "source-log_format": "postfix",
            "source-from_end": "y",
        },
    )
    assert added.status_code == 302 and added.headers["Location"] == "/hoster/mail-logs"
    with world_app.app_context():
        source = db.session.scalars(select(MailLogSource)).one()
        assert (source.node_id, source.path, source.log_format, source.enabled) == (
            world.node,
            "/var/log/mail.log",
            "postfix",
            True,
        )
        assert source.notes == [{"kind": "from_end"}]
        source_id = source.id
    page = text_of(hoster.get("/hoster/mail-logs"))
    assert "Onus now follows /var/log/mail.log." in page
    assert "Counts only what is written from now on; not read yet." in page
    [(action, before, after)] = audit_of(world_app, source_id)
    assert action == "create" and before is None and after["path"] == "/var/log/mail.log"

    edit = f"/hoster/mail-logs/{source_id}/edit"
    form = hoster.get(edit)
    assert form.status_code == 200 and 'name="enabled"' in form.text
    changed = hoster.post(edit, data={"csrf_token": csrf_token(hoster, edit), "log_format": "exim"})
    assert changed.status_code == 302
    with world_app.app_context():
        source = db.session.get_one(MailLogSource, source_id)
        assert (source.log_format, source.enabled) == ("exim", False)
    action, before, after = audit_of(world_app, source_id)[-1]
    assert action == "update"
    assert (before["log_format"], before["enabled"]) == ("postfix", True)
    assert (after["log_format"], after["enabled"]) == ("exim", False)
    assert "exim paused" in text_of(hoster.get("/hoster/mail-logs"))

    removed = hoster.post(
        f"/hoster/mail-logs/{source_id}/delete",
        data={"csrf_token": csrf_token(hoster, "/hoster/mail-logs")},
    )
    assert removed.status_code == 302
    with world_app.app_context():
        assert db.session.get(MailLogSource, source_id) is None
    action, before, after = audit_of(world_app, source_id)[-1]
    assert action == "delete" and after is None and before["path"] == "/var/log/mail.log"
    assert "Onus no longer follows this log" in text_of(hoster.get("/hoster/mail-logs"))


@pytest.mark.parametrize(
    ("path", "log_format", "message"),
    [
        ("var/log/mail.log", "postfix", "Give the log's full path on the node, starting with /."),
        ("/var/log/mail.log", "sendmail", "Not a valid choice"),
        ("", "postfix", "This field is required."),
    ],
)
def test_a_refused_source_changes_nothing_and_says_why(
    world_app: Flask, world: World, path: str, log_format: str, message: str
) -> None:
    hoster = client_for(world_app, "hoster")
    token = csrf_token(hoster, "/hoster/mail-logs")
    before = row_counts(world_app)
    refused = hoster.post(
        "/hoster/mail-logs",
        data={
            "csrf_token": token,
            "source-node_id": world.node,
            "source-path": path,
            "source-log_format": log_format,
        },
    )
    assert refused.status_code == 400
    assert message in text_of(refused)
    assert row_counts(world_app) == before


def test_the_same_log_twice_and_another_hosters_node_are_refused(
    world_app: Flask, world: World
) -> None:
    add_source(world_app, world.node)
    hoster = client_for(world_app, "hoster")
    token = csrf_token(hoster, "/hoster/mail-logs")
    before = row_counts(world_app)
    for node, message in (
        (world.node, "Onus follows this log on this node already."),
        (world.foreign_node, "Not a valid choice"),
    ):
        refused = hoster.post(
            "/hoster/mail-logs",
            data={
                "csrf_token": token,
                "source-node_id": node,
                "source-path": "/var/log/mail.log",
                "source-log_format": "auto",
            },
        )
        assert refused.status_code == 400
        assert message in text_of(refused)
    assert row_counts(world_app) == before


def test_posts_without_the_csrf_token_are_refused_and_change_nothing(
    world_app: Flask, world: World
) -> None:
    source_id = add_source(world_app, world.node)
    hoster = client_for(world_app, "hoster")
    before = row_counts(world_app)
    for path, data in (
        (
            "/hoster/mail-logs",
            {"source-node_id": world.node, "source-path": "/var/log/x.log"},
        ),
        (f"/hoster/mail-logs/{source_id}/edit", {"log_format": "exim"}),
        (f"/hoster/mail-logs/{source_id}/delete", {}),
        (f"/hoster/nodes/{world.node}/read-mail-logs", {}),
    ):
        assert hoster.post(path, data=data).status_code == 400, path
    assert row_counts(world_app) == before
    with world_app.app_context():
        source = db.session.get_one(MailLogSource, source_id)
        assert (source.log_format, source.enabled) == ("postfix", True)


def test_another_hosters_source_and_node_are_404(world_app: Flask, world: World) -> None:
    source_id = add_source(world_app, world.foreign_node)
    hoster = client_for(world_app, "hoster")
    token = csrf_token(hoster, "/hoster/mail-logs")
    before = row_counts(world_app)
    assert hoster.get(f"/hoster/mail-logs/{source_id}/edit").status_code == 404
    for path in (
        f"/hoster/mail-logs/{source_id}/edit",
        f"/hoster/mail-logs/{source_id}/delete",
        f"/hoster/nodes/{world.foreign_node}/read-mail-logs",
    ):
        response = hoster.post(path, data={"csrf_token": token, "log_format": "exim"})
        assert response.status_code == 404, path
    assert row_counts(world_app) == before


@pytest.mark.parametrize("role", ["builder", "owner", "other_builder", "other_owner"])
def test_builders_and_owners_cannot_open_the_hoster_mail_pages(
    world_app: Flask, world: World, role: str
) -> None:
    source_id = add_source(world_app, world.node)
    client = client_for(world_app, role)
    for path in ("/hoster/mail-logs", f"/hoster/mail-logs/{source_id}/edit", "/hoster/bounces"):
        assert client.get(path).status_code == 403, path
    token = csrf_token(client, "/account")
    before = row_counts(world_app)
    for path in (
        f"/hoster/mail-logs/{source_id}/delete",
        f"/hoster/nodes/{world.node}/read-mail-logs",
    ):
        assert client.post(path, data={"csrf_token": token}).status_code == 403, path
    assert row_counts(world_app) == before
    anonymous = https_client(world_app)
    assert anonymous.get("/hoster/mail-logs").headers["Location"].startswith("/login")


# --- read now -----------------------------------------------------------------------------------


class QueuedTasks:
    """Stands in for the ingest task: what would have been sent to which queue."""

    def __init__(self) -> None:
        self.sent: list[tuple[list[int], str]] = []

    def apply_async(self, args: list[int], queue: str) -> None:
        self.sent.append((args, queue))


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> QueuedTasks:
    tasks = QueuedTasks()
    monkeypatch.setattr("panel.web.mail.ingest_mail_logs", tasks)
    return tasks


def test_read_now_queues_the_ingest_on_the_nodes_queue(
    world_app: Flask, world: World, queued: QueuedTasks
) -> None:
    add_source(world_app, world.node)
    hoster = client_for(world_app, "hoster")
    token = csrf_token(hoster, "/hoster/mail-logs")
    done = hoster.post(f"/hoster/nodes/{world.node}/read-mail-logs", data={"csrf_token": token})
    assert done.status_code == 302 and done.headers["Location"] == "/hoster/mail-logs"
    default_queue = world_app.config["CELERY"].get("task_default_queue", "celery")
    assert queued.sent == [([world.node], default_queue)]
    assert "Reading the mail logs of node-one is queued" in text_of(hoster.get("/hoster/mail-logs"))

    world_app.config["ONUS_NODE_QUEUES"] = True
    hoster.post(f"/hoster/nodes/{world.node}/read-mail-logs", data={"csrf_token": token})
    assert queued.sent[-1] == ([world.node], "node.node-one")


def test_read_now_on_a_node_without_logs_queues_nothing(
    world_app: Flask, world: World, queued: QueuedTasks
) -> None:
    add_source(world_app, world.node, enabled=False)
    hoster = client_for(world_app, "hoster")
    token = csrf_token(hoster, "/hoster/mail-logs")
    spare = node_id(world_app, "node-spare")
    before = row_counts(world_app)
    for node in (spare, world.node):  # none at all; only a paused one
        done = hoster.post(f"/hoster/nodes/{node}/read-mail-logs", data={"csrf_token": token})
        assert done.status_code == 302
    assert queued.sent == []
    assert row_counts(world_app) == before
    assert "Onus reads no mail log on node-one: add one first." in text_of(
        hoster.get("/hoster/mail-logs")
    )


# --- a package's mail ---------------------------------------------------------------------------


def today_at(hour: int, days_ago: int = 0) -> datetime:
    day = datetime.now(UTC).date() - timedelta(days=days_ago)
    return datetime.combine(day, time(hour), tzinfo=UTC)


def record_flow(app: Flask, package_id: int, address: str = MAILBOX) -> None:
    """Alpha's info@: yesterday 2 hours of mail with 3 refusals (2 full, 1 unknown user at
    the door), today 5 delivered; and 20 days ago 9 delivered, 1 full."""
    with app.app_context():
        rows = [
            (today_at(9, 1), 10, 2, 1, 0, 1),
            (today_at(14, 1), 4, 0, 1, 1, 1),
            (today_at(0, 0), 5, 0, 0, 0, 0),
            (today_at(8, 20), 9, 0, 1, 0, 1),
        ]
        for hour, delivered, deferred, bounced, rejected, over_quota in rows:
            db.session.add(
                MailFlowHour(
                    package_id=package_id,
                    address=address,
                    hour=hour,
                    delivered=delivered,
                    deferred=deferred,
                    bounced=bounced,
                    rejected=rejected,
                    over_quota=over_quota,
                    first_over_quota_at=hour + timedelta(minutes=10) if over_quota else None,
                    last_over_quota_at=hour + timedelta(minutes=10) if over_quota else None,
                )
            )
        for at, kind, full, dsn, reason in (
            (today_at(9, 1) + timedelta(minutes=10), "bounced", True, "5.2.2", FULL),
            (today_at(14, 1) + timedelta(minutes=10), "bounced", True, "5.2.2", FULL),
            (today_at(14, 1) + timedelta(minutes=20), "rejected", False, "5.1.1", UNKNOWN_USER),
            (today_at(8, 20) + timedelta(minutes=10), "bounced", True, "5.2.2", FULL),
        ):
            db.session.add(
                MailRefusal(
                    package_id=package_id,
                    address=address,
                    at=at,
                    kind=kind,
                    over_quota=full,
                    dsn=dsn,
                    reason=reason,
                    queue_id="4FA3B2C1D",
                    server="postfix",
                )
            )
        db.session.commit()
        db.session.remove()


def test_the_package_mail_page_shows_the_exact_figures_per_mailbox_and_day(
    world_app: Flask, world: World
) -> None:
    record_flow(world_app, world.package)
    add_source(world_app, world.node, last_read_at=utcnow())
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    today = datetime.now(UTC).date().isoformat()
    for role in ("hoster", "builder", "owner"):
        page = client_for(world_app, role).get(f"/packages/{world.package}/mail")
        assert page.status_code == 200, role
        text = text_of(page)
        flow = text.split(f"Last refusal {yesterday}", 1)
        assert len(flow) == 2, (role, text)
        # day, delivered, deferred, bounced, rejected, of which full, first and last refusal
        assert flow[1].startswith(" 14 2 2 1 2 "), flow[1][:80]
        assert f" {today} 5 0 0 0 0 — — Total 19 2 2 1 2 " in flow[1]
        assert "The last 14 days" in text
        assert "Onus reads one mail log on this package's node" in text
        refusals = text.split("Refused messages", 1)[1]
        assert "3 messages were refused in this period. Newest first." in refusals
        assert refusals.count(FULL_EN) == 2
        assert "550 5.1.1 — the recipient's address does not exist" in refusals
        assert "rejected" in refusals and "bounced, mailbox full" in refusals
        assert "Recipient address rejected: User unknown" in refusals
        # newest first: the unknown user (14:20) before the full mailbox of 14:10
        assert refusals.index("User unknown") < refusals.index("Mailbox full")


def test_the_period_follows_days_and_bad_input_never_fails(world_app: Flask, world: World) -> None:
    record_flow(world_app, world.package)
    hoster = client_for(world_app, "hoster")
    path = f"/packages/{world.package}/mail"
    month = text_of(hoster.get(f"{path}?days=30"))
    assert "The last 30 days" in month
    assert "Total 28 2 3 1 3 " in month
    assert "4 messages were refused in this period." in month
    for days, shown in (("abc", 14), ("", 14), ("100000", 400), ("-5", 1), ("0", 1), ("1.5", 14)):
        response = hoster.get(f"{path}?days={days}")
        assert response.status_code == 200, days
        if shown == 1:
            assert "The last day:" in text_of(response), days
        else:
            assert f"The last {shown} days" in text_of(response), days
    one_day = text_of(hoster.get(f"{path}?days=1"))
    assert "Total 5 0 0 0 0" in one_day
    assert "No message was refused in this period." in one_day


def test_without_logs_the_page_says_so_plainly(world_app: Flask, world: World) -> None:
    add_source(world_app, world.node, enabled=False)  # a paused log reads nothing
    for role in ("hoster", "owner"):
        text = text_of(client_for(world_app, role).get(f"/packages/{world.package}/mail"))
        assert "Onus reads no mail logs for this package's node" in text, role
        assert "No messages in this period." in text
        assert "No message was refused in this period." in text


@pytest.mark.parametrize("role", ["other_hoster", "other_builder", "other_owner"])
def test_a_foreign_packages_mail_page_is_404(world_app: Flask, world: World, role: str) -> None:
    record_flow(world_app, world.package)
    client = client_for(world_app, role)
    assert client.get(f"/packages/{world.package}/mail").status_code == 404
    assert client.get("/packages/999999/mail").status_code == 404


def test_the_mail_page_is_for_logged_in_people_only(world_app: Flask, world: World) -> None:
    response = https_client(world_app).get(f"/packages/{world.package}/mail")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


@pytest.mark.parametrize(
    ("role", "page"),
    [
        ("hoster", "/hoster/packages/{}"),
        ("builder", "/builder/packages/{}"),
        ("owner", "/client/packages/{}"),
    ],
)
def test_each_package_page_links_to_its_mail(
    world_app: Flask, world: World, role: str, page: str
) -> None:
    response = client_for(world_app, role).get(page.format(world.package))
    assert f'href="/packages/{world.package}/mail"' in response.text
    assert f'href="/packages/{world.package}/report"' in response.text
    mail = client_for(world_app, role).get(f"/packages/{world.package}/mail")
    assert f'href="/packages/{world.package}/report"' in mail.text
    assert f'href="{page.format(world.package)}"' in mail.text  # back to the package


def test_addresses_and_server_words_are_escaped(world_app: Flask, world: World) -> None:
    evil = "<script>alert(1)</script>@alpha.example"
    with world_app.app_context():
        db.session.add(
            MailRefusal(
                package_id=world.package,
                address=evil,
                at=utcnow() - timedelta(minutes=5),
                kind="rejected",
                over_quota=False,
                dsn="5.1.1",
                reason='550 5.1.1 <script>alert("x")</script> unknown',
                server="postfix",
            )
        )
        db.session.commit()
    record_flow(world_app, world.package, evil)
    page = client_for(world_app, "hoster").get(f"/packages/{world.package}/mail").text
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;@alpha.example" in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; unknown" in page


def test_a_dutch_reader_gets_the_dutch_explanation(world_app: Flask, world: World) -> None:
    record_flow(world_app, world.package)
    set_language(world_app, "owner", "nl")
    text = text_of(client_for(world_app, "owner").get(f"/packages/{world.package}/mail"))
    assert FULL_NL in text
    assert FULL_EN not in text
    set_language(world_app, "builder", "en")
    english = text_of(client_for(world_app, "builder").get(f"/packages/{world.package}/mail"))
    assert FULL_EN in english and FULL_NL not in english


# --- bounces received ---------------------------------------------------------------------------


def open_critical(app: Flask, package_id: int, address: str) -> tuple[int, dict[int, int]]:
    """A critical alert on the mailbox; its id and its email notifications by party."""
    with app.app_context():
        now = utcnow()
        measure(package_id, now - timedelta(minutes=1), mailboxes={address: 55 * MIB})
        alerts.evaluate([package_id], now)
        alert_id = db.session.scalars(select(Alert.id).where(Alert.package_id == package_id)).one()
        found = db.session.scalars(
            select(Notification).where(
                Notification.channel == "email", Notification.alert_id == alert_id
            )
        ).all()
        by_party = {n.party_id: n.id for n in found}
        db.session.remove()
        return alert_id, by_party


def test_the_bounces_page_lists_the_hosters_bounces_newest_first(
    world_app: Flask, world: World
) -> None:
    alert_id, notes = open_critical(world_app, world.package, MAILBOX)
    _foreign_alert, foreign = open_critical(world_app, world.foreign_package, "info@gamma.example")
    now = utcnow()
    with world_app.app_context():
        db.session.add_all(
            [
                ReceivedBounce(
                    received_at=now - timedelta(hours=2),
                    is_bounce=True,
                    notification_id=notes[world.owner],
                    recipient="owner@elsewhere.example",
                    status="5.2.2",
                    action="failed",
                    permanent=True,
                    diagnostic="smtp; 552 5.2.2 Mailbox full <b>now</b>",
                    outcome="warning marked bounced; escalated to the next party",
                ),
                ReceivedBounce(
                    received_at=now - timedelta(hours=1),
                    is_bounce=False,
                    notification_id=notes[world.builder],
                    recipient=None,
                    diagnostic="",
                    outcome="an out-of-office reply: nothing done",
                ),
                ReceivedBounce(
                    received_at=now,
                    is_bounce=True,
                    notification_id=next(iter(foreign.values())),
                    recipient="owner3@elsewhere.example",
                    status="5.1.1",
                    diagnostic="550 5.1.1 foreign",
                    outcome="foreign",
                ),
                ReceivedBounce(received_at=now, is_bounce=True, outcome="stray: nobody's"),
            ]
        )
        db.session.commit()
    page = client_for(world_app, "hoster").get("/hoster/bounces")
    assert page.status_code == 200
    text = text_of(page)
    rows = text.split("What Onus did", 1)[1]
    assert "no critical mailbox info@alpha.example · alpha · to Builder One" in rows
    assert "an out-of-office reply: nothing done" in rows
    assert (
        "yes (permanent) critical mailbox info@alpha.example · alpha · to Owner Alpha "
        "owner@elsewhere.example 552 5.2.2 — the recipient's mailbox is full; the message was "
        "refused and the sender got it back smtp; 552 5.2.2 Mailbox full <b>now</b> "
        "warning marked bounced; escalated to the next party"
    ) in rows.replace("&lt;", "<").replace("&gt;", ">")
    assert "&lt;b&gt;now&lt;/b&gt;" in page.text
    assert rows.index("out-of-office") < rows.index("Mailbox full")  # newest first
    assert page.text.count(f'href="/alerts/{alert_id}"') == 2
    assert "foreign" not in rows and "stray" not in rows
    # the stray bounce is counted for every hoster, its content shown to none
    counted = "0 messages that were no bounce and 1 bounces of no warning of Onus"
    assert counted in text
    other = text_of(client_for(world_app, "other_hoster").get("/hoster/bounces"))
    assert "foreign" in other and "alpha" not in other and "stray" not in other
    assert counted in other


def test_without_bounces_the_page_says_so(world_app: Flask) -> None:
    text = text_of(client_for(world_app, "hoster").get("/hoster/bounces"))
    assert "No bounce has come back." in text


def test_each_package_page_sums_up_its_mail_of_the_week(world_app: Flask, world: World) -> None:
    pages = {
        "hoster": f"/hoster/packages/{world.package}",
        "builder": f"/builder/packages/{world.package}",
        "owner": f"/client/packages/{world.package}",
    }
    record_flow(world_app, world.package)  # the 20 days old mail is not of this week
    for role, path in pages.items():
        assert "Mail in the last 7 days" not in text_of(client_for(world_app, role).get(path))
    add_source(world_app, world.node, last_read_at=utcnow())
    for role, path in pages.items():
        text = text_of(client_for(world_app, role).get(path))
        assert (
            "Mail in the last 7 days: 19 messages delivered, 3 refused "
            "(2 because a mailbox was full)."
        ) in text, role
