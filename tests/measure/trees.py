"""Test trees written for real under tmp_path, and the reference the scanner must equal.

The reference is the plainest possible measurement: ``os.walk`` (symlinks not followed) and
an ``lstat`` of every name, summing ``st_size`` of regular files, each (device, inode) once.
"""

from __future__ import annotations

import os
import random
import stat
import time
from pathlib import Path

HOST = "mx1.example.net"


def reference(*roots: str | os.PathLike[str], exclude: tuple[str, ...] = ()) -> tuple[int, int]:
    """(bytes, files) under ``roots`` by a full lstat walk, each inode once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    files = 0
    skip = {os.path.abspath(os.fspath(p)) for p in exclude}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(os.fspath(root)):
            dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in skip]
            for name in filenames + dirnames:
                try:
                    info = os.lstat(os.path.join(dirpath, name))
                except OSError:
                    continue
                if not stat.S_ISREG(info.st_mode):
                    continue
                key = (info.st_dev, info.st_ino)
                if key in seen:
                    continue
                seen.add(key)
                total += info.st_size
                files += 1
    return total, files


def write(path: Path | str, size: int = 0, data: bytes | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if data is not None else b"x" * size)
    return path


def age(root: Path | str, seconds: float = 120) -> None:
    """Move every folder's mtime into the past, as if the tree had been quiet a while."""
    when = time.time() - seconds
    for dirpath, _dirnames, _filenames in os.walk(os.fspath(root)):
        os.utime(dirpath, (when, when), follow_symlinks=False)


class MailWriter:
    """Writes Dovecot-style messages: ``<time>.M<n>P<pid>.<host>,S=<size>,W=<vsize>:2,<flags>``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.number = 0

    def base(self, size: int, named: bool = True) -> str:
        self.number += 1
        pid = self.rng.randrange(100, 9999)
        stem = f"{1_700_000_000 + self.number}.M{self.number}P{pid}.{HOST}"
        return f"{stem},S={size},W={size + size // 40}" if named else stem

    def deliver(self, folder: Path, size: int | None = None, named: bool = True) -> Path:
        """A new message in ``folder/new``."""
        size = self.rng.randrange(0, 6000) if size is None else size
        return write(folder / "new" / self.base(size, named), size)

    def stored(self, folder: Path, size: int | None = None, named: bool = True) -> Path:
        size = self.rng.randrange(0, 6000) if size is None else size
        flags = self.rng.choice(["", "S", "RS", "FS"])
        return write(folder / "cur" / f"{self.base(size, named)}:2,{flags}", size)


def make_maildir(
    root: Path,
    seed: int = 0,
    *,
    messages: int = 60,
    folders: tuple[str, ...] = ("Sent", "Trash", "Archive.2024"),
    named_share: float = 0.8,
    link_share: float = 0.15,
    maildirsize: str | None = "true",
) -> dict[str, int]:
    """A Maildir++ mailbox with index files, hard-linked copies and odd corners.

    ``maildirsize``: "true" (correct), "lie" (wrong figures), "garbage" or None (absent).
    Returns the truth about messages: {"messages", "link_bytes"}.
    """
    rng = random.Random(seed)
    mail = MailWriter(rng)
    dirs = {"INBOX": root} | {name: root / f".{name}" for name in folders}
    for folder in dirs.values():
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        write(folder / "dovecot.index.log", rng.randrange(100, 3000))
        write(folder / "dovecot-uidlist", rng.randrange(10, 500))
        if folder != root:
            write(folder / "maildirfolder")
    count = 0
    link_bytes = 0
    for _ in range(messages):
        name = rng.choice(list(dirs))
        named = rng.random() < named_share
        if rng.random() < 0.2:
            path = mail.deliver(dirs[name], named=named)
        else:
            path = mail.stored(dirs[name], named=named)
        size = path.stat().st_size
        count += 1
        link_bytes += size
        if folders and rng.random() < link_share:
            other = dirs[rng.choice(folders)]
            os.link(path, other / "cur" / f"{mail.base(size)}:2,S")
            count += 1
            link_bytes += size
    write(root / "tmp" / f"{int(time.time())}.M1P1.{HOST}", 1234)
    write(root / "dovecot.index", 4096)
    write(root / "dovecot.index.cache", rng.randrange(1000, 9000))
    write(root / "subscriptions", data=b"".join(f"{f}\n".encode() for f in folders))
    write(root / "courierimapkeywords" / ":list", 77)
    if maildirsize == "true":
        write(root / "maildirsize", data=f"10000000S,5000C\n{link_bytes} {count}\n".encode())
    elif maildirsize == "lie":
        write(root / "maildirsize", data=f"10000000S\n{link_bytes + 999} {count - 1}\n".encode())
    elif maildirsize == "garbage":
        write(root / "maildirsize", data=bytes(rng.randrange(256) for _ in range(300)))
    return {"messages": count, "link_bytes": link_bytes}


def make_wordpress(root: Path, seed: int = 0, version: str = "6.4.3") -> dict[str, int]:
    """A small WordPress docroot; returns the bytes each part should get."""
    rng = random.Random(seed)
    parts = dict.fromkeys(("core", "plugins", "themes", "uploads", "backups", "cache", "other"), 0)

    def put(part: str, rel: str, size: int | None = None, data: bytes | None = None) -> Path:
        path = write(root / rel, rng.randrange(1, 5000) if size is None else size, data)
        parts[part] += path.stat().st_size
        return path

    put("core", "wp-includes/version.php", data=f"<?php\n$wp_version = '{version}';\n".encode())
    put("core", "wp-config.php", 3000)
    put("core", "index.php", 400)
    for i in range(8):
        put("core", f"wp-admin/file{i}.php")
        put("core", f"wp-includes/js/file{i}.js")
    put("other", "wp-content/index.php", 28)
    put("other", "wp-content/debug.log", 4000)
    put("other", "wp-content/languages/nl_NL.mo", 9000)
    for slug in ("akismet", "contact-form-7"):
        for i in range(4):
            put("plugins", f"wp-content/plugins/{slug}/f{i}.php")
    put("plugins", "wp-content/mu-plugins/host.php", 300)
    put("themes", "wp-content/themes/twentytwentyfour/style.css", 2000)
    put("themes", "wp-content/themes/twentytwentyfour/theme.json", 2000)
    for month in ("01", "02"):
        for i in range(3):
            put("uploads", f"wp-content/uploads/2024/{month}/img{i}.jpg")
    put("uploads", "wp-content/uploads/backwpup-abc123-logs/index.php", 40)
    put("cache", "wp-content/cache/page/index.html", 5000)
    put("backups", "wp-content/updraft/backup_2024-01-01-db.gz", 20000)
    put("backups", "wp-content/updraft/log.abc.txt", 300)
    put("backups", "wp-content/ai1wm-backups/site-20240101.wpress", 30000)
    put("backups", "wp-content/backups-dup-lite/site_archive.zip", 25000)
    put("backups", "wp-content/backups-dup-pro/site_archive.zip", 1000)
    put("backups", "wp-content/uploads/backwpup-abc123-backups/2024.zip", 15000)
    put("backups", "wp-content/uploads/backwpup/abc123/backups/old.zip", 12000)
    put("backups", "wp-content/wpvividbackups/site.zip", 11000)
    return parts
