"""The policy server, spoken to over real sockets as Postfix speaks to it: a full mailbox
is deferred during its grace period and refused after it, everything else is DUNNO, broken
clients and a missing database never stall an answer, and every refusal is counted."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from panel.extensions import db
from panel.mailflow import delegation
from panel.models import (
    Alert,
    Mailbox,
    MailFlowHour,
    MailRefusal,
    Notification,
    Package,
    TermsTemplate,
    User,
)
from panel.policy_server import PolicyServer, Settings
from panel.services import agreements, alerts, grace
from panel.services.grace import Verdict
from panel.services.scope import Actor
from tests.alerting import MIB, measure
from tests.conftest import DatabaseStates, close_app, make_app
from tests.world import LOGINS, World
from workers.tasks import alert_policy_refusals

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
QUOTA = 50 * MIB  # the world's plan: each mailbox's default quota


class Clock:
    """The server's clock, moved by the tests."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def panel(database: DatabaseStates) -> Iterator[Flask]:
    database.restore("world")
    app = make_app(database)
    with app.app_context():
        yield app
    close_app(app)


@pytest.fixture
def world(panel: Flask) -> World:
    return World.load()


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


def _start(
    app: Flask, clock: Clock, listen: str = "127.0.0.1:0", **settings: float
) -> PolicyServer:
    """A server whose alert task runs here, in the test, as the worker would run it
    (tests/test_workers.py has a real worker do it)."""
    server = PolicyServer(
        app,
        Settings(refresh_seconds=3600, flush_seconds=3600, **settings),
        clock=clock,
        tell=alert_policy_refusals,
    )
    server.start(listen)
    return server


@pytest.fixture
def server(panel: Flask, world: World, clock: Clock) -> Iterator[PolicyServer]:
    server = _start(panel, clock)
    yield server
    server.stop()


def _address(world: World, name: str = "mailbox") -> str:
    return db.session.get_one(Mailbox, getattr(world, name)).address


def _beta_address(world: World) -> str:
    return db.session.scalars(
        select(Mailbox.address).where(Mailbox.package_id == world.other_package)
    ).one()


def request(recipient: str, **extra: str) -> bytes:
    attributes = {
        "request": "smtpd_access_policy",
        "protocol_state": "RCPT",
        "protocol_name": "ESMTP",
        "client_address": "192.0.2.7",
        "sender": "someone@example.org",
        "recipient": recipient,
        "instance": "1a2b.3c4d.5e6f.0",
        **extra,
    }
    return "".join(f"{k}={v}\n" for k, v in attributes.items()).encode() + b"\n"


def _connect(address: str | tuple[str, int]) -> socket.socket:
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(2.0)
    sock.connect(address)
    return sock


def _read_answer(sock: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n\n"):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    line = data.decode().strip()
    assert line.startswith("action="), line
    return line.removeprefix("action=")


def ask(server: PolicyServer, *payloads: bytes) -> list[str]:
    """Send requests on one connection (keep-alive, as Postfix does), one answer each."""
    assert server.address is not None
    with _connect(server.address) as sock:
        answers = []
        for payload in payloads:
            sock.sendall(payload)
            answers.append(_read_answer(sock))
        return answers


def _full(world: World, at: datetime, address: str, package: str = "package") -> None:
    measure(getattr(world, package), at, mailboxes={address: QUOTA + MIB})


def test_a_full_mailbox_is_deferred_in_its_grace_period_and_refused_after(
    server: PolicyServer, world: World, clock: Clock
) -> None:
    info = _address(world)
    beta = _beta_address(world)
    _full(world, NOW - timedelta(hours=1), info)
    measure(world.other_package, NOW, mailboxes={beta: QUOTA - MIB})  # not full
    assert server.refresh()

    first, not_full, stranger, capitals, at_data = ask(
        server, request(info), request(beta), request("nobody@else.example"),
        request(f"<{info.upper()}>"), request(info, protocol_state="DATA"),
    )  # fmt: skip
    assert at_data == "DUNNO"  # a refusal there would hit every recipient of the message
    assert first == f"452 4.2.2 <{info}> Mailbox is full; try again later (onus policy)"
    assert capitals.startswith("452 4.2.2")
    assert (not_full, stranger) == ("DUNNO", "DUNNO")

    clock.now = NOW + timedelta(hours=72)  # the default grace: 72 hours from full
    assert ask(server, request(info)) == [f"552 5.2.2 <{info}> Mailbox is full (onus policy)"]


def test_an_open_alert_says_since_when_the_mailbox_is_full(
    server: PolicyServer, world: World
) -> None:
    info = _address(world)
    _full(world, NOW - timedelta(hours=100), info)
    alerts.evaluate([world.package], NOW - timedelta(hours=100))  # critical since then
    _full(world, NOW, info)  # measured full again just now
    assert server.refresh()
    assert ask(server, request(info))[0].startswith("552 5.2.2")


def test_an_agreement_that_says_bounce_refuses_at_once(server: PolicyServer, world: World) -> None:
    beta = _beta_address(world)
    user = db.session.scalars(select(User).where(User.email == LOGINS["hoster"])).one()
    actor = Actor.for_membership(user, user.memberships[0].party)
    terms = db.session.get_one(TermsTemplate, world.terms)
    values = {
        "name": terms.name, "text_en": terms.text_en, "text_nl": terms.text_nl,
        "matrix": terms.matrix, "thresholds": terms.thresholds, "deadlines": terms.deadlines,
        "grace": {"at_full": "bounce", "defer_hours": 72, "upgrade": "none"},
    }  # fmt: skip
    strict = agreements.save_template(actor, terms, values)
    agreements.apply_template(actor, db.session.get_one(Package, world.other_package), strict)
    db.session.commit()
    _full(world, NOW, beta, "other_package")
    assert server.refresh()
    assert ask(server, request(beta)) == [f"552 5.2.2 <{beta}> Mailbox is full (onus policy)"]


def test_every_refusal_is_counted_and_a_failed_write_is_kept(
    server: PolicyServer, world: World, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = _address(world)
    _full(world, NOW - timedelta(hours=1), info)
    assert server.refresh()
    ask(server, request(info), request(info), request("nobody@else.example"))
    clock.now = NOW + timedelta(hours=80)
    ask(server, request(info))

    def down(_batch: object) -> int:
        raise RuntimeError("database gone")

    monkeypatch.setattr("panel.policy_server.record_refusals", down)
    assert server.flush() == 0
    assert server.pending() == 3  # kept for the next flush
    monkeypatch.undo()
    assert server.flush() == 3
    assert server.pending() == 0

    db.session.rollback()
    hours = {
        row.hour: row
        for row in db.session.scalars(select(MailFlowHour).where(MailFlowHour.address == info))
    }
    assert hours[NOW].deferred == 2
    later = hours[NOW + timedelta(hours=80)]
    assert (later.rejected, later.over_quota, later.deferred) == (1, 1, 0)
    assert later.first_over_quota_at == later.last_over_quota_at == NOW + timedelta(hours=80)
    refusals = db.session.scalars(select(MailRefusal).order_by(MailRefusal.at)).all()
    assert [(r.dsn, r.kind, r.over_quota, r.server) for r in refusals] == [
        ("4.2.2", "rejected", True, "onus-policy"),
        ("4.2.2", "rejected", True, "onus-policy"),
        ("5.2.2", "rejected", True, "onus-policy"),
    ]
    assert refusals[0].package_id == world.package
    assert refusals[2].reason.startswith("552 5.2.2")


def test_counts_are_added_to_the_hours_the_log_ingest_made(world: World) -> None:
    info = _address(world)
    db.session.add(
        MailFlowHour(
            package_id=world.package, address=info, hour=NOW,
            delivered=5, deferred=1, bounced=0, rejected=0, over_quota=0,
        )
    )  # fmt: skip
    db.session.commit()
    at = NOW + timedelta(minutes=5)
    grace.record_refusals(
        [grace.Answered(world.package, info, at, Verdict.BOUNCE, "552 5.2.2 full")] * 2
    )
    row = db.session.scalars(select(MailFlowHour)).one()
    assert (row.delivered, row.deferred, row.rejected, row.over_quota) == (5, 1, 2, 2)


MALFORMED = [
    b"request=smtpd_access_policy\nrecipient=a@b.example\n",  # no empty line, then closed
    bytes(range(256)) * 8 + b"\n\n",  # binary junk
    b"recipient=" + b"x" * 100_000 + b"\n\n",  # an over-long line
    b"request=smtpd_access_policy\nprotocol_state=RCPT\n\n",  # no recipient
    b"".join(b"attr%d=%d\n" % (i, i) for i in range(1000)) + b"\n",  # 1,000 attributes
    b"\n",  # an empty request
    b"\xff\xfe=\x00\n\n",
]


@pytest.mark.parametrize("payload", MALFORMED, ids=range(len(MALFORMED)))
def test_a_malformed_request_gets_dunno_or_a_closed_connection(
    server: PolicyServer, world: World, payload: bytes
) -> None:
    info = _address(world)
    _full(world, NOW, info)
    assert server.refresh()
    assert server.address is not None
    with _connect(server.address) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    assert data in (b"", b"action=DUNNO\n\n"), data[:200]
    # the server goes on answering the next client
    assert ask(server, request(info))[0].startswith("452 4.2.2")


def test_a_spoilt_request_does_not_spoil_the_next_on_the_same_connection(
    server: PolicyServer, world: World
) -> None:
    info = _address(world)
    _full(world, NOW, info)
    assert server.refresh()
    answers = ask(
        server, b"junk without equals\nrecipient=" + info.encode() + b"\n\n", request(info)
    )
    assert answers[0] == "DUNNO"
    assert answers[1].startswith("452 4.2.2")


def test_a_silent_client_is_dropped_after_the_idle_timeout(
    panel: Flask, world: World, clock: Clock
) -> None:
    server = _start(panel, clock, idle_timeout=0.3)
    try:
        assert server.address is not None
        with _connect(server.address) as sock:
            sock.sendall(b"request=smtpd_access_policy\n")  # and then nothing
            started = time.monotonic()
            assert sock.recv(10) == b""
            assert time.monotonic() - started < 1.5
        assert ask(server, request("nobody@else.example")) == ["DUNNO"]
    finally:
        server.stop()


def test_two_hundred_concurrent_connections_are_all_answered(
    server: PolicyServer, world: World
) -> None:
    info = _address(world)
    _full(world, NOW, info)
    assert server.refresh()
    assert server.address is not None
    host, port = server.address

    async def client(n: int) -> list[str]:
        reader, writer = await asyncio.open_connection(host, port)
        answers = []
        for i in range(5):
            writer.write(request(info if (n + i) % 2 else f"x{n}.{i}@else.example"))
            await writer.drain()
            answers.append((await asyncio.wait_for(reader.readuntil(b"\n\n"), 5)).decode())
        writer.close()
        await writer.wait_closed()
        return answers

    async def all_clients() -> list[list[str]]:
        return await asyncio.gather(*(client(n) for n in range(200)))

    results = asyncio.run(all_clients())
    flat = [a for answers in results for a in answers]
    assert len(flat) == 1000
    assert sum(a.startswith("action=452 4.2.2") for a in flat) == 500
    assert sum(a == "action=DUNNO\n\n" for a in flat) == 500


def test_a_unix_socket_works_like_tcp(
    panel: Flask, world: World, clock: Clock, tmp_path: Path
) -> None:
    info = _address(world)
    _full(world, NOW, info)
    server = _start(panel, clock, str(tmp_path / "policy.sock"))
    try:
        assert server.refresh()
        assert ask(server, request(info))[0].startswith("452 4.2.2")
    finally:
        server.stop()
    assert not (tmp_path / "policy.sock").exists()


def _timed(server: PolicyServer, payload: bytes, times: int) -> list[tuple[str, float]]:
    out = []
    for _ in range(times):
        started = time.monotonic()
        (answer,) = ask(server, payload)
        out.append((answer, time.monotonic() - started))
    return out


def test_without_a_database_every_answer_is_dunno_at_once(
    database: DatabaseStates, world: World, clock: Clock, tmp_path: Path
) -> None:
    info = _address(world)
    _full(world, NOW, info)
    down = make_app(database, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/no/such/dir/x.db")
    server = _start(down, clock)
    try:
        assert not server.refresh()
        for answer, seconds in _timed(server, request(info), 20):
            assert answer == "DUNNO"
            assert seconds < 0.5
        # a refusal that cannot be written is kept, and answering goes on regardless
        server._queue(grace.Answered(world.package, info, NOW, Verdict.DEFER, "452"))
        assert server.flush() == 0
        assert server.pending() == 1
        assert server.counters.load_failures >= 1
    finally:
        server._pending.clear()
        server.stop()
        close_app(down)


def test_a_stalled_database_read_never_delays_an_answer(
    panel: Flask, world: World, clock: Clock
) -> None:
    info = _address(world)
    _full(world, NOW, info)
    release = threading.Event()
    loads: list[int] = []

    def stalled(now: datetime) -> grace.Snapshot:
        loads.append(1)
        if len(loads) > 1:
            release.wait(10)  # the database hangs
            raise TimeoutError("database read timed out")
        return grace.load_snapshot(now)

    server = PolicyServer(
        panel,
        Settings(refresh_seconds=0.05, stale_after_seconds=0.5, flush_seconds=3600),
        clock=clock,
        loader=stalled,
    )
    server.start("127.0.0.1:0")
    try:
        deadline = time.monotonic() + 5
        while server.counters.loads == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ask(server, request(info))[0].startswith("452 4.2.2")
        time.sleep(0.6)  # the last snapshot is now too old to trust
        for answer, seconds in _timed(server, request(info), 10):
            assert answer == "DUNNO"
            assert seconds < 0.5
    finally:
        release.set()
        server.stop()


def test_the_decision_is_pure() -> None:
    since = NOW - timedelta(hours=10)
    defer = {"at_full": "defer", "defer_hours": 12}
    assert grace.decide(10, 20, None, defer, NOW) is Verdict.DUNNO
    assert grace.decide(10, 0, None, defer, NOW) is Verdict.DUNNO  # no quota: never full
    assert grace.decide(None, 20, None, defer, NOW) is Verdict.DUNNO
    assert grace.decide(20, 20, since, defer, NOW) is Verdict.DEFER
    assert grace.decide(10, 20, since, defer, NOW) is Verdict.DEFER  # an alert says full
    assert grace.decide(20, 20, since, defer, NOW + timedelta(hours=2)) is Verdict.BOUNCE
    assert grace.decide(20, 20, since, {"at_full": "bounce"}, NOW) is Verdict.BOUNCE
    assert grace.decide(20, 20, None, None, NOW) is Verdict.DEFER  # the default grace
    assert grace.decide(20, 20, since, {"defer_hours": "junk"}, NOW) is Verdict.DEFER


def test_the_parser_keeps_to_its_limits() -> None:
    parser = delegation.Parser()
    # a request split anywhere between reads is still one request
    whole = request("a@b.example")
    done = [r for i in range(len(whole)) for r in parser.feed(whole[i : i + 1])]
    assert len(done) == 1 and done[0].usable and done[0].recipient == "a@b.example"
    assert parser.feed(b"x=" + b"y" * 10_000 + b"\nrecipient=a@b.example\n\n")[0].problem
    assert not parser.broken
    parser.feed(b"a=b\n" * (delegation.MAX_LINES + 1))
    assert parser.broken
    assert delegation.answer("452 x\r\ny") == b"action=452 x??y\n\n"
    assert delegation.defer_action("a b@<c>") == (
        "452 4.2.2 <a?b@?c?> Mailbox is full; try again later (onus policy)"
    )


def test_deferred_mail_opens_the_delivery_alert_at_once(server: PolicyServer, world: World) -> None:
    """Mail held back in the grace is what the responsible party must hear of before it
    bounces: the refusals the server answered open the mailbox's delivery alert, as those
    the log ingest reads do, and a later batch grows it."""
    info = _address(world)
    _full(world, NOW - timedelta(hours=1), info)
    assert server.refresh()
    ask(server, request(info), request(info), request("nobody@else.example"))
    assert server.flush() == 2
    db.session.rollback()
    alert = db.session.scalars(select(Alert).where(Alert.subject == f"delivery:{info}")).one()
    assert (alert.level, alert.reason, alert.refused, alert.since) == (
        "critical",
        "refused",
        2,
        NOW,
    )
    told = db.session.scalars(select(Notification).where(Notification.alert_id == alert.id))
    assert {n.party_id for n in told} >= {world.owner}

    ask(server, request(info))
    assert server.flush() == 1
    db.session.rollback()
    db.session.refresh(alert)
    assert server.counters.alert_failures == 0
    assert alert.refused == 3
