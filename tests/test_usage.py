"""Usage history: what a measurement records, the latest view, and thinning old points."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from panel.extensions import db
from panel.models import HostingNode, Package, PackageUsage, UsageSample
from panel.services import usage
from panel.services.measurement import node_queue, package_paths
from tests.world import World

MIB = 2**20


def report(info: int, plugins: int, backups: int, other: int = 1000) -> dict[str, Any]:
    return {
        "kind": "account",
        "bytes": info + plugins + backups + other,
        "mailboxes": {"info@alpha.example": {"kind": "maildir", "bytes": info, "messages": 7}},
        "sites": {
            "public_html": {
                "kind": "wordpress",
                "bytes": plugins + backups,
                "parts": {
                    "plugins": {"bytes": plugins, "files": 40},
                    "backups": {"bytes": backups, "files": 2},
                },
            }
        },
        "other": {"bytes": other, "files": 3},
        "skipped": {"unreadable": 2},
        "databases": {
            "wp_alpha": {"engine": "mysql", "bytes": 5 * MIB, "error": None},
            "gone": {"engine": "mysql", "bytes": None, "error": "no such database on the server"},
        },
    }


def test_measurement_is_kept_as_history_and_latest(world_app: Flask, world: World) -> None:
    with world_app.app_context():
        package = db.session.get(Package, world.package)
        moment = datetime(2026, 11, 1, 12, tzinfo=UTC)
        latest = usage.record_measurement(
            package, report(40 * MIB, 30 * MIB, 50 * MIB), moment, 0.5
        )
        assert latest.total_bytes == 125 * MIB + 1000
        assert (latest.mail_bytes, latest.site_bytes) == (40 * MIB, 80 * MIB)
        assert (latest.database_bytes, latest.other_bytes, latest.skipped) == (5 * MIB, 1000, 2)
        sample = db.session.scalars(select(UsageSample)).one()
        assert sample.components == {
            "mailbox:info@alpha.example": [40 * MIB, 7],
            "site:public_html:plugins": [30 * MIB, 40],
            "site:public_html:backups": [50 * MIB, 2],
            "other": [1000, 3],
            "database:wp_alpha": [5 * MIB, 0],
        }
        later = usage.record_measurement(
            package, report(41 * MIB, 30 * MIB, 50 * MIB), moment + timedelta(hours=1), 0.4
        )
        assert db.session.scalar(select(func.count()).select_from(PackageUsage)) == 1
        assert later.total_bytes == 126 * MIB + 1000
        view = usage.views_of([package])[package.id]
        assert view.used_bytes == later.total_bytes and view.quota_bytes == 150 * MIB
        assert view.free_bytes == 150 * MIB - later.total_bytes
        assert [s.key for s in view.slices] == ["mail", "site", "databases", "other", "free"]
        assert sum(s.bytes for s in view.slices) == 150 * MIB
        assert [p.taken_at for p in usage.history(package.id, moment)] == [
            moment,
            moment + timedelta(hours=1),
        ]


def test_json_columns_keep_a_number_orjson_would_round(world_app: Flask, world: World) -> None:
    # JSON columns are read with orjson, which reads an integer beyond 64 bits as a float;
    # such a number in a report must come back exactly
    with world_app.app_context():
        package = db.session.get_one(Package, world.package)
        odd = report(40 * MIB, 30 * MIB, 50 * MIB)
        odd["sites"]["public_html"]["inode"] = 2**70 + 1
        usage.record_measurement(package, odd, datetime(2026, 11, 1, tzinfo=UTC), 0.5)
        db.session.remove()
        site = db.session.scalars(select(PackageUsage)).one().report["sites"]["public_html"]
        assert site["inode"] == 2**70 + 1 and isinstance(site["inode"], int)
        assert site["parts"]["plugins"]["bytes"] == 30 * MIB


def test_over_quota_view_never_goes_negative(world_app: Flask, world: World) -> None:
    with world_app.app_context():
        package = db.session.get(Package, world.package)
        usage.record_measurement(
            package, report(100 * MIB, 60 * MIB, 10 * MIB), datetime(2026, 11, 1, tzinfo=UTC), 0.1
        )
        view = usage.views_of([package])[package.id]
        assert view.free_bytes == 0 and view.percent > 100
        assert round(sum(s.percent for s in view.slices)) == 100


def test_downsampling_keeps_the_fullest_point_per_day_then_week(
    world_app: Flask, world: World
) -> None:
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    with world_app.app_context():
        package = db.session.get(Package, world.package)
        start = now - timedelta(days=30)
        for hour in range(30 * 24):  # hourly for thirty days, a peak at 13:00 each day
            moment = start + timedelta(hours=hour)
            total = 100 + (50 if moment.hour == 13 else 0) + hour // 24
            db.session.add(
                UsageSample(
                    package_id=package.id,
                    taken_at=moment,
                    resolution="raw",
                    total_bytes=total,
                    components={"other": [total, 1]},
                )
            )
        for day in range(420, 434):  # two old weeks of daily points
            db.session.add(
                UsageSample(
                    package_id=package.id,
                    taken_at=now - timedelta(days=day),
                    resolution="day",
                    total_bytes=day,
                    components={},
                )
            )
        db.session.commit()
        dropped = usage.downsample(now)
        samples = usage.history(package.id, now - timedelta(days=500))
        daily = [s for s in samples if s.resolution == "day"]
        raw = [s for s in samples if s.resolution == "raw"]
        weekly = [s for s in samples if s.resolution == "week"]
        first_raw_day = (now - usage.RAW_KEPT).date()
        assert min(s.taken_at for s in raw).date() == first_raw_day
        assert len(raw) == 14 * 24 + 12  # whole days only: the cut-off day stays raw
        assert len({s.taken_at.date() for s in daily}) == len(daily) == 16
        assert all(s.taken_at.hour == 13 for s in daily)
        assert {(s.taken_at.isocalendar()[:2]) for s in weekly} == {
            (now - timedelta(days=d)).isocalendar()[:2] for d in range(420, 434)
        }
        assert all(
            s.total_bytes
            == max(
                d
                for d in range(420, 434)
                if (now - timedelta(days=d)).isocalendar()[:2] == s.taken_at.isocalendar()[:2]
            )
            for s in weekly
        )
        assert dropped == (30 * 24 - len(raw) - len(daily)) + (14 - len(weekly))
        assert usage.downsample(now) == 0


def test_paths_follow_the_node_layout(world_app: Flask, world: World) -> None:
    with world_app.app_context():
        package = db.session.get(Package, world.package)
        home, mailboxes, sites = package_paths(package)
        assert str(home) == "/home/alpha"
        assert {k: str(v) for k, v in mailboxes.items()} == {
            "info@alpha.example": "/home/alpha/mail/alpha.example/info"
        }
        assert {k: str(v) for k, v in sites.items()} == {"public_html": "/home/alpha/public_html"}
        package.node = db.session.get(HostingNode, world.spare_node)  # the vmail layout
        home, mailboxes, _sites = package_paths(package)
        assert str(home) == "/var/www/alpha"
        assert str(mailboxes["info@alpha.example"]) == "/var/vmail/alpha.example/info"
        per_node = {"ONUS_NODE_QUEUES": True, "CELERY": {}}
        assert node_queue(package.node, per_node) == "node.node-spare"
        one_queue = {"ONUS_NODE_QUEUES": False, "CELERY": {"task_default_queue": "panel"}}
        assert node_queue(package.node, one_queue) == "panel"
        db.session.rollback()
