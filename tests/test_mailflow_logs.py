"""Mail-log parsing and ``onus mail summarize``: each format, each trap, and bad input."""

from __future__ import annotations

import gzip
import io
import json
import tempfile
from pathlib import Path
from typing import IO

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from panel.cli import main
from panel.mailflow import logs
from panel.mailflow.logs import (
    MAX_LINE,
    events,
    iter_lines,
    open_log,
    summarize,
    summarize_streams,
)

MAIL = Path(__file__).parent / "mail"
INFO = "info@sportschool-desprint.nl"
KEYS = [
    "delivered",
    "deferred",
    "bounced",
    "rejected",
    "over_quota",
    "first_over_quota",
    "last_over_quota",
]


def _fixture(name: str) -> list[bytes]:
    return list(iter_lines(open_log(MAIL / name)))


def _counts(summary_json: dict, address: str) -> tuple[int, ...]:
    entry = summary_json["recipients"][address]
    return tuple(entry[k] for k in KEYS[:5])


def test_postfix_deferred_then_bounced_rejects_expiry_and_year_rollover() -> None:
    out = summarize(_fixture("postfix.log"), year=2025).to_json()
    assert out["lines"] == 18 and out["skipped"] == 0
    info = out["recipients"][INFO]  # orig_to= is not the recipient; case folded
    # deferred twice then bounced: 1 deferred, 1 bounced; plus one NOQUEUE 552 5.2.2 reject
    assert _counts(out, INFO) == (0, 1, 1, 1, 2)
    assert info["first_over_quota"] == "2026-01-01T01:28:03+00:00"  # Dec 31 → Jan 1: 2026
    assert info["last_over_quota"] == "2026-01-01T02:00:00+00:00"
    assert "inschrijving@sportschool-desprint.nl" not in out["recipients"]
    assert _counts(out, "nobody@sportschool-desprint.nl") == (0, 0, 0, 1, 0)
    # qmgr's status=expired bounces the still deferred recipient, over quota by its 4.2.2
    assert _counts(out, "klant@gmail.com") == (0, 1, 1, 0, 1)
    # the hand-off to the content filter on 127.0.0.1 is not a delivery
    assert _counts(out, "bob@example.org") == (1, 0, 0, 0, 0)
    assert _counts(out, "trainers@sportschool-desprint.nl") == (1, 0, 0, 0, 0)
    # postscreen's reject is ignored: info has one reject only (checked above)


def test_events_carry_time_queue_id_code_and_reason() -> None:
    found = list(events(_fixture("postfix.log"), year=2025))
    first = found[0]
    assert first.source == "postfix" and first.queue_id == "postfix:4BcDeF1234"
    assert first.result == "deferred" and first.dsn == "4.2.2" and first.over_quota
    assert first.message_id == "campaign-1@example.org"
    assert first.time.isoformat() == "2025-12-31T23:58:03+00:00"
    assert "Mailbox is full" in first.reason
    reject = next(e for e in found if e.result == "rejected")
    assert reject.queue_id is None and reject.dsn == "5.2.2"
    assert reject.reason.startswith("552 5.2.2")


def test_exim_main_log() -> None:
    out = summarize(_fixture("exim_mainlog")).to_json()
    assert out["lines"] == 9 and out["skipped"] == 0
    assert _counts(out, "info@bakkerij-vandam.nl") == (1, 0, 0, 0, 0)
    assert _counts(out, "bestellingen@bakkerij-vandam.nl") == (1, 0, 0, 0, 0)
    assert _counts(out, "winkel@bakkerij-vandam.nl") == (0, 1, 1, 1, 2)
    assert _counts(out, "henk@example.net") == (0, 0, 1, 0, 0)
    winkel = out["recipients"]["winkel@bakkerij-vandam.nl"]
    assert winkel["first_over_quota"] == "2026-11-24T10:00:02+00:00"


def test_exim_zone_and_ids_of_exim_4_97() -> None:
    lines = [
        b"2026-11-23 10:00:02.123 +0100 [4711] 1tXyZa-000000AbCd-0001 => a@x.nl R=r T=t",
        b"2026-11-23 10:00:03 +0100 1tXyZa-000000AbCd-0001 Completed",
    ]
    (event,) = events(lines)
    assert event.recipient == "a@x.nl" and event.time.isoformat().endswith("+01:00")


def test_dovecot_lda_rejects_while_postfix_says_sent() -> None:
    out = summarize(_fixture("dovecot_lda.log"), year=2026).to_json()
    assert out["lines"] == 11 and out["skipped"] == 0
    assert _counts(out, INFO) == (0, 0, 1, 0, 1)
    assert out["recipients"][INFO]["first_over_quota"] == "2026-11-23T09:59:59+00:00"
    # saved by Dovecot and sent by Postfix: one delivery, not two
    assert _counts(out, "trainers@sportschool-desprint.nl") == (1, 0, 0, 0, 0)


def test_dovecot_pairs_with_postfix_in_either_order_across_files(tmp_path: Path) -> None:
    lines = _fixture("dovecot_lda.log")
    dovecot = [line for line in lines if b"dovecot:" in line]
    postfix = [line for line in lines if b"dovecot:" not in line]
    (tmp_path / "mail.log").write_bytes(b"\n".join(postfix) + b"\n")
    (tmp_path / "dovecot.log").write_bytes(b"\n".join(dovecot) + b"\n")
    for order in (["mail.log", "dovecot.log"], ["dovecot.log", "mail.log"]):
        out = _cli(*[str(tmp_path / name) for name in order], "--year", "2026")
        assert _counts(out, INFO) == (0, 0, 1, 0, 1), order
        assert _counts(out, "trainers@sportschool-desprint.nl") == (1, 0, 0, 0, 0), order


def test_dovecot_lmtp_own_log_alone_with_dutch_month() -> None:
    out = summarize(_fixture("dovecot.log"), year=2026).to_json()
    assert out["lines"] == 5 and out["skipped"] == 0
    assert _counts(out, "ledenadministratie@sportschool-desprint.nl") == (1, 0, 0, 0, 0)
    assert _counts(out, INFO) == (0, 0, 2, 0, 2)


def test_dovecot_lmtp_failure_and_postfix_bounce_count_once() -> None:
    lines = [
        b"Nov 23 10:00:00 mx1 postfix/cleanup[1]: 9AbCdEf123: message-id=<m9@example.org>",
        b"Nov 23 10:00:01 mx1 dovecot: lmtp(info@x.nl)<5><Kg6rBE1P+VdWDwAAgD0sfA>: "
        b"msgid=<m9@example.org>: save failed to INBOX: Quota exceeded (mailbox for user is full)",
        b"Nov 23 10:00:01 mx1 postfix/lmtp[2]: 9AbCdEf123: to=<info@x.nl>, relay=mx1[private/"
        b"dovecot-lmtp], delay=1, delays=0/0/0/1, dsn=5.2.2, status=bounced (host mx1[private/"
        b"dovecot-lmtp] said: 552 5.2.2 <info@x.nl> Quota exceeded (mailbox for user is full) "
        b"(in reply to end of DATA command))",
        b"Nov 23 10:00:01 mx1 postfix/qmgr[3]: 9AbCdEf123: removed",
    ]
    out = summarize(lines, year=2026).to_json()
    assert _counts(out, "info@x.nl") == (0, 0, 1, 0, 1)


def test_localised_months_and_rfc3339_stamps() -> None:
    tail = (
        b" mx1 postfix/smtp[9]: 1AbCdEf999: to=<a@x.nl>, relay=x[1.2.3.4]:25, delay=1, "
        b"delays=0/0/0/1, dsn=5.2.2, status=bounced (host x said: 552 5.2.2 mailbox full)"
    )
    for stamp, iso in [
        (b"mrt  3 10:00:01", "2026-03-03T10:00:01+00:00"),  # Dutch
        (b"Mai 13 10:00:01", "2026-05-13T10:00:01+00:00"),  # German
        ("Mär 13 10:00:01".encode(), "2026-03-13T10:00:01+00:00"),
        (b"okt 13 10:00:01", "2026-10-13T10:00:01+00:00"),
        (b"Dez 13 10:00:01", "2026-12-13T10:00:01+00:00"),
        (b"2026-11-23T10:00:01.123456+01:00", "2026-11-23T10:00:01.123456+01:00"),
        (b"2026-11-23T10:00:01+0100", "2026-11-23T10:00:01+01:00"),
    ]:
        out = summarize([stamp + tail], year=2026).to_json()
        assert out["skipped"] == 0, stamp
        assert out["recipients"]["a@x.nl"]["first_over_quota"] == iso, stamp


def test_default_year_puts_no_line_in_the_future() -> None:
    from datetime import UTC, datetime

    now = datetime(2027, 1, 5, tzinfo=UTC)
    line = (
        b"Dec 30 10:00:01 mx1 postfix/smtp[9]: 1AbCdEf999: to=<a@x.nl>, relay=x, delay=1, "
        b"delays=0/0/0/1, dsn=5.2.2, status=bounced (552 5.2.2 mailbox full)"
    )
    out = summarize([line], now=now).to_json()
    assert out["recipients"]["a@x.nl"]["first_over_quota"].startswith("2026-12-30")


def test_bad_input_is_skipped_and_counted() -> None:
    good = _fixture("postfix.log")[4]
    bad = [
        b"",
        b"\x00\x01\x02\xff\xfe binary junk \x89PNG",
        b"Nov 23 10:00:01 mx1 postfix/smtp[1]: 4BcD: to=<x@y.nl>, relay=a, dsn=5.2.2, status=bou"
        b"nced (host said: 552 5.2.2 cut off her",
        b"Nov 23 10:00:01 mx1 postfix/smtp[1]: 4BcDeF1234: to=<inf",
        b"Nov 23 10:00:01 mx1 postfix/smtp[1]: 4BcD: to=<\xc3\x28@y.nl>, status=sent (ok)",
        good[:200] + b"A" * 20_000,
        b"<html><body>not a log</body></html>",
        b'{"json": "neither"}',
        b"Foo 23 10:00:01 mx1 postfix/smtp[1]: 4BcDeF1234: to=<a@b.nl>, status=sent (ok)",
        b"Feb 30 10:00:01 mx1 postfix/smtp[1]: 4BcDeF1234: to=<a@b.nl>, relay=x, status=sent (ok)",
    ]
    out = summarize([good, *bad], year=2025).to_json()
    assert out["lines"] == 11
    assert out["skipped"] == 10
    assert list(out["recipients"]) == [INFO]


def test_a_file_that_is_not_a_log(tmp_path: Path) -> None:
    path = tmp_path / "picture.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 50 + b"\nlast line")
    out = _cli(str(path))
    assert out["recipients"] == {}
    assert out["lines"] == out["skipped"] == 54  # 50 newlines in the junk


def test_iter_lines_bounds_a_long_line(tmp_path: Path) -> None:
    path = tmp_path / "long.log"
    path.write_bytes(b"a\r\n" + b"x" * (3 * 2**20) + b"\nb\n" + b"y" * (MAX_LINE + 5))
    lines = list(iter_lines(open_log(path)))
    assert [len(line) for line in lines] == [1, MAX_LINE + 1, 1, MAX_LINE + 1]
    assert lines[0] == b"a" and lines[2] == b"b"


def _cli(*args: str, stdin: bytes | None = None) -> dict:
    result = CliRunner().invoke(
        main, ["mail", "summarize", "--json", *args], input=stdin, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_cli_json_shape_gzip_by_magic_and_stdin(tmp_path: Path) -> None:
    text = (MAIL / "postfix.log").read_bytes()
    packed = tmp_path / "mail.log.1"  # gzip without the .gz suffix
    packed.write_bytes(gzip.compress(text))
    out = _cli("--year", "2025", str(packed))
    assert list(out) == ["lines", "skipped", "recipients"]
    assert out["recipients"][INFO] == {
        "delivered": 0,
        "deferred": 1,
        "bounced": 1,
        "rejected": 1,
        "over_quota": 2,
        "first_over_quota": "2026-01-01T01:28:03+00:00",
        "last_over_quota": "2026-01-01T02:00:00+00:00",
    }
    assert out["recipients"]["bob@example.org"]["first_over_quota"] is None
    assert _cli("--year", "2025", "-", stdin=text) == out
    assert _cli("--year", "2025", "-", stdin=gzip.compress(text)) == out
    both = _cli("--year", "2025", str(packed), "-", stdin=(MAIL / "exim_mainlog").read_bytes())
    assert both["lines"] == 27 and "winkel@bakkerij-vandam.nl" in both["recipients"]


def test_cli_format_option_and_text_output(tmp_path: Path) -> None:
    out = _cli("--format", "exim", str(MAIL / "postfix.log"), str(MAIL / "exim_mainlog"))
    assert "winkel@bakkerij-vandam.nl" in out["recipients"]
    assert INFO not in out["recipients"]
    result = CliRunner().invoke(main, ["mail", "summarize", str(MAIL / "exim_mainlog")])
    assert result.exit_code == 0
    assert "9 lines, 0 skipped" in result.output
    assert "winkel@bakkerij-vandam.nl: 0 delivered, 1 deferred, 1 bounced" in result.output


def test_cli_truncated_gzip_and_missing_file(tmp_path: Path) -> None:
    packed = gzip.compress((MAIL / "postfix.log").read_bytes() * 50)
    path = tmp_path / "cut.gz"
    path.write_bytes(packed[: len(packed) // 2])
    result = CliRunner().invoke(main, ["mail", "summarize", "--json", "--year", "2025", str(path)])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["skipped"] >= 1
    missing = CliRunner().invoke(main, ["mail", "summarize", str(tmp_path / "nope.log")])
    assert missing.exit_code != 0 and "cannot read" in missing.output


_SEEDS = [
    line for name in ("postfix.log", "exim_mainlog", "dovecot.log") for line in _fixture(name)
]


@st.composite
def _log_line(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.binary(max_size=300))
    seed = draw(st.sampled_from(_SEEDS))
    if kind == 1:  # cut off somewhere
        return seed[: draw(st.integers(0, len(seed)))]
    if kind == 2:  # a stretch replaced with junk
        start = draw(st.integers(0, len(seed)))
        junk = draw(st.binary(max_size=20))
        return seed[:start] + junk + seed[start + len(junk) :]
    return seed


@settings(max_examples=250, deadline=None)
@given(st.lists(_log_line(), max_size=30), st.sampled_from(["auto", "postfix", "exim", "dovecot"]))
def test_fuzz_never_raises_and_counts_every_line(lines: list[bytes], fmt: str) -> None:
    summary = summarize(lines, fmt, year=2025)
    assert summary.lines == len(lines)
    assert 0 <= summary.skipped <= len(lines)
    for outcome in summary.recipients.values():
        assert min(outcome.delivered, outcome.deferred, outcome.bounced, outcome.rejected) >= 0
        assert outcome.over_quota <= outcome.bounced + outcome.rejected
    json.dumps(summary.to_json())


def _both(data: bytes, fmt: str = "auto") -> tuple[dict, dict]:
    """The line-by-line reader and the block reader of ``summarize_streams`` on one file."""
    by_line = summarize(iter_lines(io.BytesIO(data)), fmt, year=2025).to_json()
    by_block = summarize_streams([io.BytesIO(data)], fmt, year=2025).to_json()
    return by_line, by_block


def test_block_reader_counts_as_the_line_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "_BLOCK", 97)  # lines across block boundaries, joints, tails
    good = [line for name in ("postfix.log", "exim_mainlog", "dovecot.log") for line in
            _fixture(name)] + _fixture("dovecot_lda.log")  # fmt: skip
    cut = [line[:end] for line in good for end in range(0, len(line), 7)]
    bad = [
        b"",
        b"<html><body>not a log</body></html>",
        b"Nov 23 10:00:01 mx1 postfix/smtp[1]: 4BcD: to=<\xc3\x28@y.nl>, status=sent (ok)",
        b"Foo 23 10:00:01 mx1 postfix/smtp[1]: 4BcDeF1234: to=<a@b.nl>, status=sent (ok)",
        b"-- Boot 1234 --",
        good[0] + b"\r",
        b"x" * (MAX_LINE + 3),
        b"\x00 binary",
    ]
    for lines in (good, cut, good + bad, bad + good):
        for fmt in ("auto", "postfix", "exim", "dovecot"):
            for end in (b"\n", b""):  # with and without the last newline
                by_line, by_block = _both(b"\n".join(lines) + end, fmt)
                assert by_block == by_line, fmt
                assert by_block["lines"] == len(lines)


def test_block_reader_over_long_lines_and_read_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "_BLOCK", 4096)
    monkeypatch.setattr(logs, "_CHUNK", 4096)  # the same reads: the same data before the error
    good = _fixture("postfix.log")
    data = b"\n".join([good[4], b"y" * (3 * MAX_LINE), *good[5:], b"z" * (MAX_LINE + 1)])
    by_line, by_block = _both(data)
    assert by_block == by_line and by_block["skipped"] == 2
    packed = gzip.compress(b"\n".join(good * 400))
    errors: list[str] = []
    stream = open_log_bytes(packed[: len(packed) // 2])
    out = summarize_streams([stream], year=2025, errors=errors).to_json()
    lines = list(iter_lines(open_log_bytes(packed[: len(packed) // 2])))
    assert out == summarize(lines, year=2025).to_json()
    assert errors and out["skipped"] >= 1


def open_log_bytes(data: bytes) -> IO[bytes]:
    path = Path(tempfile.mkdtemp()) / "log"
    path.write_bytes(data)
    return open_log(path)


def test_clock_reuses_a_minute_but_not_across_a_year_change() -> None:
    """The minute cache gives what a fresh computation gives, rollovers and bad days too."""
    stamps = [
        b"Dec 31 23:59:58", b"Dec 31 23:59:59", b"Jan  1 00:00:01", b"Jan  1 00:00:02",
        b"Dec 31 23:59:59", b"Dec 31 23:59:57", b"Jan  1 00:00:03", b"Feb 30 00:00:00",
        b"Jan  1 00:00:04", b"Jan  1 00:00:60", b"Jan  1 00:00:05", b"Dec 31 23:59:30.5",
        b"Dec 31 23:59:31", b"Jan  1 00:00:06",
    ]  # fmt: skip
    clock = logs.Clock(2026)
    times = [clock.time(logs._PREFIX.match(s + b" host x")) for s in stamps]
    assert [t.isoformat() if t else None for t in times] == [
        "2026-12-31T23:59:58+00:00", "2026-12-31T23:59:59+00:00",
        "2027-01-01T00:00:01+00:00", "2027-01-01T00:00:02+00:00",
        "2026-12-31T23:59:59+00:00", "2026-12-31T23:59:57+00:00",
        "2027-01-01T00:00:03+00:00", None, "2027-01-01T00:00:04+00:00", None,
        "2027-01-01T00:00:05+00:00", "2026-12-31T23:59:30.500000+00:00",
        "2026-12-31T23:59:31+00:00", "2027-01-01T00:00:06+00:00",
    ]  # fmt: skip
