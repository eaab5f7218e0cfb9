"""Warnings through a real Celery worker and a real broker (embedded SQLite, or Redis when
ONUS_BROKER_URL says so), to a real SMTP server that is down for a while, or a worker that
is killed in the middle of sending: every warning arrives, once."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from panel.extensions import db
from panel.models import Notification
from panel.models.base import utcnow
from panel.services import alerts, notifications
from tests.alerting import MIB, measure
from tests.smtp import SMTPSink, free_port
from tests.test_workers import (  # noqa: F401  (fixtures)
    Worker,
    finished,
    panel,
    queue,
    start_worker,
    stopping,
)
from tests.world import World
from workers.tasks import alert_rounds

DEADLINE = 60.0


def critical_everywhere(app: Flask) -> list[int]:
    """Both world packages' mailboxes full: critical alerts, every party told by email.
    Returns the email notifications, made and committed but not yet sent."""
    with app.app_context():
        w = World.load()
        now = utcnow()
        measure(w.package, now, mailboxes={"info@alpha.example": 50 * MIB})
        measure(w.other_package, now, mailboxes={"info@beta.example": 51 * MIB})
        outcome = alerts.evaluate([w.package, w.other_package], now)
        return outcome.to_send


def statuses(app: Flask, ids: list[int]) -> list[tuple[str, int, str]]:
    with app.app_context():
        rows = db.session.execute(
            select(Notification.status, Notification.attempts, Notification.error)
            .where(Notification.id.in_(ids))
            .order_by(Notification.id)
        ).all()
        db.session.remove()
        return [tuple(row) for row in rows]  # type: ignore[misc]


def wait_until(check: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.2)


def test_smtp_down_then_back_every_warning_arrives_once(
    panel: Flask,  # noqa: F811
    start_worker: Callable[..., Worker],  # noqa: F811
) -> None:
    port = free_port()  # nothing listens: the mail server is down
    ids = critical_everywhere(panel)
    assert len(ids) == 6  # two alerts, three parties each
    worker = start_worker(port)
    with panel.app_context():
        notifications.send_soon(ids)

    wait_until(
        lambda: all(a >= 2 for _s, a, _e in statuses(panel, ids)),
        "every warning tried twice against the dead server",
    )
    down = statuses(panel, ids)
    assert {s for s, _a, _e in down} <= {"queued", "sending"}, down
    assert all("ConnectionRefusedError" in e for s, _a, e in down if s == "queued"), down

    with SMTPSink(port=port) as smtp:  # the server is back
        wait_until(lambda: len(smtp.received) >= 6, "six mails after the server came back")
        wait_until(lambda: {s for s, _a, _e in statuses(panel, ids)} == {"sent"}, "all marked sent")
        time.sleep(2.0)  # a doubled mail would arrive now
        received = smtp.received
    per_mail = Counter((r.rcpt_tos[0], r.message["Message-ID"]) for r in received)
    assert len(received) == 6 and set(per_mail.values()) == {1}, (per_mail, worker.log[-3000:])
    assert sorted(r.rcpt_tos[0] for r in received) == sorted(
        ["hoster@elsewhere.example"] * 2
        + ["builder@elsewhere.example", "owner@elsewhere.example"]
        + ["other_builder@elsewhere.example", "other_owner@elsewhere.example"]
    )


class StallingSMTP:
    """A mail server that accepts the connection and then says nothing: a sender blocks
    in the greeting, where the test kills it."""

    def __init__(self, port: int) -> None:
        self.listener = socket.create_server(("127.0.0.1", port))
        self.connections: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _address = self.listener.accept()
            except OSError:
                return
            self.connections.append(connection)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.listener.close()
        self.thread.join(timeout=5)
        for connection in self.connections:
            connection.close()


@pytest.fixture
def stalling() -> Iterator[tuple[int, StallingSMTP]]:
    port = free_port()
    server = StallingSMTP(port)
    yield port, server
    server.close()


def test_a_worker_killed_while_sending_loses_nothing_and_doubles_nothing(
    panel: Flask,  # noqa: F811
    start_worker: Callable[..., Worker],  # noqa: F811
    stalling: tuple[int, StallingSMTP],
    queue: str,  # noqa: F811
) -> None:
    port, server = stalling
    with panel.app_context():  # a warning under beta's agreement: one mail, to its owner
        w = World.load()
        measure(w.other_package, utcnow(), mailboxes={"info@beta.example": 46 * MIB})
        ids = alerts.evaluate([w.other_package], utcnow()).to_send
    assert len(ids) == 1
    # the round's resends go to the test's queue, where its workers listen
    lease = {"ONUS_SEND_LEASE": "2", "ONUS_DEFAULT_QUEUE": queue}
    worker = start_worker(port, settings=lease)
    with panel.app_context():
        notifications.send_soon(ids)
    wait_until(lambda: statuses(panel, ids)[0][0] == "sending", "the worker is sending")
    wait_until(lambda: len(server.connections) == 1, "the worker is in the SMTP greeting")
    worker.process.kill()  # SIGKILL: no warm shutdown, no acknowledgement, no cleanup
    worker.process.wait(timeout=10)
    assert statuses(panel, ids)[0][:2] == ("sending", 1)
    server.close()

    with SMTPSink(port=port) as smtp:
        second = start_worker(port, settings=lease)
        time.sleep(2.5)  # the dead sender's claim runs out
        panel.config["ONUS_SEND_LEASE"] = 2
        rounds = finished(alert_rounds.delay(), second)
        assert rounds["resent"] == 1, rounds
        wait_until(lambda: len(smtp.received) >= 1, "the warning after the kill")
        wait_until(lambda: statuses(panel, ids)[0][0] == "sent", "marked sent")
        time.sleep(2.0)
        received = smtp.received
    assert len(received) == 1, [r.rcpt_tos for r in received]
    assert statuses(panel, ids)[0][:2] == ("sent", 2)
    with panel.app_context():
        claimed_at = db.session.get_one(Notification, ids[0]).claimed_at
        assert claimed_at is not None and utcnow() - claimed_at < timedelta(minutes=1)
