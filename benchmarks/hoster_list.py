#!/usr/bin/env python3
"""How long the hoster's package list takes to render for 10,000 packages on PostgreSQL,
and how many SQL statements a request runs.

    .venv/bin/python benchmarks/hoster_list.py            # --database-url, --packages, --runs

It uses the PostgreSQL database at ``--database-url`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/onus_bench``; its name must contain
``bench``, so ``onus_test`` is never touched), creating it when missing. When it already
holds this benchmark's data for the same number of packages and seed, the data is reused;
otherwise its schema is emptied, migrated (``flask_migrate.upgrade``) and filled in bulk
(SQLAlchemy Core, thousands of rows per statement): one hoster with a login, 4 plans,
3 nodes, N/25 builders, N owners, N packages (1-3 domains, 3 mailboxes, a site, the latest
``package_usage`` each; 4 in 5 with a builder), about 3 % of the packages with open alerts
(some two, a quarter acknowledged, with their notifications) and as many resolved ones, and
an agreement on every third package (a third of those acknowledged by all its parties, the
rest by the hoster only).

Then it logs in as the hoster with the Flask test client and times ``GET /hoster/`` —
the whole request in the process: routing, login, the queries, the template — for a few
pages: the first page, a filtered page, a search, a deep page. Each is requested once to
warm up, then ``--runs`` times; the median is reported against the target of 300 ms, with
the number of SQL statements per request (``before_cursor_execute``) and the time spent in
them. The exit status is 0 when every median is under the target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
WORK = Path(tempfile.mkdtemp(prefix="onus-bench-list-"))
os.environ["ONUS_INSTANCE_PATH"] = str(WORK / "instance")

from sqlalchemy import Engine, create_engine, event, func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from panel import create_app  # noqa: E402
from panel.extensions import db  # noqa: E402
from panel.models import (  # noqa: E402
    Acknowledgement,
    Agreement,
    Alert,
    Assignment,
    Contact,
    Domain,
    HostingNode,
    Mailbox,
    Membership,
    Notification,
    Package,
    PackageUsage,
    Party,
    Plan,
    Site,
    TermsTemplate,
    User,
)
from panel.policy.agreement import (  # noqa: E402
    DEFAULT_DEADLINES,
    DEFAULT_GRACE,
    DEFAULT_MATRIX,
    DEFAULT_THRESHOLDS,
)
from panel.services.accounts import hash_password  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/onus_bench"
HOSTER_NAME = "Bench list hosting"
EMAIL = "hoster@bench-list.example"
PASSWORD = "benchmark password"
TARGET_MS = 300.0
MIB = 1024 * 1024
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PLANS = (("Small", 150), ("Medium", 500), ("Large", 2048), ("Business", 5120))  # MiB
NODES = ("node-a", "node-b", "node-c")
MAILBOXES = ("info", "office", "sales")
LEVELS = ("notice", "warning", "critical")
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
ROW = re.compile(r'<tr data-package="\d+">')


# ---------------------------------------------------------------------------------------------
# The database


def ensure_database(url: str) -> None:
    parsed = make_url(url)
    name = parsed.database or ""
    if "bench" not in name or "test" in name:
        sys.exit(f"refusing to use database {name!r}: its name must contain 'bench'")
    server = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        found = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ).first()
        if found is None:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
            print(f"created database {name}")
    server.dispose()


def marker(count: int, seed: int) -> str:
    return f"{HOSTER_NAME} ({count} packages, seed {seed})"


def loaded(engine: Engine, count: int, seed: int) -> bool:
    """Whether the database holds this benchmark's data for ``count`` and ``seed``."""
    with engine.connect() as connection:
        try:
            found = connection.execute(
                select(Party.id).where(Party.name == marker(count, seed))
            ).first()
        except Exception:  # no tables yet
            return False
        if found is None:
            return False
        packages = connection.scalar(
            select(func.count()).select_from(Package).where(Package.hoster_id == found[0])
        )
        return packages == count


def migrate_fresh(engine: Engine, url: str) -> None:
    from flask_migrate import upgrade

    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        db.engine.dispose()


def populate(engine: Engine, count: int, seed: int) -> dict[str, int]:
    """Everything the dashboard reads, in bulk; rows per table."""
    rng = random.Random(seed)
    created = NOW - timedelta(days=400)
    rows: dict[str, int] = {}

    def put(connection: Any, model: Any, values: list[dict[str, Any]]) -> None:
        for start in range(0, len(values), 5000):
            connection.execute(insert(model.__table__), values[start : start + 5000])
        rows[model.__tablename__] = rows.get(model.__tablename__, 0) + len(values)

    hoster = 1
    builders = max(1, count // 25)
    first_builder, first_owner = 2, 2 + builders
    with engine.begin() as c:
        put(c, Party, [{"id": hoster, "kind": "hoster", "name": marker(count, seed)}])
        parties = [
            {"id": first_builder + b, "kind": "builder", "name": f"Builder {b + 1:03d}"}
            for b in range(builders)
        ] + [
            {"id": first_owner + i, "kind": "owner", "name": f"Client {i + 1:05d}"}
            for i in range(count)
        ]
        for party in parties:
            party.update(hoster_id=hoster, language=rng.choice(("en", "nl")), created_at=created)
        put(c, Party, parties)
        put(
            c,
            Contact,
            [
                {
                    "party_id": p,
                    "kind": "email",
                    "value": f"party{p}@elsewhere.example",
                    "label": "",
                    "webhook_format": "json",
                    "created_at": created,
                }
                for p in range(1, first_owner + count)
            ],
        )
        put(
            c,
            User,
            [
                {
                    "id": 1,
                    "email": EMAIL,
                    "name": "Bench hoster",
                    "password_hash": hash_password(PASSWORD),
                    "language": "en",
                    "timezone": "Europe/Amsterdam",
                    "active": True,
                    "created_at": created,
                }
            ],
        )
        put(c, Membership, [{"user_id": 1, "party_id": hoster, "created_at": created}])
        put(
            c,
            Plan,
            [
                {
                    "id": index + 1,
                    "hoster_id": hoster,
                    "name": name,
                    "storage_quota_bytes": size * MIB,
                    "mailbox_count": 10,
                    "default_mailbox_quota_bytes": size * MIB // 4,
                    "notice_percent": 80,
                    "warning_percent": 90,
                    "critical_percent": 100,
                    "created_at": created,
                }
                for index, (name, size) in enumerate(PLANS)
            ],
        )
        put(
            c,
            HostingNode,
            [
                {
                    "id": index + 1,
                    "hoster_id": hoster,
                    "name": name,
                    "layout": "cpanel",
                    "home_template": "",
                    "mail_template": "",
                    "docroot_template": "",
                    "created_at": created,
                }
                for index, name in enumerate(NODES)
            ],
        )
        ids = range(1, count + 1)
        plan_of = {i: rng.choices((1, 2, 3, 4), weights=(5, 3, 1, 1))[0] for i in ids}
        builder_of = {i: first_builder + rng.randrange(builders) for i in ids if i % 5}
        put(
            c,
            Package,
            [
                {
                    "id": i,
                    "hoster_id": hoster,
                    "name": f"acct{i:05d}",
                    "plan_id": plan_of[i],
                    "node_id": 1 + i % len(NODES),
                    "status": "active" if i % 50 else "suspended",
                    "created_at": created,
                }
                for i in ids
            ],
        )
        domains = []
        for i in ids:
            domains.append({"package_id": i, "name": f"client-{i:05d}.example"})
            for extra in range(rng.choice((0, 0, 1, 2))):
                domains.append({"package_id": i, "name": f"shop{extra}-{i:05d}.example"})
        put(c, Domain, domains)
        put(
            c,
            Mailbox,
            [
                {"package_id": i, "address": f"{local}@client-{i:05d}.example", "quota_bytes": None}
                for i in ids
                for local in MAILBOXES
            ],
        )
        put(
            c,
            Site,
            [
                {"package_id": i, "domain": f"client-{i:05d}.example", "docroot": "public_html"}
                for i in ids
            ],
        )
        assignments = []
        for i in ids:
            assignments += [
                {"package_id": i, "role": "hoster", "party_id": hoster, "created_at": created},
                {
                    "package_id": i,
                    "role": "owner",
                    "party_id": first_owner + i - 1,
                    "created_at": created,
                },
            ]
            if i in builder_of:
                assignments.append(
                    {
                        "package_id": i,
                        "role": "builder",
                        "party_id": builder_of[i],
                        "created_at": created,
                    }
                )
        put(c, Assignment, assignments)
        usage = []
        for i in ids:
            quota = PLANS[plan_of[i] - 1][1] * MIB
            total = int(quota * min(rng.betavariate(2, 3) * 1.3, 1.08))
            mail = int(total * rng.uniform(0.2, 0.6))
            databases = int(total * rng.uniform(0.0, 0.1))
            other = int(total * rng.uniform(0.0, 0.03))
            usage.append(
                {
                    "package_id": i,
                    "measured_at": NOW - timedelta(minutes=rng.randrange(240)),
                    "total_bytes": total,
                    "mail_bytes": mail,
                    "site_bytes": total - mail - databases - other,
                    "database_bytes": databases,
                    "other_bytes": other,
                    "skipped": 0,
                    "scan_seconds": 0.2,
                    "report": {},
                }
            )
        put(c, PackageUsage, usage)

        # alerts: ~3 % of the packages with open ones, as many with resolved ones
        alerts, notifications = [], []
        troubled = rng.sample(list(ids), max(1, count * 3 // 100))
        calm = rng.sample([i for i in ids if i not in set(troubled)], len(troubled))
        alert_id = 0
        for i, status_pool in [(i, "open") for i in troubled] + [(i, "resolved") for i in calm]:
            subjects = ["package"] + (
                [f"mailbox:info@client-{i:05d}.example"] if rng.random() < 0.3 else []
            )
            for subject in subjects:
                alert_id += 1
                status = status_pool
                if status == "open" and rng.random() < 0.25:
                    status = "acknowledged"
                level = rng.choice(LEVELS)
                percent = {"notice": 84.0, "warning": 93.0, "critical": 101.0}[level]
                hours = None if rng.random() < 0.4 else round(rng.uniform(2, 400), 1)
                alerts.append(
                    {
                        "id": alert_id,
                        "package_id": i,
                        "subject": subject,
                        "category": "capacity" if subject == "package" else "mailbox",
                        "level": level,
                        "reason": "threshold",
                        "status": status,
                        "open_key": None if status == "resolved" else f"{i}:{subject}",
                        "used_bytes": 0,
                        "quota_bytes": 0,
                        "percent": percent,
                        "hours_to_full": hours,
                        "opened_at": NOW - timedelta(hours=rng.randrange(1, 200)),
                        "measured_at": NOW,
                        "step": rng.choice((0, 0, 1, 2)),
                        "step_at": NOW,
                        "reminders": 0,
                        "acknowledged_at": NOW if status == "acknowledged" else None,
                        "acknowledged_by_party_id": first_owner + i - 1
                        if status == "acknowledged"
                        else None,
                        "resolved_at": NOW if status == "resolved" else None,
                        "resolution": "dropped" if status == "resolved" else None,
                        "refused": 0,
                    }
                )
                for party in (hoster, first_owner + i - 1, builder_of.get(i)):
                    if party is None:
                        continue
                    for channel, state in (
                        ("panel", "sent"),
                        ("email", rng.choice(("sent", "sent", "queued", "bounced"))),
                    ):
                        notifications.append(
                            {
                                "alert_id": alert_id,
                                "party_id": party,
                                "kind": "opened",
                                "channel": channel,
                                "recipient": f"party{party}@elsewhere.example",
                                "language": "en",
                                "status": state,
                                "dedup_key": f"bench:{alert_id}:{party}:{channel}",
                                "attempts": 1,
                                "error": "",
                                "created_at": NOW,
                                "status_at": NOW,
                            }
                        )
        put(c, Alert, alerts)
        put(c, Notification, notifications)

        terms = {
            "text_en": "Storage is shared by mail and website.",
            "text_nl": "Mail en website delen de opslag.",
            "matrix": DEFAULT_MATRIX,
            "thresholds": DEFAULT_THRESHOLDS,
            "deadlines": DEFAULT_DEADLINES,
            "grace": DEFAULT_GRACE,
            "created_at": created,
        }
        put(
            c,
            TermsTemplate,
            [{"id": 1, "hoster_id": hoster, "name": "Terms", "version": 1, **terms}],
        )
        agreed, acknowledged = [], []
        for number, i in enumerate(i for i in ids if i % 3 == 0):
            roles = {"hoster": hoster, "owner": first_owner + i - 1}
            if i in builder_of:
                roles["builder"] = builder_of[i]
            agreed.append(
                {
                    "id": number + 1,
                    "package_id": i,
                    "version": 1,
                    "template_id": 1,
                    "reason": "terms applied",
                    **terms,
                    "limits": {},
                    "parties": roles,
                    "party_names": {role: f"party {p}" for role, p in roles.items()},
                }
            )
            everyone = number % 3 == 0
            for role, party in roles.items():
                if role == "hoster" or everyone:
                    acknowledged.append(
                        {
                            "agreement_id": number + 1,
                            "party_id": party,
                            "role": role,
                            "user_id": 1,
                            "at": created,
                            "address": "127.0.0.1",
                            "language": "en",
                            "text": "",
                            "text_hash": "",
                        }
                    )
        put(c, Agreement, agreed)
        put(c, Acknowledgement, acknowledged)
        for name in (
            "party",
            "user_account",
            "plan",
            "hosting_node",
            "package",
            "alert",
            "terms_template",
            "agreement",
        ):
            c.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"(SELECT MAX(id) FROM {name}))"
                )
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    return rows


# ---------------------------------------------------------------------------------------------
# The timing


@contextmanager
def statements(engine: Engine) -> Iterator[list[float]]:
    """Each statement's duration (s), as the engine ran it."""
    durations: list[float] = []
    started: list[float] = []

    def before(*_: Any) -> None:
        started.append(time.perf_counter())

    def after(*_: Any) -> None:
        durations.append(time.perf_counter() - started.pop())

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield durations
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def measure(url: str, runs: int) -> list[dict[str, Any]]:
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "TESTING": True,
            "RATELIMIT_STORAGE_URI": "memory://",
            "ONUS_BASE_URL": "https://localhost",
            "PREFERRED_URL_SCHEME": "https",
        }
    )
    client = app.test_client()
    client.environ_base["HTTP_REFERER"] = "https://localhost/"
    token = CSRF.search(client.get("/login").get_data(as_text=True))
    assert token, "no CSRF token on /login"
    answer = client.post(
        "/login", data={"csrf_token": token.group(1), "email": EMAIL, "password": PASSWORD}
    )
    assert answer.status_code == 302, "the benchmark hoster could not log in"
    with app.app_context():
        engine = db.engine
    cases = [
        ("first page", "/hoster/"),
        (
            "filtered: node, level warning, no agreement",
            "/hoster/?node=2&level=warning&agreement=none",
        ),
        ("filtered: plan, builder, waiting", "/hoster/?plan=1&builder=3&agreement=waiting"),
        ("search: domain 'shop1-0'", "/hoster/?q=shop1-0"),
        ("deep page (page 150)", "/hoster/?page=150"),
    ]
    figures = []
    for name, path in cases:
        warm = client.get(path)
        assert warm.status_code == 200, (path, warm.status_code)
        rows = len(ROW.findall(warm.get_data(as_text=True)))
        times, sql_times, counts = [], [], []
        for _ in range(runs):
            with statements(engine) as durations:
                start = time.perf_counter()
                response = client.get(path)
                response.get_data()
                elapsed = time.perf_counter() - start
            assert response.status_code == 200
            times.append(elapsed * 1000)
            sql_times.append(sum(durations) * 1000)
            counts.append(len(durations))
        figures.append(
            {
                "case": name,
                "path": path,
                "rows": rows,
                "median_ms": statistics.median(times),
                "min_ms": min(times),
                "max_ms": max(times),
                "sql_ms": statistics.median(sql_times),
                "queries": max(counts),
            }
        )
    with app.app_context():
        db.engine.dispose()
    return figures


def render(figures: list[dict[str, Any]], runs: int) -> str:
    lines = [
        "| page | rows | median ms | min–max ms | of which SQL ms | queries | target | result |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for f in figures:
        verdict = "PASS" if f["median_ms"] < TARGET_MS else "MISS"
        lines.append(
            f"| {f['case']} | {f['rows']} | {f['median_ms']:.1f} | "
            f"{f['min_ms']:.1f}–{f['max_ms']:.1f} | {f['sql_ms']:.1f} | {f['queries']} | "
            f"< {TARGET_MS:.0f} ms | {verdict} |"
        )
    lines.append(f"(median of {runs} runs after one warm-up request each)")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--packages", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reload", action="store_true", help="fill the database again")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    ensure_database(args.database_url)
    engine = create_engine(args.database_url)
    if args.reload or not loaded(engine, args.packages, args.seed):
        start = time.perf_counter()
        migrate_fresh(engine, args.database_url)
        rows = populate(engine, args.packages, args.seed)
        print(f"loaded in {time.perf_counter() - start:.1f} s: " + json.dumps(rows))
    else:
        print(f"reusing the data in {make_url(args.database_url).database}")
    with engine.connect() as connection:
        version = connection.scalar(text("SHOW server_version"))
    engine.dispose()

    figures = measure(args.database_url, args.runs)
    print(
        f"\n{args.packages} packages, PostgreSQL {version}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs\n"
    )
    print(render(figures, args.runs))
    if args.json:
        args.json.write_text(json.dumps({"packages": args.packages, "figures": figures}, indent=2))
    return 0 if all(f["median_ms"] < TARGET_MS for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
