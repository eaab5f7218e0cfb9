"""Docroots: the CMS and its version from its own files, and the split into parts."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import pytest

from panel.measure import scan_docroot, scan_path
from tests.measure.trees import make_wordpress, reference, write

DAY = 86400


def _adds_up(report: dict) -> None:
    assert sum(p["bytes"] for p in report["parts"].values()) == report["bytes"]
    assert sum(p["files"] for p in report["parts"].values()) == report["files"]
    json.dumps(report)


def test_wordpress_parts_are_exactly_as_the_rules_say(tmp_path: Path) -> None:
    parts = make_wordpress(tmp_path, 1, version="6.4.3")
    report = scan_docroot(tmp_path)
    assert report["kind"] == "wordpress"
    assert report["version"] == "6.4.3"
    assert {part: figures["bytes"] for part, figures in report["parts"].items()} == parts
    assert list(report["parts"]) == [
        "core", "plugins", "themes", "uploads", "backups", "cache", "other"
    ]  # fmt: skip
    assert (report["bytes"], report["files"]) == reference(tmp_path)
    _adds_up(report)


def test_largest_files_and_old_backups(tmp_path: Path) -> None:
    make_wordpress(tmp_path, 2)
    now = time.time()
    old = now - 45 * DAY
    for rel in (
        "wp-content/updraft/backup_2024-01-01-db.gz",
        "wp-content/updraft/log.abc.txt",  # a log, not a backup
        "wp-content/ai1wm-backups/site-20240101.wpress",
        "wp-content/uploads/2024/01/img0.jpg",  # old, but no backup
    ):
        os.utime(tmp_path / rel, (old, old))
    write(tmp_path / "site-backup-2023.zip", 50_000)  # a hand-made backup in the docroot
    os.utime(tmp_path / "site-backup-2023.zip", (old, old))
    write(tmp_path / "wp-content/uploads/brochure.zip", 1000)  # an archive, but no backup
    os.utime(tmp_path / "wp-content/uploads/brochure.zip", (old, old))
    write(tmp_path / "dump.sql", 7)
    os.utime(tmp_path / "dump.sql", (old, old))
    report = scan_docroot(tmp_path, now=now)
    assert [item["path"] for item in report["stale_backups"]] == [
        "site-backup-2023.zip",
        "wp-content/ai1wm-backups/site-20240101.wpress",
        "wp-content/updraft/backup_2024-01-01-db.gz",
        "dump.sql",
    ]
    assert report["stale_backups"][0]["bytes"] == 50_000
    assert report["stale_backups"][0]["modified"].endswith("+00:00")
    largest = report["largest"]
    assert len(largest) == 10
    assert largest[0] == {"path": "site-backup-2023.zip", "bytes": 50_000}
    sizes = [item["bytes"] for item in largest]
    assert sizes == sorted(sizes, reverse=True)
    everything = sorted(
        (p.stat().st_size for p in tmp_path.rglob("*") if p.is_file()), reverse=True
    )
    assert sizes == everything[:10]


def test_joomla(tmp_path: Path) -> None:
    write(
        tmp_path / "libraries/src/Version.php",
        data=b"<?php\nfinal class Version {\n    public const MAJOR_VERSION = 4;\n"
        b"    public const MINOR_VERSION = 2;\n    public const PATCH_VERSION = 5;\n"
        b"    public const EXTRA_VERSION = '';\n}\n",
    )
    write(tmp_path / "configuration.php", 2000)
    write(tmp_path / "images/banner.jpg", 300)
    write(tmp_path / "media/system/js/core.js", 200)
    write(tmp_path / "cache/page/x.php", 50)
    write(tmp_path / "administrator/cache/y.php", 60)
    write(tmp_path / "tmp/upload.zip", 70)
    write(tmp_path / "administrator/logs/error.php", 80)
    write(tmp_path / "administrator/components/com_akeebabackup/backup/site.jpa", 9000)
    write(tmp_path / "administrator/components/com_akeeba/backup/old.jpa", 1000)
    report = scan_path(tmp_path)
    assert (report["kind"], report["version"]) == ("joomla", "4.2.5")
    parts = {part: figures["bytes"] for part, figures in report["parts"].items()}
    assert parts["backups"] == 10_000
    assert parts["cache"] == 110
    assert parts["images"] == 300
    assert parts["tmp"] == 70
    assert parts["logs"] == 80
    assert parts["media"] == 200
    _adds_up(report)


def test_old_joomla_and_the_manifest(tmp_path: Path) -> None:
    write(
        tmp_path / "libraries/cms/version/version.php",
        data=b"<?php class JVersion { public $RELEASE = '3.4'; public $DEV_LEVEL = '8'; }",
    )
    assert scan_docroot(tmp_path)["version"] == "3.4.8"
    other = tmp_path / "other"
    write(other / "administrator/manifests/files/joomla.xml", data=b"<version>5.0.1</version>")
    assert scan_docroot(other)["version"] == "5.0.1"


def test_drupal(tmp_path: Path) -> None:
    write(
        tmp_path / "core/lib/Drupal.php",
        data=b"<?php\nclass Drupal {\n  const VERSION = '10.1.5';\n}\n",
    )
    write(tmp_path / "modules/contrib/token/token.module", 500)
    write(tmp_path / "themes/custom/site/site.theme", 400)
    write(tmp_path / "sites/default/files/photo.jpg", 3000)
    write(tmp_path / "sites/default/files/css/css_abc.css", 100)
    write(tmp_path / "sites/default/files/backup_migrate/db.mysql.gz", 7000)
    write(tmp_path / "sites/default/settings.php", 600)
    report = scan_docroot(tmp_path)
    assert (report["kind"], report["version"]) == ("drupal", "10.1.5")
    parts = {part: figures["bytes"] for part, figures in report["parts"].items()}
    assert parts["modules"] == 500
    assert parts["themes"] == 400
    assert parts["files"] == 3000
    assert parts["cache"] == 100
    assert parts["backups"] == 7000
    _adds_up(report)


def test_drupal7_keeps_its_own_modules_in_core(tmp_path: Path) -> None:
    write(tmp_path / "includes/bootstrap.inc", data=b"<?php\ndefine('VERSION', '7.98');\n")
    write(tmp_path / "modules/system/system.module", 900)
    write(tmp_path / "sites/all/modules/views/views.module", 800)
    report = scan_docroot(tmp_path)
    assert (report["kind"], report["version"]) == ("drupal", "7.98")
    assert report["parts"]["modules"]["bytes"] == 800


def test_opencart(tmp_path: Path) -> None:
    write(tmp_path / "index.php", data=b"<?php\n// Version\ndefine('VERSION', '3.0.3.8');\n")
    write(tmp_path / "admin/index.php", 100)
    write(tmp_path / "catalog/controller/common/home.php", 200)
    write(tmp_path / "system/startup.php", 300)
    write(tmp_path / "image/catalog/product.jpg", 4000)
    write(tmp_path / "image/cache/catalog/product-200x200.jpg", 500)
    write(tmp_path / "system/storage/logs/error.log", 60)
    report = scan_docroot(tmp_path)
    assert (report["kind"], report["version"]) == ("opencart", "3.0.3.8")
    parts = {part: figures["bytes"] for part, figures in report["parts"].items()}
    assert parts["image"] == 4000
    assert parts["image_cache"] == 500
    assert parts["storage"] == 60
    _adds_up(report)


def test_anything_else_is_static(tmp_path: Path) -> None:
    write(tmp_path / "index.html", 100)
    write(tmp_path / "img/a.jpg", 200)
    report = scan_path(tmp_path)
    assert report["kind"] == "static"
    assert report["version"] is None
    assert report["parts"] == {"files": {"bytes": 300, "files": 2}}


def test_a_version_file_that_is_a_symlink_is_not_followed(tmp_path: Path) -> None:
    write(tmp_path / "elsewhere.php", data=b"<?php $wp_version = '9.9';")
    (tmp_path / "wp-includes").mkdir()
    (tmp_path / "wp-content").mkdir()
    os.symlink(tmp_path / "elsewhere.php", tmp_path / "wp-includes/version.php")
    report = scan_docroot(tmp_path)
    assert report["kind"] == "wordpress"
    assert report["version"] is None


@pytest.mark.parametrize("seed", range(15))
def test_random_docroots_equal_a_full_stat_walk(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    make_wordpress(tmp_path, seed)
    names = ["wp-content", "wp-content/uploads", "wp-content/plugins/x", "a", "a/b", "a/b/c"]
    for name in names:
        (tmp_path / name).mkdir(parents=True, exist_ok=True)
    made = []
    for _ in range(rng.randrange(10, 80)):
        path = write(tmp_path / rng.choice(names) / f"f{rng.randrange(10**6)}", rng.randrange(9000))
        made.append(path)
        if rng.random() < 0.2:  # hard links anywhere, also across parts
            os.link(path, tmp_path / rng.choice(names) / f"l{rng.randrange(10**6)}")
    report = scan_docroot(tmp_path)
    assert (report["bytes"], report["files"]) == reference(tmp_path)
    _adds_up(report)


def test_missing_docroot(tmp_path: Path) -> None:
    report = scan_docroot(tmp_path / "public_html")
    assert report["missing"] is True
    assert report["bytes"] == 0
