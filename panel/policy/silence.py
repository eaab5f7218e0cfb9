"""When a mailbox that normally receives mail has gone silent for implausibly long.

A mailbox's history gives an expected number of messages per hour of the week; a silence
(no delivery since the last one) counts when the history made at least EXPECTED_FLOOR
messages expected in it, so the chance of it being mere luck is tiny (Poisson P(0)).
The history is taken from the weeks *before* the silence began, so a long silence does not
lower its own rate and talk itself out of being noticed. Hours on days whose mail logs held
nothing at all ("uncovered") say nothing: they are neither zeros in the history nor part of
what a silence is expected to have missed. Quiet or barely known mailboxes never count.

Internally times are whole hours since the Unix epoch (ints), so the loops are over small
ints and a lookup is a dict get.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

WEEKS = 4  # history looked at: the weeks before the silence began
# a silence counts when the history made at least this many messages expected in it
# (Poisson P(0) = e^-10 ≈ 0.005 %)
EXPECTED_FLOOR = 10.0
MIN_HISTORY_MESSAGES = 50  # fewer delivered in the history: too quiet to watch, never silent
MIN_HISTORY_DAYS = 7  # fewer covered days of history: not enough to know the mailbox

_HOUR = timedelta(hours=1)
_WEEK_HOURS = 7 * 24
_HISTORY_HOURS = WEEKS * _WEEK_HOURS
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAY = _EPOCH.date().toordinal()
_EPOCH_HOUR_OF_WEEK = 3 * 24  # 1970-01-01 was a Thursday


def hour_of_week(when: datetime) -> int:
    """0..167, Monday 00:00 UTC = 0."""
    utc = _aware(when).astimezone(UTC)
    return utc.weekday() * 24 + utc.hour


@dataclass(frozen=True)
class Rates:
    per_hour: tuple[float, ...]  # 168 expected messages per hour of the week
    messages: int  # delivered in the covered hours of the history
    covered_days: int  # whole days' worth of covered hours in the history


@dataclass(frozen=True)
class Silence:
    start: datetime  # the hour after the last hour with a delivery (or the period start)
    end: datetime  # the next hour with a delivery, or where the period was cut
    expected: float  # messages the history made expected in the covered hours of [start, end)
    ongoing: bool
    usual_per_day: float  # the history's mean delivered per covered day, for the wording


def rates(
    delivered: Mapping[datetime, int], covered: Collection[date], since: datetime, until: datetime
) -> Rates:
    """The history of the hours starting in [since, until): per hour of the week, the mean
    over that hour's covered occurrences (an hour of the week never covered expects 0: what
    was never seen cannot be missed)."""
    timeline = _Timeline(delivered, covered)
    return timeline.rates(_ceil_hour(since), _ceil_hour(until))[0]


def silence_now(
    delivered: Mapping[datetime, int], covered: Collection[date], now: datetime
) -> Silence | None:
    """The silence going on at ``now`` when it passes the floors, else None.

    A delivery in the hour containing ``now`` ends any silence (the hour has begun). The
    current partial hour counts pro rata, so the answer does not jump on the hour.
    ``delivered`` must reach back WEEKS before the last delivery for its history to be seen.
    """
    timeline = _Timeline(delivered, covered)
    cut = _hours(now)
    last = max((hour for hour in timeline.counts if hour < cut), default=None)
    if last is None:
        return None  # never delivered: nothing to go silent
    return timeline.silence(last + 1, None, None, now, ongoing=True)


def silent_periods(
    delivered: Mapping[datetime, int],
    covered: Collection[date],
    start: datetime,
    end: datetime,
    *,
    now: datetime | None = None,
) -> list[Silence]:
    """Every silence within [start, end) that passes the floors, in time order.

    A silence that began before ``start`` keeps the history from before its real beginning,
    but is shown, and judged, by its part inside the period only: a period's report says
    what that period missed. Likewise one reaching ``end`` is cut there. With ``now`` the
    period ends at ``now`` at the latest, and a silence reaching ``now`` is ongoing.
    """
    cut_at = _aware(end) if now is None else min(_aware(end), _aware(now))
    first, cut = _hours(_aware(start)), _hours(cut_at)
    if cut <= first:
        return []
    timeline = _Timeline(delivered, covered)
    deliveries = sorted(hour for hour in timeline.counts if hour < cut)
    found: list[Silence] = []
    # the gap before the first delivery has no history and is never a silence
    for index in range(max(bisect_right(deliveries, first) - 1, 0), len(deliveries)):
        begin = deliveries[index] + 1
        if begin >= cut:
            break
        following = deliveries[index + 1] if index + 1 < len(deliveries) else None
        silence = timeline.silence(
            begin,
            following,
            start if first > begin else None,
            cut_at,
            ongoing=following is None and now is not None and cut_at == now,
        )
        if silence is not None:
            found.append(silence)
    return found


class _Timeline:
    """One mailbox's deliveries (hour -> count > 0) and covered days, in epoch hours/days."""

    def __init__(self, delivered: Mapping[datetime, int], covered: Collection[date]) -> None:
        counts: dict[int, int] = {}
        for when, count in delivered.items():
            if count > 0:
                hour = (when - _EPOCH) // _HOUR  # a naive key raises TypeError here
                counts[hour] = counts.get(hour, 0) + count
        self.counts = counts
        self.days = {day.toordinal() - _EPOCH_DAY for day in covered}

    def rates(self, since: int, until: int) -> tuple[Rates, int]:
        """The Rates of the hours [since, until), and the number of covered hours in it."""
        sums = [0] * _WEEK_HOURS
        seen = [0] * _WEEK_HOURS
        for hour in range(since, until):
            if hour // 24 in self.days:
                slot = (hour + _EPOCH_HOUR_OF_WEEK) % _WEEK_HOURS
                seen[slot] += 1
                sums[slot] += self.counts.get(hour, 0)
        per_hour = tuple(s / n if n else 0.0 for s, n in zip(sums, seen, strict=True))
        covered_hours = sum(seen)
        return Rates(per_hour, sum(sums), covered_hours // 24), covered_hours

    def silence(
        self,
        begin: int,
        following: int | None,
        clipped_start: datetime | None,
        cut_at: datetime,
        *,
        ongoing: bool,
    ) -> Silence | None:
        """The silence after the delivery hour ``begin - 1`` up to the delivery hour
        ``following`` (None: none yet), shown from ``clipped_start`` if that is later and up
        to ``cut_at`` at most, when it passes the floors."""
        start = clipped_start or _at(begin)
        end = cut_at if following is None or _at(following) > cut_at else _at(following)
        if end <= start:
            return None
        expected = _Expectation(self, begin).over(_hours(start), _hours(end))
        if expected < EXPECTED_FLOOR:
            return None  # checked first: cheap for the many short gaps of a busy mailbox
        history, covered_hours = self.rates(begin - _HISTORY_HOURS, begin)
        if history.messages < MIN_HISTORY_MESSAGES or history.covered_days < MIN_HISTORY_DAYS:
            return None
        usual = history.messages * 24 / covered_hours
        return Silence(start, end, expected, ongoing, usual)


class _Expectation:
    """Expected messages per hour for a silence that began at hour ``begin``, from the WEEKS
    weeks before it; computed per hour of the week on demand, as most gaps are short."""

    def __init__(self, timeline: _Timeline, begin: int) -> None:
        self.timeline = timeline
        self.begin = begin
        self.hourly: dict[int, float] = {}
        self.daily: dict[int, float] = {}

    def hour(self, hour: int) -> float:
        key = (hour - self.begin) % _WEEK_HOURS
        if key not in self.hourly:
            # the same hour of the week in each of the WEEKS weeks before begin
            first = hour - ((hour - self.begin) // _WEEK_HOURS + 1) * _WEEK_HOURS
            slots = [first - week * _WEEK_HOURS for week in range(WEEKS)]
            seen = [self.timeline.counts.get(s, 0) for s in slots if s // 24 in self.timeline.days]
            self.hourly[key] = sum(seen) / len(seen) if seen else 0.0
        return self.hourly[key]

    def day(self, midnight: int) -> float:
        key = (midnight - self.begin) % _WEEK_HOURS
        if key not in self.daily:
            self.daily[key] = sum(self.hour(midnight + h) for h in range(24))
        return self.daily[key]

    def over(self, start: float, end: float) -> float:
        """Over the covered hours of [start, end) (fractional hours pro rata); whole days
        at once, so a silence of months costs days, not hours."""
        days = self.timeline.days
        total = 0.0
        hour = math.floor(start)
        while hour < end:
            if hour % 24 == 0 and hour >= start and hour + 24 <= end:
                if hour // 24 in days:
                    total += self.day(hour)
                hour += 24
                continue
            if hour // 24 in days:
                total += self.hour(hour) * (min(end, hour + 1) - max(start, hour))
            hour += 1
        return total


def _aware(when: datetime) -> datetime:
    if when.utcoffset() is None:
        raise ValueError(f"naive datetime {when!r}: times must be timezone-aware (UTC)")
    return when


def _hours(when: datetime) -> float:
    """Hours since the epoch, fractional."""
    return (_aware(when) - _EPOCH) / _HOUR


def _ceil_hour(when: datetime) -> int:
    """The first whole epoch hour starting at or after ``when``."""
    return -((_EPOCH - _aware(when)) // _HOUR)


def _at(hour: int) -> datetime:
    return _EPOCH + hour * _HOUR
