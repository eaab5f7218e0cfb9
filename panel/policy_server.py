"""The policy server Postfix asks before accepting a recipient (``check_policy_service``).

Answers come from an in-memory :class:`~panel.services.grace.Snapshot` only; the database
is read by a background thread every ``refresh_seconds`` and written by another that counts
the refusals in batches. So a slow or absent database never delays an answer: without a
snapshot (or with one too old to trust) every answer is ``DUNNO`` and Postfix goes on as
if Onus were not there. Any error while answering is also ``DUNNO``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask

from panel.extensions import db
from panel.mailflow.delegation import (
    DUNNO,
    Parser,
    Request,
    answer,
    bounce_action,
    defer_action,
)
from panel.services.grace import (
    ALERT_TASK,
    Answered,
    Snapshot,
    Verdict,
    load_snapshot,
    record_refusals,
    refused_of,
)
from panel.services.grace import verdict_at_full as _verdict

log = logging.getLogger("onus.policy")

READ_SIZE = 4096
MAX_PENDING = 100_000  # refusals kept for the writer while the database is away


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Settings:
    """How the server runs; every figure has a default fit for one mail node."""

    refresh_seconds: float = 30.0
    stale_after_seconds: float = 120.0  # an older snapshot is dropped: answers go DUNNO
    flush_seconds: float = 2.0
    idle_timeout: float = 60.0  # Postfix keeps a connection ~300 s idle; closing is harmless
    write_timeout: float = 10.0
    batch_size: int = 1000


@dataclass
class Counters:
    """What the server did, for its log and the tests."""

    requests: int = 0
    dunno: int = 0
    deferred: int = 0
    bounced: int = 0
    malformed: int = 0
    errors: int = 0
    loads: int = 0
    load_failures: int = 0
    written: int = 0
    write_failures: int = 0
    alert_failures: int = 0
    dropped: int = 0
    connections: int = 0


class PolicyServer:
    """Postfix policy delegation over TCP or a unix socket, for an app's database."""

    def __init__(
        self,
        app: Flask,
        settings: Settings | None = None,
        clock: Callable[[], datetime] = _utcnow,
        loader: Callable[[datetime], Snapshot] = load_snapshot,
        tell: Callable[[list[list[Any]], str], object] | None = None,
    ) -> None:
        self.app = app
        self.tell = tell or self._queue_alert_task  # (refusals, now) to the alerts
        self.settings = settings or Settings()
        self.clock = clock
        self.loader = loader
        self.counters = Counters()
        self._snapshot: Snapshot | None = None
        self._snapshot_monotonic = 0.0
        self._pending: deque[Answered] = deque()
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._failing: str | None = None  # the load error of an ongoing outage
        self._stop = threading.Event()
        self._wake_writer = threading.Event()
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._loop_thread: threading.Thread | None = None
        self.address: str | tuple[str, int] | None = None

    # -- answers ---------------------------------------------------------------------

    def snapshot(self) -> Snapshot | None:
        """The snapshot to answer from, or None when there is none fresh enough."""
        snap = self._snapshot
        if snap is None:
            return None
        if time.monotonic() - self._snapshot_monotonic > self.settings.stale_after_seconds:
            return None
        return snap

    def decide(self, request: Request) -> str:
        """The action for one request; counts a refusal for the writer. Never raises."""
        self.counters.requests += 1
        try:
            if not request.usable:
                self.counters.malformed += 1 if request.problem else 0
                self.counters.dunno += 1
                return DUNNO
            snap = self.snapshot()
            recipient = request.recipient
            full = snap.full.get(recipient) if snap is not None else None
            if full is None:
                self.counters.dunno += 1
                return DUNNO
            now = self.clock()
            verdict = _verdict(full.full_since, full.grace, now)
            if verdict is Verdict.DEFER:
                action = defer_action(recipient)
                self.counters.deferred += 1
            else:
                action = bounce_action(recipient)
                self.counters.bounced += 1
            self._queue(Answered(full.package_id, recipient, now, verdict, action))
            return action
        except Exception:
            self.counters.errors += 1
            log.exception("policy answer failed; answering DUNNO")
            return DUNNO

    def _queue(self, item: Answered) -> None:
        with self._lock:
            if len(self._pending) >= MAX_PENDING:
                self._pending.popleft()
                self.counters.dropped += 1
                if self.counters.dropped % 1000 == 1:
                    log.error("refusal queue full: %d refusals not counted", self.counters.dropped)
            self._pending.append(item)
            if len(self._pending) >= self.settings.batch_size:
                self._wake_writer.set()

    # -- connections -----------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counters.connections += 1
        parser = Parser()
        try:
            while not parser.broken:
                data = await asyncio.wait_for(
                    reader.read(READ_SIZE), timeout=self.settings.idle_timeout
                )
                if not data:
                    break
                replies = [answer(self.decide(request)) for request in parser.feed(data)]
                if replies:
                    writer.write(b"".join(replies))
                    await asyncio.wait_for(writer.drain(), timeout=self.settings.write_timeout)
        except (TimeoutError, ConnectionError, OSError):
            pass
        except Exception:
            self.counters.errors += 1
            log.exception("policy connection failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):  # the peer is gone either way
                await asyncio.wait_for(writer.wait_closed(), timeout=1.0)

    # -- background: refresh and write -----------------------------------------------

    def refresh(self) -> bool:
        """Load a new snapshot now; on failure keep the old one until it goes stale. One
        load at a time, so a slow earlier load cannot overwrite a newer one."""
        with self._refresh_lock:
            return self._refresh()

    def _refresh(self) -> bool:
        try:
            with self.app.app_context():
                try:
                    snap = self.loader(self.clock())
                finally:
                    db.session.remove()
        except Exception as exc:
            self.counters.load_failures += 1
            reason = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
            if self._failing is None:  # once per outage, not every refresh
                log.error("policy snapshot not loaded, DUNNO once the last is stale: %s", reason)
            else:
                log.debug("policy snapshot still not loaded: %s", reason)
            self._failing = reason
            return False
        if self._failing is not None:
            log.warning("policy snapshot loaded again after: %s", self._failing)
            self._failing = None
        self._snapshot = snap
        self._snapshot_monotonic = time.monotonic()
        self.counters.loads += 1
        return True

    def flush(self) -> int:
        """Write the queued refusals in batches; a failed batch stays queued for next time."""
        written = 0
        while True:
            with self._lock:
                batch = [
                    self._pending.popleft()
                    for _ in range(min(self.settings.batch_size, len(self._pending)))
                ]
            if not batch:
                return written
            try:
                with self.app.app_context():
                    try:
                        record_refusals(batch)
                    finally:
                        db.session.remove()
            except Exception as exc:
                self.counters.write_failures += 1
                log.error("policy refusals not written yet (%d kept): %s", len(batch), exc)
                with self._lock:
                    self._pending.extendleft(reversed(batch))
                return written
            written += len(batch)
            self.counters.written += len(batch)
            self._alert(batch)

    def _alert(self, batch: list[Answered]) -> None:
        """Have a worker tell of the refusals just counted (their delivery alerts): opening
        alerts and making notifications here would take the interpreter from the answers.
        A failure loses no count; the mailbox's next refusal tries again."""
        refused = [[p, a, at.isoformat()] for p, a, at in refused_of(batch)]
        if not refused:
            return
        try:
            self.tell(refused, self.clock().isoformat())
        except Exception as exc:
            self.counters.alert_failures += 1
            log.error("delivery alerts of %d policy refusals not queued: %s", len(refused), exc)

    def _queue_alert_task(self, refused: list[list[Any]], at: str) -> None:
        self.app.extensions["celery"].send_task(ALERT_TASK, args=[refused, at])

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def _refresher(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self.settings.refresh_seconds)

    def _writer(self) -> None:
        while not self._stop.is_set():
            self._wake_writer.wait(self.settings.flush_seconds)
            self._wake_writer.clear()
            self.flush()
        self.flush()

    def _start_background(self) -> None:
        for target, name in ((self._refresher, "refresh"), (self._writer, "writer")):
            thread = threading.Thread(target=target, name=f"onus-policy-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    # -- running ---------------------------------------------------------------------

    async def _listen(self, listen: str) -> asyncio.Server:
        host, sep, port = listen.rpartition(":")
        if listen.startswith("/") or not sep or not port.isdigit():
            if os.path.exists(listen):
                os.unlink(listen)  # a socket left by an earlier run
            server = await asyncio.start_unix_server(self._serve, path=listen, backlog=1024)
            os.chmod(listen, 0o666)  # Postfix's smtpd runs as another user
            self.address = listen
        else:
            server = await asyncio.start_server(
                self._serve, host.strip("[]") or "127.0.0.1", int(port), backlog=1024
            )
            sockname = server.sockets[0].getsockname()
            self.address = (sockname[0], sockname[1])
        return server

    def start(self, listen: str) -> str | tuple[str, int]:
        """Listen in a thread of its own and start the background work; returns the address
        bound (port 0 picks a free one). For tests, benchmarks and embedding."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                self._server = loop.run_until_complete(self._listen(listen))
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            self._server.close()
            tasks = asyncio.all_tasks(loop)  # the open connections
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()

        self._loop_thread = threading.Thread(target=run, name="onus-policy-server", daemon=True)
        self._loop_thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        self._start_background()
        assert self.address is not None
        return self.address

    def stop(self) -> None:
        """Stop listening, then write what is still queued."""
        self._stop.set()
        self._wake_writer.set()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._loop_thread is not None:
            self._loop_thread.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=10)
        if isinstance(self.address, str) and os.path.exists(self.address):
            os.unlink(self.address)

    def serve_forever(self, listen: str) -> None:
        """Run until interrupted (the ``onus policy-server`` command)."""
        self.start(listen)
        log.info("policy server listening on %s", self.address)
        # systemd and supervisors stop a service with SIGTERM: stop as cleanly as on Ctrl-C
        signal.signal(signal.SIGTERM, lambda *_: self._stop.set())
        try:
            while not self._stop.is_set():
                self._stop.wait(1.0)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
