"""Bad input: the scan finishes, counts what it skipped and why, and never crashes or hangs.

Faults that cannot be set up on disk from a test (a file vanishing between the listing and
its stat, a folder that refuses reading while we run as root) are injected by wrapping
``os.scandir`` / ``os.open``; everything else is real files under tmp_path.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from panel.measure import scan_account, scan_docroot, scan_maildir, scan_path
from tests.measure.trees import MailWriter, make_maildir, make_wordpress, reference, write

Hook = Callable[[Any, os.DirEntry[Any]], None]


def _folder_of(target: Any) -> str:
    """The folder a scandir target names (the scanner lists open descriptors)."""
    if isinstance(target, int):
        return os.readlink(f"/proc/self/fd/{target}")
    return os.fsdecode(target)


@pytest.fixture
def on_entry(monkeypatch: pytest.MonkeyPatch) -> Callable[[Hook], None]:
    """Install ``hook(target, entry)``, called as each directory entry is handed out."""
    real = os.scandir

    def install(hook: Hook) -> None:
        class Wrapped:
            def __init__(self, target: Any = ".") -> None:
                self.target = target
                self.entries = real(target)

            def __enter__(self) -> Wrapped:
                return self

            def __exit__(self, *exc: object) -> None:
                self.entries.close()

            def __iter__(self) -> Iterator[os.DirEntry[Any]]:
                return self

            def __next__(self) -> os.DirEntry[Any]:
                entry = next(self.entries)
                hook(self.target, entry)
                return entry

            def close(self) -> None:
                self.entries.close()

        monkeypatch.setattr(os, "scandir", Wrapped)

    return install


@pytest.fixture
def deny(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """Make one folder refuse reading (EACCES), as chmod 000 would for anyone but root."""
    real_open = os.open
    real_scandir = os.scandir
    denied: set[str] = set()

    def guarded_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if kwargs.get("dir_fd") is None and os.fsdecode(path) in denied:
            raise PermissionError(13, "Permission denied", os.fsdecode(path))
        return real_open(path, flags, *args, **kwargs)

    def guarded_scandir(path: Any = ".") -> Any:
        if not isinstance(path, int) and os.fsdecode(path) in denied:
            raise PermissionError(13, "Permission denied", os.fsdecode(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "open", guarded_open)
    monkeypatch.setattr(os, "scandir", guarded_scandir)
    return lambda path: denied.add(str(path))


def _serialises(report: dict[str, Any]) -> None:
    json.dumps(report, ensure_ascii=False).encode("utf-8")


def test_symlink_loops_and_links_out_of_the_tree_are_not_followed(tmp_path: Path) -> None:
    site = tmp_path / "site"
    make_wordpress(site, 1)
    outside = write(tmp_path / "outside" / "big.bin", 100_000)
    os.symlink(".", site / "loop")
    os.symlink("b", site / "a")
    os.symlink("a", site / "b")
    os.symlink("/etc", site / "wp-content" / "etc")
    os.symlink(outside, site / "wp-content" / "uploads" / "big.bin")
    os.symlink("/nonexistent/target", site / "dangling")
    report = scan_docroot(site)
    assert (report["bytes"], report["files"]) == reference(site)
    assert report["skipped"] == {"symlink": 6}
    assert len(report["errors"]) == 5  # a few examples per reason
    _serialises(report)


def test_files_and_folders_vanishing_during_the_scan(
    tmp_path: Path, on_entry: Callable[[Hook], None]
) -> None:
    write(tmp_path / "keep.txt", 10)
    write(tmp_path / "victim.txt", 20)
    write(tmp_path / "gone" / "inside.txt", 30)
    write(tmp_path / "morph", 40)

    def hook(target: Any, entry: os.DirEntry[Any]) -> None:
        folder = _folder_of(target)
        if entry.name == "victim.txt":
            os.unlink(os.path.join(folder, "victim.txt"))
        elif entry.name == "gone":
            shutil.rmtree(os.path.join(folder, "gone"))
        elif entry.name == "morph":  # a file becomes a folder under the same name
            os.unlink(os.path.join(folder, "morph"))
            os.mkdir(os.path.join(folder, "morph"))

    on_entry(hook)
    report = scan_docroot(tmp_path)
    assert report["bytes"] == 10
    assert report["skipped"] == {"changed": 1, "vanished": 2}
    _serialises(report)


def test_messages_vanishing_during_a_maildir_scan(
    tmp_path: Path, on_entry: Callable[[Hook], None]
) -> None:
    mail = MailWriter(random.Random(1))
    names = [mail.stored(tmp_path, 100).name for _ in range(40)]
    unnamed = mail.stored(tmp_path, 100, named=False).name
    doomed = set(names[::3]) | {unnamed}

    def hook(target: Any, entry: os.DirEntry[Any]) -> None:
        if entry.name in doomed:
            doomed.discard(entry.name)
            os.unlink(os.path.join(_folder_of(target), entry.name))

    on_entry(hook)
    report = scan_maildir(tmp_path)
    # a message named with its size that vanished after the listing was still there when
    # listed; one that had to be stat'ed is reported as vanished
    assert report["skipped"].get("vanished", 0) >= 1
    assert report["bytes"] <= 41 * 100
    _serialises(report)


def test_a_tree_changing_all_the_time_is_scanned_without_crashing(tmp_path: Path) -> None:
    box = tmp_path / "mail" / "a.nl" / "info"
    make_maildir(box, 2)
    make_wordpress(tmp_path / "public_html", 2)
    stop = threading.Event()

    def churn() -> None:
        rng = random.Random(3)
        mail = MailWriter(rng)
        while not stop.is_set():
            try:
                path = mail.deliver(box)
                os.rename(path, box / "cur" / f"{path.name}:2,S")
                folder = tmp_path / "public_html" / f"d{rng.randrange(5)}"
                write(folder / "f", rng.randrange(100))
                shutil.rmtree(folder, ignore_errors=True)
                (box / "cur" / f"{path.name}:2,S").unlink()
            except OSError:
                pass

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        deadline = time.monotonic() + 0.8
        scans = 0
        while time.monotonic() < deadline:
            report = scan_path(tmp_path)
            _serialises(report)
            scans += 1
    finally:
        stop.set()
        worker.join()
    assert scans > 3
    final = scan_path(tmp_path)
    assert (final["bytes"], final["files"]) == reference(tmp_path)


def test_unreadable_folders_are_skipped_and_named(
    tmp_path: Path, deny: Callable[[Path], None]
) -> None:
    site = tmp_path / "site"
    write(site / "index.html", 10)
    write(site / "private" / "secret.txt", 500)
    write(site / "private" / "deeper" / "more.txt", 600)
    deny(site / "private")
    report = scan_docroot(site)
    assert report["bytes"] == 10
    assert report["skipped"] == {"unreadable": 1}
    assert report["errors"] == [f"unreadable: {site}/private (Permission denied)"]


def test_unreadable_message_folder(tmp_path: Path, deny: Callable[[Path], None]) -> None:
    make_maildir(tmp_path, 4)
    deny(tmp_path / ".Sent" / "cur")
    report = scan_maildir(tmp_path)
    assert report["skipped"] == {"unreadable": 1}
    assert report["bytes"] == reference(tmp_path, exclude=(str(tmp_path / ".Sent" / "cur"),))[0]


def test_an_unreadable_mailbox_or_home(tmp_path: Path, deny: Callable[[Path], None]) -> None:
    make_maildir(tmp_path / "box", 5)
    deny(tmp_path / "box")
    deny(tmp_path)
    report = scan_account(tmp_path, {"a@b.nl": tmp_path / "box"}, {})
    assert report["bytes"] == 0
    assert report["skipped"] == {"unreadable": 2}


def test_a_real_chmod_000_folder(tmp_path: Path) -> None:
    write(tmp_path / "index.html", 10)
    write(tmp_path / "locked" / "a.txt", 20)
    os.chmod(tmp_path / "locked", 0)
    try:
        report = scan_docroot(tmp_path)
    finally:
        os.chmod(tmp_path / "locked", 0o755)
    if os.geteuid() == 0:  # root reads it all the same
        assert report["bytes"] == 30
    else:
        assert report["bytes"] == 10
        assert report["skipped"] == {"unreadable": 1}


def test_names_that_are_not_utf8(tmp_path: Path) -> None:
    root = os.fsencode(tmp_path)
    os.makedirs(root + b"/site/caf\xe9")
    with open(root + b"/site/caf\xe9/\xff\xfe.bin", "wb") as handle:
        handle.write(b"x" * 5000)
    box = root + b"/box"
    for folder in (b"", b"/.Sent\xff"):
        for sub in (b"cur", b"new", b"tmp"):
            os.makedirs(box + folder + b"/" + sub)
    with open(box + b"/cur/1.M1P1.h\xe9st,S=7:2,S", "wb") as handle:
        handle.write(b"m" * 7)
    with open(box + b"/.Sent\xff/cur/2.M2P2.host\xff:2,S", "wb") as handle:
        handle.write(b"m" * 9)
    site = scan_docroot(root + b"/site")
    assert site["largest"] == [{"path": "caf\\xe9/\\xff\\xfe.bin", "bytes": 5000}]
    mailbox = scan_maildir(box)
    assert mailbox["folders"]["Sent\\xff"] == {"bytes": 9, "messages": 1}
    assert mailbox["bytes"] == 16
    whole = scan_path(tmp_path)
    assert whole["bytes"] == reference(tmp_path)[0] == 5016
    for report in (site, mailbox, whole):
        _serialises(report)
        json.dumps(report)  # ASCII too


def test_a_2gb_sparse_file(tmp_path: Path) -> None:
    big = tmp_path / "site" / "wp-content" / "ai1wm-backups" / "huge.wpress"
    big.parent.mkdir(parents=True)
    with open(big, "wb") as handle:
        handle.truncate(2 * 1024**3 + 1)
    report = scan_docroot(tmp_path / "site")
    assert report["bytes"] == 2 * 1024**3 + 1
    assert report["largest"][0]["bytes"] == 2 * 1024**3 + 1
    assert os.stat(big).st_blocks == 0  # it took no disk


def test_special_files_are_skipped(tmp_path: Path) -> None:
    write(tmp_path / "index.html", 1)
    os.mkfifo(tmp_path / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "sock"))
        report = scan_docroot(tmp_path)
    finally:
        sock.close()
    assert report["bytes"] == 1
    assert report["skipped"] == {"special": 2}


@pytest.fixture
def roomy_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder on tmpfs when there is one: the disk under tmp_path here has no hashed
    directories, where writing 200,000 names into one folder alone takes half a minute."""
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        path = Path(tempfile.mkdtemp(prefix="onus-measure-", dir="/dev/shm"))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
    else:
        yield tmp_path


def test_a_folder_of_200000_entries(roomy_dir: Path) -> None:
    started = time.monotonic()
    cur = roomy_dir / "cur"
    cur.mkdir()
    fd = os.open(cur, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for number in range(200_000):
            os.mknod(f"{number}.M{number}P1.host,S=0:2,S", dir_fd=fd)
    finally:
        os.close(fd)
    report = scan_maildir(roomy_dir)
    assert report["messages"] == 200_000
    assert report["measured_by"]["name"] == 200_000
    assert report["bytes"] == 0
    walked = scan_docroot(roomy_dir)  # and by stat, as a docroot
    assert walked["files"] == 200_000
    assert time.monotonic() - started < 5


def test_deep_nesting(tmp_path: Path) -> None:
    path = tmp_path / "site"
    deepest = path / "/".join(["d"] * 300)
    write(deepest / "bottom.txt", 42)
    report = scan_docroot(path)
    assert report["bytes"] == 42
    assert report["largest"][0]["path"].count("/") == 300


def _chain(root: Path, depth: int) -> None:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir("dddd", dir_fd=fd)
        child = os.open("dddd", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    leaf = os.open("leaf.txt", os.O_WRONLY | os.O_CREAT, dir_fd=fd)
    os.write(leaf, b"x" * 9)
    os.close(leaf)
    os.close(fd)


def _unchain(root: Path) -> None:
    """Cut a chain too deep for paths into short pieces, then remove them."""
    top = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    name = "dddd"
    try:
        for number in range(100_000):
            try:
                fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=top)
            except FileNotFoundError:
                break
            try:
                os.rename("dddd", f"piece{number}", src_dir_fd=fd, dst_dir_fd=top)
            except FileNotFoundError:
                break
            finally:
                os.close(fd)
            name = f"piece{number}"
    finally:
        os.close(top)
    shutil.rmtree(root)


def test_nesting_deeper_than_a_path_can_be(tmp_path: Path) -> None:
    root = tmp_path / "site"
    root.mkdir()
    write(root / "index.html", 5)
    _chain(root, 1000)  # 5,000 characters: more than PATH_MAX
    try:
        report = scan_docroot(root)
    finally:
        _unchain(root)
    assert report["bytes"] == 5
    assert report["skipped"] == {"too_deep": 1}
    _serialises(report)
