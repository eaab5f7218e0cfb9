"""Follow a mail log incrementally: read only what is new since the last call.

A node's mail log grows, is rotated (renamed, then often gzip-compressed), copied and truncated,
or recreated. The mail counts built from it must neither miss lines nor count a line twice, so
every call returns the new complete lines and a :class:`Position` to hand back next time.

Rules (see :func:`read_new`):

- a position names a *stream of bytes*: device and inode of the file it was read from, the
  offset after the last complete line, and a fingerprint (sha256) of the file's first
  ``FINGERPRINT_BYTES`` (fewer while the file is shorter), so a file recreated with a reused
  inode, or truncated and grown again, is not taken for the old one;
- same inode, same fingerprint, size ≥ offset: continue at the offset;
- same inode but size < offset (truncated) or another fingerprint (recreated): look for a copy
  of the old content beside it (``copytruncate``), finish it, then read the file from 0;
- other inode: look for the old file among the rotated names beside it (``<name>.N``,
  ``<name>-YYYYMMDD``, each optionally ``.gz``): a plain file by inode (and fingerprint), a
  compressed one by the fingerprint of its decompressed start. Finish it from the old offset,
  read every rotated file newer than it whole (oldest first: the rotations missed during
  downtime), then the current file from 0;
- whatever cannot be found is said (a ``missed`` note, bytes unknown), never guessed;
- a partial last line is left for the next call, except at the end of a rotated file, which
  will not grow any more: that tail is returned as it is (``unterminated_tail``);
- ``max_bytes`` bounds what one call returns, so catching up after downtime goes in steps in
  flat memory; the position may then point into a rotated file, which the next call finds again.

Known limits: a file still empty at the last read has no fingerprint, so once it is compressed
(or, being the old file, deleted) it cannot be recognised and a ``missed`` note says so; lines a
writer adds to a rotated file after it was finished here (before the writer reopens the log)
are not seen; a ``copytruncate`` of a file read up to offset 0 cannot be told from no change.

Pure: paths in, bytes and plain data out. Unreadable or missing files are an ``error`` note,
never an exception.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import stat
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, Literal

__all__ = [
    "FINGERPRINT_BYTES",
    "LONG_LINE_BYTES",
    "Chunk",
    "Note",
    "NoteKind",
    "Part",
    "Position",
    "read_new",
]

FINGERPRINT_BYTES: Final = 1024
BLOCK_BYTES: Final = 64 * 1024
# A line longer than this (and than max_bytes) is returned in pieces, so memory stays bounded.
LONG_LINE_BYTES: Final = 1024 * 1024

NoteKind = Literal[
    "new_file",  # a file read from its start (or from its end with from_end)
    "rotated",  # the old file was found under a rotated name and finished
    "truncated",  # same file, now shorter than the offset
    "recreated",  # same inode, other content at its start
    "moved",  # the current file is the old content under another inode: continued
    "caught_up_from",  # a rotated file read during catch-up (bytes: where it started)
    "missed",  # bytes that may never be read (bytes=None: unknown how many)
    "unterminated_tail",  # a rotated file ended without a newline; its tail is returned
    "long_line_split",  # a line over LONG_LINE_BYTES was returned in pieces
    "error",  # the file could not be read; nothing read, the position is kept
]


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Position:
    """Where reading stopped, stored between runs (by the caller, as JSON)."""

    device: int
    inode: int
    offset: int
    fingerprint: str
    fingerprint_size: int

    def to_json(self) -> str:
        return json.dumps(
            {
                "device": self.device,
                "inode": self.inode,
                "offset": self.offset,
                "fingerprint": self.fingerprint,
                "fingerprint_size": self.fingerprint_size,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Position:
        """Parse :meth:`to_json` output; a damaged value is a ``ValueError``, not a guess."""
        data: Any = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a position is a JSON object")
        numbers: dict[str, int] = {}
        for name in ("device", "inode", "offset", "fingerprint_size"):
            value = data.get(name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"position field {name!r} must be a non-negative integer")
            numbers[name] = value
        fingerprint = data.get("fingerprint")
        if not isinstance(fingerprint, str) or not re.fullmatch(r"[0-9a-f]{64}", fingerprint):
            raise ValueError("position field 'fingerprint' must be a sha256 hex digest")
        if numbers["fingerprint_size"] > FINGERPRINT_BYTES:
            raise ValueError("position field 'fingerprint_size' is too large")
        return cls(fingerprint=fingerprint, **numbers)


@dataclass(frozen=True)
class Note:
    """Something the caller (and the hoster) should know about this read."""

    kind: NoteKind
    path: str = ""
    detail: str = ""
    bytes: int | None = None


@dataclass(frozen=True)
class Part:
    """Bytes read from one file, ``start``..``end`` in its (decompressed) content."""

    path: str
    start: int
    end: int
    data: bytes


@dataclass(frozen=True)
class Chunk:
    """What one :func:`read_new` call found: new bytes per file, where to go on, notes."""

    parts: tuple[Part, ...]
    position: Position | None
    notes: tuple[Note, ...] = ()
    more: bool = False  # max_bytes stopped the read before the end: call again

    @property
    def data(self) -> bytes:
        return b"".join(part.data for part in self.parts)

    @property
    def byte_count(self) -> int:
        return sum(len(part.data) for part in self.parts)

    @property
    def line_count(self) -> int:
        return sum(len(_split(part.data)) for part in self.parts)

    @property
    def error(self) -> Note | None:
        return next((note for note in self.notes if note.kind == "error"), None)

    def lines(self) -> list[bytes]:
        """The lines without their newline; a rotated file's unterminated tail is a line."""
        return [line for part in self.parts for line in _split(part.data)]

    def kinds(self) -> list[str]:
        return [note.kind for note in self.notes]


def _split(data: bytes) -> list[bytes]:
    if not data:
        return []
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


# --- rotated files beside the log -----------------------------------------------------------

_ROTATED = re.compile(
    r"(?:\.(?P<number>\d+)|-(?P<date>\d{8}(?:\d{2}){0,3})(?:-(?P<extra>\d+))?)(?P<gz>\.gz)?"
)


@dataclass
class _Candidate:
    path: Path
    device: int
    inode: int
    size: int
    mtime_ns: int
    compressed: bool
    key: tuple[int, str, int]
    _head: bytes | None = None
    _head_read: bool = False

    def head(self) -> bytes | None:
        """The first FINGERPRINT_BYTES of the content (decompressed); None if unreadable."""
        if not self._head_read:
            self._head_read = True
            try:
                with _open_content(self.path, self.compressed) as fh:
                    self._head = _read_exactly(fh, FINGERPRINT_BYTES)
            except (OSError, EOFError, zlib.error):
                self._head = None
        return self._head


def _open_content(path: Path, compressed: bool) -> IO[bytes]:
    if compressed:
        return gzip.open(path, "rb")
    return open(path, "rb")


def _read_exactly(fh: IO[bytes], size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        block = fh.read(size - len(data))
        if not block:
            break
        data += block
    return bytes(data)


def _rotated_beside(path: Path, exclude: tuple[int, int]) -> tuple[list[_Candidate], str]:
    """Rotated files of ``path``, oldest first, and a problem text when the folder is unreadable.

    Numbered names: a higher number is older. Dated names: an earlier date is older. When both
    schemes are present, the modification time decides.
    """
    base = path.name
    found: list[_Candidate] = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError as exc:
        return [], f"cannot list {path.parent}: {exc.strerror or exc}"
    for entry in entries:
        if not entry.name.startswith(base) or entry.name == base:
            continue
        match = _ROTATED.fullmatch(entry.name[len(base) :])
        if match is None:
            continue
        try:
            st = entry.stat()
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) == exclude:
            continue
        if match["number"] is not None:
            key = (0, "", -int(match["number"]))
        else:
            key = (1, match["date"].ljust(14, "0"), int(match["extra"] or 0))
        found.append(
            _Candidate(
                path=Path(entry.path),
                device=st.st_dev,
                inode=st.st_ino,
                size=st.st_size,
                mtime_ns=st.st_mtime_ns,
                compressed=match["gz"] is not None,
                key=key,
            )
        )
    if len({candidate.key[0] for candidate in found}) > 1:
        found.sort(key=lambda c: (c.mtime_ns, c.path.name))
    else:
        found.sort(key=lambda c: (c.key, not c.compressed, c.path.name))
    return found, ""


def _matches(head: bytes | None, position: Position) -> bool:
    if head is None or len(head) < position.fingerprint_size:
        return False
    return _hash(head[: position.fingerprint_size]) == position.fingerprint


def _find_old(
    candidates: list[_Candidate], position: Position, copied: bool
) -> tuple[int | None, int]:
    """Index of the candidate holding the position's content (or None), and how many matched.

    A plain file with the position's inode and fingerprint is certain. A compressed file is
    recognised by the fingerprint of its decompressed start; a plain file with another inode
    only when the old inode is still the live file (``copied``: copytruncate). With no
    fingerprinted bytes at all (the file was empty) nothing can be told apart, so nothing is.
    Of several matches the newest is taken: re-reading an older one could count twice.
    """
    by_content: int | None = None
    matched = 0
    for index, candidate in enumerate(candidates):
        if not candidate.compressed and candidate.size < position.offset:
            continue
        same_inode = (candidate.device, candidate.inode) == (position.device, position.inode)
        if not (candidate.compressed or same_inode or copied):
            continue
        if not _matches(candidate.head(), position):
            continue
        if same_inode and not candidate.compressed:
            return index, 1
        if position.fingerprint_size > 0:
            by_content = index
            matched += 1
    return by_content, matched


# --- reading --------------------------------------------------------------------------------


def _error(path: Path, exc: OSError | str) -> Note:
    if isinstance(exc, str):
        return Note("error", str(path), exc)
    name = type(exc).__name__
    return Note("error", str(path), f"{name}: {exc.strerror or exc}")


class _Reader:
    """One call's state: the byte budget left, the parts read, the notes."""

    def __init__(self, path: Path, max_bytes: int | None) -> None:
        self.path = path
        self.budget = max_bytes
        self.parts: list[Part] = []
        self.notes: list[Note] = []

    @property
    def spent(self) -> bool:
        return self.budget is not None and self.budget <= 0

    def take(self, fh: IO[bytes], start: int, label: Path, final: bool) -> tuple[int, bool]:
        """Read complete lines from ``fh`` (at ``start``) within the budget.

        Returns the new offset and whether the end was reached with everything returned.
        ``final``: the file will not grow (rotated), so its unterminated tail is returned too.
        """
        limit = self.budget
        buf = bytearray()
        eof = False
        while limit is None or len(buf) < limit:
            block = fh.read(BLOCK_BYTES if limit is None else min(BLOCK_BYTES, limit - len(buf)))
            if not block:
                eof = True
                break
            buf += block
        if eof and final:
            if buf and not buf.endswith(b"\n"):
                self.notes.append(Note("unterminated_tail", str(label), bytes=len(buf)))
            return self.keep(label, start, bytes(buf)), True
        cut = buf.rfind(b"\n") + 1
        if cut == 0 and not eof:
            # one line longer than the budget: finish it rather than stall on it forever
            cut, eof = self.long_line(fh, buf)
            if eof and final:
                if buf and not buf.endswith(b"\n"):
                    self.notes.append(Note("unterminated_tail", str(label), bytes=len(buf)))
                return self.keep(label, start, bytes(buf)), True
            if cut == 0 and len(buf) >= LONG_LINE_BYTES:
                self.notes.append(Note("long_line_split", str(label), bytes=len(buf)))
                cut = len(buf)
        return self.keep(label, start, bytes(buf[:cut])), eof and cut == len(buf)

    @staticmethod
    def long_line(fh: IO[bytes], buf: bytearray) -> tuple[int, bool]:
        while len(buf) < LONG_LINE_BYTES:
            block = fh.read(min(BLOCK_BYTES, LONG_LINE_BYTES - len(buf)))
            if not block:
                return 0, True
            newline = block.find(b"\n")
            if newline >= 0:
                buf += block[: newline + 1]
                return len(buf), False
            buf += block
        return 0, False

    def keep(self, label: Path, start: int, data: bytes) -> int:
        if data:
            self.parts.append(Part(str(label), start, start + len(data), data))
            if self.budget is not None:
                self.budget -= len(data)
        return start + len(data)

    def chunk(self, position: Position | None, more: bool = False) -> Chunk:
        return Chunk(tuple(self.parts), position, tuple(self.notes), more)

    # -- rotated files --

    def read_rotated(self, candidate: _Candidate, start: int) -> tuple[int, bool, bytes] | None:
        """Read ``candidate`` from ``start``: (new offset, finished, head), None if unreadable."""
        try:
            with _open_content(candidate.path, candidate.compressed) as fh:
                head = _read_exactly(fh, FINGERPRINT_BYTES)
                fh.seek(start)  # gzip: decompresses and discards, in blocks
                shorter = fh.tell() < start or (not candidate.compressed and candidate.size < start)
                if shorter:  # less than we had read already: nothing more to take
                    return start, True, head
                offset, finished = self.take(fh, start, candidate.path, final=True)
                return offset, finished, head
        except (OSError, EOFError, zlib.error) as exc:
            self.notes.append(
                Note("missed", str(candidate.path), f"unreadable rotated file: {exc}", None)
            )
            return None

    def catch_up(self, position: Position, current: os.stat_result) -> tuple[str, Position | None]:
        """Finish the old file and every newer rotated one.

        Returns ("done", None) to go on with the current file from 0, ("stopped", position) when
        the budget ran out inside a rotated file, or ("not_found", None).
        """
        current_id = (current.st_dev, current.st_ino)
        candidates, problem = _rotated_beside(self.path, current_id)
        copied = current_id == (position.device, position.inode)
        found, matched = _find_old(candidates, position, copied)
        if found is None:
            if problem:
                self.notes.append(Note("missed", str(self.path.parent), problem, None))
            return "not_found", None
        old = candidates[found]
        detail = f"finished from offset {position.offset}"
        if matched > 1:
            detail += f"; {matched} files start alike, the newest was taken"
        self.notes.append(Note("rotated", str(old.path), detail))
        plan = [(old, position.offset, position.device, position.inode)]
        plan += [(c, 0, c.device, c.inode) for c in candidates[found + 1 :]]
        for index, (candidate, start, device, inode) in enumerate(plan):
            if index > 0:
                self.notes.append(Note("caught_up_from", str(candidate.path), bytes=start))
            result = self.read_rotated(candidate, start)
            if result is None:
                continue
            offset, finished, head = result
            if not finished:
                return "stopped", Position(device, inode, offset, _hash(head), len(head))
        return "done", None

    # -- the current file --

    def run(self, position: Position | None, from_end: bool) -> Chunk:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 -- closed below, errors become notes
        except OSError as exc:
            return Chunk((), position, (_error(self.path, exc),))
        with fh:
            try:
                st = os.fstat(fh.fileno())
                if not stat.S_ISREG(st.st_mode):
                    return Chunk((), position, (_error(self.path, "not a regular file"),))
                head = os.pread(fh.fileno(), FINGERPRINT_BYTES, 0)
                return self.follow(fh, st, head, position, from_end)
            except OSError as exc:
                return Chunk((), position, (_error(self.path, exc),))

    def follow(
        self,
        fh: IO[bytes],
        st: os.stat_result,
        head: bytes,
        position: Position | None,
        from_end: bool,
    ) -> Chunk:
        if position is None:
            start = _last_line_end(fh, st.st_size) if from_end else 0
            self.notes.append(Note("new_file", str(self.path), "from end" if from_end else ""))
            return self.live(fh, st, head, start)
        same_inode = (st.st_dev, st.st_ino) == (position.device, position.inode)
        if same_inode and st.st_size >= position.offset and _matches(head, position):
            return self.live(fh, st, head, position.offset)
        if same_inode:
            kind: NoteKind = "truncated" if st.st_size < position.offset else "recreated"
            self.notes.append(Note(kind, str(self.path), bytes=position.offset))
        outcome, stopped_at = self.catch_up(position, st)
        if outcome == "stopped":
            return self.chunk(stopped_at, more=True)
        if outcome == "not_found":
            if (
                not same_inode
                and position.fingerprint_size > 0
                and st.st_size >= position.offset
                and _matches(head, position)
            ):
                self.notes.append(Note("moved", str(self.path), bytes=position.offset))
                return self.live(fh, st, head, position.offset)
            self.notes.append(
                Note(
                    "missed",
                    str(self.path),
                    f"the old file (read up to offset {position.offset}) was not found; "
                    "anything written to it after that is unknown",
                    None,
                )
            )
        if self.spent:
            # the budget went on rotated files: stand at the start of the current one
            return self.chunk(Position(st.st_dev, st.st_ino, 0, _hash(head), len(head)), more=True)
        self.notes.append(Note("new_file", str(self.path)))
        return self.live(fh, st, head, 0)

    def live(self, fh: IO[bytes], st: os.stat_result, head: bytes, start: int) -> Chunk:
        fh.seek(start)
        offset, _ = self.take(fh, start, self.path, final=False)
        position = Position(st.st_dev, st.st_ino, offset, _hash(head), len(head))
        return self.chunk(position, more=self.spent)


def _last_line_end(fh: IO[bytes], size: int) -> int:
    """The offset after the last newline at or before ``size`` (0 if there is none)."""
    end = size
    while end > 0:
        start = max(0, end - BLOCK_BYTES)
        block = os.pread(fh.fileno(), end - start, start)
        newline = block.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0


def read_new(
    path: Path,
    position: Position | None,
    max_bytes: int | None = None,
    *,
    from_end: bool = False,
) -> Chunk:
    """The complete lines added to the log at ``path`` since ``position``, and the next position.

    ``position=None`` is a first run: from the start of the file (``from_end=True``: from its
    end, skipping what is there). ``max_bytes`` bounds the bytes returned by this call (a
    single line longer than it is still returned whole, up to ``LONG_LINE_BYTES``);
    ``Chunk.more`` then says to call again. Store ``Chunk.position`` only once the lines are
    recorded. Errors (missing, unreadable, a directory) come back as an ``error`` note with the
    position unchanged.
    """
    if max_bytes is not None and max_bytes < 1:
        raise ValueError("max_bytes must be positive")
    return _Reader(Path(path), max_bytes).run(position, from_end)
