"""Incremental rescans: never stale, whatever a mail server does between two scans."""

from __future__ import annotations

import os
import pickle
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from panel.measure import ScanCache, scan_account, scan_maildir
from tests.measure.trees import MailWriter, age, make_maildir, reference, write


def _strip(report: Any) -> Any:
    """The report without ``measured_by`` (which says how, not what)."""
    if isinstance(report, dict):
        return {k: _strip(v) for k, v in report.items() if k != "measured_by"}
    return report


def _check(root: Path, cache: ScanCache) -> dict[str, Any]:
    cached = scan_maildir(root, cache)
    full = scan_maildir(root)
    assert _strip(cached) == _strip(full)
    assert (cached["bytes"], cached["files"]) == reference(root)
    return cached


def _messages(root: Path, folder: str = "cur") -> list[Path]:
    return sorted((root / folder).iterdir())


class Server:
    """Does to a Maildir what Dovecot does."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.mail = MailWriter(random.Random(99))

    def deliver(self) -> None:
        self.mail.deliver(self.root, 2222)

    def read_new(self) -> None:  # new/ → cur/ with flags
        for path in _messages(self.root, "new"):
            os.rename(path, self.root / "cur" / f"{path.name}:2,S")

    def flag(self) -> None:  # a flag change is a rename within cur/
        path = _messages(self.root)[0]
        os.rename(path, path.with_name(path.name.rpartition(":2,")[0] + ":2,RS"))

    def expunge(self) -> None:
        _messages(self.root)[-1].unlink()

    def copy(self) -> None:  # IMAP COPY: a hard link into another folder
        path = _messages(self.root)[0]
        os.link(path, self.root / ".Trash" / "cur" / f"{self.mail.base(path.stat().st_size)}:2,S")

    def move(self) -> None:  # IMAP MOVE: link, then unlink
        self.copy()
        _messages(self.root)[0].unlink()

    def create_folder(self) -> None:
        folder = self.root / ".Projects"
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True)
        write(folder / "maildirfolder")
        self.mail.stored(folder, 3333)

    def rename_folder(self) -> None:
        os.rename(self.root / ".Projects", self.root / ".Projecten")

    def delete_folder(self) -> None:
        shutil.rmtree(self.root / ".Projecten")

    def grow_index(self) -> None:  # in place: no folder's mtime moves
        with open(self.root / "dovecot.index.log", "ab") as log:
            log.write(b"y" * 5000)
        with open(self.root / ".Sent" / "dovecot-uidlist", "ab") as uidlist:
            uidlist.write(b"z" * 700)

    def new_index(self) -> None:
        write(self.root / ".Sent" / "dovecot.index.cache", 9000)

    def rewrite_maildirsize(self) -> None:
        path = self.root / "maildirsize"
        path.write_bytes(path.read_bytes() + b"2222 1\n")

    def rewrite_maildirsize_same_size(self) -> None:  # in place, same length, new figures
        path = self.root / "maildirsize"
        data = path.read_bytes()
        with open(path, "r+b") as handle:
            handle.write(data.replace(b"1", b"2"))

    def tmp_delivery(self) -> None:  # a file being written in tmp/ grows in place
        path = self.root / "tmp" / "partial"
        write(path, 100)
        with open(path, "ab") as partial:
            partial.write(b"p" * 4000)

    def tmp_done(self) -> None:
        os.rename(self.root / "tmp" / "partial", self.root / "new" / self.mail.base(4100))

    def replace_same_name(self) -> None:  # a file replaced by another of the same name
        path = _messages(self.root)[1]
        spare = path.with_name("spare")
        spare.write_bytes(b"r" * 17)
        os.rename(spare, path)

    def recreate_cur(self) -> None:  # deleted and created again, mtime set back as it was
        cur = self.root / ".Sent" / "cur"
        stamp = cur.stat().st_mtime_ns
        shutil.rmtree(cur)
        cur.mkdir()
        self.mail.stored(self.root / ".Sent", 1)
        os.utime(cur, ns=(stamp, stamp))


STEPS = [
    "deliver",
    "read_new",
    "flag",
    "expunge",
    "copy",
    "move",
    "create_folder",
    "rename_folder",
    "delete_folder",
    "grow_index",
    "new_index",
    "rewrite_maildirsize",
    "rewrite_maildirsize_same_size",
    "tmp_delivery",
    "tmp_done",
    "replace_same_name",
    "recreate_cur",
]


def test_every_rescan_equals_a_full_walk_whatever_the_server_did(tmp_path: Path) -> None:
    root = tmp_path / "box"
    make_maildir(root, 1, messages=80, folders=("Sent", "Trash", "Archive"))
    age(root)
    cache = ScanCache()
    _check(root, cache)
    again = _check(root, cache)
    assert again["measured_by"]["cache"] == again["messages"]
    assert again["measured_by"]["name"] == again["measured_by"]["stat"] == 0
    server = Server(root)
    for step in STEPS:
        getattr(server, step)()
        _check(root, cache)  # changed folders are recent: listed again
        age(root)
        _check(root, cache)  # quiet again: listed once more, then kept
        kept = _check(root, cache)
        assert kept["measured_by"]["cache"] == kept["messages"], step


def test_a_folder_changed_within_the_timestamp_granularity_is_not_trusted(tmp_path: Path) -> None:
    """A coarse file system (1 s mtimes) can change a folder twice under one mtime."""
    root = tmp_path / "box"
    mail = MailWriter(random.Random(5))
    for _ in range(20):
        mail.stored(root, 1000, named=False)  # sizes by stat: a replaced file may differ
    cur = root / "cur"
    stamp = int(time.time()) * 1_000_000_000  # this second, truncated: as ext3 would show it
    os.utime(cur, ns=(stamp, stamp))
    cache = ScanCache()
    first = _check(root, cache)
    assert first["measured_by"]["cache"] == 0
    victim = _messages(root)[3]
    spare = victim.with_name("spare")
    spare.write_bytes(b"q" * 5)
    os.rename(spare, victim)  # same name, new size, and the folder's mtime stays the same:
    os.utime(cur, ns=(stamp, stamp))
    second = _check(root, cache)
    assert second["bytes"] == first["bytes"] - 1000 + 5


def test_same_folder_name_new_folder_same_mtime_is_not_mistaken(tmp_path: Path) -> None:
    root = tmp_path / "box"
    mail = MailWriter(random.Random(6))
    for _ in range(5):
        mail.stored(root, 100)
    age(root)
    cache = ScanCache()
    _check(root, cache)
    stamp = (root / "cur").stat().st_mtime_ns
    other = root / "other-cur"
    other.mkdir()
    write(other / f"{mail.base(7)}:2,S", 7)
    os.rename(root / "cur", root / "old-cur")
    os.rename(other, root / "cur")
    os.utime(root / "cur", ns=(stamp, stamp))
    age(root)
    report = _check(root, cache)
    assert report["folders"]["INBOX"]["bytes"] == 7


def test_cached_rescan_of_an_account_keeps_hard_links_across_mailboxes_once(
    tmp_path: Path,
) -> None:
    mail = MailWriter(random.Random(7))
    one, two = tmp_path / "mail" / "a.nl" / "one", tmp_path / "mail" / "a.nl" / "two"
    sent = []
    for _ in range(30):
        sent.append(mail.stored(one, 500))
    (two / "cur").mkdir(parents=True)
    for path in sent[:10]:  # delivered to both: Dovecot links the second copy
        os.link(path, two / "cur" / f"{mail.base(500)}:2,S")
    age(tmp_path)
    boxes = {"one@a.nl": one, "two@a.nl": two}
    cache = ScanCache()
    for _ in range(3):
        report = scan_account(tmp_path, boxes, {}, cache)
        assert (report["bytes"], report["files"]) == reference(tmp_path)
        assert report["mailboxes"]["two@a.nl"]["bytes"] == 0
    sent[0].unlink()
    age(tmp_path)
    for _ in range(2):
        report = scan_account(tmp_path, boxes, {}, cache)
        assert (report["bytes"], report["files"]) == reference(tmp_path)
    assert report["mailboxes"]["two@a.nl"]["bytes"] == 500
    # one mailbox only: the other is the home's "other" now, and still counted once
    alone = scan_account(tmp_path, {"two@a.nl": two}, {}, cache)
    assert (alone["bytes"], alone["files"]) == reference(tmp_path)
    assert alone["mailboxes"]["two@a.nl"]["bytes"] == reference(two)[0]


def test_dump_and_load_round_trip(tmp_path: Path) -> None:
    make_maildir(tmp_path, 2)
    age(tmp_path)
    cache = ScanCache()
    first = scan_maildir(tmp_path, cache)
    loaded = ScanCache.load(cache.dump())
    assert len(loaded) == len(cache) > 0
    second = scan_maildir(tmp_path, loaded)
    assert _strip(second) == _strip(first)
    assert second["measured_by"]["cache"] == second["messages"]
    unpickled = pickle.loads(pickle.dumps(cache))
    assert scan_maildir(tmp_path, unpickled)["measured_by"]["cache"] == second["messages"]


class _Evil:
    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str]]:
        return (os.system, ("touch /tmp/onus-cache-was-executed",))


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"garbage",
        pickle.dumps(("onus-scan-cache", 999, {})),
        pickle.dumps(
            ("onus-scan-cache", 4, {("m", "/x"): (None, [], {"p": (1,)}, {}, {}, {}, {})})
        ),
        pickle.dumps(_Evil()),
        pickle.dumps(("onus-scan-cache", 4, {("m", "/x"): (None, [], {}, {}, _Evil(), {}, {})})),
    ],
)
def test_damaged_or_forged_caches_load_empty(tmp_path: Path, blob: bytes) -> None:
    marker = Path("/tmp/onus-cache-was-executed")
    marker.unlink(missing_ok=True)
    cache = ScanCache.load(blob)
    assert len(cache) == 0
    assert not marker.exists()
    make_maildir(tmp_path, 3)
    assert scan_maildir(tmp_path, cache)["bytes"] == reference(tmp_path)[0]


def test_forget_unused_drops_calls_not_made_since_load(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    make_maildir(one, 1)
    make_maildir(two, 2)
    age(tmp_path)
    cache = ScanCache()
    scan_maildir(one, cache)
    scan_maildir(two, cache)
    loaded = ScanCache.load(cache.dump())
    scan_maildir(one, loaded)
    assert loaded.forget_unused() == 1
    assert loaded.forget_unused() == 0
    assert scan_maildir(two, loaded)["measured_by"]["cache"] == 0
