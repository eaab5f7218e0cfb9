"""Incremental rescans: what a Maildir message folder held when it was last listed.

Message files never change in place (Dovecot and Courier write a new file and rename it),
so a ``cur/`` or ``new/`` folder whose identity and change stamp — ``(st_dev, st_ino,
st_mtime_ns + st_ctime_ns)``, see ``walk.stamp`` — are as they were still holds the same
files with the same sizes. A listing is only kept when the folder's mtime was at least two
seconds older than the start of the scan that listed it: a change within the file system's
timestamp granularity could otherwise leave it as it was (a folder changed that recently is
listed again next time). Everything else in a Maildir (index files, ``maildirsize``,
``tmp/``) is always looked at, because it does change in place.

The cache is kept per scan call (``("maildir", path)``, ``("account", home)``): a call whose
message folders are all unchanged reuses its previous figures outright, including the
hard-link bookkeeping, without building a set of inode numbers.
"""

from __future__ import annotations

import io
import pickle
from array import array
from typing import Any

# (st_dev, st_ino, stamp, inode numbers, sizes, message count, bytes of all links)
Listing = tuple[int, int, int, array, array, int, int]
# One message folder's share in a call: (bytes counted, files counted, messages, bytes of links)
Share = tuple[int, int, int, int]
Signature = tuple[tuple[str, int, int, int], ...]
Ident = tuple[int, int, int]  # st_dev, st_ino, stamp (mtime and ctime: see walk.stamp)
# A Maildir level's names: cur/new, tmp, other folders, files, ".Name" folders, is it a
# folder, and (reason, name) of symlinks and special files in it.
# A whole mailbox: its levels with their identities, then (kind, path, label) of every
# entry to stat again, its labels in order, its maildirsize path and its odd entries.
BoxSnapshot = tuple[
    tuple[tuple[str, "Ident"], ...],
    tuple[tuple[int, str, str | None], ...],
    tuple[str | None, ...],
    str | None,
    tuple[tuple[str, str], ...],
]
Snapshot = tuple[
    tuple[str, ...],
    tuple[str, ...],
    tuple[str, ...],
    tuple[str, ...],
    tuple[str, ...],
    bool,
    tuple[tuple[str, str], ...],
]

_FORMAT = "onus-scan-cache"
_VERSION = 4


class CallRecord:
    """One call's message folders: their listings and, if complete, the call's figures."""

    __slots__ = ("boxes", "dirs", "empty", "levels", "quota", "shares", "signature")

    def __init__(
        self,
        signature: Signature | None,
        shares: list[Share],
        dirs: dict[str, Listing],
        empty: dict[str, Ident] | None = None,
        levels: dict[str, tuple[Ident, Snapshot]] | None = None,
        quota: dict[str, tuple[Ident, dict[str, Any]]] | None = None,
        boxes: dict[str, BoxSnapshot] | None = None,
    ) -> None:
        self.signature = signature
        self.shares = shares
        self.dirs = dirs
        self.empty: dict[str, Ident] = empty if empty is not None else {}  # empty folders
        # Maildir roots and .Folders as last listed
        self.levels: dict[str, tuple[Ident, Snapshot]] = levels if levels is not None else {}
        # maildirsize files as last parsed, by (st_ino, st_size, stamp)
        self.quota: dict[str, tuple[Ident, dict[str, Any]]] = quota if quota is not None else {}
        # whole mailboxes whose every level was reusable: replayed in one pass
        self.boxes: dict[str, BoxSnapshot] = boxes if boxes is not None else {}


class _NoGlobals(pickle.Unpickler):
    """Loads plain data only: a damaged or forged cache file cannot run code."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"not allowed in a scan cache: {module}.{name}")


class ScanCache:
    """State for incremental rescans; picklable, and ``dump``/``load`` as bytes.

    One cache may serve many calls (a whole node); ``forget_unused`` drops the records of
    calls not made since the cache was created or loaded (deleted mailboxes, say).
    """

    def __init__(self) -> None:
        self._calls: dict[tuple[str, str], CallRecord] = {}
        self._used: set[tuple[str, str]] = set()

    def __len__(self) -> int:
        """How many message folders are remembered."""
        return sum(len(record.dirs) for record in self._calls.values())

    def take(self, key: tuple[str, str]) -> CallRecord | None:
        self._used.add(key)
        return self._calls.get(key)

    def put(self, key: tuple[str, str], record: CallRecord) -> None:
        self._used.add(key)
        self._calls[key] = record

    def forget_unused(self) -> int:
        """Drop records of calls not made since load; returns how many were dropped."""
        unused = [key for key in self._calls if key not in self._used]
        for key in unused:
            del self._calls[key]
        return len(unused)

    def dump(self) -> bytes:
        calls = {
            key: (
                record.signature,
                record.shares,
                {
                    path: (dev, ino, mtime, inodes.tobytes(), sizes.tobytes(), count, links)
                    for path, (dev, ino, mtime, inodes, sizes, count, links) in record.dirs.items()
                },
                record.empty,
                record.levels,
                record.quota,
                record.boxes,
            )
            for key, record in self._calls.items()
        }
        return pickle.dumps((_FORMAT, _VERSION, calls), protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def load(cls, data: bytes) -> ScanCache:
        """The cache ``dump`` wrote; anything else (old version, damage) gives an empty cache,
        which only costs one full scan."""
        cache = cls()
        try:
            fmt, version, calls = _NoGlobals(io.BytesIO(data)).load()
            if fmt != _FORMAT or version != _VERSION:
                return cache
            for key, (signature, shares, dirs, empty, levels, quota, boxes) in calls.items():
                listings: dict[str, Listing] = {}
                for path, (dev, ino, mtime, raw_inodes, raw_sizes, count, links) in dirs.items():
                    inodes = array("Q")
                    inodes.frombytes(raw_inodes)
                    sizes = array("Q")
                    sizes.frombytes(raw_sizes)
                    if len(inodes) != len(sizes) or len(inodes) != count:
                        raise ValueError("inconsistent listing")
                    listings[str(path)] = (int(dev), int(ino), int(mtime), inodes, sizes,
                                           int(count), int(links))  # fmt: skip
                if signature is not None:
                    signature = tuple((str(p), int(d), int(i), int(m)) for p, d, i, m in signature)
                    shares = [(int(b), int(f), int(n), int(lk)) for b, f, n, lk in shares]
                    if len(shares) != len(signature):
                        raise ValueError("inconsistent record")
                else:
                    shares = []
                empty = {str(p): (int(d), int(i), int(m)) for p, (d, i, m) in empty.items()}
                levels = {
                    str(p): (_ident(ident), _snapshot(snap)) for p, (ident, snap) in levels.items()
                }
                quota = {
                    str(p): (_ident(ident), _quota(parsed)) for p, (ident, parsed) in quota.items()
                }
                boxes = {str(p): _box(snapshot) for p, snapshot in boxes.items()}
                cache._calls[(str(key[0]), str(key[1]))] = CallRecord(
                    signature, shares, listings, empty, levels, quota, boxes
                )
        except Exception:  # any damage means: start afresh
            return cls()
        return cache


def _ident(value: Any) -> Ident:
    dev, ino, mtime = value
    return int(dev), int(ino), int(mtime)


def _names(value: Any) -> tuple[str, ...]:
    return tuple(str(name) for name in value)


def _snapshot(value: Any) -> Snapshot:
    msgdirs, tmp, dirs, files, candidates, is_folder, odd = value
    return (
        _names(msgdirs),
        _names(tmp),
        _names(dirs),
        _names(files),
        _names(candidates),
        bool(is_folder),
        tuple((str(reason), str(name)) for reason, name in odd),
    )


def _optional(value: Any) -> int | None:
    return None if value is None else int(value)


def _quota(value: Any) -> dict[str, Any]:
    return {
        "bytes": int(value["bytes"]),
        "messages": int(value["messages"]),
        "quota_bytes": _optional(value["quota_bytes"]),
        "quota_messages": _optional(value["quota_messages"]),
        "invalid_lines": int(value["invalid_lines"]),
    }


def _label(value: Any) -> str | None:
    return None if value is None else str(value)


def _box(value: Any) -> BoxSnapshot:
    levels, entries, labels, maildirsize, odd = value
    return (
        tuple((str(path), _ident(ident)) for path, ident in levels),
        tuple((int(kind), str(path), _label(label)) for kind, path, label in entries),
        tuple(_label(label) for label in labels),
        _label(maildirsize),
        tuple((str(reason), str(path)) for reason, path in odd),
    )
