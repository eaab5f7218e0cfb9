"""Background work end to end: a real Celery worker process, started by the test, takes tasks
from the real broker (the embedded SQLite one, or Redis when ONUS_BROKER_URL says so) and works
on the test's own database; mail goes to a real SMTP server (aiosmtpd) on 127.0.0.1.

The worker runs ``celery -A workers worker``, the production entry point, with ONUS_* variables
pointing at this test's database, broker and SMTP port. Each test's worker consumes a queue of
its own (unique per run and test), so it never takes tasks that other tests (or runs) left on
the broker, and nothing else takes its. A worker's warm shutdown takes seconds, so a test only
begins it (SIGTERM) and the module's teardown waits for all of them to end.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from celery.result import AsyncResult
from flask import Flask
from flask_babel import force_locale, gettext
from sqlalchemy import select

from panel.config import load_settings
from panel.extensions import db
from panel.models import Alert, Invitation, Package, PackageUsage, Party, User, WorkerHeartbeat
from panel.models.base import utcnow
from panel.services import catalog, invitations, mailflow
from panel.services.scope import Actor
from tests.conftest import DatabaseStates, close_app, csrf_token, https_client, login, make_app
from tests.smtp import Received, SMTPSink, free_port
from tests.world import LOGINS, PASSWORD, World
from workers import worker_command
from workers.tasks import ingest_mail_logs, record_heartbeat, send_invitation

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RUN = f"onus-test-{uuid.uuid4().hex[:12]}"
WORKER_START_TIMEOUT = 30.0
TASK_TIMEOUT = 30.0
MAIL_FROM = "panel@onus.test"
DUTCH_CATALOG = PROJECT_ROOT / "panel" / "translations" / "nl" / "LC_MESSAGES" / "messages.mo"
ENGLISH_SUBJECT = "You are invited to Onus for %(party)s"
NAME = "Ivy <b>Invitee</b>"  # HTML in a name must reach the HTML part escaped


class Worker:
    """``celery -A workers worker`` in a subprocess, its output in a log file."""

    def __init__(
        self,
        log_path: Path,
        database_url: str,
        queue: str,
        mail_port: int,
        settings: dict[str, str] | None = None,
    ) -> None:
        env = {
            **os.environ,  # ONUS_INSTANCE_PATH (the shared secret key), ONUS_BROKER_URL, ...
            "ONUS_DATABASE_URL": database_url,
            "ONUS_MAIL_SERVER": "127.0.0.1",
            "ONUS_MAIL_PORT": str(mail_port),
            "ONUS_MAIL_FROM": MAIL_FROM,
            "ONUS_MAIL_STARTTLS": "0",
            "ONUS_MAIL_USERNAME": "",
            # retries after a dead SMTP server come within seconds, not half a minute
            "ONUS_MAIL_RETRY_BACKOFF": "1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p
            ),
            **(settings or {}),
        }
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            worker_command(
                "--pool=solo",
                "--loglevel=INFO",
                "-Q",
                queue,
                "-n",
                f"{queue}@%h",
                # no cluster chatter: this worker talks to the broker about its queue only
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
            ),
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = WORKER_START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while " ready." not in self.log:
            if self.process.poll() is not None:
                pytest.fail(f"the worker exited with {self.process.returncode}:\n{self.log}")
            if time.monotonic() >= deadline:
                pytest.fail(f"the worker was not ready within {timeout} s:\n{self.log}")
            time.sleep(0.1)

    def shut_down(self) -> None:
        """Begin a warm shutdown (SIGTERM): unfinished messages go back to the broker."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait_stopped(self, timeout: float = 15.0) -> None:
        """Wait for the shutdown to end; kill the worker if it does not."""
        self.shut_down()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        finally:
            self._log.close()


@pytest.fixture(scope="module")
def stopping() -> Iterator[list[Worker]]:
    """Workers told to stop; after the module every one has, and nothing of this run's queues
    is left on a shared Redis broker."""
    workers: list[Worker] = []
    yield workers
    try:
        for worker in workers:
            worker.wait_stopped()
    finally:
        forget_queues()


def celery_settings() -> dict[str, Any]:
    settings = load_settings()["CELERY"]
    assert isinstance(settings, dict)
    return settings


def forget_queues() -> None:
    """Delete this run's queues (and their bindings) from a Redis broker; only those."""
    broker_url = celery_settings()["broker_url"]
    if not broker_url.startswith("redis"):
        return  # the embedded broker lives in this session's temporary folder
    import redis

    client = redis.Redis.from_url(broker_url)
    try:
        for key in client.scan_iter(match=f"*{RUN}*"):
            client.delete(key)
        for binding in client.scan_iter(match="_kombu.binding.*"):
            for member in client.smembers(binding):
                if RUN.encode() in member:
                    client.srem(binding, member)
        # our workers' remote-control exchange got an expiry deadline; once its binding table
        # is gone (the last worker on it stopped), the deadline is stale: kombu's sweep drops it
        # too, but only when a consumer runs one
        deadlines = "_kombu.binding_deadlines"
        for exchange in client.zrange(deadlines, 0, -1):
            name = exchange.decode()
            ours = RUN in name or name == "celery.pidbox"
            if ours and not client.exists(f"_kombu.binding.{name}"):
                client.zrem(deadlines, exchange)
    finally:
        client.close()


@pytest.fixture
def queue(request: pytest.FixtureRequest) -> str:
    """This test's own queue."""
    return f"{RUN}-{request.node.name[:40]}"


@pytest.fixture
def start_worker(
    tmp_path: Path, database: DatabaseStates, queue: str, stopping: list[Worker]
) -> Iterator[Callable[..., Worker]]:
    """Starts a ready worker on this test's queue, mailing to 127.0.0.1:<port>; every one is
    told to stop when the test ends."""
    started: list[Worker] = []

    def start(
        mail_port: int, own_queue: str | None = None, settings: dict[str, str] | None = None
    ) -> Worker:
        worker = Worker(
            tmp_path / f"worker-{len(started)}.log",
            database.url,
            own_queue or queue,
            mail_port,
            settings,
        )
        started.append(worker)
        stopping.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.shut_down()


@pytest.fixture
def panel(database: DatabaseStates, queue: str) -> Iterator[Flask]:
    """The seeded world, with an app whose tasks go to this test's queue."""
    database.restore("world")
    app = make_app(database, CELERY={**celery_settings(), "task_default_queue": queue})
    yield app
    close_app(app)


def finished(result: AsyncResult, worker: Worker, timeout: float = TASK_TIMEOUT) -> Any:
    """The task's return value; a failure shows the worker's log."""
    try:
        value = result.get(timeout=timeout)
    except Exception as exc:
        pytest.fail(f"task {result.id} did not succeed: {exc!r}\n--- worker log ---\n{worker.log}")
    finally:
        result.forget()
    return value


def wait_for_log(worker: Worker, pattern: str, timeout: float = 10.0) -> str:
    """The first group of ``pattern`` once it shows in the worker's log."""
    deadline = time.monotonic() + timeout
    while not (match := re.search(pattern, worker.log)):
        assert time.monotonic() < deadline, f"no {pattern!r} in the worker log:\n{worker.log}"
        time.sleep(0.05)
    return match.group(1)


def hoster_actor(world: World) -> Actor:
    user = db.session.scalars(select(User).where(User.email == LOGINS["hoster"])).one()
    return Actor.for_membership(user, db.session.get(Party, world.hoster))


def text_and_html(received: Received) -> tuple[str, str]:
    """The plain and HTML bodies of a multipart/alternative message."""
    message = received.message
    assert message.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part for part in message.iter_parts()}
    assert set(parts) == {"text/plain", "text/html"}
    return parts["text/plain"].get_content(), parts["text/html"].get_content()


def expect_in_party_language(app: Flask, received: Received, party: str, name: str) -> None:
    """Subject and greeting as the party's language (Dutch for the world's Owner Alpha) has
    them; with the Dutch catalog present they must differ from the English."""
    with app.app_context(), force_locale("nl"):
        subject = gettext(ENGLISH_SUBJECT, party=party)
        hello = gettext("Hello %(name)s,", name=name)
    text, _html = text_and_html(received)
    assert received.message["Subject"] == subject
    assert hello in text
    if DUTCH_CATALOG.exists():
        assert subject != ENGLISH_SUBJECT % {"party": party}, "the subject is not in Dutch"


def test_heartbeat_runs_on_a_real_worker_through_the_broker(
    panel: Flask, start_worker: Callable[[int], Worker]
) -> None:
    hostname = socket.gethostname()
    client = https_client(panel)
    login(client, LOGINS["hoster"], PASSWORD)
    assert "Background worker last seen" not in client.get("/hoster/").get_data(as_text=True)
    with panel.app_context():
        assert db.session.get(WorkerHeartbeat, hostname) is None
    worker = start_worker(free_port())

    before = utcnow()
    result = record_heartbeat.delay()
    value = finished(result, worker)
    after = utcnow()

    assert wait_for_log(worker, r"record_heartbeat\[([0-9a-f-]+)\] succeeded") == result.id
    with panel.app_context():
        beat = db.session.get(WorkerHeartbeat, hostname)
        assert beat is not None, "the worker did not record its heartbeat in the test database"
        assert before - timedelta(seconds=1) <= beat.last_seen <= after
        assert datetime.fromisoformat(value) == beat.last_seen
    assert "Background worker last seen" in client.get("/hoster/").get_data(as_text=True)


def test_invitation_mail_goes_out_in_the_partys_language(
    panel: Flask, start_worker: Callable[[int], Worker], smtp: SMTPSink
) -> None:
    with panel.app_context():
        world = World.load()
        owner = db.session.get(Party, world.owner)
        assert owner is not None and owner.language == "nl"
        email, secret = " Ivy.Invitee@Example.org ", panel.config["SECRET_KEY"]
        invitation, token = invitations.invite(hoster_actor(world), owner, email, NAME, secret)
        invitation_id = invitation.id
    link = f"https://localhost/invite/{token}"
    worker = start_worker(smtp.port)

    message_id = finished(send_invitation.delay(invitation_id, link), worker)

    received = smtp.wait_for(1)
    assert len(received) == 1, [r.rcpt_tos for r in received]
    [mail] = received
    assert mail.rcpt_tos == ["ivy.invitee@example.org"]
    assert mail.mail_from == MAIL_FROM
    assert mail.message["To"] == "ivy.invitee@example.org"
    assert mail.message["Message-ID"] == message_id
    assert "Owner Alpha" in mail.message["Subject"]
    text, html = text_and_html(mail)
    assert link in text
    assert f'href="{link}"' in html
    assert NAME in text
    assert "Ivy &lt;b&gt;Invitee&lt;/b&gt;" in html and "<b>" not in html  # escaped, as HTML
    expect_in_party_language(panel, mail, "Owner Alpha", NAME)


def test_a_dead_smtp_server_means_retry_not_loss(
    panel: Flask, start_worker: Callable[[int], Worker]
) -> None:
    with panel.app_context():
        # the world's open invitation, for new.person@one.example into Owner Alpha
        invitation = db.session.scalars(select(Invitation)).one()
        assert invitation.accepted_at is None
        invitation_id, email = invitation.id, invitation.email
    link = "https://localhost/invite/seeded-token"
    dead_port = free_port()
    worker = start_worker(dead_port)

    result = send_invitation.delay(invitation_id, link)
    deadline = time.monotonic() + TASK_TIMEOUT
    states = []
    while (state := AsyncResult(result.id).state) != "RETRY":
        states.append(state)
        assert state not in {"FAILURE", "SUCCESS"}, f"{state} instead of RETRY:\n{worker.log}"
        assert time.monotonic() < deadline, f"never RETRY, only {set(states)}:\n{worker.log}"
        time.sleep(0.1)
    assert re.search(r"send_invitation\[[^]]+\] retry: Retry in \d+s", worker.log), worker.log

    with SMTPSink(port=dead_port) as smtp:  # the server comes back on the same port
        message_id = finished(result, worker)
        received = smtp.wait_for(1)
    assert len(received) == 1, [r.rcpt_tos for r in received]
    assert received[0].rcpt_tos == [email]
    assert received[0].message["Message-ID"] == message_id
    assert link in text_and_html(received[0])[0]


def test_the_invite_form_has_the_worker_mail_the_link(
    panel: Flask, start_worker: Callable[[int], Worker], smtp: SMTPSink
) -> None:
    with panel.app_context():
        owner_id = World.load().owner
    worker = start_worker(smtp.port)
    client = https_client(panel)
    login(client, LOGINS["hoster"], PASSWORD)
    party_page = f"/hoster/parties/{owner_id}"
    token = csrf_token(client, party_page)

    response = client.post(
        f"{party_page}/invite",
        data={
            "csrf_token": token,
            "invite-email": "colleague@elsewhere.example",
            "invite-name": "Cole League",
        },
    )

    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"].endswith(party_page)
    received = smtp.wait_for(1, timeout=TASK_TIMEOUT)
    assert len(received) == 1, [r.rcpt_tos for r in received]
    [mail] = received
    assert mail.rcpt_tos == ["colleague@elsewhere.example"]
    task_id = wait_for_log(worker, r"send_invitation\[([0-9a-f-]+)\] succeeded")
    assert finished(AsyncResult(task_id), worker) == mail.message["Message-ID"]
    text, _html = text_and_html(mail)
    match = re.search(r"https://localhost(/invite/[\w.-]+)", text)
    assert match, text
    expect_in_party_language(panel, mail, "Owner Alpha", "Cole League")
    # the mailed link is the one that works: signed with the key the web app shares
    page = https_client(panel).get(match.group(1))
    assert page.status_code == 200, page.get_data(as_text=True)
    with panel.app_context():
        invitation = db.session.scalars(
            select(Invitation).where(Invitation.email == "colleague@elsewhere.example")
        ).one()
        assert invitation.accepted_at is None


def test_measure_now_runs_on_the_nodes_own_queue(
    panel: Flask, start_worker: Callable[..., Worker], queue: str, tmp_path: Path
) -> None:
    """A node's worker consumes node.<name>; "measure now" lands there and the figures of
    the files on that node reach the panel's database."""
    home = tmp_path / "node" / "home" / "alpha"
    maildir = home / "mail" / "alpha.example" / "info"
    for folder in ("cur", "new", "tmp"):
        (maildir / folder).mkdir(parents=True)
    (maildir / "new" / "1700000000.M1P1.node,S=3000").write_bytes(b"x" * 3000)
    (maildir / "cur" / "1700000001.M2P1.node:2,S").write_bytes(b"y" * 5000)
    (home / "public_html").mkdir()
    (home / "public_html" / "index.html").write_bytes(b"<p>hello</p>" * 100)
    with panel.app_context():
        world = World.load()
        node = catalog.save_node(
            hoster_actor(world),
            None,
            {
                "name": queue,
                "layout": "cpanel",
                "home_template": f"{tmp_path}/node/home/{{package}}",
                "mail_template": "",
                "docroot_template": "",
            },
        )
        package = db.session.get(Package, world.package)
        package.node_id = node.id
        db.session.commit()
        package_id = package.id
    panel.config["ONUS_NODE_QUEUES"] = True
    worker = start_worker(
        0,
        f"node.{queue}",
        {
            "ONUS_NODE_QUEUES": "1",
            "ONUS_SCAN_CACHE_DIR": str(tmp_path / "cache"),
        },
    )
    client = https_client(panel)
    login(client, LOGINS["hoster"], PASSWORD)
    page = f"/hoster/packages/{package_id}"
    response = client.post(f"{page}/measure", data={"csrf_token": csrf_token(client, page)})
    assert response.status_code == 302

    wait_for_log(worker, r"measure_package\[([0-9a-f-]+)\] succeeded", timeout=TASK_TIMEOUT)
    with panel.app_context():
        latest = db.session.get(PackageUsage, package_id)
        assert latest is not None
        assert latest.mail_bytes == 8000 and latest.site_bytes == 1200
        assert latest.report["mailboxes"]["info@alpha.example"]["messages"] == 2
    assert (tmp_path / "cache" / f"package-{package_id}.cache").exists()
    text = client.get(page).get_data(as_text=True)
    assert "7.8 KiB" in text and "info@alpha.example" in text


def test_a_nodes_worker_reads_its_mail_log_and_a_full_mailbox_opens_an_alert(
    panel: Flask, start_worker: Callable[..., Worker], queue: str, tmp_path: Path
) -> None:
    """The node's worker follows the log where it is; the refusals it reads reach the panel's
    database, and the first over-quota one opens the critical delivery alert."""
    now = utcnow().replace(microsecond=0)
    log = tmp_path / "mail.log"
    log.write_text(
        "".join(
            f"{(now - timedelta(minutes=9 - 3 * i)).isoformat()} mx1 postfix/lmtp[9]: Q{i:09d}: "
            "to=<info@alpha.example>, relay=mx[private/dovecot-lmtp], delay=1, dsn=5.2.2, "
            "status=bounced (host mx said: 552 5.2.2 Mailbox is full)\n"
            for i in range(3)
        )
    )
    with panel.app_context():
        world = World.load()
        node = catalog.save_node(
            hoster_actor(world),
            None,
            {"name": queue, "layout": "cpanel", "home_template": "", "mail_template": "",
             "docroot_template": ""},
        )  # fmt: skip
        package = db.session.get_one(Package, world.package)
        package.node_id = node.id
        db.session.commit()
        mailflow.add_source(hoster_actor(world), node.id, str(log))
        node_id, package_id = node.id, package.id
    worker = start_worker(0, f"node.{queue}", {"ONUS_NODE_QUEUES": "1"})

    counts = finished(ingest_mail_logs.apply_async(args=[node_id], queue=f"node.{queue}"), worker)

    assert (counts["lines"], counts["refusals"], counts["opened"]) == (3, 3, 1)
    with panel.app_context():
        alert = db.session.scalars(select(Alert).where(Alert.package_id == package_id)).one()
        assert (alert.subject, alert.level, alert.refused) == (
            "delivery:info@alpha.example", "critical", 3,
        )  # fmt: skip


def test_mail_the_policy_server_defers_opens_the_alert_in_a_worker(
    panel: Flask,
    start_worker: Callable[..., Worker],
    queue: str,
    smtp: SMTPSink,
    tmp_path: Path,
) -> None:
    """The policy server answers and counts; the delivery alert is opened by a worker, from
    the task the server queues on the broker, and its notifications go out from there."""
    from panel.policy_server import PolicyServer, Settings
    from tests.alerting import MIB, measure

    with panel.app_context():
        world = World.load()
        address = "info@alpha.example"
        measure(world.package, utcnow() - timedelta(hours=1), mailboxes={address: 60 * MIB})
        worker = start_worker(smtp.port, settings={"ONUS_DEFAULT_QUEUE": queue})
        server = PolicyServer(panel, Settings(refresh_seconds=3600, flush_seconds=3600))
        server.start(str(tmp_path / "policy.sock"))
        try:
            assert server.refresh()
            with socket.socket(socket.AF_UNIX) as client:
                client.connect(str(tmp_path / "policy.sock"))
                client.sendall(
                    f"request=smtpd_access_policy\nprotocol_state=RCPT\n"
                    f"recipient={address}\n\n".encode()
                )
                assert client.recv(4096).startswith(b"action=452 4.2.2")
            assert server.flush() == 1
        finally:
            server.stop()
        assert server.counters.alert_failures == 0
        deadline = time.monotonic() + TASK_TIMEOUT
        alert = None
        while alert is None and time.monotonic() < deadline:
            db.session.rollback()
            alert = db.session.scalars(
                select(Alert).where(Alert.subject == f"delivery:{address}")
            ).first()
            time.sleep(0.2)
        assert alert is not None, worker.log
        assert (alert.level, alert.refused) == ("critical", 1)
        received = smtp.wait_for(1, timeout=TASK_TIMEOUT)
        assert received, worker.log
        assert all(address not in r.rcpt_tos for r in received)  # told elsewhere, not there
