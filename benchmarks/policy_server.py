#!/usr/bin/env python3
"""How fast the Postfix policy server answers, under load, with and without its database.

    .venv/bin/python benchmarks/policy_server.py --mailboxes 20000 --requests 20000 --clients 50

It builds a migrated SQLite database with N mailboxes (5 per package; one in ten full by
the latest measurement, half of those with an agreement that bounces at once), starts
``panel.policy_server.PolicyServer`` on a free TCP port, and fires the requests from
``--clients`` concurrent keep-alive connections in a separate process (so the client's
work does not share the server's interpreter): a mix of full mailboxes (deferred or
refused), hosted mailboxes with room (DUNNO) and addresses not hosted (DUNNO), as Postfix
would send them. It reports p50/p99/max answer time and the throughput, side by side with
a bare asyncio server that answers DUNNO to everything without looking (the floor for
this protocol in Python), with the ratio; then the same load with the database
unreachable (every answer must be DUNNO, none stalled); the snapshot load time; and how
long the writer took to count the refusals.

Exit status 0 when every answer came, the answers were the expected ones, and p99 is
under ``--target-ms`` (default 50 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
WORK = Path(tempfile.mkdtemp(prefix="onus-bench-policy-"))
os.environ["ONUS_INSTANCE_PATH"] = str(WORK / "instance")

from sqlalchemy import create_engine, func, insert, select  # noqa: E402

from panel import create_app  # noqa: E402
from panel.extensions import db  # noqa: E402
from panel.models import (  # noqa: E402
    Agreement,
    HostingNode,
    Mailbox,
    MailRefusal,
    Package,
    PackageUsage,
    Party,
    Plan,
    TermsTemplate,
)
from panel.policy.agreement import (  # noqa: E402
    DEFAULT_DEADLINES,
    DEFAULT_GRACE,
    DEFAULT_MATRIX,
    DEFAULT_THRESHOLDS,
)
from panel.policy_server import PolicyServer, Settings  # noqa: E402
from panel.services.grace import load_snapshot  # noqa: E402

MIB = 1024 * 1024
MAILBOX_QUOTA = 100 * MIB
LOCALS = ("info", "sales", "office", "jobs", "admin")
NOW = datetime.now(UTC)


def populate(url: str, mailboxes: int, seed: int) -> dict[str, list[str]]:
    """The database, in bulk; returns the addresses per expected answer kind."""
    rng = random.Random(seed)
    packages = max(1, mailboxes // len(LOCALS))
    created = NOW - timedelta(days=400)
    engine = create_engine(url)
    kinds: dict[str, list[str]] = {"defer": [], "bounce": [], "room": []}
    with engine.begin() as conn:
        conn.execute(
            insert(Party.__table__),
            [{"id": 1, "kind": "hoster", "name": "Bench", "language": "en", "created_at": created}],
        )
        conn.execute(
            insert(Plan.__table__),
            [
                {
                    "id": 1, "hoster_id": 1, "name": "Plan", "storage_quota_bytes": 1024 * MIB,
                    "mailbox_count": len(LOCALS), "default_mailbox_quota_bytes": MAILBOX_QUOTA,
                    "notice_percent": 80, "warning_percent": 90, "critical_percent": 100,
                    "created_at": created,
                }
            ],
        )  # fmt: skip
        conn.execute(
            insert(HostingNode.__table__),
            [
                {
                    "id": 1, "hoster_id": 1, "name": "node", "layout": "cpanel",
                    "home_template": "", "mail_template": "", "docroot_template": "",
                    "created_at": created,
                }
            ],
        )  # fmt: skip
        terms = {
            "text_en": "Terms.", "text_nl": "Voorwaarden.", "matrix": DEFAULT_MATRIX,
            "thresholds": DEFAULT_THRESHOLDS, "deadlines": DEFAULT_DEADLINES,
            "created_at": created,
        }  # fmt: skip
        conn.execute(
            insert(TermsTemplate.__table__),
            [{"id": 1, "hoster_id": 1, "name": "T", "version": 1, "grace": DEFAULT_GRACE, **terms}],
        )
        ids = range(1, packages + 1)
        conn.execute(
            insert(Package.__table__),
            [
                {
                    "id": i, "hoster_id": 1, "name": f"p{i}", "plan_id": 1, "node_id": 1,
                    "status": "active", "created_at": created,
                }
                for i in ids
            ],
        )  # fmt: skip
        conn.execute(
            insert(Mailbox.__table__),
            [
                {"package_id": i, "address": f"{local}@p{i}.example", "quota_bytes": None}
                for i in ids
                for local in LOCALS
            ],
        )
        bouncing = [i for i in ids if i % 2 == 0]
        conn.execute(
            insert(Agreement.__table__),
            [
                {
                    "package_id": i, "version": 1, "template_id": 1, "reason": "bench",
                    **terms, "grace": {**DEFAULT_GRACE, "at_full": "bounce"},
                    "limits": {}, "parties": {"hoster": 1}, "party_names": {"hoster": "Bench"},
                }
                for i in bouncing
            ],
        )  # fmt: skip
        usage = []
        for i in ids:
            report: dict[str, Any] = {"mailboxes": {}}
            for local in LOCALS:
                address = f"{local}@p{i}.example"
                full = rng.random() < 0.1
                used = MAILBOX_QUOTA + MIB if full else rng.randrange(MAILBOX_QUOTA // 2)
                report["mailboxes"][address] = {"bytes": used, "messages": used // 50_000}
                kind = ("bounce" if i % 2 == 0 else "defer") if full else "room"
                kinds[kind].append(address)
            mail = sum(m["bytes"] for m in report["mailboxes"].values())
            usage.append(
                {
                    "package_id": i, "measured_at": NOW - timedelta(hours=1),
                    "total_bytes": mail, "mail_bytes": mail, "site_bytes": 0,
                    "database_bytes": 0, "other_bytes": 0, "skipped": 0,
                    "scan_seconds": 0.1, "report": report,
                }
            )  # fmt: skip
        for start in range(0, len(usage), 2000):
            conn.execute(insert(PackageUsage.__table__), usage[start : start + 2000])
    engine.dispose()
    return kinds


def migrate(url: str) -> None:
    from flask_migrate import upgrade

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        db.engine.dispose()


def request(recipient: str, n: int) -> bytes:
    return (
        "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
        f"client_address=192.0.2.{n % 250 + 1}\nclient_name=mx{n}.example.org\n"
        "helo_name=mx.example.org\nsender=news@example.org\n"
        f"recipient={recipient}\nrecipient_count=0\nqueue_id=\ninstance={n:x}.0\n"
        "size=12345\nsasl_method=\nencryption_protocol=TLSv1.3\n\n"
    ).encode()


async def _fire(
    host: str, port: int, payloads: list[list[bytes]]
) -> tuple[list[float], list[bytes], int]:
    latencies: list[float] = []
    answers: list[bytes] = []
    failures = 0

    async def client(mine: list[bytes]) -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for payload in mine:
                started = time.perf_counter()
                writer.write(payload)
                await writer.drain()
                answer = await asyncio.wait_for(reader.readuntil(b"\n\n"), 5)
                latencies.append(time.perf_counter() - started)
                answers.append(answer)
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            failures += 1
        finally:
            writer.close()

    await asyncio.gather(*(client(mine) for mine in payloads))
    return latencies, answers, failures


def _client_process(host: str, port: int, payloads: list[list[bytes]], out: Any) -> None:
    started = time.perf_counter()
    latencies, answers, failures = asyncio.run(_fire(host, port, payloads))
    out.send((latencies, answers, failures, time.perf_counter() - started))


def fire(address: tuple[str, int], payloads: list[list[bytes]]) -> dict[str, Any]:
    """Run the clients in another process; their latencies, answers and wall time."""
    receiving, sending = multiprocessing.Pipe(duplex=False)
    process = multiprocessing.Process(
        target=_client_process, args=(address[0], address[1], payloads, sending)
    )
    process.start()
    latencies, answers, failures, wall = receiving.recv()
    process.join()
    ordered = sorted(latencies)
    return {
        "answers": answers,
        "failures": failures,
        "count": len(ordered),
        "p50": statistics.median(ordered) * 1000,
        "p99": ordered[int(len(ordered) * 0.99) - 1] * 1000,
        "max": ordered[-1] * 1000,
        "rate": len(ordered) / wall,
    }


def bare_server() -> tuple[asyncio.AbstractEventLoop, tuple[str, int]]:
    """The floor: read a request up to its empty line, answer DUNNO, nothing else."""
    import threading

    loop = asyncio.new_event_loop()
    ready: list[tuple[str, int]] = []
    event = threading.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\n\n")
                writer.write(b"action=DUNNO\n\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, OSError):
            writer.close()

    def run() -> None:
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(asyncio.start_server(serve, "127.0.0.1", 0))
        ready.append(server.sockets[0].getsockname()[:2])
        event.set()
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    event.wait()
    return loop, ready[0]


def workload(
    kinds: dict[str, list[str]], requests: int, clients: int, seed: int
) -> tuple[list[list[bytes]], list[str]]:
    """Per client its payloads, and the expected answer kind of each request in order."""
    rng = random.Random(seed)
    payloads: list[list[bytes]] = [[] for _ in range(clients)]
    expected: list[str] = []
    for n in range(requests):
        roll = rng.random()
        if roll < 0.1 and kinds["defer"]:
            kind, address = "defer", rng.choice(kinds["defer"])
        elif roll < 0.2 and kinds["bounce"]:
            kind, address = "bounce", rng.choice(kinds["bounce"])
        elif roll < 0.8:
            kind, address = "room", rng.choice(kinds["room"])
        else:
            kind, address = "stranger", f"u{n}@elsewhere.example"
        payloads[n % clients].append(request(address, n))
        expected.append(kind)
    return payloads, expected


def tally(answers: list[bytes]) -> dict[str, int]:
    counts = {"452": 0, "552": 0, "DUNNO": 0, "other": 0}
    for answer in answers:
        text = answer.decode().removeprefix("action=")
        key = (
            text[:3]
            if text[:3] in ("452", "552")
            else "DUNNO"
            if text.startswith("DUNNO")
            else "other"
        )
        counts[key] += 1
    return counts


def line(name: str, figures: dict[str, Any]) -> str:
    return (
        f"| {name} | {figures['count']} | {figures['p50']:.2f} | {figures['p99']:.2f} "
        f"| {figures['max']:.2f} | {figures['rate']:,.0f} | {figures['failures']} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mailboxes", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--target-ms", type=float, default=50.0)
    args = parser.parse_args(argv)

    url = f"sqlite:///{WORK / 'onus.sqlite'}"
    try:
        started = time.perf_counter()
        migrate(url)
        kinds = populate(url, args.mailboxes, args.seed)
        built = time.perf_counter() - started
        app = create_app({"SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            started = time.perf_counter()
            snapshot = load_snapshot(datetime.now(UTC))
            load_seconds = time.perf_counter() - started
            db.session.remove()
        payloads, expected = workload(kinds, args.requests, args.clients, args.seed)
        want = {
            "452": expected.count("defer"),
            "552": expected.count("bounce"),
            "DUNNO": expected.count("room") + expected.count("stranger"),
            "other": 0,
        }

        loop, bare_address = bare_server()
        bare = fire(bare_address, payloads)
        loop.call_soon_threadsafe(loop.stop)

        server = PolicyServer(app, Settings(refresh_seconds=30, flush_seconds=1))
        address = server.start("127.0.0.1:0")
        assert isinstance(address, tuple)
        deadline = time.monotonic() + 30
        while server.counters.loads == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        onus = fire(address, payloads)
        got = tally(onus["answers"])
        started = time.perf_counter()
        while server.pending() and time.perf_counter() - started < 60:
            time.sleep(0.05)
        write_seconds = time.perf_counter() - started
        server.stop()
        with app.app_context():
            counted = db.session.scalar(select(func.count()).select_from(MailRefusal)) or 0
            db.session.remove()
            db.engine.dispose()

        down_app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{WORK}/gone/x.sqlite"})
        down_server = PolicyServer(down_app, Settings(refresh_seconds=1, flush_seconds=3600))
        down_address = down_server.start("127.0.0.1:0")
        assert isinstance(down_address, tuple)
        down = fire(down_address, payloads)
        down_got = tally(down["answers"])
        down_server._pending.clear()
        down_server.stop()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)

    print(
        f"# Policy server: {args.requests:,} requests from {args.clients} keep-alive clients, "
        f"{args.mailboxes:,} mailboxes ({len(snapshot.full):,} full)\n"
    )
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs")
    print(f"database built in {built:.1f} s; snapshot loaded in {load_seconds * 1000:.0f} ms\n")
    print("| server | answers | p50 ms | p99 ms | max ms | answers/s | failed clients |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(line("bare asyncio, always DUNNO (floor)", bare))
    print(line("onus policy server", onus))
    print(line("onus policy server, database unreachable", down))
    print(
        f"\np99 ratio onus / floor: {onus['p99'] / bare['p99']:.2f}; "
        f"throughput ratio: {onus['rate'] / bare['rate']:.2f}"
    )
    print(f"answers: {got} (expected {want})")
    print(f"database down answers: {down_got}")
    print(f"refusals counted: {counted:,} of {got['452'] + got['552']:,}, "
          f"queue drained {write_seconds:.2f} s after the load")  # fmt: skip
    ok = (
        got == want
        and onus["failures"] == 0
        and down["failures"] == 0
        and down_got["DUNNO"] == args.requests
        and counted == got["452"] + got["552"]
        and onus["p99"] < args.target_ms
    )
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
