#!/usr/bin/env python3
"""How long evaluating every package's alerts takes, on SQLite and PostgreSQL, in one run.

    .venv/bin/python benchmarks/evaluate_alerts.py --packages 1000 10000 --database both

For each size N and each database it builds a fresh, migrated database (flask_migrate
upgrade, as the tests do) and bulk-inserts (SQLAlchemy Core, many rows per statement):
one hoster with a plan (1 GiB, 5 mailboxes of 250 MiB) and a node, N/20 builders, N owners
with an email contact each, N packages with 5 mailboxes, a site and a domain each, every
other package with an agreement, and a year of usage history per package shaped as
``panel.services.usage.downsample`` leaves it: one point a day for the year before the
last 14 days, one every 4 hours for the last 14 days (~438 points per package), components
``mailbox:<address>`` (5), ``site:public_html:<part>`` (6) and ``other``.

About 30 % of the packages are near or over a level (notice, warning, over quota, a
mailbox nearly full, a mailbox filling fast in the last two days), so alerts open.

Then it times ``panel.services.alerts.evaluate_all(now)`` twice: the first run opens the
alerts and makes their notifications (nothing is sent), the second, a round later with no
new measurement, is the steady state (nothing new; open alerts get their figures
refreshed). ``escalate_due`` right after, and a day on (every alert reminded, the
warnings escalated), is shown for information. Every SQL statement the
app's engine executes is counted (``before_cursor_execute``).

Target: the 10k evaluation under 30 s, and the time growing linearly with the number of
packages (10k / 1k ≈ 10). The exit status is 0 when every 10k run (first and steady) is
under the target.

``--profile FILE`` writes a cProfile of both evaluate_all runs at the largest size (a separate,
extra run on a fresh copy, so the timed figures are not distorted) and prints its top.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
WORK = Path(tempfile.mkdtemp(prefix="onus-bench-alerts-"))
# the app keeps its embedded files (secret key, broker) here, not in the checkout's instance/
os.environ["ONUS_INSTANCE_PATH"] = str(WORK / "instance")

from sqlalchemy import (  # noqa: E402
    Engine,
    Text,
    TypeDecorator,
    cast,
    column,
    create_engine,
    event,
    insert,
    table,
    text,
)
from sqlalchemy.dialects import postgresql  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from panel import create_app  # noqa: E402
from panel.extensions import db  # noqa: E402
from panel.models import (  # noqa: E402
    Agreement,
    Assignment,
    Contact,
    Domain,
    HostingNode,
    Mailbox,
    Package,
    Party,
    Plan,
    Site,
    TermsTemplate,
    UsageSample,
)
from panel.policy.agreement import (  # noqa: E402
    DEFAULT_DEADLINES,
    DEFAULT_GRACE,
    DEFAULT_MATRIX,
    DEFAULT_THRESHOLDS,
)
from panel.services import alerts  # noqa: E402
from panel.services.usage import RAW_KEPT  # noqa: E402

MIB = 1024 * 1024
QUOTA = 1024 * MIB
MAILBOX_QUOTA = 250 * MIB
MAILBOXES = ("info", "office", "sales", "admin", "jan")
PARTS = ("core", "plugins", "themes", "uploads", "backups", "cache")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ROUND = timedelta(minutes=15)  # ONUS_ALERT_ROUND_EVERY's default
DAY_ON = timedelta(hours=25)  # past the first reminder and the warning deadline
RAW_EVERY = timedelta(hours=4)  # ONUS_MEASURE_EVERY's default
HISTORY_DAYS = 365
TARGET_SECONDS = 30.0
TARGET_SIZE = 10_000
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/onus_bench"
BATCH = 100  # packages per batch of history rows (~44,000 rows)
# the share of packages per profile; the rest is calm (30-70 %, mailboxes under 70 %)
PROFILES = {
    "notice": 0.10,  # package at 80-89 %
    "warning": 0.06,  # package at 90-99 %
    "over": 0.02,  # package at 100-105 %
    "mailbox": 0.08,  # one mailbox at 85-100 % of its quota
    "campaign": 0.04,  # one mailbox filling fast for the last two days
}


# ---------------------------------------------------------------------------------------------
# The data


@dataclass
class Shape:
    """One package's usage now and how it got there."""

    package_id: int
    percent: float  # of QUOTA, now
    mail_share: float
    mailbox_weights: list[float]
    part_weights: list[float]
    other_share: float
    yearly_growth: float  # the fraction it grew over the year
    full_mailbox: float | None = None  # a mailbox's size now, as a fraction of its quota
    campaign_from: float | None = None  # that mailbox's fraction two days ago


def shapes(count: int, seed: int) -> list[Shape]:
    rng = random.Random(seed)
    kinds = [kind for kind, share in PROFILES.items() for _ in range(round(share * count))]
    kinds += ["calm"] * (count - len(kinds))
    rng.shuffle(kinds)
    made = []
    for index, kind in enumerate(kinds):
        percent = {
            "calm": rng.uniform(30, 70),
            "notice": rng.uniform(80, 89),
            "warning": rng.uniform(90, 99),
            "over": rng.uniform(100, 105),
        }.get(kind, rng.uniform(40, 65))
        shape = Shape(
            package_id=index + 1,
            percent=percent,
            mail_share=rng.uniform(0.3, 0.5),
            mailbox_weights=[rng.uniform(0.2, 1.0) for _ in MAILBOXES],
            part_weights=[12, rng.uniform(5, 20), rng.uniform(1, 4), rng.uniform(5, 40), 0, 2],
            other_share=rng.uniform(0.01, 0.03),
            yearly_growth=rng.uniform(0.05, 0.4),
        )
        if kind == "mailbox":
            shape.full_mailbox = rng.uniform(0.85, 1.0)
        if kind == "campaign":
            shape.full_mailbox = rng.uniform(0.6, 0.9)
            shape.campaign_from = rng.uniform(0.1, 0.3)
        if rng.random() < 0.3:
            shape.part_weights[4] = rng.uniform(5, 30)  # backups kept on the package
        made.append(shape)
    return made


def moments(now: datetime) -> list[tuple[datetime, str]]:
    """The history points ``downsample`` leaves: raw every 4 hours since the midnight 14 days
    back, one a day (at its fullest moment, here noon) for the year before that."""
    start = datetime.combine((now - RAW_KEPT).date(), clock.min, UTC)
    raw = []
    at = start
    while at <= now:
        raw.append((at, "raw"))
        at += RAW_EVERY
    daily = [(start - timedelta(days=d) + timedelta(hours=12), "day") for d in range(1, 351)]
    return sorted(daily) + raw


def history_rows(
    shape: Shape, domain: str, points: list[tuple[datetime, str]], rng: random.Random
) -> Iterator[dict[str, Any]]:
    """The package's usage_sample rows, components already as JSON text (fast)."""
    keys = [f"mailbox:{local}@{domain}" for local in MAILBOXES]
    keys += [f"site:public_html:{part}" for part in PARTS]
    keys += ["other"]
    template = "{" + ", ".join(f'"{key}": [%d, %d]' for key in keys) + "}"
    mail_total = sum(shape.mailbox_weights)
    part_total = sum(shape.part_weights)
    for at, resolution in points:
        age = (NOW - at) / timedelta(days=1)
        scale = 1 - shape.yearly_growth * age / HISTORY_DAYS
        total = QUOTA * shape.percent / 100 * scale
        mail = total * shape.mail_share
        boxes = [mail * w / mail_total * rng.uniform(0.995, 1.005) for w in shape.mailbox_weights]
        if shape.full_mailbox is not None:
            fraction = shape.full_mailbox
            if shape.campaign_from is not None and age < 2:
                fraction = shape.campaign_from + (shape.full_mailbox - shape.campaign_from) * (
                    1 - age / 2
                )
            elif shape.campaign_from is not None:
                fraction = shape.campaign_from
            boxes[0] = MAILBOX_QUOTA * fraction * (scale if shape.campaign_from is None else 1)
        site = total * (1 - shape.mail_share - shape.other_share)
        parts = [site * w / part_total for w in shape.part_weights]
        parts[5] *= rng.uniform(0.8, 1.2)  # caches come and go
        other = total * shape.other_share
        sizes = [int(b) for b in (*boxes, *parts, other)]
        values: list[int] = []
        for size in sizes:
            values += (size, size // 60_000)
        yield {
            "package_id": shape.package_id,
            "taken_at": at,
            "resolution": resolution,
            "total_bytes": sum(sizes),
            "components": template % tuple(values),
        }


class JSONText(TypeDecorator[str]):
    """JSON already serialised: sent as text, cast to json by PostgreSQL (SQLite keeps JSON
    as text anyway), so the loader need not build and dump millions of dicts."""

    impl = Text
    cache_ok = True

    def bind_expression(self, bindvalue: Any) -> Any:
        return cast(bindvalue, postgresql.JSON)


def samples_table(dialect: str) -> Any:
    """usage_sample with its components column taking JSON text."""
    as_text = JSONText() if dialect == "postgresql" else Text()
    return table(
        "usage_sample",
        *(
            column(c.name, as_text if c.name == "components" else c.type)
            for c in UsageSample.__table__.c
            if c.name != "id"
        ),
    )


def populate(engine: Engine, count: int, seed: int) -> dict[str, int]:
    """Everything the evaluation reads, in bulk; returns rows per table."""
    rng = random.Random(seed)
    created = NOW - timedelta(days=HISTORY_DAYS + 30)
    builders = max(1, count // 20)
    hoster = 1
    rows: dict[str, int] = {}

    def put(model: Any, values: list[dict[str, Any]]) -> None:
        for start in range(0, len(values), 5000):
            connection.execute(insert(model.__table__), values[start : start + 5000])
        rows[model.__tablename__] = rows.get(model.__tablename__, 0) + len(values)

    with engine.begin() as connection:
        put(Party, [{"id": hoster, "kind": "hoster", "name": "Bench hosting", "language": "en"}])
        party_rows = [
            {"id": 1 + b, "kind": "builder", "name": f"Builder {b}", "language": "nl"}
            for b in range(1, builders + 1)
        ]
        first_owner = 2 + builders
        party_rows += [
            {
                "id": first_owner + i,
                "kind": "owner",
                "name": f"Client {i}",
                "language": ("en", "nl")[i % 2],
            }
            for i in range(count)
        ]
        for row in party_rows:
            row.update(hoster_id=hoster, created_at=created)
        put(Party, party_rows)
        put(
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
            Plan,
            [
                {
                    "id": 1,
                    "hoster_id": hoster,
                    "name": "Business",
                    "storage_quota_bytes": QUOTA,
                    "mailbox_count": len(MAILBOXES),
                    "default_mailbox_quota_bytes": MAILBOX_QUOTA,
                    "notice_percent": DEFAULT_THRESHOLDS["notice"],
                    "warning_percent": DEFAULT_THRESHOLDS["warning"],
                    "critical_percent": DEFAULT_THRESHOLDS["critical"],
                    "created_at": created,
                }
            ],
        )
        put(
            HostingNode,
            [
                {
                    "id": 1,
                    "hoster_id": hoster,
                    "name": "node-1",
                    "layout": "cpanel",
                    "home_template": "",
                    "mail_template": "",
                    "docroot_template": "",
                    "created_at": created,
                }
            ],
        )
        ids = range(1, count + 1)
        put(
            Package,
            [
                {
                    "id": i,
                    "hoster_id": hoster,
                    "name": f"p{i}",
                    "plan_id": 1,
                    "node_id": 1,
                    "status": "active",
                    "created_at": created,
                }
                for i in ids
            ],
        )
        put(Domain, [{"package_id": i, "name": f"p{i}.example"} for i in ids])
        put(
            Site,
            [{"package_id": i, "domain": f"p{i}.example", "docroot": "public_html"} for i in ids],
        )
        put(
            Mailbox,
            [
                {"package_id": i, "address": f"{local}@p{i}.example", "quota_bytes": None}
                for i in ids
                for local in MAILBOXES
            ],
        )
        owner_of = {i: first_owner + i - 1 for i in ids}
        builder_of = {i: 2 + (i - 1) % builders for i in ids if i % 5}  # 1 in 5 has none
        assignments = []
        for i in ids:
            assignments += [
                {"package_id": i, "role": "hoster", "party_id": hoster, "created_at": created},
                {"package_id": i, "role": "owner", "party_id": owner_of[i], "created_at": created},
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
        put(Assignment, assignments)
        terms = {
            "text_en": "Storage is shared by mail and website.",
            "text_nl": "Mail en website delen de opslag.",
            "matrix": DEFAULT_MATRIX,
            "thresholds": DEFAULT_THRESHOLDS,
            "deadlines": DEFAULT_DEADLINES,
            "grace": DEFAULT_GRACE,
            "created_at": created,
        }
        put(TermsTemplate, [{"id": 1, "hoster_id": hoster, "name": "Terms", "version": 1, **terms}])
        agreed = []
        for i in ids:
            if i % 2:
                continue
            roles = {"hoster": hoster, "owner": owner_of[i]}
            if i in builder_of:
                roles["builder"] = builder_of[i]
            agreed.append(
                {
                    "package_id": i,
                    "version": 1,
                    "template_id": 1,
                    "reason": "terms applied",
                    **terms,
                    "limits": {
                        "storage_quota_bytes": QUOTA,
                        "mailbox_count": len(MAILBOXES),
                        "default_mailbox_quota_bytes": MAILBOX_QUOTA,
                    },
                    "parties": roles,
                    "party_names": {role: f"party {p}" for role, p in roles.items()},
                }
            )
        put(Agreement, agreed)
        if engine.dialect.name == "postgresql":
            for name in ("party", "plan", "hosting_node", "package", "terms_template"):
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT MAX(id) FROM {name}))"
                    )
                )
    points = moments(NOW)
    made = shapes(count, seed)
    samples = samples_table(engine.dialect.name)
    loaded = 0
    for start in range(0, count, BATCH):
        batch = [
            row
            for shape in made[start : start + BATCH]
            for row in history_rows(shape, f"p{shape.package_id}.example", points, rng)
        ]
        with engine.begin() as connection:
            connection.execute(insert(samples), batch)
        loaded += len(batch)
    rows["usage_sample"] = loaded
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    return rows


# ---------------------------------------------------------------------------------------------
# The databases


@contextmanager
def fresh_database(kind: str, pg_url: str, count: int, keep: bool = False) -> Iterator[str]:
    """A migrated, empty database; its URL. SQLite: a file in a temporary folder, deleted
    afterwards. PostgreSQL: the database in ``pg_url``, dropped and created again, and
    dropped afterwards (it takes about 3 GB at 10k packages) unless ``keep``."""
    if kind == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix=f"sqlite-{count}-", dir=WORK))
        url = f"sqlite:///{folder / 'onus.sqlite'}"
        try:
            migrate(url)
            yield url
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    parsed = make_url(pg_url)
    name = parsed.database or ""
    if "bench" not in name:
        raise SystemExit(f"refusing to drop database {name!r}: its name must contain 'bench'")
    server = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        migrate(pg_url)
        yield pg_url
    finally:
        if not keep:
            with server.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def migrate(url: str) -> None:
    from flask_migrate import upgrade

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        db.engine.dispose()


# ---------------------------------------------------------------------------------------------
# Timing


@dataclass
class Figure:
    database: str
    packages: int
    run: str
    seconds: float
    queries: int
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.packages / self.seconds if self.seconds else 0.0


def timed_runs(url: str, database: str, count: int, profile: Path | None) -> list[Figure]:
    """evaluate_all twice, then escalate_due, each timed and its statements counted."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    figures = []
    with app.app_context():
        statements = [0]

        def count_statement(*_: Any) -> None:
            statements[0] += 1

        event.listen(db.engine, "before_cursor_execute", count_statement)
        runs: list[tuple[str, Callable[[], alerts.Outcome]]] = [
            ("evaluate_all, first (opens)", lambda: alerts.evaluate_all(NOW)),
            ("evaluate_all, steady state", lambda: alerts.evaluate_all(NOW + ROUND)),
            ("escalate_due (info)", lambda: alerts.escalate_due(NOW + ROUND)),
            ("escalate_due, a day on (info)", lambda: alerts.escalate_due(NOW + DAY_ON)),
        ]
        for label, call in runs:
            db.session.remove()
            statements[0] = 0
            profiled = profile is not None and label.startswith("evaluate_all")
            profiler = cProfile.Profile() if profiled else None
            began = time.perf_counter()
            outcome = profiler.runcall(call) if profiler else call()
            seconds = time.perf_counter() - began
            if profiler and profile:
                run = "first" if label.endswith("(opens)") else "steady"
                profiler.dump_stats(str(profile.with_name(f"{profile.stem}-{run}{profile.suffix}")))
            counts = {k: v for k, v in outcome.counts.items() if v}
            counts["to_send"] = len(outcome.to_send)
            figures.append(Figure(database, count, label, seconds, statements[0], counts))
            print(
                f"  {database:<10} {count:>6,} {label:<30} {seconds:8.2f} s "
                f"{statements[0]:>8,} queries  {counts}",
                flush=True,
            )
        db.session.remove()
        db.engine.dispose()
    return figures


def render(figures: list[Figure], loaded: dict[tuple[str, int], dict[str, Any]]) -> str:
    lines = [
        "",
        "alerts.evaluate_all over every package   "
        f"({platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d %H:%M %Z')})",
        "",
        f"{'database':<10} {'packages':>8} {'mailboxes':>9} {'history rows':>12} "
        f"{'run':<30} {'seconds':>8} {'pkg/s':>7} {'queries':>8} {'opened':>6} "
        f"{'notifications':>13} {'vs N/10':>8}",
    ]
    for figure in figures:
        base = next(
            (
                f
                for f in figures
                if (f.database, f.run) == (figure.database, figure.run)
                and f.packages * 10 == figure.packages
            ),
            None,
        )
        ratio = f"{figure.seconds / base.seconds:.1f}" if base and base.seconds else ""
        info = loaded[(figure.database, figure.packages)]
        lines.append(
            f"{figure.database:<10} {figure.packages:>8,} {figure.packages * 5:>9,} "
            f"{info['rows'].get('usage_sample', 0):>12,} {figure.run:<30} "
            f"{figure.seconds:>8.2f} {figure.rate:>7,.0f} {figure.queries:>8,} "
            f"{figure.counts.get('opened', 0):>6,} {figure.counts.get('notifications', 0):>13,} "
            f"{ratio:>8}"
        )
    lines.append("")
    for (database, count), info in loaded.items():
        lines.append(f"load {database} {count:,}: {info['seconds']:.0f} s ({info['size']})")
    misses = [
        f
        for f in figures
        if f.packages == TARGET_SIZE and f.run.startswith("evaluate") and f.seconds > TARGET_SECONDS
    ]
    if any(f.packages == TARGET_SIZE for f in figures):
        lines.append(
            f"target: evaluate_all of {TARGET_SIZE:,} packages < {TARGET_SECONDS:.0f} s: "
            + (
                "MET"
                if not misses
                else "MISSED by "
                + ", ".join(f"{f.database} {f.run} ({f.seconds:.1f} s)" for f in misses)
            )
        )
    return "\n".join(lines)


def database_size(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                size = connection.execute(text("SELECT pg_database_size(current_database())"))
                return f"{int(size.scalar_one()) / 2**20:,.0f} MiB"
            path = make_url(url).database or ""
            return f"{Path(path).stat().st_size / 2**20:,.0f} MiB"
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", default=DEFAULT_PG, help="dropped and created again")
    parser.add_argument(
        "--keep", action="store_true", help="keep the PostgreSQL database of the last run"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--profile", type=Path, help="cProfile both evaluate_all runs at the largest size"
    )
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    sizes = sorted(set(args.packages))
    figures: list[Figure] = []
    loaded: dict[tuple[str, int], dict[str, Any]] = {}
    try:
        for kind in kinds:
            for count in sizes:
                with fresh_database(kind, args.pg_url, count, args.keep) as url:
                    print(f"{kind}: loading {count:,} packages ...", flush=True)
                    began = time.perf_counter()
                    engine = create_engine(url)
                    rows = populate(engine, count, args.seed)
                    engine.dispose()
                    seconds = time.perf_counter() - began
                    loaded[(kind, count)] = {
                        "rows": rows,
                        "seconds": seconds,
                        "size": database_size(url),
                    }
                    print(f"  loaded in {seconds:.0f} s: {rows}", flush=True)
                    profile = (
                        args.profile.with_suffix(f".{kind}.prof")
                        if args.profile and count == sizes[-1]
                        else None
                    )
                    figures += timed_runs(url, kind, count, None)
                if profile:
                    with fresh_database(kind, args.pg_url, count, args.keep) as url:
                        print(f"{kind}: loading {count:,} packages again to profile ...")
                        engine = create_engine(url)
                        populate(engine, count, args.seed)
                        engine.dispose()
                        timed_runs(url, kind + " (profiled)", count, profile)
                    for run in ("first", "steady"):
                        print_profile(profile.with_name(f"{profile.stem}-{run}{profile.suffix}"))
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    print(render(figures, loaded))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "cpus": os.cpu_count(),
                    "figures": [f.__dict__ for f in figures],
                    "loaded": {f"{k[0]} {k[1]}": v for k, v in loaded.items()},
                },
                indent=2,
                default=str,
            )
        )
    slow = [
        f
        for f in figures
        if f.packages == TARGET_SIZE and f.run.startswith("evaluate") and f.seconds > TARGET_SECONDS
    ]
    return 1 if slow else 0


def print_profile(path: Path) -> None:
    print(f"\ncProfile of an evaluate_all ({path}), by cumulative time:")
    stats = pstats.Stats(str(path))
    stats.sort_stats("cumulative").print_stats(r"panel/services|json|fetchall|execute'|commit", 25)
    print("by own time:")
    stats.sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    sys.exit(main())
