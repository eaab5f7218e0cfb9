"""What every scanner shares: the per-call state, the problem log and the generic tree walk.

Rules (issue 3): ``bytes`` is the sum of ``st_size`` of regular files, each (device, inode)
counted once per scan call however many hard links it has; directories' own sizes are not
counted; symlinks are never followed and not counted (they are reported under
``skipped["symlink"]``); sockets, FIFOs and devices likewise under ``skipped["special"]``.

The walk is written for speed: one ``os.scandir`` per directory on an open directory
descriptor (so each file costs one ``fstatat`` relative to it, like ``du``), the file type
from ``getdents``' d_type, hard-link bookkeeping only for files whose ``st_nlink > 1``, and
an explicit stack instead of recursion, so depth and width never cost more than the stack.
"""

from __future__ import annotations

import errno
import functools
import gc
import heapq
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
O_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
S_IFMT = 0o170000
S_IFREG = 0o100000

MAX_ERRORS = 20  # example messages kept per report
MAX_PER_REASON = 5  # so one noisy reason does not hide the others
LARGEST = 10
MAX_STALE_BACKUPS = 50
STALE_AFTER = 30 * 86400
TRUST_MARGIN_NS = 2_000_000_000  # a directory changed this recently may change again unseen

# Archive names that a backup plugin or a hand-made backup leaves behind.
ARCHIVE_SUFFIXES = (
    ".zip", ".tar", ".gz", ".tgz", ".bz2", ".tbz", ".tbz2", ".xz", ".txz", ".zst", ".7z",
    ".rar", ".wpress", ".jpa", ".jps", ".daf", ".sql", ".bak", ".dump",
)  # fmt: skip
# These are backups wherever they lie; other archives only when named as backups.
BACKUP_SUFFIXES = (".wpress", ".jpa", ".jps", ".daf", ".sql", ".sql.gz", ".sql.zip", ".bak")
# In a backups folder everything is part of a backup except its logs and guard files.
NOT_BACKUP_SUFFIXES = (".txt", ".log", ".html", ".htm", ".htaccess", ".config", ".json")
GUARD_NAMES = frozenset({"index.php", "index.html", ".htaccess", "web.config"})

Totals = dict[Any, list[int]]  # label -> [bytes, files]


F = TypeVar("F", bound=Callable[..., Any])


def gc_paused(function: F) -> F:
    """Run ``function`` with the cyclic garbage collector paused.

    A scan allocates many short-lived, acyclic objects (stat results, directory entries),
    and a big ScanCache is a large graph the collector would walk again and again: pausing
    it saves a fifth of a rescan. Reference counting still frees everything at once."""

    @functools.wraps(function)
    def paused(*args: Any, **kwargs: Any) -> Any:
        if not gc.isenabled():
            return function(*args, **kwargs)
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            gc.enable()

    return cast(F, paused)


def display(path: str | bytes) -> str:
    """A path as JSON can carry it: undecodable bytes become ``\\xNN`` escapes."""
    if isinstance(path, str) and path.isascii():
        return path  # nothing to escape (undecodable bytes are never ASCII)
    raw = path if isinstance(path, bytes) else os.fsencode(path)
    return raw.decode("utf-8", "backslashreplace")


def iso_utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def reason_of(exc: OSError) -> str:
    """The ``skipped`` reason for an error the file system gave."""
    code = exc.errno
    if code == errno.ENOENT:
        return "vanished"
    if code in (errno.EACCES, errno.EPERM):
        return "unreadable"
    if code in (errno.ELOOP, errno.ENOTDIR):
        return "changed"  # replaced by a symlink or a file while we looked
    if code == errno.ENAMETOOLONG:
        return "too_deep"
    return "error"


class Problems:
    """What a scan could not measure: counts by reason plus a few example messages."""

    __slots__ = ("errors", "notes", "skipped")

    def __init__(self) -> None:
        self.skipped: dict[str, int] = {}
        self.errors: list[str] = []
        self.notes: dict[str, int] = {}  # examples kept per reason

    def add(self, reason: str, path: str, detail: str = "") -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        self.note(reason, path, detail)

    def note(self, reason: str, path: str, detail: str = "") -> None:
        """An example message without a count (for things measured all the same)."""
        shown = self.notes.get(reason, 0)
        if len(self.errors) < MAX_ERRORS and shown < MAX_PER_REASON:
            self.notes[reason] = shown + 1
            text = f"{reason}: {display(path)}"
            self.errors.append(f"{text} ({detail})" if detail else text)

    def oserror(self, exc: OSError, path: str) -> None:
        self.add(reason_of(exc), path, exc.strerror or type(exc).__name__)

    def merge(self, other: Problems) -> None:
        for reason, count in other.skipped.items():
            self.skipped[reason] = self.skipped.get(reason, 0) + count
        room = MAX_ERRORS - len(self.errors)
        if room > 0:
            self.errors.extend(other.errors[:room])

    def report(self) -> dict[str, Any]:
        return {"skipped": dict(sorted(self.skipped.items())), "errors": list(self.errors)}


class Inodes:
    """Inode numbers already counted in this call, per device.

    ``pending`` holds cached listings (``cache.Listing``: device first, inode numbers
    fourth) that are merged only when someone asks: an unchanged Maildir tree is then
    re-measured without touching a set at all.
    """

    __slots__ = ("pending", "sets")

    def __init__(self) -> None:
        self.sets: dict[int, set[int]] = {}
        self.pending: list[Any] = []  # iterables of listings

    def get(self, dev: int) -> set[int]:
        if self.pending:
            pending, self.pending = self.pending, []
            for listings in pending:
                for listing in listings:
                    self.get(listing[0]).update(listing[3])
        seen = self.sets.get(dev)
        if seen is None:
            seen = self.sets[dev] = set()
        return seen


_LOW64 = (1 << 64) - 1


def stamp(info: os.stat_result) -> int:
    """A folder's change stamp: its mtime and ctime (both in ns) in one exact integer.

    The ctime matters: a folder deleted and made again can get the same inode number (ext4
    reuses them at once), and ``utime`` can set its mtime back to what it was; its ctime is
    always the moment of the last change and cannot be set."""
    return (info.st_mtime_ns << 64) | (info.st_ctime_ns & _LOW64)


class Context:
    """The state of one ``scan_*`` call: counted inodes, visited folders, the clock."""

    __slots__ = ("current", "dirs", "exclude", "inodes", "now", "previous", "start_ns")

    def __init__(self, now: float | None = None) -> None:
        self.inodes = Inodes()
        self.dirs: set[tuple[int, int]] = set()  # bind-mount loops show up as a folder seen twice
        self.exclude: set[tuple[int, int]] = set()  # roots measured as their own component
        self.start_ns = time.time_ns()
        self.now = time.time() if now is None else now
        # with a ScanCache: the record of the last such call, and the one this call fills
        self.previous: Any = None
        self.current: Any = None

    def trusted(self, folder_stamp: int) -> bool:
        """May a listing of a folder with this stamp be reused later? Not if its mtime is so
        recent that a change within the file system's timestamp granularity (a second on
        ext3, two on FAT; clocks of NFS servers drift) could leave the stamp as it is."""
        return folder_stamp >> 64 < self.start_ns - TRUST_MARGIN_NS


class Findings:
    """The ten largest files and the old backup archives of a docroot (bounded heaps)."""

    __slots__ = ("base", "cutoff", "largest", "stale")

    def __init__(self, base: str, now: float) -> None:
        self.base = len(base.rstrip("/")) + 1
        self.cutoff = now - STALE_AFTER
        self.largest: list[tuple[int, str]] = []
        self.stale: list[tuple[int, str, float]] = []

    def relative(self, path: str) -> str:
        return display(path[self.base :])

    def stale_backup(self, path: str, size: int, mtime: float) -> None:
        item = (size, path, mtime)
        if len(self.stale) < MAX_STALE_BACKUPS:
            heapq.heappush(self.stale, item)
        elif item > self.stale[0]:
            heapq.heapreplace(self.stale, item)

    def report(self) -> dict[str, Any]:
        return {
            "largest": [
                {"path": self.relative(p), "bytes": s}
                for s, p in sorted(self.largest, reverse=True)
            ],
            "stale_backups": [
                {"path": self.relative(p), "bytes": s, "modified": iso_utc(m)}
                for s, p, m in sorted(self.stale, reverse=True)
            ],
        }


def is_backup_archive(name: str, in_backups: bool) -> bool:
    lower = name.lower()
    if in_backups:
        return lower not in GUARD_NAMES and not lower.endswith(NOT_BACKUP_SUFFIXES)
    if not lower.endswith(ARCHIVE_SUFFIXES):
        return False
    return "backup" in lower or lower.endswith(BACKUP_SUFFIXES)


Classify = Callable[[tuple[str, ...]], str | None]


def walk(
    ctx: Context,
    problems: Problems,
    start: str,
    label: Any,
    totals: Totals,
    *,
    classify: Classify | None = None,
    depth: int = 0,
    findings: Findings | None = None,
) -> None:
    """Add every regular file under ``start`` to ``totals[label]`` (``[bytes, files]``).

    ``classify`` gives a directory's part from its path relative to the docroot (tuple of
    names) for the first ``depth`` levels; deeper folders inherit their parent's part.
    Folders in ``ctx.exclude`` (other components' roots) are left to their own scan.
    """
    inodes = ctx.inodes
    seen_dirs = ctx.dirs
    exclude = ctx.exclude
    largest = findings.largest if findings is not None else None
    threshold = -1
    cutoff = findings.cutoff if findings is not None else 0.0
    stack: list[tuple[str, Any, tuple[str, ...] | None]] = [(start, label, ())]
    first = True
    while stack:
        path, part, rel = stack.pop()
        try:
            fd = os.open(path, O_DIR)
        except OSError as exc:
            if first and exc.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(path):
                problems.add("symlink", path, "not followed")  # the start is a symlink
            else:
                problems.oserror(exc, path)
            continue
        nbytes = 0
        nfiles = 0
        try:
            st = os.fstat(fd)
            dev = st.st_dev
            key = (dev, st.st_ino)
            if not first and key in exclude:
                continue
            first = False
            if key in seen_dirs:
                problems.add("loop", path, "folder already measured (bind mount?)")
                continue
            seen_dirs.add(key)
            seen: set[int] | None = None
            in_backups = part == "backups"
            prefix = path + "/" if path != "/" else "/"
            with os.scandir(fd) as entries:
                for entry in entries:
                    if entry.is_file(follow_symlinks=False):
                        try:
                            info = entry.stat(follow_symlinks=False)
                        except OSError as exc:
                            problems.oserror(exc, prefix + entry.name)
                            continue
                        if info.st_mode & S_IFMT != S_IFREG:
                            problems.add("changed", prefix + entry.name, "no longer a file")
                            continue
                        if info.st_nlink > 1:
                            if seen is None:
                                seen = inodes.get(dev)
                            ino = info.st_ino
                            if ino in seen:
                                continue
                            seen.add(ino)
                        size = info.st_size
                        nbytes += size
                        nfiles += 1
                        if largest is not None:
                            if size > threshold:
                                item = (size, prefix + entry.name)
                                if len(largest) < LARGEST:
                                    heapq.heappush(largest, item)
                                else:
                                    heapq.heapreplace(largest, item)
                                if len(largest) == LARGEST:
                                    threshold = largest[0][0]
                            if (
                                info.st_mtime < cutoff
                                and findings is not None
                                and is_backup_archive(entry.name, in_backups)
                            ):
                                findings.stale_backup(prefix + entry.name, size, info.st_mtime)
                    elif entry.is_dir(follow_symlinks=False):
                        if exclude and (dev, entry.inode()) in exclude:
                            continue  # another component's root (getdents gives its inode)
                        name = entry.name
                        child_part = part
                        child_rel = None
                        if rel is not None and classify is not None and len(rel) < depth:
                            child_rel = (*rel, name)
                            child_part = classify(child_rel) or part
                        stack.append((prefix + name, child_part, child_rel))
                    elif entry.is_symlink():
                        problems.add("symlink", prefix + entry.name, "not followed")
                    else:
                        problems.add("special", prefix + entry.name, "not a regular file")
        except OSError as exc:
            problems.oserror(exc, path)
        finally:
            os.close(fd)
            first = False
        counted = totals.get(part)
        if counted is None:
            totals[part] = [nbytes, nfiles]
        else:
            counted[0] += nbytes
            counted[1] += nfiles


def stat_file(ctx: Context, problems: Problems, path: str) -> int:
    """The bytes one loose file adds; -1 if it is not counted (a further hard link of a file
    already counted, vanished, or no longer a regular file)."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        problems.oserror(exc, path)
        return -1
    if info.st_mode & S_IFMT != S_IFREG:
        problems.add("changed", path, "no longer a file")
        return -1
    if info.st_nlink > 1:
        seen = ctx.inodes.get(info.st_dev)
        if info.st_ino in seen:
            return -1
        seen.add(info.st_ino)
    return info.st_size


def read_small(path: str, limit: int = 256 * 1024) -> bytes | None:
    """The start of a small regular file, never following a symlink; None if not readable."""
    try:
        fd = os.open(path, O_FILE)
    except OSError:
        return None
    try:
        if os.fstat(fd).st_mode & S_IFMT != S_IFREG:
            return None
        chunks = []
        left = limit
        while left > 0:
            chunk = os.read(fd, min(left, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def lstat_kind(path: str) -> str | None:
    """The kind of ``path`` ("dir", "file", "other" — symlinks too — or None when absent),
    without following a symlink."""
    try:
        mode = os.lstat(path).st_mode & S_IFMT
    except OSError:
        return None
    if mode == 0o040000:
        return "dir"
    if mode == S_IFREG:
        return "file"
    return "other"
