"""Mail logs (Postfix, Exim, Dovecot) in, delivery events and per-recipient counts out.

Pure and streaming: lines are bytes, read once, decoded only when a cheap substring test says
the line may matter, so a log of millions of lines runs in flat memory. ``summarize_streams``
(what ``onus mail summarize`` uses) reads a file in 4 MiB blocks and lets one compiled pattern
step over the lines no format acts on, with the same counts as the line-by-line reader. Bad
input (broken, truncated, binary, invalid UTF-8, over-long lines, other formats) is counted in
``Summary.skipped`` and never raises.

Counting rules (what ``onus mail summarize`` prints):

- a *message* is a queue id (Postfix queue id, Exim message id) and a recipient; an
  SMTP-time reject line is one message of its own, whatever its code (4xx or 5xx);
- ``deferred`` counts messages ever deferred (once, however many retries), ``delivered`` and
  ``bounced`` their final outcome, so a message deferred and later bounced counts 1 in both;
  Postfix ``status=expired`` (qmgr, no recipient) bounces the recipients still deferred;
- ``over_quota`` counts bounced or rejected messages whose reason is a full mailbox (enhanced
  code X.2.2 or a known quota text); a full-mailbox *deferral* is only ``deferred``;
- the recipient is Postfix's ``to=`` (never ``orig_to=``), Exim's delivered address (its
  ``<original>`` only when the first is a bare local part), Dovecot's user; lower case;
- times are aware datetimes: the log's own offset (RFC 3339 stamps, Exim ``+0100``), else UTC.
  Syslog stamps have no year: ``year`` is the first line's (default: this year, or last year
  if that would put the first line in the future); a month jump back (December → January)
  starts the next year, a jump forward by more than half a year is a late line of the last.

Dovecot and the MTA often log the same delivery. A Dovecot line is paired with an MTA line of
the same recipient: same message-id when both are known (Postfix's from its ``cleanup``
``message-id=`` line, Exim's from ``<=`` ``id=``), otherwise logged within
``PAIR_SECONDS``. A pair counts once, as the MTA says, except that an MTA ``sent`` paired with
Dovecot LDA's ``rejected:`` (LDA without ``-e`` bounces by itself and exits 0) is a bounce, over
quota when the text says so. A Dovecot line left unpaired (a Dovecot-only log) counts by itself:
saved → delivered, ``rejected:`` or a quota save failure → bounced (Dovecot answers 552 unless
``quota_full_tempfail``). The pairing looks at the last few lines per recipient only
(``_PAIR_DEPTH``), so it is meant for logs in time order or per-server files of the same span.
"""

from __future__ import annotations

import gzip
import io
import re
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal, NamedTuple

from panel.mailflow.codes import is_over_quota

Format = Literal["auto", "postfix", "exim", "dovecot"]
FORMATS: tuple[str, ...] = ("auto", "postfix", "exim", "dovecot")
Result = Literal["delivered", "deferred", "bounced", "rejected"]

MAX_LINE = 16 * 1024  # longer lines are skipped: rsyslog cuts at 8 KiB, no real record is this long
PAIR_SECONDS = 120
_PAIR_DEPTH = 8  # remembered unpaired lines per recipient and side
_MAX_QUEUE_STATE = 200_000  # queue ids kept when a log never says `removed` / `Completed`
_CHUNK = 1 << 20
_BLOCK = 1 << 22  # read_stream's reads

_MONTHS: dict[bytes, int] = {}
for _number, _names in enumerate(
    (
        "jan",
        "feb",
        "mar mär mrz mrt maa",
        "apr",
        "may mai mei",
        "jun",
        "jul",
        "aug",
        "sep sept",
        "oct okt",
        "nov",
        "dec dez",
    ),
    start=1,
):
    for _name in _names.split():
        _MONTHS[_name.encode()] = _number

# A line must start with a timestamp and a space: syslog ("Nov 23 10:00:01", localised month),
# RFC 3339 (journal short-iso(-precise), rsyslog high precision) or Exim's ("2026-11-23 10:00:01").
_PREFIX = re.compile(
    rb"(?:([A-Za-z\xc3\xa4]{3,4})\.? {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?"
    rb"|(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z| ?[+-]\d\d:?\d\d)?)) (?=\S)"
)

_PF_STATUS = re.compile(
    rb"(?:postfix[\w.-]*/([\w.-]+)\[\d+\]: )?([0-9A-Za-z]{5,20}): to=<([^>]*)>,"
    rb"(?: orig_to=<[^>]*>,)?(?: relay=([^,]*),)?.*?(?: dsn=(\d\.\d{1,3}\.\d{1,3}),)?"
    rb" status=([a-z]+)(.*)$"
)
# _PF_STATUS in steps, the same matches without its slow lazy scan: the recipient part, then
# the first " status=", then a " dsn=...," right before it.
_PF_TO = re.compile(
    rb"(?:postfix[\w.-]*/([\w.-]+)\[\d+\]: )?([0-9A-Za-z]{5,20}): to=<([^>]*)>,"
    rb"(?: orig_to=<[^>]*>,)?(?: relay=([^,]*),)?"
)
_PF_STATUS_AT = re.compile(rb" status=([a-z]+)(.*)$")
_PF_DSN_AT = re.compile(rb" dsn=(\d\.\d{1,3}\.\d{1,3}),")
_PF_EXPIRED = re.compile(rb": ([0-9A-Za-z]{5,20}): from=<[^>]*>, status=expired")
_PF_REJECT = re.compile(
    rb"postfix[\w.-]*/([\w.-]+)\[\d+\]: ([0-9A-Za-z]{5,20}|NOQUEUE): (?:milter-)?reject: "
    rb"(.*?); from=<[^>]*>,? to=<([^>]*)>"
)
_PF_REMOVED = re.compile(rb"postfix[\w.-]*/[\w.-]+\[\d+\]: ([0-9A-Za-z]{5,20}): removed\s*$")
_PF_MSGID = re.compile(
    rb"postfix[\w.-]*/cleanup\[\d+\]: ([0-9A-Za-z]{5,20}): message-id=<?([^>\s]*)"
)
_DSN = re.compile(r"(?<![\w.])([245]\.\d{1,3}\.\d{1,3})(?![\w.])")

_EXIM_ID = rb"([0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4})"
_EXIM = re.compile(_EXIM_ID + rb" (=>|->|\*\*|==|<=|Completed)(?: (.*))?$")
_EXIM_REJECT = re.compile(rb" (temporarily )?rejected RCPT <([^>]*)>:? ?(.*)$")
_EXIM_MSGID = re.compile(rb" id=(\S+)")

# The fast path of ``LogParser.read_stream``. A well-formed stamp (a subset of what _PREFIX
# takes, a known month), a host name and a Postfix tag:
_STAMP = (
    rb"(?:(?:[Jj]an|[Ff]eb|[Mm]ar|[Aa]pr|[Mm]ay|[Jj]un|[Jj]ul|[Aa]ug|[Ss]ep|[Oo]ct|[Nn]ov|[Dd]ec)"
    rb" {1,2}\d{1,2} \d\d:\d\d:\d\d(?:\.\d{1,9})?"
    rb"|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z| ?[+-]\d\d:?\d\d)?) [\w.-]+ "
)
# One match per line that may matter, after the run of lines that tell nothing before it
# (stamped Postfix lines whose queue-id part is none of the forms the per-line parser acts on:
# delivery, message-id, removed, reject, expiry). The line is cleanup's "<qid>: message-id="
# (groups 1, 2; group 2 is b"" when empty), "<qid>: removed" (3), a delivery "<qid>: to=<"
# (4), or any other line (5, or 6 for the file's last line without a newline); none of them:
# the block's end. Each of these stamps is one _PREFIX takes, with a known month. It matches at
# every line start, so finditer never slides into the middle of a line.
_SCAN = re.compile(
    rb"(?:" + _STAMP + rb"postfix[\w.-]*/[\w./-]+\[\d+\]: (?!NOQUEUE: |[0-9A-Za-z]{5,20}: "
    rb"(?:to=|message-id=|removed|(?:milter-)?reject: |from=<[^>\n]*>, status=))[^\n]*+\n)*+"
    rb"(?:" + _STAMP + rb"postfix[\w.-]*/(?:cleanup\[\d+\]: ([0-9A-Za-z]{5,20}): "
    rb"message-id=<?([^>\s]*)>?|[\w.-]+\[\d+\]: ([0-9A-Za-z]{5,20}): removed)\r?\n"
    rb"|(" + _STAMP + rb"postfix[\w.-]*/[\w.-]+\[\d+\]: [0-9A-Za-z]{5,20}: to=<[^\n]*)\n"
    rb"|([^\n]*)\n|([^\n]+)\Z|\Z)"
)

_DOVECOT = re.compile(
    rb"\b(lda|lmtp|deliver)\(([^)]*)\)(?:<\d+>)?(?:<([^>]*)>)?: (?:Info: |Error: |Warning: )?"
    rb"(?:sieve: )?(?:[\w+/]{16,30}: )?(?:msgid=(<[^>]*>|\S*?): )?(.*)$"
)


@dataclass(slots=True, frozen=True)
class Event:
    """One recipient's delivery attempt as a log line tells it."""

    time: datetime
    source: str  # "postfix", "exim" or "dovecot"
    queue_id: str | None  # Postfix queue id, Exim message id, Dovecot session; None: SMTP reject
    recipient: str
    result: Result
    dsn: str | None  # enhanced status code, "5.2.2"
    reason: str  # the server's words
    over_quota: bool  # the reason says the mailbox is full
    message_id: str | None = None  # the mail's Message-ID header, when the log names it
    service: str = ""  # "smtp", "lmtp", "pipe", "lda", "smtpd", Exim transport ...


@dataclass(slots=True)
class Outcome:
    """Distinct messages per result for one recipient."""

    delivered: int = 0
    deferred: int = 0
    bounced: int = 0
    rejected: int = 0
    over_quota: int = 0
    first_over_quota: datetime | None = None
    last_over_quota: datetime | None = None

    def note_over_quota(self, time: datetime) -> None:
        self.over_quota += 1
        if self.first_over_quota is None or time < self.first_over_quota:
            self.first_over_quota = time
        if self.last_over_quota is None or time > self.last_over_quota:
            self.last_over_quota = time

    def to_json(self) -> dict[str, Any]:
        first, last = self.first_over_quota, self.last_over_quota
        return {
            "delivered": self.delivered,
            "deferred": self.deferred,
            "bounced": self.bounced,
            "rejected": self.rejected,
            "over_quota": self.over_quota,
            "first_over_quota": first.isoformat() if first else None,
            "last_over_quota": last.isoformat() if last else None,
        }


@dataclass(slots=True)
class Summary:
    lines: int = 0
    skipped: int = 0
    recipients: dict[str, Outcome] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The shape ``onus mail summarize --json`` prints; recipients sorted."""
        return {
            "lines": self.lines,
            "skipped": self.skipped,
            "recipients": {a: self.recipients[a].to_json() for a in sorted(self.recipients)},
        }


# A Postfix delivery's Event fields but source: time, queue_id, recipient, result, dsn, reason,
# over_quota, message_id, service
_Fields = tuple[datetime, str, str, str, str | None, str, bool, str | None, str]
_Deliver = Callable[[str, str, str, bool, datetime, str | None], None]


class _Done:
    """Marks that a queued message left the queue (Postfix ``removed``, Exim ``Completed``)."""

    __slots__ = ("queue_id",)

    def __init__(self, queue_id: str) -> None:
        self.queue_id = queue_id


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _address(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").strip().strip("<>").lower()


def _bounded_set(table: dict[Any, Any], key: Any, value: Any) -> None:
    table[key] = value
    if len(table) > _MAX_QUEUE_STATE:
        del table[next(iter(table))]


def _quota(dsn: str | None, reason: str) -> bool:
    if dsn is not None and dsn.endswith(".2.2"):
        return True
    return is_over_quota(reason)


class Clock:
    """Turns a line's timestamp into an aware datetime; one per file (the year rolls over)."""

    def __init__(self, year: int | None = None, now: datetime | None = None) -> None:
        self.year = year
        self.now = now or datetime.now(UTC)
        self._month = 0
        self._last: tuple[bytes, datetime | None] = (b"", None)
        # the last syslog stamp's minute (stamp without ":SS "), and its time at second 0:
        # consecutive lines of one month keep the year, so the minute's time is reused
        self._minute: tuple[bytes, datetime | None] = (b"", None)

    def time(self, match: re.Match[bytes]) -> datetime | None:
        stamp = match.group(0)
        if stamp == self._last[0]:
            return self._last[1]
        try:
            if match.group(7) is not None:
                iso = match.group(7).replace(b" ", b"").replace(b",", b".")
                if iso[10:11] != b"T":  # Exim: "2026-11-23 10:00:01+0100" after the strip
                    iso = iso[:10] + b"T" + iso[10:]
                when = datetime.fromisoformat(iso.decode())
                if when.tzinfo is None:
                    when = when.replace(tzinfo=UTC)
            elif match.group(6) is None:
                minute, base = self._minute
                if base is not None and stamp[:-4] == minute:
                    when = base.replace(second=int(match.group(5)))
                else:
                    self._minute = (b"", None)  # _syslog may move the year, or fail
                    when = self._syslog(match)
                    if when is not None:
                        self._minute = (stamp[:-4], when.replace(second=0))
            else:
                self._minute = (b"", None)
                when = self._syslog(match)
        except (ValueError, OverflowError):
            when = None
        self._last = (stamp, when)
        return when

    def _syslog(self, match: re.Match[bytes]) -> datetime | None:
        month = _MONTHS.get(match.group(1).lower())
        if month is None:
            return None
        day = int(match.group(2))
        if self.year is None:
            self.year = self.now.year
            if (month, day) > (self.now.month, self.now.day + 1):
                self.year -= 1
        year = self.year
        if self._month and month < self._month - 6:  # December → January
            self.year = year = year + 1
            self._month = month
        elif self._month and month > self._month + 6:  # a late line of last year
            year -= 1
        else:
            self._month = month
        frac = match.group(6)
        micro = int((frac + b"000000")[:6]) if frac else 0
        return datetime(
            year, month, day, int(match.group(3)), int(match.group(4)), int(match.group(5)),
            micro, tzinfo=UTC,
        )  # fmt: skip


class LogParser:
    """Reads lines into events; keeps the line counts and the little per-queue state needed.

    One parser can read several files (call ``events`` per file, a fresh ``Clock`` each);
    ``lines`` and ``skipped`` add up over all of them.
    """

    def __init__(self, fmt: str = "auto", year: int | None = None) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown log format {fmt!r}")
        self.fmt = fmt
        self.year = year
        self.lines = 0
        self.skipped = 0
        # Postfix queue id → [message-id, {recipient: (dsn, reason) of its last deferral}]
        self._postfix: dict[bytes, list[Any]] = {}
        self._exim_ids: dict[bytes, str | None] = {}  # Exim message id → message-id
        self._addresses: dict[bytes, str] = {}  # Postfix to=<...> bytes → _address of them

    def events(self, lines: Iterable[bytes], now: datetime | None = None) -> Iterator[Event]:
        """The delivery events of one file's lines, in order."""
        for item in self._read(lines, Clock(self.year, now)):
            if isinstance(item, Event):
                yield item

    def _read(self, lines: Iterable[bytes], clock: Clock) -> Iterator[Event | _Done]:
        postfix = self.fmt in ("auto", "postfix")
        exim = self.fmt in ("auto", "exim")
        dovecot = self.fmt in ("auto", "dovecot")
        parse = self._parse
        for raw in lines:
            self.lines += 1
            found = parse(raw, clock, postfix, exim, dovecot)
            if found:
                yield from found

    def _parse(
        self, raw: bytes, clock: Clock, postfix: bool, exim: bool, dovecot: bool
    ) -> list[Event | _Done] | None:
        """One line (already counted in ``lines``): its events; a bad line counts as skipped."""
        if len(raw) > MAX_LINE or b"\x00" in raw:
            self.skipped += 1
            return None
        if not raw.isascii():
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                self.skipped += 1
                return None
        head = _PREFIX.match(raw)
        if head is None:
            if not raw.startswith(b"-- "):  # journalctl's "-- Boot ... --" markers
                self.skipped += 1
            return None
        if head.group(1) is not None and head.group(1).lower() not in _MONTHS:
            self.skipped += 1
            return None
        try:
            found = self._line(raw, head, clock, postfix, exim, dovecot)
        except (ValueError, IndexError, OverflowError, UnicodeError):
            found = False
        if found is False:
            self.skipped += 1
            return None
        return found

    def read_stream(
        self,
        stream: IO[bytes],
        clock: Clock,
        errors: list[str] | None = None,
        deliver: _Deliver | None = None,
    ) -> Iterator[Event | _Done]:
        """The events of a whole file, read in large blocks: the same as ``_read`` over
        ``iter_lines(stream)``, much faster.

        Most lines of a mail log tell nothing (connects, TLS, qmgr's ``from=``, ...). One
        compiled pattern steps over runs of such lines at C speed (``_SCAN``: a well-formed
        stamp, a Postfix tag, and none of the queue-id forms that matter); every other line
        (a delivery, a reject, ``message-id=``, ``removed``, Dovecot, Exim, anything odd) goes
        through the per-line parser. A block with a NUL byte, invalid UTF-8 or an over-long
        line is read line by line altogether, so bad input is counted exactly as before.

        ``deliver`` (``Tally.add_delivery``): the Postfix deliveries the fast path reads go to
        it, in order, instead of coming out as ``Event`` objects.
        """
        postfix = self.fmt in ("auto", "postfix")
        exim = self.fmt in ("auto", "exim")
        dovecot = self.fmt in ("auto", "dovecot")
        parse = self._parse
        scan = _SCAN.finditer
        prefix = _PREFIX.match
        fields = self._postfix_fields
        states = self._postfix
        for buf, start, end in _blocks(stream, errors):
            if buf is None:  # an over-long line, or the empty line a read error ends with
                self.lines += 1
                self.skipped += 1
                continue
            newlines = buf.count(b"\n", start, end)
            if end == len(buf) and not buf.endswith(b"\n"):  # the file's last line
                newlines += 1
            if not _clean(buf, start, end):
                for raw in buf[start:end].split(b"\n")[:newlines]:
                    self.lines += 1
                    found = parse(raw[:-1] if raw.endswith(b"\r") else raw, clock, postfix,
                                  exim, dovecot)  # fmt: skip
                    if found:
                        yield from found
                continue
            self.lines += newlines
            for line in scan(buf, start, end):
                which = line.lastindex  # the alternative that matched: its last group
                if which == 2:  # cleanup's "<qid>: message-id=<...>"
                    if postfix:
                        qid = line.group(1)
                        state = states.get(qid)
                        if state is None:
                            state = [None, {}]
                            _bounded_set(states, qid, state)
                        state[0] = _text(line.group(2)).strip("<>") or None
                    continue
                if which == 3:  # "<qid>: removed"
                    if postfix:
                        qid = line.group(3)
                        states.pop(qid, None)
                        yield _Done("postfix:" + qid.decode())
                    continue
                if which == 4:  # "<qid>: to=<...>": what _parse does, without its checks
                    raw = line.group(4)
                    if raw.endswith(b"\r"):
                        raw = raw[:-1]
                    head = prefix(raw)  # always a match: _SCAN's stamps are _PREFIX's
                    if postfix and head is not None and b" status=" in raw:
                        try:
                            found = fields(raw, head, clock, True)
                        except (ValueError, IndexError, OverflowError, UnicodeError):
                            found = False
                        if type(found) is tuple:
                            when, qid_text, recipient, result, dsn, reason, over, mid, svc = found
                            if deliver is not None:
                                deliver(qid_text, recipient, result, over, when, mid)
                            else:
                                yield Event(when, "postfix", qid_text, recipient, result, dsn,
                                            reason, over, mid, svc)  # fmt: skip
                        elif found is False:
                            self.skipped += 1
                        elif found:
                            yield from found  # type: ignore[misc]
                        continue
                else:
                    if which is None:  # the end of the block
                        continue
                    raw = line.group(which)  # 5, or 6: the file's last line
                    if raw.endswith(b"\r"):
                        raw = raw[:-1]
                found = parse(raw, clock, postfix, exim, dovecot)
                if found:
                    yield from found

    def _line(
        self,
        raw: bytes,
        head: re.Match[bytes],
        clock: Clock,
        postfix: bool,
        exim: bool,
        dovecot: bool,
    ) -> list[Event | _Done] | Literal[False] | None:
        """The events of one line; None: a line that tells nothing; False: a broken one."""
        if postfix and b" status=" in raw:
            return self._postfix_status(raw, head, clock)
        if dovecot and (b"lmtp(" in raw or b"lda(" in raw or b"deliver(" in raw):
            return self._dovecot(raw, head, clock)
        if b"postfix" in raw and b"/" in raw:
            if not postfix:
                return None
            if b"reject: " in raw:
                return self._postfix_reject(raw, head, clock)
            if b": to=<" in raw:
                return False  # a delivery line without its status: cut off
            if raw.endswith(b": removed"):
                found = _PF_REMOVED.search(raw)
                if found:
                    self._postfix.pop(found.group(1), None)
                    return [_Done("postfix:" + found.group(1).decode())]
            elif b"message-id=" in raw:
                found = _PF_MSGID.search(raw)
                if found:
                    state = self._postfix.get(found.group(1))
                    if state is None:
                        state = [None, {}]
                        _bounded_set(self._postfix, found.group(1), state)
                    state[0] = _text(found.group(2)).strip("<>") or None
            return None
        if not exim:
            return None
        if b"rejected RCPT" in raw:
            return self._exim_reject(raw, head, clock)
        if (
            b" => " in raw
            or b" ** " in raw
            or b" == " in raw
            or b" -> " in raw
            or b" <= " in raw
            or raw.endswith(b" Completed")
        ):
            return self._exim(raw, head, clock)
        return None

    def _postfix_status(
        self, raw: bytes, head: re.Match[bytes], clock: Clock
    ) -> list[Event | _Done] | Literal[False] | None:
        found = self._postfix_fields(raw, head, clock)
        if type(found) is tuple:
            when, qid_text, recipient, result, dsn, reason, over, message_id, svc = found
            return [
                Event(when, "postfix", qid_text, recipient, result, dsn, reason, over,
                      message_id, svc)
            ]  # fmt: skip
        return found  # type: ignore[return-value]

    def _postfix_fields(
        self, raw: bytes, head: re.Match[bytes], clock: Clock, scanned: bool = False
    ) -> _Fields | list[Event | _Done] | Literal[False] | None:
        """A delivery line's event as a tuple of ``Event``'s fields but ``source`` (all
        ``_postfix_status`` needs, without an ``Event`` object), or what it returns for others.

        ``scanned``: the line is one of ``_SCAN``'s deliveries ("<stamp> <host> postfix...":
        no match of ``_PF_TO`` can start before the first "postfix", so one ``match`` there is
        the leftmost match, much cheaper than a ``search`` trying every position of the host)."""
        to_part = None
        if scanned:
            tag = raw.find(b"postfix", head.end())
            if tag >= 0:
                to_part = _PF_TO.match(raw, tag)
        if to_part is None:
            to_part = _PF_TO.search(raw, head.end())
        status_part = _PF_STATUS_AT.search(raw, to_part.end()) if to_part else None
        if to_part is not None and status_part is not None:
            service, qid, to, relay = to_part.groups()
            status, rest = status_part.groups()
            at = status_part.start()
            dsn_at = raw.rfind(b" dsn=", to_part.end(), at)
            dsn_part = _PF_DSN_AT.fullmatch(raw, dsn_at, at) if dsn_at >= 0 else None
            dsn_raw = dsn_part.group(1) if dsn_part else None
        else:
            found = _PF_STATUS.search(raw, head.end())
            if found is None:
                expired = _PF_EXPIRED.search(raw, head.end())
                if expired is None:
                    return None if b": to=<" not in raw else False
                return self._postfix_expired(expired.group(1), head, clock)
            service, qid, to, relay, dsn_raw, status, rest = found.groups()
        rest = rest.strip()
        if rest.startswith(b"(") and not rest.endswith(b")"):
            return False  # cut off in the middle of the reason
        when = clock.time(head)
        recipient = self._addresses.get(to)
        if recipient is None:
            recipient = _address(to)
            if len(self._addresses) >= _MAX_QUEUE_STATE:
                self._addresses.clear()
            self._addresses[to] = recipient
        if when is None or not recipient:
            return False
        reason = _text(rest[1:-1] if rest.startswith(b"(") else rest.lstrip(b", "))
        dsn = dsn_raw.decode() if dsn_raw else None
        state = self._postfix.get(qid)
        message_id = state[0] if state else None
        if status == b"sent":
            if state:
                state[1].pop(recipient, None)
            if relay is not None and b"queued as" in rest and _loopback(relay):
                return None  # handed to a local content filter; the re-queued copy counts
            result: Result = "delivered"
        elif status == b"deferred":
            if state is None:
                _bounded_set(self._postfix, qid, [None, {}])
                state = self._postfix[qid]
            state[1][recipient] = (dsn, reason)
            result = "deferred"
        elif status in (b"bounced", b"expired"):
            if state:
                state[1].pop(recipient, None)
            result = "bounced"
        else:
            return None  # "undeliverable"/"deliverable" of address verification, sendmail -bv
        over = result != "delivered" and _quota(dsn, reason)
        svc = service.decode() if service else ""
        qid_text = "postfix:" + qid.decode()
        return (when, qid_text, recipient, result, dsn, reason, over, message_id, svc)

    def _postfix_expired(
        self, qid: bytes, head: re.Match[bytes], clock: Clock
    ) -> list[Event | _Done] | None:
        state = self._postfix.get(qid)
        when = clock.time(head)
        if not state or not state[1] or when is None:
            return None
        found: list[Event | _Done] = []
        for recipient, (dsn, reason) in state[1].items():
            over = _quota(dsn, reason)
            text = "expired: " + reason
            qid_text = "postfix:" + qid.decode()
            event = Event(
                when, "postfix", qid_text, recipient, "bounced", dsn, text, over, state[0]
            )
            found.append(event)
        state[1].clear()
        return found

    def _postfix_reject(
        self, raw: bytes, head: re.Match[bytes], clock: Clock
    ) -> list[Event | _Done] | Literal[False] | None:
        found = _PF_REJECT.search(raw, head.end())
        if found is None:
            return False if b"NOQUEUE: reject: RCPT" in raw else None
        service, _qid, text, to = found.groups()
        if service == b"postscreen":
            return None
        when = clock.time(head)
        recipient = _address(to)
        if when is None or not recipient:
            return False
        reason = _text(text)
        if reason.startswith("RCPT from ") or reason.startswith("DATA from "):
            reason = reason.split(": ", 1)[-1]
        dsn_found = _DSN.search(reason)
        dsn = dsn_found.group(1) if dsn_found else None
        over = _quota(dsn, reason)
        svc = service.decode()
        return [Event(when, "postfix", None, recipient, "rejected", dsn, reason, over, None, svc)]

    def _exim(
        self, raw: bytes, head: re.Match[bytes], clock: Clock
    ) -> list[Event | _Done] | Literal[False] | None:
        found = _EXIM.search(raw, head.end())
        if found is None:
            return None
        mid, flag, rest = found.groups()
        if flag == b"Completed":
            self._exim_ids.pop(mid, None)
            return [_Done("exim:" + mid.decode())]
        if flag == b"<=":
            msgid = _EXIM_MSGID.search(rest or b"")
            _bounded_set(self._exim_ids, mid, _text(msgid.group(1)).strip("<>") if msgid else None)
            return None
        if not rest:
            return False
        words = rest.split(b" ", 3)
        first = words[0].rstrip(b":")
        if b"@" not in first and len(words) > 1 and words[1].startswith(b"<"):
            first = words[1].rstrip(b":")
        recipient = _address(first)
        if flag in (b"=>", b"->"):
            if b" R=" not in rest:
                return False
            result: Result = "delivered"
            reason = ""
        else:
            if b": " not in rest and b" defer " not in rest:
                return False
            result = "bounced" if flag == b"**" else "deferred"
            reason = _text(rest.split(b": ", 1)[-1])
        when = clock.time(head)
        if when is None or not recipient:
            return False
        transport = re.search(rb" T=(\S+)", rest)
        dsn_found = _DSN.search(reason) if reason else None
        dsn = dsn_found.group(1) if dsn_found else None
        over = result != "delivered" and _quota(dsn, reason)
        service = transport.group(1).decode().rstrip(":") if transport else ""
        return [
            Event(when, "exim", "exim:" + mid.decode(), recipient, result, dsn, reason, over,
                  self._exim_ids.get(mid), service)
        ]  # fmt: skip

    def _exim_reject(
        self, raw: bytes, head: re.Match[bytes], clock: Clock
    ) -> list[Event | _Done] | Literal[False] | None:
        found = _EXIM_REJECT.search(raw, head.end())
        when = clock.time(head)
        if found is None or when is None:
            return False
        recipient = _address(found.group(2))
        if not recipient:
            return False
        reason = _text(found.group(3))
        dsn_found = _DSN.search(reason)
        dsn = dsn_found.group(1) if dsn_found else None
        over = _quota(dsn, reason)
        return [Event(when, "exim", None, recipient, "rejected", dsn, reason, over, None, "smtp")]

    def _dovecot(
        self, raw: bytes, head: re.Match[bytes], clock: Clock
    ) -> list[Event | _Done] | Literal[False] | None:
        found = _DOVECOT.search(raw, head.end())
        if found is None:
            return None
        service, user, session, msgid, rest = found.groups()
        if b"saved mail to" in rest or b"stored mail into" in rest:
            result: Result = "delivered"
            over = False
        elif rest.startswith(b"rejected:") or b"save failed" in rest or b"failed to store" in rest:
            over = _quota(None, _text(rest))
            if not over and not rest.startswith(b"rejected:"):
                return None  # other save errors are temporary: Dovecot answers 4xx, MTA retries
            result = "bounced"
        else:
            return None
        when = clock.time(head)
        recipient = _address(user.rsplit(b", ", 1)[-1])  # Dovecot 2.2: "lmtp(1234, user)"
        if when is None or not recipient or recipient.isdigit():
            return False
        message_id = _text(msgid).strip("<>") or None if msgid else None
        if message_id in ("?", ""):
            message_id = None
        svc = "lda" if service == b"deliver" else service.decode()
        queue_id = "dovecot:" + _text(session) if session else None
        reason = _text(rest)
        return [
            Event(when, "dovecot", queue_id, recipient, result, None, reason, over, message_id, svc)
        ]


def _loopback(relay: bytes) -> bool:
    return b"127.0.0.1" in relay or b"[::1]" in relay or relay.startswith(b"localhost")


class _Seen:
    """A line remembered for pairing Dovecot with the MTA."""

    __slots__ = ("event", "message_id", "over_quota", "result", "time")

    def __init__(
        self,
        time: datetime,
        message_id: str | None,
        result: str,
        over_quota: bool,
        event: Event | None = None,  # Dovecot's; an MTA line keeps only its time and message-id
    ) -> None:
        self.time = time
        self.message_id = message_id
        self.result = result
        self.over_quota = over_quota
        self.event = event


def _take(seen: deque[_Seen] | None, message_id: str | None, time: datetime) -> _Seen | None:
    """The first remembered line that pairs with a line of this message-id and time."""
    if not seen:
        return None
    for item in seen:
        if item.message_id and message_id:
            paired = item.message_id == message_id
        else:
            paired = abs((item.time - time).total_seconds()) <= PAIR_SECONDS
        if paired:
            seen.remove(item)
            return item
    return None


class Counted(NamedTuple):
    """One change to a recipient's counts, for a listener that keeps them per hour.

    ``delta`` is +1, or -1 when a later line corrects what was counted: a Dovecot LDA
    refusal turns an MTA ``sent`` into a bounce (``delivered`` -1 at the MTA's time, then
    ``bounced`` +1). ``result`` ``over_quota`` marks a bounce counted already, at ``when``, as
    over quota after all. ``event`` is the line's event when the count has one."""

    recipient: str
    result: str  # delivered, deferred, bounced, rejected, over_quota
    over_quota: bool
    when: datetime
    delta: int
    event: Event | None


class Tally:
    """Counts distinct messages per recipient from events (see the module's rules).

    ``listener``, when given, hears every change to the counts as it is made."""

    _DEFERRED = 1
    _FINAL = 2

    def __init__(
        self, summary: Summary | None = None, listener: Callable[[Counted], None] | None = None
    ) -> None:
        self.summary = summary or Summary()
        self.listener = listener
        self._messages: dict[str, dict[str, int]] = {}
        self._mta_seen: dict[str, deque[_Seen]] = {}  # MTA lines Dovecot may still pair with
        self._dovecot_waiting: dict[str, deque[_Seen]] = {}  # Dovecot lines not yet paired

    def _outcome(self, recipient: str) -> Outcome:
        outcome = self.summary.recipients.get(recipient)
        if outcome is None:
            outcome = self.summary.recipients[recipient] = Outcome()
        return outcome

    def add(self, item: Event | _Done) -> None:
        if isinstance(item, _Done):
            self._messages.pop(item.queue_id, None)
        elif item.source == "dovecot":
            self._add_dovecot(item)
        else:
            self._add_mta(item)

    def _add_mta(self, event: Event) -> None:
        if event.queue_id is None:  # an SMTP-time reject: one message per line
            self._count(event.recipient, event.result, event.over_quota, event.time, event)
            return
        self.add_delivery(
            event.queue_id, event.recipient, event.result, event.over_quota, event.time,
            event.message_id, event,
        )  # fmt: skip

    def add_delivery(
        self,
        queue_id: str,
        recipient: str,
        result: str,
        over: bool,
        when: datetime,
        message_id: str | None,
        event: Event | None = None,
    ) -> None:
        """An MTA event with a queue id, given by its fields (``add`` without an ``Event``)."""
        waiting = self._dovecot_waiting.get(recipient)
        partner = _take(waiting, message_id, when) if waiting else None
        if partner is not None:
            if result == "delivered" and partner.result == "lda-rejected":
                result, over, when = "bounced", partner.over_quota, partner.time
                event = partner.event
            elif result == "bounced" and partner.over_quota:
                over = True
        messages = self._messages
        recipients = messages.get(queue_id)
        if recipients is None:
            recipients = {}
            _bounded_set(messages, queue_id, recipients)
        flags = recipients.get(recipient, 0)
        if result == "deferred":
            if not flags & 1:  # _DEFERRED
                recipients[recipient] = flags | 1
                self._count(recipient, result, over, when, event)
        elif not flags & 2:  # _FINAL
            recipients[recipient] = flags | 2
            if result == "delivered" and self.listener is None:  # _count's commonest case
                outcome = self.summary.recipients.get(recipient)
                if outcome is None:
                    outcome = self.summary.recipients[recipient] = Outcome()
                outcome.delivered += 1
            else:
                self._count(recipient, result, over, when, event)
        if partner is None:
            seen = self._mta_seen.get(recipient)
            if seen is None:
                seen = self._mta_seen[recipient] = deque(maxlen=_PAIR_DEPTH)
            seen.append(_Seen(when, message_id, result, over))

    def _add_dovecot(self, event: Event) -> None:
        recipient = event.recipient
        result = event.result
        if event.service == "lda" and event.reason.startswith("rejected"):
            result = "lda-rejected"
        partner = _take(self._mta_seen.get(recipient), event.message_id, event.time)
        if partner is not None:  # the MTA counted it already; correct what it could not know
            outcome = self._outcome(recipient)
            listener = self.listener
            if partner.result == "delivered" and result == "lda-rejected":
                outcome.delivered -= 1
                if listener is not None:
                    listener(Counted(recipient, "delivered", False, partner.time, -1, None))
                self._count(recipient, "bounced", event.over_quota, event.time, event)
            elif partner.result == "bounced" and event.over_quota and not partner.over_quota:
                outcome.note_over_quota(event.time)
                if listener is not None:
                    listener(Counted(recipient, "over_quota", True, partner.time, 1, event))
            return
        waiting = self._dovecot_waiting.get(recipient)
        if waiting is None:
            waiting = self._dovecot_waiting[recipient] = deque()
        for item in waiting:  # one message, several lines (sieve): saved, or else the refusal
            if (
                item.message_id
                and item.message_id == event.message_id
                and item.event is not None
                and item.event.queue_id == event.queue_id
            ):
                if item.result != "lda-rejected" and result in ("lda-rejected", "delivered"):
                    item.event, item.result, item.over_quota = event, result, event.over_quota
                    item.time, item.message_id = event.time, event.message_id
                return
        waiting.append(_Seen(event.time, event.message_id, result, event.over_quota, event))
        if len(waiting) > _PAIR_DEPTH:
            self._count_alone(waiting.popleft())

    def _count_alone(self, item: _Seen) -> None:
        result = "bounced" if item.result == "lda-rejected" else item.result
        assert item.event is not None  # a Dovecot line's
        self._count(item.event.recipient, result, item.over_quota, item.time, item.event)

    def _count(
        self, recipient: str, result: str, over: bool, when: datetime, event: Event | None = None
    ) -> None:
        if self.listener is not None:
            self.listener(Counted(recipient, result, over, when, 1, event))
        outcome = self._outcome(recipient)
        if result == "delivered":
            outcome.delivered += 1
        elif result == "deferred":
            outcome.deferred += 1
        elif result == "bounced":
            outcome.bounced += 1
        else:
            outcome.rejected += 1
        if over and result in ("bounced", "rejected"):
            outcome.note_over_quota(when)

    def settle(self, before: datetime) -> None:
        """Counts the Dovecot lines logged before ``before`` that no MTA line paired with, and
        forgets the MTA lines from then: a log followed for months must neither wait forever
        for a partner that is not coming nor remember every recipient's last lines."""
        for recipient in list(self._dovecot_waiting):
            waiting = self._dovecot_waiting[recipient]
            while waiting and waiting[0].time < before:
                self._count_alone(waiting.popleft())
            if not waiting:
                del self._dovecot_waiting[recipient]
        for recipient in list(self._mta_seen):
            seen = self._mta_seen[recipient]
            while seen and seen[0].time < before:
                seen.popleft()
            if not seen:
                del self._mta_seen[recipient]

    def finish(self) -> Summary:
        """Counts the Dovecot lines no MTA line paired with; call once, after the last file."""
        for waiting in self._dovecot_waiting.values():
            for item in waiting:
                self._count_alone(item)
        self._dovecot_waiting.clear()
        self._mta_seen.clear()
        return self.summary


def events(lines: Iterable[bytes], fmt: str = "auto", year: int | None = None) -> Iterator[Event]:
    """The delivery events of a log's lines (for the panel's ingest)."""
    return LogParser(fmt, year).events(lines)


def summarize(
    lines: Iterable[bytes],
    fmt: str = "auto",
    year: int | None = None,
    now: datetime | None = None,
) -> Summary:
    """Per-recipient counts of one log's lines."""
    return summarize_files([lines], fmt, year, now)


def summarize_files(
    files: Iterable[Iterable[bytes]],
    fmt: str = "auto",
    year: int | None = None,
    now: datetime | None = None,
) -> Summary:
    """Per-recipient counts over several logs, each with its own year rollover."""
    parser = LogParser(fmt, year)
    tally = Tally()
    add = tally.add
    for lines in files:
        for item in parser._read(lines, Clock(year, now)):
            add(item)
    tally.summary.lines = parser.lines
    tally.summary.skipped = parser.skipped
    return tally.finish()


def summarize_streams(
    streams: Iterable[IO[bytes]],
    fmt: str = "auto",
    year: int | None = None,
    now: datetime | None = None,
    errors: list[str] | None = None,
) -> Summary:
    """``summarize_files`` over open binary streams (``open_log``), read in large blocks:
    the same counts, many times faster; read errors end a file as in ``iter_lines``."""
    parser = LogParser(fmt, year)
    tally = Tally()
    add = tally.add
    for stream in streams:
        for item in parser.read_stream(stream, Clock(year, now), errors, tally.add_delivery):
            add(item)
    tally.summary.lines = parser.lines
    tally.summary.skipped = parser.skipped
    return tally.finish()


class _Prefixed(io.RawIOBase):
    """A stream with its first bytes, already read, put back in front."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._head[: len(buffer)] if self._head else self._stream.read(len(buffer))
        self._head = self._head[len(data) :]
        buffer[: len(data)] = data
        return len(data)


def open_log(path: str | Path) -> IO[bytes]:
    """A log file as bytes, gunzipped when it starts with gzip's magic; ``-`` is stdin."""
    if str(path) == "-":
        stdin: IO[bytes] = sys.stdin.buffer
        stream: IO[bytes] = io.BufferedReader(_Prefixed(stdin.read(2), stdin))
    else:
        stream = open(path, "rb")  # noqa: SIM115 - handed to the caller, who closes it
    if stream.peek(2)[:2] == b"\x1f\x8b":  # type: ignore[attr-defined]
        return gzip.GzipFile(fileobj=stream)  # type: ignore[return-value]
    return stream


def iter_lines(stream: IO[bytes], errors: list[str] | None = None) -> Iterator[bytes]:
    """A stream's lines without their end, in flat memory: a line longer than ``MAX_LINE``
    comes out cut to ``MAX_LINE + 1`` bytes (so it is skipped), however long it is.

    A read error (a truncated or corrupt gzip) ends the file with one more, empty, line (so it
    counts as skipped) and its text in ``errors``.
    """
    tail = b""
    cut = False  # the tail is the start of an over-long line
    while True:
        try:
            chunk = stream.read(_CHUNK)
        except Exception as exc:  # EOFError, zlib.error, OSError: never crash on a bad file
            if errors is not None:
                errors.append(f"{type(exc).__name__}: {exc}")
            yield b""
            return
        if not chunk:
            break
        parts = chunk.split(b"\n")
        if cut and len(parts) > 1:
            yield tail
            parts[0] = b""
            tail, cut = b"", False
            del parts[0]
        elif parts:
            parts[0] = tail + parts[0]
        tail = parts.pop()
        for part in parts:
            yield part[:-1] if part.endswith(b"\r") else part
        if len(tail) > MAX_LINE:
            tail, cut = tail[: MAX_LINE + 1], True
    if tail:
        yield tail[:-1] if tail.endswith(b"\r") and not cut else tail


_Block = tuple[bytes, int, int] | tuple[None, int, int]


def _blocks(stream: IO[bytes], errors: list[str] | None = None) -> Iterator[_Block]:
    """A stream as ``(buffer, start, end)``: ``buffer[start:end]`` holds whole lines, each
    ending in a newline, except the file's last line; ``(None, 0, 0)`` stands for a line
    longer than ``MAX_LINE`` (not kept, in flat memory) or the empty line a read error ends
    the file with (see ``iter_lines``, which this follows line for line)."""
    tail = b""
    cut = False  # inside an over-long line: drop up to the next newline
    while True:
        try:
            chunk = stream.read(_BLOCK)
        except Exception as exc:  # EOFError, zlib.error, OSError: never crash on a bad file
            if errors is not None:
                errors.append(f"{type(exc).__name__}: {exc}")
            yield None, 0, 0
            return
        if not chunk:
            break
        start = 0
        if cut:
            start = chunk.find(b"\n") + 1
            if not start:
                continue
            yield None, 0, 0
            cut = False
        last = chunk.rfind(b"\n", start) + 1
        if not last:
            tail += chunk[start:]
            if len(tail) > MAX_LINE:
                tail, cut = b"", True
            continue
        if tail:
            first = chunk.find(b"\n", start) + 1
            joint = tail + chunk[start:first]
            yield joint, 0, len(joint)
            start, tail = first, b""
        if start < last:
            yield chunk, start, last
        tail = chunk[last:]
        if len(tail) > MAX_LINE:
            tail, cut = b"", True
    if cut:
        yield None, 0, 0
    elif tail:
        yield tail, 0, len(tail)


def _clean(buf: bytes, start: int, end: int) -> bool:
    """No NUL byte, valid UTF-8 and no line over ``MAX_LINE`` in ``buf[start:end]``."""
    if buf.find(b"\x00", start, end) >= 0:
        return False
    if not buf.isascii():  # the whole buffer: no copy, and ASCII almost always
        try:
            buf[start:end].decode("utf-8")
        except UnicodeDecodeError:
            return False
    pos = start
    while end - pos > MAX_LINE:  # every MAX_LINE + 1 bytes hold a newline
        newline = buf.rfind(b"\n", pos, pos + MAX_LINE + 1)
        if newline < 0:
            return False
        pos = newline + 1
    return True


__all__ = [
    "FORMATS",
    "MAX_LINE",
    "PAIR_SECONDS",
    "Clock",
    "Event",
    "LogParser",
    "Outcome",
    "Summary",
    "Tally",
    "events",
    "iter_lines",
    "open_log",
    "summarize",
    "summarize_files",
    "summarize_streams",
]
