"""The hosting-tree generator: the story's shape and proportions, Maildir truths, determinism.

Sizes are checked against a plain ``os.walk`` + ``lstat`` (each inode once), never against the
generator's own bookkeeping alone.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from panel.hostingtree import (
    MIB,
    build_benchmark_tree,
    build_maildir_tree,
    build_story_tree,
)

NOW = 1_767_225_600.0  # 2026-01-01 00:00 UTC: a fixed "now" makes names reproducible
DAY = 86400
SIZE_IN_NAME = re.compile(r",S=(\d+)(?:,W=(\d+))?")


def walk(root: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Every regular file under ``root`` (symlinks not followed) with its lstat."""
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = Path(folder, name)
            info = path.lstat()
            if stat.S_ISREG(info.st_mode):
                yield path, info


def total(root: Path, keep: Any = None) -> int:
    """Apparent size of the regular files under ``root``, each inode once."""
    seen: set[tuple[int, int]] = set()
    size = 0
    for path, info in walk(root):
        if keep is not None and not keep(path.relative_to(root).as_posix()):
            continue
        if (info.st_dev, info.st_ino) in seen:
            continue
        seen.add((info.st_dev, info.st_ino))
        size += info.st_size
    return size


def wp_part(rel: str) -> str:
    """The part of a WordPress site a docroot-relative path belongs to (issue 3's rules)."""
    if not rel.startswith("wp-content/"):
        return "core"
    inside = rel.removeprefix("wp-content/")
    top = inside.split("/", 1)[0]
    if re.match(r"uploads/backwpup-[^/]+-backups/", inside) or top in (
        "updraft",
        "ai1wm-backups",
        "backups-dup-lite",
        "backups-dup-pro",
    ):
        return "backups"
    return {
        "plugins": "plugins",
        "mu-plugins": "plugins",
        "themes": "themes",
        "uploads": "uploads",
        "cache": "cache",
    }.get(top, "other")


def message_files(maildir: Path) -> Iterator[tuple[Path, os.stat_result]]:
    for path, info in walk(maildir):
        if path.parent.name in ("cur", "new"):
            yield path, info


def _scratch_base() -> str | None:
    """/dev/shm when it is a writable tmpfs: creating 16,000 files on a busy disk can take
    ten times longer than the rest of these tests together."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="onus-hostingtree-", dir=_scratch_base()))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def workdir(scratch: Path, request: pytest.FixtureRequest) -> Path:
    """Each test's own folder inside the module's scratch folder."""
    path = scratch / request.node.name
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def story(scratch: Path) -> dict[str, Any]:
    return build_story_tree(scratch / "node", now=NOW)


def test_story_has_the_promised_shape(story: dict[str, Any]) -> None:
    root = Path(story["root"])
    assert set(story["packages"]) == {"sprint", "vandam", "jandevries"}
    sprint = root / "home" / "sprint"
    assert set(story["packages"]["sprint"]["mailboxes"]) == {
        "info@sportschool-desprint.nl",
        "ledenadministratie@sportschool-desprint.nl",
        "trainers@sportschool-desprint.nl",
    }
    info = sprint / "mail" / "sportschool-desprint.nl" / "info"
    for folder in ("", ".Sent", ".Drafts", ".Trash", ".Archive", ".Archive.2024"):
        for sub in ("cur", "new", "tmp"):
            assert (info / folder / sub).is_dir()
        assert (info / folder / "dovecot-uidlist").is_file()
    for name in (
        "dovecot.index",
        "dovecot.index.cache",
        "dovecot.index.log",
        "subscriptions",
        "maildirsize",
    ):
        assert (info / name).is_file(), name
    assert (info / ".Sent" / "maildirfolder").is_file()
    docroot = sprint / "public_html"
    version = (docroot / "wp-includes" / "version.php").read_text()
    assert "$wp_version = '6.4.3';" in version
    for rel in (
        "wp-config.php",
        "index.php",
        "wp-admin",
        "wp-content/mu-plugins",
        "wp-content/updraft",
        "wp-content/ai1wm-backups",
        "wp-content/cache",
    ):
        assert (docroot / rel).exists(), rel
    plugins = [p for p in (docroot / "wp-content" / "plugins").iterdir() if p.is_dir()]
    themes = [p for p in (docroot / "wp-content" / "themes").iterdir() if p.is_dir()]
    assert len(plugins) >= 8 and 2 <= len(themes) <= 4
    assert sum(1 for _ in walk(docroot)) > 3_000  # a real install has thousands of files
    assert list((docroot / "wp-content" / "uploads").glob("20[0-9][0-9]/[01][0-9]/*.jpg"))
    vandam = root / "home" / "vandam" / "public_html" / "wp-content" / "uploads"
    assert list(vandam.glob("backwpup-*-backups/*.zip"))
    jan = root / "home" / "jandevries"
    assert (jan / "public_html" / "index.html").is_file()
    assert story["packages"]["jandevries"]["sites"]["public_html"]["kind"] == "static"
    assert (jan / "mail" / "jandevries.nl" / "jan" / "cur").is_dir()


def test_story_tells_the_story_in_its_sizes(story: dict[str, Any]) -> None:
    root = Path(story["root"])
    sprint = root / "home" / "sprint"
    used = total(sprint)
    assert 130 * MIB <= used <= 140 * MIB
    docroot = sprint / "public_html"
    parts: dict[str, int] = {}
    for path, info in walk(docroot):
        part = wp_part(path.relative_to(docroot).as_posix())
        parts[part] = parts.get(part, 0) + info.st_size
    assert parts["plugins"] + parts["themes"] + parts["backups"] > 75 * MIB  # > half of 150 MiB
    assert parts == story["packages"]["sprint"]["sites"]["public_html"]["parts"]
    mail = sprint / "mail" / "sportschool-desprint.nl"
    info = total(mail / "info")
    assert 40 * MIB <= info < 50 * MIB
    assert total(mail / "ledenadministratie") < 5 * MIB
    assert total(mail / "trainers") < 5 * MIB
    assert total(root) < 250 * MIB
    for package in story["packages"].values():
        assert total(Path(package["home"])) == package["bytes"]
        for box in package["mailboxes"].values():
            assert total(Path(box["path"])) == box["bytes"]
        for site in package["sites"].values():
            assert total(Path(site["path"])) == site["bytes"]
    signups = 0
    for path, _info in message_files(mail / "info"):
        with path.open("rb") as handle:
            head = handle.read(4096)
        signups += b"Subject: Nieuwe aanmelding via sportschool-desprint.nl" in head
    assert signups >= 1_000
    unread = list((mail / "info" / "new").iterdir())
    assert len(unread) > 100  # nobody read the campaign's last week


def test_message_names_carry_their_true_size(story: dict[str, Any]) -> None:
    checked = 0
    for package in story["packages"].values():
        for box in package["mailboxes"].values():
            for path, info in message_files(Path(box["path"])):
                match = SIZE_IN_NAME.search(path.name)
                assert match, path.name
                assert int(match.group(1)) == info.st_size, path
                lines = path.read_bytes().count(b"\n") if checked % 50 == 0 else None
                if lines is not None:
                    assert int(match.group(2)) == info.st_size + lines
                in_new = path.parent.name == "new"
                assert (":2," in path.name) != in_new, path
                checked += 1
    assert checked > 5_000
    sizes = [
        info.st_size
        for box in story["packages"]["sprint"]["mailboxes"].values()
        for _p, info in message_files(Path(box["path"]))
    ]
    assert min(sizes) >= 2_000 and max(sizes) > 1 * MIB


def maildirsize_totals(maildir: Path) -> tuple[int, int, str]:
    head, *lines = (maildir / "maildirsize").read_text().splitlines()
    size = sum(int(line.split()[0]) for line in lines)
    count = sum(int(line.split()[1]) for line in lines)
    return size, count, head


def test_maildirsize_adds_up_to_the_truth(story: dict[str, Any]) -> None:
    for package in story["packages"].values():
        for box in package["mailboxes"].values():
            maildir = Path(box["path"])
            size, count, head = maildirsize_totals(maildir)
            files = list(message_files(maildir))
            # Maildir++ counts every message name, hard-linked copies too
            assert size == sum(info.st_size for _p, info in files)
            assert count == len(files) == box["messages"]
            assert head.startswith(f"{box['quota']}S")


def test_copies_are_hard_links_counted_once(story: dict[str, Any]) -> None:
    linked = 0
    for box in story["packages"]["sprint"]["mailboxes"].values():
        for _path, info in message_files(Path(box["path"])):
            linked += info.st_nlink > 1
    assert linked >= 2  # each link seen from both folders


def test_old_backups_really_are_old(story: dict[str, Any]) -> None:
    site = story["packages"]["sprint"]["sites"]["public_html"]
    docroot = Path(site["path"])
    assert site["old_backups"]
    for rel in site["old_backups"]:
        assert (docroot / rel).stat().st_mtime < NOW - 30 * DAY
    backups = [
        p for p in (docroot / "wp-content" / "updraft").iterdir() if p.suffix in (".zip", ".gz")
    ]
    recent = [p for p in backups if p.stat().st_mtime > NOW - 30 * DAY]
    old = [p for p in backups if p.stat().st_mtime < NOW - 30 * DAY]
    assert recent and old
    wpress = list((docroot / "wp-content" / "ai1wm-backups").glob("*.wpress"))
    assert wpress and wpress[0].stat().st_mtime < NOW - 30 * DAY


def listing(root: Path) -> list[tuple[str, int]]:
    return sorted((p.relative_to(root).as_posix(), i.st_size) for p, i in walk(root))


def test_benchmark_tree_is_sized_and_deterministic(workdir: Path) -> None:
    first = build_benchmark_tree(workdir / "a", files=3_000, seed=7, now=NOW)
    files = listing(workdir / "a")
    assert abs(len(files) - 3_000) <= 300
    assert first["files"] == len(files)
    assert total(workdir / "a") == first["bytes"]
    for account in first["accounts"].values():
        assert total(Path(account["home"])) == account["bytes"]
    build_benchmark_tree(workdir / "b", files=3_000, seed=7, now=NOW)
    assert listing(workdir / "b") == files
    build_benchmark_tree(workdir / "c", files=3_000, seed=8, now=NOW)
    assert listing(workdir / "c") != files
    names = [Path(rel).name for rel, _size in files]
    assert any(name == "version.php" for name in names)
    assert any(",S=" in name for name in names)


def test_benchmark_names_follow_the_setting(workdir: Path) -> None:
    plain = build_benchmark_tree(workdir / "plain", files=1_500, maildir_names="plain", now=NOW)
    for account in plain["accounts"].values():
        for path in account["mailboxes"].values():
            assert not (Path(path) / "maildirsize").exists()
            assert all(",S=" not in p.name for p, _i in message_files(Path(path)))
    sized = build_maildir_tree(workdir / "vmail", files=1_500, seed=3, now=NOW)
    assert abs(sized["files"] - 1_500) <= 150
    assert total(workdir / "vmail") == sized["bytes"]
    for address, box in sized["mailboxes"].items():
        local, domain = address.split("@")
        maildir = workdir / "vmail" / domain / local
        assert Path(box["path"]) == maildir
        size, count, _head = maildirsize_totals(maildir)
        files = list(message_files(maildir))
        assert count == len(files) and size == sum(i.st_size for _p, i in files)
        for path, info in files:
            assert int(SIZE_IN_NAME.search(path.name).group(1)) == info.st_size  # type: ignore[union-attr]
    with pytest.raises(FileExistsError):
        build_maildir_tree(workdir / "plain" / "home", files=100)  # not generated there


def test_rebuilding_replaces_a_generated_tree(workdir: Path) -> None:
    build_maildir_tree(workdir / "v", files=300, seed=1, with_sizes=False, now=NOW)
    second = build_maildir_tree(workdir / "v", files=300, seed=2, with_sizes=False, now=NOW)
    assert total(workdir / "v") == second["bytes"]
    assert sum(1 for _ in walk(workdir / "v")) == second["files"]


def test_story_is_the_same_every_time(story: dict[str, Any], workdir: Path) -> None:
    again = build_story_tree(workdir, now=NOW)
    assert listing(workdir / "home") == listing(Path(story["root"]) / "home")
    assert again["packages"]["sprint"]["bytes"] == story["packages"]["sprint"]["bytes"]
    build_story_tree(workdir, now=NOW)  # a generated node is replaced, not added to
    assert listing(workdir / "home") == listing(Path(story["root"]) / "home")
