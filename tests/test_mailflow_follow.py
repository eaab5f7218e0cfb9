"""Following a mail log: real files in a temporary folder, rotated the ways logrotate does."""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from panel.mailflow.follow import LONG_LINE_BYTES, Chunk, Position, read_new


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def rotate(path: Path) -> None:
    """logrotate's default: shift ``.N`` to ``.N+1`` (and ``.N.gz``), rename, create anew."""
    numbered = []
    for sibling in path.parent.iterdir():
        rest = sibling.name[len(path.name) + 1 :].removesuffix(".gz")
        if sibling.name.startswith(path.name + ".") and rest.isdigit():
            numbered.append((int(rest), sibling))
    for number, sibling in sorted(numbered, reverse=True):
        suffix = ".gz" if sibling.name.endswith(".gz") else ""
        sibling.rename(path.parent / f"{path.name}.{number + 1}{suffix}")
    path.rename(path.parent / f"{path.name}.1")
    path.touch()


def compress(path: Path) -> None:
    with open(path, "rb") as src, gzip.open(path.parent / (path.name + ".gz"), "wb") as dst:
        shutil.copyfileobj(src, dst)
    path.unlink()


def roundtrip(position: Position | None) -> Position | None:
    """Positions are stored as JSON between runs; every test goes through that."""
    return None if position is None else Position.from_json(position.to_json())


def read_all(path: Path, position: Position | None, max_bytes: int | None) -> list[Chunk]:
    chunks = [read_new(path, roundtrip(position), max_bytes)]
    while chunks[-1].more:
        assert len(chunks) < 10_000
        chunks.append(read_new(path, roundtrip(chunks[-1].position), max_bytes))
    return chunks


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "mail.log"
    path.touch()
    return path


def test_appending_in_steps_leaves_the_partial_last_line_for_later(log: Path) -> None:
    append(log, b"one\ntwo\nthr")
    first = read_new(log, None)
    assert first.data == b"one\ntwo\n"
    assert first.lines() == [b"one", b"two"]
    assert (first.line_count, first.byte_count) == (2, 8)
    assert first.kinds() == ["new_file"]
    assert first.position is not None and first.position.offset == 8

    assert read_new(log, roundtrip(first.position)).data == b""  # nothing new, no newline yet
    append(log, b"ee\nfour\n")
    second = read_new(log, roundtrip(first.position))
    assert second.data == b"three\nfour\n"
    assert second.kinds() == []
    assert second.error is None
    assert read_new(log, roundtrip(second.position)).data == b""


def test_rename_rotation_reads_the_late_lines_of_the_old_file_once(log: Path) -> None:
    append(log, b"a1\na2\n")
    first = read_new(log, None)
    append(log, b"a3 written after the read, before rotation\n")
    rotate(log)
    append(log, b"b1\n")

    second = read_new(log, roundtrip(first.position))
    assert second.data == b"a3 written after the read, before rotation\nb1\n"
    assert [part.path for part in second.parts] == [str(log) + ".1", str(log)]
    assert second.kinds() == ["rotated", "new_file"]
    third = read_new(log, roundtrip(second.position))
    assert third.data == b""
    assert third.notes == ()


def test_copytruncate_finishes_the_copy_then_reads_from_the_start(log: Path) -> None:
    append(log, b"a1 a long first line\na2 a long second line\n")
    first = read_new(log, None)
    append(log, b"a3\n")
    shutil.copy2(log, log.parent / "mail.log.1")
    os.truncate(log, 0)
    append(log, b"b1\n")

    second = read_new(log, roundtrip(first.position))
    assert second.data == b"a3\nb1\n"
    assert second.kinds() == ["truncated", "rotated", "new_file"]


def test_truncated_without_a_copy_says_what_may_be_missed(log: Path) -> None:
    append(log, b"a1 a long first line\n")
    first = read_new(log, None)
    os.truncate(log, 0)
    append(log, b"b1\n")

    second = read_new(log, roundtrip(first.position))
    assert second.data == b"b1\n"
    assert second.kinds() == ["truncated", "missed", "new_file"]
    missed = second.notes[1]
    assert missed.bytes is None and "unknown" in missed.detail


def test_truncated_and_grown_past_the_offset_is_seen_by_the_fingerprint(log: Path) -> None:
    append(log, b"a1\n")
    first = read_new(log, None)
    os.truncate(log, 0)
    append(log, b"b1 longer than before\n")

    second = read_new(log, roundtrip(first.position))
    assert second.data == b"b1 longer than before\n"
    assert "recreated" in second.kinds()


def test_rotated_then_compressed_is_found_by_its_content(log: Path) -> None:
    append(log, b"a1\n")
    first = read_new(log, None)
    append(log, b"a2\n")
    rotate(log)
    compress(log.parent / "mail.log.1")
    append(log, b"b1\n")

    second = read_new(log, roundtrip(first.position))
    assert second.data == b"a2\nb1\n"
    assert second.parts[0].path == str(log) + ".1.gz"
    assert second.parts[0].start == 3
    assert second.kinds() == ["rotated", "new_file"]
    assert read_new(log, roundtrip(second.position)).data == b""


def test_two_rotations_during_downtime_are_read_oldest_first(log: Path) -> None:
    append(log, b"a1\n")
    first = read_new(log, None)
    append(log, b"a2\n")
    rotate(log)
    append(log, b"b1\n")
    rotate(log)
    compress(log.parent / "mail.log.2")  # delaycompress: the older one is compressed
    append(log, b"c1\n")

    second = read_new(log, roundtrip(first.position))
    assert second.data == b"a2\nb1\nc1\n"
    assert [part.path.rsplit("/", 1)[1] for part in second.parts] == [
        "mail.log.2.gz",
        "mail.log.1",
        "mail.log",
    ]
    assert second.kinds() == ["rotated", "caught_up_from", "new_file"]


def test_dated_rotations_are_ordered_by_date(log: Path) -> None:
    append(log, b"a1\n")
    first = read_new(log, None)
    append(log, b"a2\n")
    log.rename(log.parent / "mail.log-20261130")
    append(log, b"b1\n")
    log.rename(log.parent / "mail.log-20261201")
    compress(log.parent / "mail.log-20261130")
    append(log, b"c1\n")
    (log.parent / "mail.log-20261129.gz").write_bytes(gzip.compress(b"old, read before\n"))

    second = read_new(log, roundtrip(first.position))
    assert second.data == b"a2\nb1\nc1\n"


def test_a_recreated_file_of_the_same_size_is_read_from_the_start(log: Path) -> None:
    append(log, b"first life\n")
    first = read_new(log, None)
    log.unlink()
    append(log, b"other life\n")  # same size; the inode may well be reused

    second = read_new(log, roundtrip(first.position))
    assert second.data == b"other life\n"
    assert second.kinds()[-2:] == ["missed", "new_file"]
    assert second.notes[-2].bytes is None


def test_the_old_file_gone_is_said_not_guessed(log: Path) -> None:
    append(log, b"a1\n")
    first = read_new(log, None)
    rotate(log)
    (log.parent / "mail.log.1").unlink()
    append(log, b"b1\n")

    second = read_new(log, roundtrip(first.position))
    assert second.data == b"b1\n"
    assert second.kinds() == ["missed", "new_file"]


def test_max_bytes_catches_up_in_steps(log: Path) -> None:
    lines = [f"line {number:04d}\n".encode() for number in range(300)]
    append(log, b"".join(lines[:100]))
    first = read_new(log, None)
    append(log, b"".join(lines[100:150]))
    rotate(log)
    append(log, b"".join(lines[150:200]))
    rotate(log)
    compress(log.parent / "mail.log.2")
    append(log, b"".join(lines[200:]))

    chunks = read_all(log, first.position, max_bytes=100)
    assert len(chunks) > 20
    assert all(chunk.byte_count <= 100 for chunk in chunks)
    assert b"".join(chunk.data for chunk in chunks) == b"".join(lines[100:])
    assert not chunks[-1].more


def test_a_rotated_file_compressed_between_two_steps_is_found_again(log: Path) -> None:
    append(log, b"a0\n")
    first = read_new(log, None)
    append(log, b"".join(f"a{number}\n".encode() for number in range(1, 40)))
    rotate(log)
    append(log, b"b1\n")
    step = read_new(log, roundtrip(first.position), max_bytes=30)
    assert step.more and step.position is not None and 3 < step.position.offset <= 3 + 30
    assert step.parts[0].path.endswith("mail.log.1")
    rotate(log)
    compress(log.parent / "mail.log.2")
    append(log, b"c1\n")

    rest = read_all(log, step.position, max_bytes=None)
    expected = b"".join(f"a{number}\n".encode() for number in range(1, 40)) + b"b1\nc1\n"
    assert step.data + b"".join(chunk.data for chunk in rest) == expected


def test_a_line_longer_than_max_bytes_is_still_returned_whole(log: Path) -> None:
    append(log, b"x" * 500 + b"\nshort\n")
    chunks = read_all(log, None, max_bytes=100)
    assert [line for chunk in chunks for line in chunk.lines()] == [b"x" * 500, b"short"]


def test_a_line_without_end_is_returned_in_pieces_of_bounded_size(log: Path) -> None:
    huge = b"y" * (LONG_LINE_BYTES + 1000) + b"\n"
    append(log, huge)
    chunks = read_all(log, None, max_bytes=100)
    assert b"".join(chunk.data for chunk in chunks) == huge
    assert max(chunk.byte_count for chunk in chunks) == LONG_LINE_BYTES
    assert "long_line_split" in chunks[0].kinds()


def test_from_end_skips_what_is_there(log: Path) -> None:
    append(log, b"old\nolder\npart")
    first = read_new(log, None, from_end=True)
    assert first.data == b""
    assert first.position is not None and first.position.offset == 10
    append(log, b"ial\nnew\n")
    assert read_new(log, roundtrip(first.position)).data == b"partial\nnew\n"


def test_the_unterminated_tail_of_a_rotated_file_is_returned(log: Path) -> None:
    append(log, b"a1\na2 cut")
    first = read_new(log, None)
    rotate(log)
    append(log, b"b1\n")
    second = read_new(log, roundtrip(first.position))
    assert second.lines() == [b"a2 cut", b"b1"]
    assert "unterminated_tail" in second.kinds()


def test_a_directory_in_place_of_the_file_is_an_error_note(log: Path) -> None:
    append(log, b"a1\n")
    first = read_new(log, None)
    log.unlink()
    log.mkdir()
    second = read_new(log, first.position)
    assert second.error is not None and second.error.path == str(log)
    assert second.position == first.position and second.data == b""


def test_a_missing_file_is_an_error_note(tmp_path: Path) -> None:
    chunk = read_new(tmp_path / "absent.log", None)
    assert chunk.error is not None and "FileNotFoundError" in chunk.error.detail
    assert chunk.position is None and chunk.parts == ()
    chunk = read_new(tmp_path / "no-folder" / "mail.log", None)
    assert chunk.error is not None


def test_a_damaged_position_is_refused() -> None:
    with pytest.raises(ValueError):
        Position.from_json('{"device": 1, "inode": -2}')
    with pytest.raises(ValueError):
        Position.from_json("[]")
    position = Position(1, 2, 3, "0" * 64, 3)
    assert Position.from_json(position.to_json()) == position


# --- everything written is read, exactly once, in order -------------------------------------

_steps = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.integers(1, 120)),
        st.tuples(st.just("rotate"), st.booleans()),
        st.tuples(st.just("read"), st.one_of(st.none(), st.integers(1, 60))),
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    words=st.lists(st.text("abc xyz=<>@.", max_size=30), min_size=1, max_size=40),
    steps=_steps,
)
def test_everything_written_is_read_exactly_once_in_order(
    words: list[str], steps: list[tuple[str, int | bool | None]]
) -> None:
    # log lines carry a time stamp, so no two start alike; a counter stands in for it
    stream = b"".join(f"{n:05d} {word}\n".encode() for n, word in enumerate(words * 5))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mail.log"
        path.touch()
        written = 0
        read: list[bytes] = []
        position = read_new(path, None).position  # following starts before the first line
        for action, value in [*steps, ("read", None)]:
            if action == "write":
                assert value is not None
                append(path, stream[written : written + value])
                written = min(len(stream), written + value)
            elif action == "rotate":
                rotate(path)
                older = path.parent / "mail.log.2"
                if value and older.exists():  # delaycompress
                    # Known limit: a file still empty at the last read has no fingerprint, so
                    # once compressed it cannot be recognised (read_new says "missed").
                    assume(position is not None and position.fingerprint_size > 0)
                    compress(older)
            else:
                for chunk in read_all(path, position, value):
                    assert chunk.error is None
                    read.append(chunk.data)
                    position = chunk.position
        pending = stream[:written]
        current = path.read_bytes()
        tail = current[current.rfind(b"\n") + 1 :]  # the live file's partial line waits
        assert b"".join(read) == pending[: len(pending) - len(tail)]
