"""Maildir measurement (Dovecot / Courier Maildir++), fast and incremental.

Layout: INBOX is ``cur/ new/ tmp/`` at the mailbox root; every ``.Name`` folder that holds
``cur/``, ``new/``, ``tmp/`` or a ``maildirfolder`` file is a folder, shown as a user reads
it: ``.Sent`` → ``Sent``, ``.Archive.2024`` → ``Archive/2024`` (Maildir++'s dot is the
hierarchy separator), modified UTF-7 decoded (``.Verzonden &AOk-`` → ``Verzonden é``).

``folders[name]`` counts the folder's messages (files in ``cur/`` and ``new/``) and
everything else inside its directory (``tmp/``, its index files). ``other`` is everything at
the mailbox root that belongs to no folder: INBOX's ``dovecot.index*``, ``dovecot-uidlist``,
``maildirsize``, ``subscriptions``, stray files and unknown folders. The folders plus
``other`` add up to ``bytes``. A message hard-linked into several folders is counted in the
first one measured (INBOX, then folders by name).

Speed: message sizes come from Dovecot's ``,S=<size>`` in the file name and inode numbers
from ``getdents`` (``DirEntry.inode()``), so a message costs no ``stat``. The first named
file of every folder and every 64th after it are checked with a real ``stat``; on any
mismatch (a tool that lies, compressed mail, overlayfs inode numbers) the whole folder is
measured by ``stat``. Files without ``S=`` are measured by ``stat``. ``measured_by`` says
how many messages were measured which way.
"""

from __future__ import annotations

import base64
import errno
import os
import re
from array import array
from itertools import chain, islice
from typing import Any

from panel.measure.cache import (
    BoxSnapshot,
    CallRecord,
    Ident,
    Listing,
    ScanCache,
    Share,
    Snapshot,
)
from panel.measure.walk import (
    O_DIR,
    S_IFMT,
    S_IFREG,
    Context,
    Problems,
    display,
    gc_paused,
    read_small,
    reason_of,
    stamp,
    walk,
)

INBOX = "INBOX"
OTHER = None  # label of what lies at the mailbox root outside any folder
SAMPLE_MASK = 63  # check the first named file and every 64th after it with a real stat
CHUNK = 8192  # directory entries held at once
MAX_DIGITS = 15  # a larger S= is no size (and would not fit the cache's arrays)
# The first valid ",S=<digits>" of a name, then the rest of that name.
_NAMED = re.compile(r",S=([0-9]{1,15})(?=[,:/]|$)[^/]*")
MESSAGE_DIRS = ("cur", "new")
_MSG, _DIR, _FILE = 0, 1, 2  # kinds of entries in a mailbox snapshot
S_IFDIR = 0o040000
_ODD = {"symlink": "not followed", "special": "not a regular file"}
MAILDIRSIZE_LIMIT = 1024 * 1024


def decode_mutf7(text: str) -> str:
    """IMAP's modified UTF-7 (RFC 3501) as text; unchanged if it is not valid mUTF-7."""
    out = []
    i = 0
    try:
        while True:
            start = text.find("&", i)
            if start < 0:
                out.append(text[i:])
                break
            out.append(text[i:start])
            end = text.find("-", start)
            if end < 0:
                return text
            chunk = text[start + 1 : end].replace(",", "/")
            if chunk:
                raw = base64.b64decode(chunk + "=" * (-len(chunk) % 4), validate=True)
                out.append(raw.decode("utf-16-be"))
            else:
                out.append("&")
            i = end + 1
    except ValueError:
        return text
    return "".join(out)


def folder_name(dirname: str) -> str:
    """``.Archive.2024`` → ``Archive/2024``, as a mail client shows the folder."""
    name = dirname[1:].replace(".", "/")
    if "&" in name:
        name = decode_mutf7(name)
    return display(name)


class Mailbox:
    """One Maildir in a scan call: what discovery found, then what was measured."""

    __slots__ = (
        "cached",
        "link_bytes",
        "maildirsize",
        "messages",
        "missing",
        "msgdirs",
        "msgfolders",
        "named",
        "path",
        "problems",
        "rest_dirs",
        "rest_files",
        "statted",
        "totals",
    )

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems = Problems()
        self.missing = False
        self.totals: dict[str | None, list[int]] = {INBOX: [0, 0]}
        self.messages: dict[str | None, int] = {INBOX: 0}
        # message folders: (path, st_dev, st_ino, stamp) (see walk.stamp), and their folders
        self.msgdirs: list[tuple[str, int, int, int]] = []
        self.msgfolders: list[str] = []
        # the rest, always looked at: folders (with their identity if known) and files (with
        # the lstat taken while listing their parent)
        self.rest_dirs: list[tuple[str, str | None, Ident | None]] = []
        self.rest_files: list[tuple[str, str | None, os.stat_result]] = []
        self.maildirsize: str | None = None
        self.named = 0
        self.statted = 0
        self.cached = 0
        self.link_bytes = 0  # message bytes counting every link, as maildirsize does

    def add_share(self, folder: str, share: Share) -> None:
        counted, files, messages, links = share
        totals = self.totals[folder]
        totals[0] += counted
        totals[1] += files
        self.messages[folder] += messages
        self.link_bytes += links


class _Level:
    """One listed Maildir level (the root or a ``.Folder``), sorted by role."""

    __slots__ = ("candidates", "dirs", "files", "is_folder", "msgdirs", "odd", "tmp")

    def __init__(self) -> None:
        self.msgdirs: list[tuple[str, int, int, int]] = []  # path, st_dev, st_ino, stamp
        self.tmp: list[tuple[str, Ident | None]] = []
        self.dirs: list[tuple[str, Ident | None]] = []
        self.files: list[tuple[str, os.stat_result]] = []
        self.candidates: list[str] = []  # ".Name" folders (root only)
        self.is_folder = False
        self.odd: list[tuple[str, str]] = []  # (reason, name): symlinks and special files

    def snapshot(self) -> Snapshot:
        """The names only, to be stat'ed again next time instead of listing the folder."""
        return (
            tuple(p.rpartition("/")[2] for p, *_ in self.msgdirs),
            tuple(p.rpartition("/")[2] for p, _ in self.tmp),
            tuple(p.rpartition("/")[2] for p, _ in self.dirs),
            tuple(p.rpartition("/")[2] for p, _ in self.files),
            tuple(self.candidates),
            self.is_folder,
            tuple(self.odd),
        )


def _from_snapshot(box: Mailbox, path: str, snapshot: Snapshot, at_root: bool) -> _Level | None:
    """A level whose folder has not changed since it was listed: the same names, each
    stat'ed anew (files grow in place, message folders change). None: list it after all."""
    msgnames, tmpnames, dirnames, filenames, candidates, is_folder, odd = snapshot
    level = _Level()
    prefix = path + "/"
    lstat = os.lstat
    try:
        add = level.msgdirs.append
        for name in msgnames:
            full = prefix + name
            info = lstat(full)
            if info.st_mode & S_IFMT != S_IFDIR:
                return None
            add((full, info.st_dev, info.st_ino, stamp(info)))
        for names, into in ((tmpnames, level.tmp), (dirnames, level.dirs)):
            for name in names:
                full = prefix + name
                info = lstat(full)
                if info.st_mode & S_IFMT != S_IFDIR:
                    return None
                into.append((full, (info.st_dev, info.st_ino, stamp(info))))
        add_file = level.files.append
        for name in filenames:
            full = prefix + name
            info = lstat(full)
            if info.st_mode & S_IFMT != S_IFREG:
                return None
            add_file((full, info))
    except OSError:
        return None  # changed under us: a real listing will tell
    level.candidates = list(candidates)
    level.is_folder = is_folder
    if at_root and "maildirsize" in filenames:
        box.maildirsize = prefix + "maildirsize"
    level.odd = list(odd)
    for reason, name in odd:
        box.problems.add(reason, prefix + name, _ODD[reason])
    return level


def _gone(box: Mailbox, path: str, at_root: bool) -> None:
    """A level that is not there: the mailbox itself is missing, or a folder vanished."""
    if at_root:
        box.missing = True
    else:
        box.problems.add("vanished", path)


def _list_level(ctx: Context, box: Mailbox, path: str, at_root: bool) -> _Level | None:
    """List one Maildir level; None if it could not be read (the reason is logged).

    With a cache, a level whose folder is unchanged since the last call is not listed: its
    names are stat'ed anew (see ``_from_snapshot``)."""
    problems = box.problems
    current = ctx.current
    if current is not None:
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return _gone(box, path, at_root)
        except OSError as exc:
            problems.oserror(exc, path)
            return None
        ident = (info.st_dev, info.st_ino, stamp(info))
        known = ctx.previous.levels.get(path) if ctx.previous is not None else None
        if known is not None and known[0] == ident and (ident[0], ident[1]) not in ctx.dirs:
            level = _from_snapshot(box, path, known[1], at_root)
            if level is not None:
                ctx.dirs.add((ident[0], ident[1]))
                current.levels[path] = known
                return level
    try:
        fd = os.open(path, O_DIR)
    except FileNotFoundError:
        return _gone(box, path, at_root)
    except OSError as exc:
        if at_root and exc.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(path):
            problems.add("symlink", path, "not followed")  # the mailbox itself is a symlink
        else:
            problems.oserror(exc, path)
        return None
    level = _Level()
    try:
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino)
        if key in ctx.dirs:
            problems.add("loop", path, "folder already measured")
            return None
        ctx.dirs.add(key)
        prefix = path.rstrip("/") + "/"
        with os.scandir(fd) as entries:
            for entry in entries:
                name = entry.name
                if entry.is_dir(follow_symlinks=False):
                    if at_root and name.startswith("."):
                        level.candidates.append(name)
                        continue
                    try:
                        info = entry.stat(follow_symlinks=False)
                        ident = (info.st_dev, info.st_ino, stamp(info))
                    except OSError as exc:
                        if name in MESSAGE_DIRS:
                            problems.oserror(exc, prefix + name)
                            continue
                        ident = None  # the walk will say what is wrong
                    if ident is not None and name in MESSAGE_DIRS:
                        level.is_folder = True
                        level.msgdirs.append((prefix + name, *ident))
                    elif name == "tmp":
                        level.is_folder = True
                        level.tmp.append((prefix + name, ident))
                    else:
                        level.dirs.append((prefix + name, ident))
                elif entry.is_file(follow_symlinks=False):
                    if name == "maildirfolder":
                        level.is_folder = True
                    elif at_root and name == "maildirsize":
                        box.maildirsize = prefix + name
                    try:
                        level.files.append((prefix + name, entry.stat(follow_symlinks=False)))
                    except OSError as exc:
                        problems.oserror(exc, prefix + name)
                elif entry.is_symlink():
                    problems.add("symlink", prefix + name, _ODD["symlink"])
                    level.odd.append(("symlink", name))
                else:
                    problems.add("special", prefix + name, _ODD["special"])
                    level.odd.append(("special", name))
        complete = True
    except OSError as exc:
        problems.oserror(exc, path)
        complete = False
    finally:
        os.close(fd)
    level.msgdirs.sort()
    if (
        current is not None
        and complete
        and ctx.trusted(stamp(st))
        and all(ident is not None for _, ident in (*level.tmp, *level.dirs))
    ):
        current.levels[path] = ((st.st_dev, st.st_ino, stamp(st)), level.snapshot())
    return level


def _take(box: Mailbox, level: _Level, folder: str, rest: str | None) -> None:
    """Adopt a listed level: its message folders and ``tmp/`` are ``folder``'s; its other
    files and folders go to ``rest``."""
    if folder not in box.totals:
        box.totals[folder] = [0, 0]
        box.messages[folder] = 0
    if rest not in box.totals:
        box.totals[rest] = [0, 0]
        box.messages[rest] = 0
    box.msgdirs.extend(level.msgdirs)
    box.msgfolders.extend([folder] * len(level.msgdirs))
    box.rest_dirs.extend([(p, folder, ident) for p, ident in level.tmp])
    box.rest_dirs.extend([(p, rest, ident) for p, ident in level.dirs])
    box.rest_files.extend([(p, rest, info) for p, info in level.files])


def discover(ctx: Context, path: str) -> Mailbox:
    """Phase one: list the mailbox root and its folders (small), stat each ``cur/``/``new/``.

    Nothing is counted yet, so every call measures message folders from an empty inode set
    and a call whose message folders are unchanged can reuse its previous figures."""
    if ctx.previous is not None and ctx.current is not None:
        known = ctx.previous.boxes.get(path)
        if known is not None:
            box = _replay(ctx, path, known)
            if box is not None:
                ctx.current.boxes[path] = known
                return box
    box = Mailbox(path)
    box.totals[OTHER] = [0, 0]
    box.messages[OTHER] = 0
    root = _list_level(ctx, box, path, at_root=True)
    if root is None:
        return box
    _take(box, root, INBOX, OTHER)
    levels = [(path, root)]
    prefix = path.rstrip("/") + "/"
    for dirname in sorted(root.candidates):
        level = _list_level(ctx, box, prefix + dirname, at_root=False)
        if level is None:
            levels.append((prefix + dirname, None))
            continue
        levels.append((prefix + dirname, level))
        if not level.is_folder:
            # a dot folder that is no mail folder: all it holds is "other"
            box.rest_dirs.extend((p, OTHER, ident) for p, ident in level.dirs)
            box.rest_files.extend((p, OTHER, info) for p, info in level.files)
            continue
        name = folder_name(dirname)
        if name in box.totals:
            name = display(dirname)  # ".INBOX" beside the root's INBOX, say
        _take(box, level, name, name)
    if ctx.current is not None:
        _remember(ctx, box, levels)
    return box


def _remember(ctx: Context, box: Mailbox, levels: list[tuple[str, _Level | None]]) -> None:
    """Keep the whole mailbox's discovery, if every level of it may be reused next time."""
    known = ctx.current.levels
    if any(level is None or path not in known for path, level in levels):
        return
    if any(ident is None for _p, _label, ident in box.rest_dirs):
        return
    entries: list[tuple[int, str, str | None]] = []
    entries.extend(
        (_MSG, p, folder) for (p, *_), folder in zip(box.msgdirs, box.msgfolders, strict=True)
    )
    entries.extend((_DIR, p, label) for p, label, _ident in box.rest_dirs)
    entries.extend((_FILE, p, label) for p, label, _info in box.rest_files)
    odd = tuple(
        (reason, path.rstrip("/") + "/" + name)
        for path, level in levels
        if level is not None
        for reason, name in level.odd
    )
    ctx.current.boxes[box.path] = (
        tuple((path, known[path][0]) for path, _level in levels),
        tuple(entries),
        tuple(box.totals),
        box.maildirsize,
        odd,
    )


def _replay(ctx: Context, path: str, known: BoxSnapshot) -> Mailbox | None:
    """A mailbox none of whose levels (root, ``.Folder``) changed since the last call: the
    same names, each stat'ed anew. None: discover it level by level after all."""
    levels, entries, labels, maildirsize, odd = known
    lstat = os.lstat
    box = Mailbox(path)
    totals = box.totals
    messages = box.messages
    try:
        for level_path, ident in levels:
            info = lstat(level_path)
            if (info.st_dev, info.st_ino, stamp(info)) != ident or ident[:2] in ctx.dirs:
                return None
        for label in labels:
            totals[label] = [0, 0]
            messages[label] = 0
        add_msgdir = box.msgdirs.append
        add_folder = box.msgfolders.append
        add_dir = box.rest_dirs.append
        add_file = box.rest_files.append
        for kind, entry_path, label in entries:
            info = lstat(entry_path)
            mode = info.st_mode & S_IFMT
            if kind == _FILE:
                if mode != S_IFREG:
                    return None
                add_file((entry_path, label, info))
            elif mode != S_IFDIR:
                return None
            elif kind == _MSG:
                add_msgdir((entry_path, info.st_dev, info.st_ino, stamp(info)))
                add_folder(INBOX if label is None else label)
            else:
                add_dir((entry_path, label, (info.st_dev, info.st_ino, stamp(info))))
    except OSError:
        return None  # changed under us: discover it properly
    current = ctx.current
    previous = ctx.previous
    for level_path, ident in levels:
        ctx.dirs.add(ident[:2])
        current.levels[level_path] = previous.levels[level_path]
    box.maildirsize = maildirsize
    for reason, odd_path in odd:
        box.problems.add(reason, odd_path, _ODD[reason])
    return box


def _apply(listing: Listing, seen: set[int]) -> tuple[int, int]:
    """Bytes and files a listed message folder adds, counting inodes already seen once."""
    inodes = listing[3]
    count = len(inodes)
    if not count:
        return 0, 0
    sizes = listing[4]
    if seen.isdisjoint(inodes):
        before = len(seen)
        seen.update(inodes)
        added = len(seen) - before
        if added == count:
            return listing[6], count
        local: set[int] = set()
        total = 0
        for ino, size in zip(inodes, sizes, strict=True):
            if ino not in local:
                local.add(ino)
                total += size
        return total, added
    total = 0
    files = 0
    for ino, size in zip(inodes, sizes, strict=True):
        if ino not in seen:
            seen.add(ino)
            total += size
            files += 1
    return total, files


class _NameLied(Exception):
    """A ``S=`` size disagreed with ``stat``: the folder is measured again by stat."""


class _Pass:
    """One pass over a message folder, chunk by chunk (so a huge folder costs bounded memory).

    The fast way reads every size of a chunk with one regular expression over the joined
    names ("/" cannot occur in a name); the pattern consumes the rest of a name after its
    first valid ``,S=``, so as many matches as names means one size per name, in order."""

    __slots__ = ("by_stat", "clean", "inodes", "issues", "links", "named", "prefix", "sizes",
                 "statted")  # fmt: skip

    def __init__(self, path: str, by_stat: bool) -> None:
        self.by_stat = by_stat
        self.prefix = path + "/"
        self.inodes = array("Q")
        self.sizes = array("Q")
        self.links = 0
        self.named = 0
        self.statted = 0
        self.clean = True
        self.issues: list[tuple[str, str, str]] = []

    def batch(self, files: list[os.DirEntry[str]]) -> bool:
        """All sizes of a chunk from the names; False if some name has none (or a sample
        could not be checked): then the chunk goes one by one."""
        found = _NAMED.findall("/".join([entry.name for entry in files]))
        if len(found) != len(files):
            return False
        sizes = array("Q", map(int, found))
        inodes = array("Q", [entry.inode() for entry in files])
        for i in range(0, len(files), SAMPLE_MASK + 1):
            try:
                info = files[i].stat(follow_symlinks=False)
            except OSError:
                return False
            if info.st_size != sizes[i] or info.st_ino != inodes[i]:
                self.lied(files[i], sizes[i], info.st_size)
        self.inodes.extend(inodes)
        self.sizes.extend(sizes)
        self.links += sum(sizes)
        self.named += len(files)
        return True

    def lied(self, entry: os.DirEntry[str], named: int, real: int) -> None:
        self.issues.append(
            ("size_in_name_wrong", self.prefix + entry.name, f"S={named}, real {real}")
        )
        raise _NameLied

    def one_by_one(self, files: list[os.DirEntry[str]]) -> None:
        by_stat = self.by_stat
        add_inode = self.inodes.append
        add_size = self.sizes.append
        for entry in files:
            size = -1
            if not by_stat:
                name = entry.name
                k = name.find(",S=")
                if k >= 0:
                    digits = name[k + 3 :].partition(",")[0].partition(":")[0]
                    if digits.isdigit() and len(digits) <= MAX_DIGITS:
                        try:
                            size = int(digits)
                        except ValueError:  # digits of other scripts
                            size = -1
            if size >= 0 and self.named & SAMPLE_MASK:
                ino = entry.inode()
                self.named += 1
            else:
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError as exc:
                    self.issues.append(
                        (reason_of(exc), self.prefix + entry.name, exc.strerror or "")
                    )
                    self.clean = False
                    continue
                if info.st_mode & S_IFMT != S_IFREG:
                    self.issues.append(("changed", self.prefix + entry.name, "no longer a file"))
                    self.clean = False
                    continue
                if size >= 0:
                    if info.st_size != size or info.st_ino != entry.inode():
                        self.lied(entry, size, info.st_size)
                    self.named += 1
                else:
                    self.statted += 1
                size = info.st_size
                ino = info.st_ino
            add_inode(ino)
            add_size(size)
            self.links += size


def _read_messages(fd: int, path: str, by_stat: bool, box: Mailbox, folder: str) -> _Pass | None:
    """One pass over a message folder. None means a name lied: measure again by stat."""
    state = _Pass(path, by_stat)
    subdirs: list[str] = []
    prefix = state.prefix
    try:
        with os.scandir(fd) as entries:
            while chunk := list(islice(entries, CHUNK)):
                files = [entry for entry in chunk if entry.is_file(follow_symlinks=False)]
                if len(files) != len(chunk):
                    state.clean = False
                    for entry in chunk:
                        if entry.is_file(follow_symlinks=False):
                            continue
                        if entry.is_dir(follow_symlinks=False):
                            subdirs.append(prefix + entry.name)
                        elif entry.is_symlink():
                            state.issues.append(("symlink", prefix + entry.name, "not followed"))
                        else:
                            state.issues.append(
                                ("special", prefix + entry.name, "not a regular file")
                            )
                if files and (by_stat or not state.batch(files)):
                    state.one_by_one(files)
    except _NameLied:
        reason, where, detail = state.issues[-1]
        box.problems.note(reason, where, detail + "; folder measured by stat")
        return None
    for reason, where, detail in state.issues:
        box.problems.add(reason, where, detail)
    box.rest_dirs.extend((p, folder, None) for p in subdirs)
    return state


def _list_messages(
    ctx: Context, box: Mailbox, path: str, folder: str
) -> tuple[Listing | None, bool]:
    """List a message folder: (its listing, whether it may be reused by a later scan)."""
    try:
        fd = os.open(path, O_DIR)
    except OSError as exc:
        box.problems.oserror(exc, path)
        return None, False
    try:
        st = os.fstat(fd)  # before listing: a change during the listing moves the stamp on
        key = (st.st_dev, st.st_ino)
        if key in ctx.dirs:
            box.problems.add("loop", path, "folder already measured")
            return None, False
        ctx.dirs.add(key)
        result = _read_messages(fd, path, False, box, folder)
        if result is None:
            result = _read_messages(fd, path, True, box, folder)
        assert result is not None  # by stat, names are not consulted
    except OSError as exc:
        box.problems.oserror(exc, path)
        return None, False
    finally:
        os.close(fd)
    box.named += result.named
    box.statted += result.statted
    inodes = result.inodes
    listing = (
        st.st_dev,
        st.st_ino,
        stamp(st),
        inodes,
        result.sizes,
        len(inodes),
        result.links,
    )
    return listing, result.clean and ctx.trusted(stamp(st))


def begin(ctx: Context, cache: ScanCache | None, key: tuple[str, str]) -> None:
    """Start a call's use of the cache: what the last such call saw, and a fresh record."""
    if cache is not None:
        ctx.previous = cache.take(key)
        ctx.current = CallRecord(None, [], {})


def end(ctx: Context, cache: ScanCache | None, key: tuple[str, str]) -> None:
    if cache is not None and ctx.current is not None:
        cache.put(key, ctx.current)


def measure_messages(ctx: Context, boxes: list[Mailbox]) -> None:
    """Phase two: every message folder of the call, from the cache where it is unchanged."""
    record: CallRecord | None = ctx.previous
    current: CallRecord | None = ctx.current
    if record is not None and current is not None and record.signature is not None:
        signature = tuple(chain.from_iterable(box.msgdirs for box in boxes))
        if signature == record.signature:
            shares = iter(record.shares)
            for box in boxes:
                for folder, share in zip(box.msgfolders, shares, strict=False):
                    box.add_share(folder, share)
                    box.cached += share[2]
            ctx.inodes.pending.append(record.dirs.values())
            current.signature = record.signature
            current.shares = record.shares
            current.dirs = record.dirs
            return
    plan = [
        (box, folder, *msgdir)
        for box in boxes
        for folder, msgdir in zip(box.msgfolders, box.msgdirs, strict=True)
    ]
    previous = record.dirs if record is not None else {}
    listings: dict[str, Listing] = {}
    shares: list[Share] = []
    signature_now: list[tuple[str, int, int, int]] = []
    complete = True
    for box, folder, path, dev, ino, mtime in plan:
        listing = previous.get(path)
        if listing is not None and listing[0] == dev and listing[1] == ino and listing[2] == mtime:
            box.cached += listing[5]
            reusable = True
            ctx.dirs.add((dev, ino))
        else:
            listing, reusable = _list_messages(ctx, box, path, folder)
            if listing is None:
                complete = False
                continue
        counted, files = _apply(listing, ctx.inodes.get(listing[0]))
        share = (counted, files, listing[5], listing[6])
        box.add_share(folder, share)
        if reusable:
            listings[path] = listing
            shares.append(share)
            signature_now.append((path, listing[0], listing[1], listing[2]))
        else:
            complete = False
    if current is not None:
        current.dirs = listings
        if complete:
            current.signature = tuple(signature_now)
            current.shares = shares


def _still_empty(ctx: Context, path: str, ident: Ident) -> bool:
    """Is this folder (``tmp/``, mostly) empty, as it was at the last scan? An empty folder
    whose stamp has not moved cannot have gained a file, so it need not be listed."""
    before = ctx.previous.empty if ctx.previous is not None else {}
    now = ctx.current.empty
    if before.get(path) == ident:
        now[path] = ident
        return True
    if not ctx.trusted(ident[2]):
        return False
    try:
        with os.scandir(path) as entries:
            if next(entries, None) is not None:
                return False
    except OSError:
        return False
    now[path] = ident
    return True


def parse_maildirsize(data: bytes) -> dict[str, Any]:
    """Maildir++ quota file: ``<bytes>S,<count>C`` then ``<bytes> <count>`` deltas."""
    lines = data.decode("ascii", "replace").split("\n")
    quota_bytes: int | None = None
    quota_messages: int | None = None
    invalid = 0
    header = lines[0].strip()
    for item in filter(None, (part.strip() for part in header.split(","))):
        number, unit = item[:-1], item[-1:]
        if number.isdigit() and unit == "S":
            quota_bytes = int(number)
        elif number.isdigit() and unit == "C":
            quota_messages = int(number)
        else:
            invalid += 1
    total = 0
    count = 0
    for line in lines[1:]:
        fields = line.split()
        if not fields:
            continue
        try:
            if len(fields) != 2:
                raise ValueError(line)
            size, messages = int(fields[0]), int(fields[1])
        except ValueError:
            invalid += 1
            continue
        total += size
        count += messages
    return {
        "bytes": total,
        "messages": count,
        "quota_bytes": quota_bytes,
        "quota_messages": quota_messages,
        "invalid_lines": invalid,
    }


def _read_maildirsize(ctx: Context, box: Mailbox) -> dict[str, Any] | None:
    """The parsed ``maildirsize``; read again only when its (inode, size, mtime, ctime),
    taken while listing the mailbox, differ from the last call's (or were too recent)."""
    path = box.maildirsize
    assert path is not None
    info = next((i for p, _label, i in box.rest_files if p == path), None)
    key = (info.st_ino, info.st_size, stamp(info)) if info is not None else None
    known = ctx.previous.quota.get(path) if ctx.previous is not None else None
    if known is not None and known[0] == key:
        parsed = dict(known[1])
        trusted = True
    else:
        data = read_small(path, MAILDIRSIZE_LIMIT + 1)
        if data is None:
            return None
        parsed = parse_maildirsize(data[:MAILDIRSIZE_LIMIT])
        if len(data) > MAILDIRSIZE_LIMIT:
            parsed["invalid_lines"] += 1
        trusted = info is not None and ctx.trusted(stamp(info))
    if ctx.current is not None and key is not None and trusted:
        ctx.current.quota[path] = (key, dict(parsed))
    return parsed


def finish(ctx: Context, box: Mailbox) -> dict[str, Any]:
    """Phase three: everything that changes in place (always looked at), then the report."""
    problems = box.problems
    totals = box.totals
    for _path, label, info in box.rest_files:
        if info.st_nlink > 1:
            seen = ctx.inodes.get(info.st_dev)
            if info.st_ino in seen:
                continue
            seen.add(info.st_ino)
        counted = totals[label]
        counted[0] += info.st_size
        counted[1] += 1
    for path, label, ident in box.rest_dirs:
        if ident is not None and ctx.current is not None and _still_empty(ctx, path, ident):
            continue
        walk(ctx, problems, path, label, totals)
    messages = sum(box.messages.values())
    maildirsize = None
    if box.maildirsize is not None:
        maildirsize = _read_maildirsize(ctx, box)
        if maildirsize is None:
            problems.note("maildirsize_unreadable", box.maildirsize)
        else:
            if maildirsize["invalid_lines"]:
                problems.note(
                    "maildirsize_invalid",
                    box.maildirsize,
                    f"{maildirsize['invalid_lines']} lines not understood",
                )
            maildirsize["stale"] = bool(
                maildirsize["invalid_lines"]
                or maildirsize["bytes"] != box.link_bytes
                or maildirsize["messages"] != messages
            )
    other = totals.get(OTHER, [0, 0])
    folders = {
        name: {"bytes": figures[0], "messages": box.messages.get(name, 0)}
        for name, figures in totals.items()
        if name is not None
    }
    return {
        "kind": "maildir",
        "path": display(box.path),
        "missing": box.missing,
        "bytes": sum(figures[0] for figures in totals.values()),
        "files": sum(figures[1] for figures in totals.values()),
        "messages": messages,
        "folders": folders,
        "other": {"bytes": other[0], "files": other[1]},
        "maildirsize": maildirsize,
        "measured_by": {"name": box.named, "stat": box.statted, "cache": box.cached},
        **problems.report(),
    }


@gc_paused
def scan_maildir(path: str | os.PathLike[str], cache: ScanCache | None = None) -> dict[str, Any]:
    """Measure one Maildir (see the module docstring for what the figures mean)."""
    root = os.path.abspath(os.fsdecode(os.fspath(path)))
    ctx = Context()
    key = ("maildir", root)
    begin(ctx, cache, key)
    box = discover(ctx, root)
    measure_messages(ctx, [box])
    report = finish(ctx, box)
    end(ctx, cache, key)
    return report
