"""A mail log followed for months, counted per recipient and hour, refusal by refusal.

``onus mail summarize`` counts one pass over whole files; the panel reads a node's log a few
minutes at a time (:mod:`panel.mailflow.follow`) and must count exactly as one pass would:
a message deferred in one read and bounced in the next is one bounced message, and a Dovecot
refusal pairs with the Postfix line of the read before. So a :class:`FlowCounter` keeps the
parser's and the tally's state between reads (``dumps`` / ``loads``, signed so a state that was
tampered with or made by another version is refused rather than trusted), and each ``feed``
returns what changed: count deltas per (recipient, hour), every refused message with the
server's code and words, and the log's days that held records.

Pure: bytes in, plain data out.
"""

from __future__ import annotations

import hashlib
import hmac
import pickle
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from panel.mailflow.delegation import TAG as POLICY_TAG
from panel.mailflow.logs import Clock, Counted, Event, LogParser, Outcome, Tally

# Dovecot lines wait this long after the newest line for the MTA line they pair with (and
# MTA lines for theirs) before they are counted alone or forgotten.
SETTLE_AFTER = timedelta(minutes=10)
_STATE_VERSION = b"onus-flow-1"
RESULTS = ("delivered", "deferred", "bounced", "rejected")


@dataclass(frozen=True, slots=True)
class Refusal:
    """One message refused for a recipient: bounced after queueing, or rejected at SMTP time."""

    recipient: str
    at: datetime
    result: str  # "bounced" or "rejected"
    over_quota: bool
    dsn: str | None  # enhanced status code, "5.2.2"
    reason: str  # the server's words
    queue_id: str | None
    source: str  # "postfix", "exim", "dovecot"


@dataclass(frozen=True, slots=True)
class Amendment:
    """A refusal counted in an earlier read turned out to be over quota (a later Dovecot
    line said so): the refusal of ``recipient`` at ``at`` becomes over quota."""

    recipient: str
    at: datetime
    dsn: str | None
    reason: str


@dataclass
class Batch:
    """What one read changed."""

    lines: int = 0
    skipped: int = 0
    # changes per (recipient, hour): deltas, as a correction may take one back
    hours: dict[tuple[str, datetime], Outcome] = field(default_factory=dict)
    refusals: list[Refusal] = field(default_factory=list)
    amendments: list[Amendment] = field(default_factory=list)
    days: dict[date, int] = field(default_factory=lambda: defaultdict(int))  # records per day
    latest: datetime | None = None  # the newest record's time


def hour_of(when: datetime) -> datetime:
    return when.replace(minute=0, second=0, microsecond=0)


class StateError(ValueError):
    """A saved state that is not this version's, or not signed with this key."""


class FlowCounter:
    """Counts one log's lines per recipient and hour across any number of reads."""

    def __init__(self, fmt: str = "auto", now: datetime | None = None) -> None:
        self.parser = LogParser(fmt)
        self.clock = Clock(None, now)
        self.tally = Tally(listener=self._heard)
        self._batch = Batch()
        self._latest: datetime | None = None

    def feed(self, lines: Iterable[bytes], now: datetime) -> Batch:
        """Count ``lines`` (the next complete lines of the log, in order)."""
        self._batch = batch = Batch()
        self.clock.now = now
        lines_before, skipped_before = self.parser.lines, self.parser.skipped
        add = self.tally.add
        days = batch.days
        latest = self._latest
        for item in self.parser._read(lines, self.clock):
            if isinstance(item, Event):
                days[item.time.date()] += 1
                if latest is None or item.time > latest:
                    latest = item.time
            add(item)
        self._latest = batch.latest = latest
        if latest is not None:
            self.tally.settle(latest - SETTLE_AFTER)
        batch.lines = self.parser.lines - lines_before
        batch.skipped = self.parser.skipped - skipped_before
        self.tally.summary.recipients.clear()  # the totals live in the batches, not here
        return batch

    def _heard(self, counted: Counted) -> None:
        event = counted.event
        if event is not None and event.queue_id is None and POLICY_TAG in event.reason:
            return  # the policy service's own refusal: it counted it when it answered
        batch = self._batch
        key = (counted.recipient, hour_of(counted.when))
        counts = batch.hours.get(key)
        if counts is None:
            counts = batch.hours[key] = Outcome()
        if counted.result == "over_quota":
            counts.note_over_quota(counted.when)
            self._amend(counted)
            return
        setattr(counts, counted.result, getattr(counts, counted.result) + counted.delta)
        if counted.result in ("bounced", "rejected"):
            if counted.over_quota:
                counts.note_over_quota(counted.when)
            batch.refusals.append(
                Refusal(
                    counted.recipient,
                    counted.when,
                    counted.result,
                    counted.over_quota,
                    event.dsn if event else None,
                    event.reason if event else "",
                    event.queue_id if event else None,
                    event.source if event else "",
                )
            )

    def _amend(self, counted: Counted) -> None:
        """A bounce of this read is corrected in place; one of an earlier read by amendment."""
        batch = self._batch
        event = counted.event
        dsn, reason = (event.dsn, event.reason) if event else (None, "")
        for index, refusal in enumerate(batch.refusals):
            if refusal.recipient == counted.recipient and refusal.at == counted.when:
                batch.refusals[index] = Refusal(
                    refusal.recipient, refusal.at, refusal.result, True,
                    refusal.dsn or dsn, refusal.reason or reason, refusal.queue_id, refusal.source,
                )  # fmt: skip
                return
        batch.amendments.append(Amendment(counted.recipient, counted.when, dsn, reason))

    def dumps(self, key: bytes) -> bytes:
        """The state to keep until the next read, signed with ``key``."""
        self._batch = Batch()
        payload = pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)
        return _sign(key, payload) + payload

    @classmethod
    def loads(cls, data: bytes, key: bytes) -> FlowCounter:
        """The state ``dumps`` made; StateError when it was not made with ``key`` by this
        version (the caller starts afresh and says so)."""
        signature, payload = data[:32], data[32:]
        if not hmac.compare_digest(signature, _sign(key, payload)):
            raise StateError("the saved log state is not signed with this key")
        try:
            counter = pickle.loads(payload)  # signed by us, checked above
        except Exception as exc:
            raise StateError(f"the saved log state cannot be read: {exc}") from exc
        if not isinstance(counter, cls):
            raise StateError("the saved log state is not a log counter")
        return counter

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state["tally"] = None  # its listener is a bound method: rebuilt on load
        state["_tally"] = (self.tally.summary, self.tally._messages, self.tally._mta_seen,
                           self.tally._dovecot_waiting)  # fmt: skip
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        summary, messages, mta_seen, waiting = state.pop("_tally")  # type: ignore[misc]
        self.__dict__.update(state)
        self.tally = Tally(summary, listener=self._heard)
        self.tally._messages, self.tally._mta_seen = messages, mta_seen
        self.tally._dovecot_waiting = waiting


def _sign(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, _STATE_VERSION + payload, hashlib.sha256).digest()
