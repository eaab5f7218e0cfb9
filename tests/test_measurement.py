"""Measuring real files of the demo story: what the panel records equals a plain walk of the
disk, the pages show exactly those figures, and one broken package does not stop a node."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from panel.extensions import db
from panel.hostingtree import build_story_tree
from panel.measure.units import format_size
from panel.models import HostedDatabase, HostingNode, Package, PackageUsage, UsageSample, User
from panel.services import demo, measurement
from tests.conftest import https_client, login

PASSWORD = "story password"


def walked(*roots: Path) -> int:
    """Apparent size as a plain walk sees it: regular files, each inode once, no symlinks."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root in roots:
        for folder, _dirs, files in os.walk(root):
            for name in files:
                info = os.lstat(os.path.join(folder, name))
                if (
                    os.path.isfile(os.path.join(folder, name))
                    and not os.path.islink(os.path.join(folder, name))
                    and (info.st_dev, info.st_ino) not in seen
                ):
                    seen.add((info.st_dev, info.st_ino))
                    total += info.st_size
    return total


@pytest.fixture(scope="module")
def story_node(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The story's files, generated once for the module (tests that change them undo it)."""
    root = tmp_path_factory.mktemp("story") / "node"
    build_story_tree(root)
    return root


@pytest.fixture
def story(
    app: Flask, story_node: Path, tmp_path: Path
) -> Iterator[tuple[Flask, int, measurement.NodeSettings]]:
    with app.app_context():
        loaded = demo.load_story(PASSWORD, story_node)
        settings = measurement.NodeSettings(tmp_path / "cache", None, None)
    yield app, loaded.node_id, settings


def test_node_measurement_equals_the_files_on_disk(
    story: tuple[Flask, int, measurement.NodeSettings], tmp_path: Path
) -> None:
    app, node_id, settings = story
    with app.app_context():
        assert measurement.measure_node(node_id, settings) == {"measured": 3, "failed": 0}
        for package in db.session.scalars(select(Package)):
            latest = db.session.get(PackageUsage, package.id)
            home, mailboxes, sites = measurement.package_paths(package)
            assert latest.total_bytes == walked(home), package.name
            for address, folder in mailboxes.items():
                assert latest.report["mailboxes"][address]["bytes"] == walked(folder)
            assert latest.mail_bytes == walked(*mailboxes.values())
            assert latest.site_bytes == walked(*sites.values())
            # unknown without a database server, and saying why
            assert set(latest.report["databases"]) == {d.name for d in package.databases}
            assert all(
                d["bytes"] is None and "no MySQL server" in d["error"]
                for d in latest.report["databases"].values()
            )
        school = db.session.scalars(select(Package).where(Package.name == "sprint")).one()
        figures = db.session.get(PackageUsage, school.id)
        parts = figures.report["sites"]["public_html"]["parts"]
        story_share = (
            parts["plugins"]["bytes"] + parts["themes"]["bytes"] + parts["backups"]["bytes"]
        )
        assert story_share > school.plan.storage_quota_bytes / 2  # the story's first failure
        assert figures.report["sites"]["public_html"]["kind"] == "wordpress"
        assert figures.report["sites"]["public_html"]["stale_backups"]


def test_a_rescan_sees_new_mail(story: tuple[Flask, int, measurement.NodeSettings]) -> None:
    app, node_id, settings = story
    with app.app_context():
        measurement.measure_node(node_id, settings)
        school = db.session.scalars(select(Package).where(Package.name == "sprint")).one()
        before = db.session.get(PackageUsage, school.id).total_bytes
        _home, mailboxes, _sites = measurement.package_paths(school)
        delivered = mailboxes["info@sportschool-desprint.nl"] / "new" / "1800000000.M9P9.n,S=12345"
        delivered.write_bytes(b"m" * 12345)
        try:
            measurement.measure_node(node_id, settings)
        finally:
            delivered.unlink()
        db.session.expire_all()
        assert db.session.get(PackageUsage, school.id).total_bytes == before + 12345
        points = db.session.scalars(
            select(UsageSample).where(UsageSample.package_id == school.id)
        ).all()
        assert [p.total_bytes for p in points] == [before, before + 12345]


def test_one_broken_package_does_not_stop_the_node(
    story: tuple[Flask, int, measurement.NodeSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, node_id, settings = story
    real = measurement.scan_account

    def flaky(home, mailboxes, sites, cache):  # type: ignore[no-untyped-def]
        if str(home).endswith("/vandam"):
            raise OSError("disk went away")
        return real(home, mailboxes, sites, cache)

    monkeypatch.setattr(measurement, "scan_account", flaky)
    with app.app_context():
        assert measurement.measure_node(node_id, settings) == {"measured": 2, "failed": 1}


def test_missing_home_and_damaged_cache_are_measured_not_fatal(
    story: tuple[Flask, int, measurement.NodeSettings],
) -> None:
    app, node_id, settings = story
    with app.app_context():
        node = db.session.get(HostingNode, node_id)
        package = db.session.scalars(select(Package).where(Package.name == "jandevries")).one()
        settings.cache_dir.mkdir(parents=True)
        (settings.cache_dir / f"package-{package.id}.cache").write_bytes(b"not a cache")
        node.home_template = "/nonexistent/onus/{package}"
        db.session.commit()
        latest = measurement.measure_package(package, settings)
        assert latest.total_bytes == 0
        assert all(m.get("missing") for m in latest.report["mailboxes"].values())


def test_pages_show_the_measured_figures(
    story: tuple[Flask, int, measurement.NodeSettings],
) -> None:
    app, node_id, settings = story
    with app.app_context():
        measurement.measure_node(node_id, settings)
        school = db.session.scalars(select(Package).where(Package.name == "sprint")).one()
        latest = db.session.get(PackageUsage, school.id)
        total, quota = format_size(latest.total_bytes), format_size(150 * 2**20)
        info = latest.report["mailboxes"]["info@sportschool-desprint.nl"]
        largest = latest.report["sites"]["public_html"]["largest"][0]["path"]
        school_id = school.id
        for user in db.session.scalars(select(User)):  # the demo's people read Dutch
            user.language = "en"
        db.session.commit()
    hoster = https_client(app)
    login(hoster, "hoster@snelhost.example", PASSWORD)
    page = hoster.get(f"/hoster/packages/{school_id}").get_data(as_text=True)
    assert f"{total} of {quota} used" in page
    assert format_size(info["bytes"]) in page and largest in page
    assert f"{total} (" in hoster.get("/hoster/").get_data(as_text=True)
    owner = https_client(app)
    login(owner, "directie@sprint-post.example", PASSWORD)
    owners = owner.get(f"/client/packages/{school_id}").get_data(as_text=True)
    assert f"{total} of {quota} used" in owners and largest not in owners
    builder = https_client(app)
    login(builder, "jan@webbouwer.example", PASSWORD)
    builders = builder.get(f"/builder/packages/{school_id}").get_data(as_text=True)
    assert largest in builders


def test_database_sizes_come_from_the_node_database_server(
    story: tuple[Flask, int, measurement.NodeSettings],
) -> None:
    """With the node's MariaDB configured, a package's database is measured and counted."""
    import pymysql

    app, _node_id, settings = story
    name = f"onus_measure_{os.getpid()}"
    server = pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True)
    try:
        with server.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}`")
            cursor.execute(f"CREATE TABLE `{name}`.signups (id INT PRIMARY KEY, body TEXT)")
            cursor.executemany(
                f"INSERT INTO `{name}`.signups VALUES (%s, %s)",
                [(i, os.urandom(500).hex()) for i in range(1000)],
            )
            cursor.execute(f"ANALYZE TABLE `{name}`.signups")
        with app.app_context():
            school = db.session.scalars(select(Package).where(Package.name == "sprint")).one()
            db.session.add(HostedDatabase(package_id=school.id, name=name, engine="mysql"))
            db.session.commit()
            with_server = measurement.NodeSettings(
                settings.cache_dir, "mysql://root@127.0.0.1:3306/", None
            )
            latest = measurement.measure_package(school, with_server)
            measured = latest.report["databases"][name]
            assert measured["error"] is None and measured["bytes"] >= 1000 * 1000
            assert latest.database_bytes == measured["bytes"]
            files = latest.mail_bytes + latest.site_bytes + latest.other_bytes
            assert latest.total_bytes == files + measured["bytes"]
            assert latest.report["databases"]["wp_sprint"]["error"] == (
                "no such database on the server"
            )
    finally:
        with server.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        server.close()
