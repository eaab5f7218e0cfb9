"""The silent-mailbox decision: a busy mailbox silent through a working day is noticed, the
same gap at night or over a weekend is not, quiet or barely known mailboxes never page, days
without logs say nothing, and a silence's own zeros never lower the rate it is judged by."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panel.policy.silence import (
    EXPECTED_FLOOR,
    MIN_HISTORY_MESSAGES,
    Rates,
    Silence,
    hour_of_week,
    rates,
    silence_now,
    silent_periods,
)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
JAN4 = date(2027, 1, 4)  # a Monday
# office hours, 20 messages a working day
OFFICE = {9: 3, 10: 3, 11: 2, 12: 3, 13: 2, 14: 3, 15: 2, 16: 2}


def at(day: date, hour: float = 0) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + hour * HOUR


def office(first: date, last: date) -> dict[datetime, int]:
    """The office pattern on the working days of [first, last)."""
    delivered: dict[datetime, int] = {}
    day = first
    while day < last:
        if day.weekday() < 5:
            delivered.update({at(day, h): n for h, n in OFFICE.items()})
        day += DAY
    return delivered


def days(first: date, last: date) -> set[date]:
    return {first + DAY * i for i in range((last - first).days)}


def without(delivered: dict[datetime, int], start: datetime, end: datetime) -> dict[datetime, int]:
    return {when: n for when, n in delivered.items() if not start <= when < end}


# -- hour of week and rates ---------------------------------------------------------------


def test_hour_of_week_counts_from_monday_midnight_utc():
    assert hour_of_week(at(JAN4)) == 0
    assert hour_of_week(at(JAN4, 9.5)) == 9
    assert hour_of_week(at(JAN4 + 6 * DAY, 23.99)) == 167
    # 01:00 at UTC+2 on Monday is Sunday 23:00 UTC
    plus2 = timezone(timedelta(hours=2))
    assert hour_of_week(datetime(2027, 1, 4, 1, tzinfo=plus2)) == 167
    with pytest.raises(ValueError):
        hour_of_week(datetime(2027, 1, 4))


def test_rates_are_the_mean_per_hour_of_the_week():
    history = rates(
        office(JAN4, date(2027, 2, 1)), days(JAN4, date(2027, 2, 1)), at(JAN4), at(date(2027, 2, 1))
    )
    assert history.messages == 400
    assert history.covered_days == 28
    assert history.per_hour[9] == 3.0  # Monday 09:00
    assert history.per_hour[4 * 24 + 16] == 2.0  # Friday 16:00
    assert history.per_hour[8] == 0.0
    assert history.per_hour[5 * 24 + 10] == 0.0  # Saturday
    assert sum(history.per_hour) == 100.0  # one week


def test_rates_of_nothing():
    assert rates({}, set(), at(JAN4), at(JAN4 + 28 * DAY)) == Rates((0.0,) * 168, 0, 0)


def test_uncovered_days_are_not_zeros_in_the_rate():
    # two of the four Wednesdays have no logs (and so no deliveries)
    wednesdays = {JAN4 + 2 * DAY, JAN4 + 9 * DAY}
    delivered = {
        w: n for w, n in office(JAN4, date(2027, 2, 1)).items() if w.date() not in wednesdays
    }
    history = rates(
        delivered, days(JAN4, date(2027, 2, 1)) - wednesdays, at(JAN4), at(date(2027, 2, 1))
    )
    assert history.per_hour[2 * 24 + 9] == 3.0  # not 1.5
    assert history.messages == 360
    assert history.covered_days == 26


# -- silence_now ----------------------------------------------------------------------------

FEB2, FEB3 = date(2027, 2, 2), date(2027, 2, 3)  # Tuesday, Wednesday


def test_busy_mailbox_silent_for_a_working_day_is_silent():
    delivered = office(JAN4, FEB3)  # nothing on Wednesday
    covered = days(JAN4, FEB3 + DAY)
    now = at(FEB3, 17)
    assert silence_now(delivered, covered, now) == Silence(
        start=at(FEB2, 17),  # the hour after Tuesday's last delivery
        end=now,
        expected=20.0,
        ongoing=True,
        usual_per_day=400 / 28,
    )


def test_the_current_hour_counts_pro_rata():
    delivered, covered = office(JAN4, FEB3), days(JAN4, FEB3 + DAY)
    assert silence_now(delivered, covered, at(FEB3, 11.5)) is None  # 3 + 3 + 0.5 * 2 = 7
    assert silence_now(delivered, covered, at(FEB3, 12.5)) is None  # 3 + 3 + 2 + 0.5 * 3 = 9.5
    silence = silence_now(delivered, covered, at(FEB3, 12.75))  # 3 + 3 + 2 + 0.75 * 3
    assert silence is not None
    assert silence.expected == 10.25


def test_exactly_the_floor_is_a_silence():
    delivered = office(JAN4, FEB3)
    delivered.update({at(FEB3, 9): 3, at(FEB3, 10): 3})  # then nothing from 11:00
    covered = days(JAN4, FEB3 + DAY)
    assert silence_now(delivered, covered, at(FEB3, 14)) is None  # 2 + 3 + 2 = 7
    silence = silence_now(delivered, covered, at(FEB3, 15))  # 2 + 3 + 2 + 3
    assert silence is not None
    assert (silence.start, silence.expected) == (at(FEB3, 11), EXPECTED_FLOOR)


def test_a_delivery_in_the_current_hour_ends_the_silence():
    delivered, covered = office(JAN4, FEB3), days(JAN4, FEB3 + DAY)
    delivered[at(FEB3, 16)] = 1
    assert silence_now(delivered, covered, at(FEB3, 16.25)) is None
    # at 16:00 sharp that hour has not begun
    silence = silence_now(delivered, covered, at(FEB3, 16))
    assert silence is not None
    assert silence.start == at(FEB2, 17)


def test_the_same_gap_at_night_or_over_a_weekend_is_not_silent():
    feb5, feb8 = date(2027, 2, 5), date(2027, 2, 8)  # Friday, Monday
    delivered, covered = office(JAN4, feb5 + DAY), days(JAN4, feb8 + DAY)
    assert silence_now(delivered, covered, at(feb5, 23)) is None  # evening
    assert silence_now(delivered, covered, at(feb8, 8.99)) is None  # a whole weekend: 64 hours
    assert silence_now(delivered, covered, at(feb8, 12.5)) is None  # 3 + 3 + 2 + 1.5 = 9.5
    silence = silence_now(delivered, covered, at(feb8, 13))  # 3 + 3 + 2 + 3 = 11
    assert silence is not None
    assert (silence.start, silence.expected) == (at(feb5, 17), 11.0)


def test_a_quiet_mailbox_is_never_silent_however_long():
    # two mails a week for eight weeks, then nothing for well over a year
    delivered: dict[datetime, int] = {}
    for week in range(8):
        delivered[at(JAN4 + week * 7 * DAY, 10)] = 1
        delivered[at(JAN4 + week * 7 * DAY + 3 * DAY, 15)] = 1
    end = date(2028, 6, 1)
    covered = days(JAN4, end)
    for now in (at(date(2027, 3, 15)), at(date(2027, 9, 1), 12), at(end)):
        assert silence_now(delivered, covered, now) is None
    assert silent_periods(delivered, covered, at(JAN4), at(end)) == []


def test_days_without_logs_do_not_count_toward_a_silence():
    delivered = office(JAN4, FEB3)
    covered = days(JAN4, FEB3 + 2 * DAY) - {FEB3}  # Wednesday's logs are missing
    assert silence_now(delivered, covered, at(FEB3, 17)) is None
    assert silence_now(delivered, covered, at(FEB3 + DAY, 12.5)) is None  # Thursday 9.5
    silence = silence_now(delivered, covered, at(FEB3 + DAY, 13))
    assert silence is not None
    assert (silence.start, silence.expected) == (at(FEB2, 17), 11.0)  # not 31


def test_days_without_logs_do_not_dilute_the_rate():
    # two Wednesdays of the history have no logs: the rate is the other two Wednesdays'
    missing = {JAN4 + 9 * DAY, JAN4 + 16 * DAY}
    delivered = {w: n for w, n in office(JAN4, FEB3).items() if w.date() not in missing}
    covered = days(JAN4, FEB3 + DAY) - missing
    silence = silence_now(delivered, covered, at(FEB3, 13))
    assert silence is not None
    assert silence.expected == 11.0  # diluted it would be 5.5
    assert silence.usual_per_day == 360 * 24 / (26 * 24)


def test_a_silence_does_not_dilute_its_own_rate():
    # last mail on Friday 29 January, then three silent weeks
    delivered, now = office(JAN4, date(2027, 1, 30)), at(date(2027, 2, 22))
    covered = days(JAN4, date(2027, 2, 23))
    silence = silence_now(delivered, covered, now)
    assert silence is not None
    assert silence.start == at(date(2027, 1, 29), 17)
    assert silence.expected == 15 * 20.0  # three working weeks at the rate before it began
    # the four weeks before now would have expected a quarter of that rate
    assert rates(delivered, covered, now - 28 * DAY, now).per_hour[9] == 0.75


def test_too_short_a_history_is_not_enough():
    now = at(FEB3, 17)
    # six days of logs before the silence began (Tuesday 17:00): 6 * 24 + 17 hours
    short = silence_now(office(date(2027, 1, 27), FEB3), days(date(2027, 1, 27), FEB3 + DAY), now)
    assert short is None
    # one more day makes seven, and the single Wednesday seen sets the rate
    known = silence_now(office(date(2027, 1, 26), FEB3), days(date(2027, 1, 26), FEB3 + DAY), now)
    assert known == Silence(at(FEB2, 17), now, 20.0, True, 120 * 24 / (7 * 24 + 17))


def test_too_few_history_messages_are_not_enough():
    # 49 messages in the history: Wednesday 09:00-10:00 alone expects 49 / 4 per week-slot
    delivered = {at(JAN4 + 2 * DAY + 7 * DAY * w, 9): n for w, n in enumerate((12, 12, 12, 13))}
    covered = days(JAN4, FEB3 + DAY)
    assert silence_now(delivered, covered, at(FEB3, 10)) is None
    delivered[at(JAN4 + 18 * DAY, 9)] = 1  # the 50th, on Friday 22 January
    silence = silence_now(delivered, covered, at(FEB3, 10))
    assert silence is not None
    # plus a third for the Friday 09:00 it missed (three Fridays of history are covered)
    assert silence.expected == pytest.approx(49 / 4 + 1 / 3)


def test_nothing_in_nothing_out():
    now = at(FEB3, 17)
    assert silence_now({}, set(), now) is None
    assert silence_now({}, days(JAN4, FEB3), now) is None
    assert silent_periods({}, set(), at(JAN4), now) == []
    assert silent_periods({}, set(), now, at(JAN4)) == []
    with pytest.raises(ValueError):
        silence_now({}, set(), datetime(2027, 2, 3, 17))


# -- silent_periods -------------------------------------------------------------------------

FEB1, MAR1 = date(2027, 2, 1), date(2027, 3, 1)


def two_silences() -> dict[datetime, int]:
    """February's office mail, but nothing on Wednesday 10 February, nor from Monday 22
    13:00 to Tuesday 23 11:00."""
    delivered = office(JAN4, MAR1)
    delivered = without(delivered, at(date(2027, 2, 10)), at(date(2027, 2, 11)))
    return without(delivered, at(date(2027, 2, 22), 13), at(date(2027, 2, 23), 11))


FIRST = Silence(
    start=at(date(2027, 2, 9), 17),
    end=at(date(2027, 2, 11), 9),
    expected=20.0,
    ongoing=False,
    usual_per_day=400 / 28,
)
SECOND = Silence(
    start=at(date(2027, 2, 22), 13),
    end=at(date(2027, 2, 23), 11),
    expected=2 + 3 + 2 + 2 + 3 + 3.0,
    ongoing=False,
    usual_per_day=(9 + 18 * 20 + 11) / 28,  # the first silence is in its history
)


def test_a_month_with_two_silences_lists_exactly_those():
    found = silent_periods(two_silences(), days(JAN4, MAR1), at(FEB1), at(MAR1))
    assert found == [FIRST, SECOND]


def test_a_silence_reaching_into_the_period_is_judged_by_its_part_in_it():
    covered = days(JAN4, MAR1)
    # from Wednesday noon: 3 + 2 + 3 + 2 + 2 = 12 still expected
    noon = silent_periods(two_silences(), covered, at(date(2027, 2, 10), 12), at(MAR1))
    assert noon == [
        Silence(at(date(2027, 2, 10), 12), FIRST.end, 12.0, False, FIRST.usual_per_day),
        SECOND,
    ]
    # from 15:00 only 4 remain: not a silence of that period
    late = silent_periods(two_silences(), covered, at(date(2027, 2, 10), 15), at(MAR1))
    assert late == [SECOND]


def test_a_silence_reaching_the_end_is_cut_there_and_ongoing_only_at_now():
    delivered, covered = two_silences(), days(JAN4, MAR1)
    end = at(date(2027, 2, 10), 14)  # Wednesday: 3 + 3 + 2 + 3 + 2 = 13 expected by then
    cut = Silence(FIRST.start, end, 13.0, False, FIRST.usual_per_day)
    assert silent_periods(delivered, covered, at(FEB1), end) == [cut]
    assert silent_periods(delivered, covered, at(FEB1), end, now=end + HOUR) == [cut]
    ongoing = Silence(FIRST.start, end, 13.0, True, FIRST.usual_per_day)
    assert silent_periods(delivered, covered, at(FEB1), at(MAR1), now=end) == [ongoing]
    assert silence_now(delivered, covered, end) == ongoing


def test_a_month_of_hourly_data_is_fast():
    delivered = office(JAN4, MAR1)
    for h in range(28 * 24):  # and one more every hour of February
        delivered[at(FEB1) + h * HOUR] = delivered.get(at(FEB1) + h * HOUR, 0) + 1
    covered = days(JAN4, MAR1 + DAY)
    now = at(MAR1, 11)  # a silent Monday morning: rates and expectation are computed
    assert silence_now(delivered, covered, now).expected == 9 + 4 + 4.0  # type: ignore[union-attr]
    runs = 50
    began = time.perf_counter()
    for _ in range(runs):
        silence_now(delivered, covered, now)
    per_call = (time.perf_counter() - began) / runs
    assert per_call < 0.005  # about a millisecond on a laptop; generous for slow CI
    began = time.perf_counter()
    silent_periods(delivered, covered, at(FEB1), now)
    assert time.perf_counter() - began < 0.05


# -- properties -----------------------------------------------------------------------------

SPAN_HOURS = 7 * 7 * 24  # seven weeks of data
ORIGIN = at(JAN4)


@st.composite
def mailboxes(draw: st.DrawFn) -> tuple[dict[datetime, int], set[date], datetime]:
    """Seven weeks of a mailbox with a daily pattern (busy or quiet, weekends or not),
    some random extra mail, a few silences cut out of it and a few days without logs; and a
    moment to look at it, often inside a silence or after the last mail."""
    pattern = draw(st.lists(st.sampled_from((0, 0, 1, 2, 4)), min_size=24, max_size=24))
    weekends = draw(st.booleans())
    counts = {
        h: pattern[h % 24]
        for h in range(SPAN_HOURS)
        if pattern[h % 24] and (weekends or (h // 24) % 7 < 5)
    }
    extra = draw(st.dictionaries(st.integers(0, SPAN_HOURS - 1), st.integers(1, 9), max_size=30))
    for h, n in extra.items():
        counts[h] = counts.get(h, 0) + n
    cuts = draw(st.lists(st.tuples(st.integers(0, SPAN_HOURS), st.integers(1, 96)), max_size=3))
    for begin, length in cuts:
        counts = {h: n for h, n in counts.items() if not begin <= h < begin + length}
    missing = draw(st.sets(st.integers(0, SPAN_HOURS // 24 - 1), max_size=8))
    delivered = {ORIGIN + h * HOUR: n for h, n in counts.items() if h // 24 not in missing}
    covered = {JAN4 + d * DAY for d in range(SPAN_HOURS // 24 + 7) if d not in missing}
    quarters = st.integers(0, (SPAN_HOURS + 7 * 24) * 4)
    if cuts:
        begin, length = draw(st.sampled_from(cuts))
        quarters |= st.integers(begin * 4, (begin + length) * 4)
    now = ORIGIN + draw(quarters | st.integers(SPAN_HOURS * 4, (SPAN_HOURS + 96) * 4)) * HOUR / 4
    return delivered, covered, now


moments = st.integers(0, (SPAN_HOURS + 7 * 24) * 4).map(lambda q: ORIGIN + q * HOUR / 4)


@settings(max_examples=200, deadline=None)
@given(mailboxes())
def test_silence_now_is_the_ongoing_end_of_silent_periods(mailbox):
    delivered, covered, now = mailbox
    found = silent_periods(delivered, covered, ORIGIN, now + DAY, now=now)
    current = silence_now(delivered, covered, now)
    ongoing = [s for s in found if s.ongoing]
    assert ongoing == ([current] if current else [])
    if current:
        assert found[-1] == current


@settings(max_examples=200, deadline=None)
@given(mailboxes())
def test_reported_silences_are_silent_improbable_and_in_order(mailbox):
    delivered, covered, end = mailbox
    start = ORIGIN + 3 * 7 * DAY
    found = silent_periods(delivered, covered, start, end)
    for silence in found:
        assert start <= silence.start < silence.end <= end
        assert silence.expected >= EXPECTED_FLOOR
        assert not silence.ongoing
        assert not any(silence.start - HOUR < w < silence.end for w in delivered)
    for earlier, later in itertools.pairwise(found):
        assert earlier.end < later.start


@settings(max_examples=200, deadline=None)
@given(mailboxes(), st.integers(0, 10_000), st.integers(1, 50))
def test_a_delivery_inside_a_silence_never_makes_it_longer(mailbox, where, count):
    delivered, covered, now = mailbox
    before = silence_now(delivered, covered, now)
    if before is None:
        return
    inside = before.start + HOUR * (where % max(1, (now - before.start) // HOUR))
    after = silence_now({**delivered, inside: count}, covered, now)
    assert after is None or after.start == inside + HOUR > before.start


@settings(max_examples=200, deadline=None)
@given(mailboxes(), st.integers(1, 24 * 60))
def test_a_silence_only_grows_while_nothing_arrives(mailbox, quarters):
    delivered, covered, now = mailbox
    before = silence_now(delivered, covered, now)
    later = now + quarters * HOUR / 4
    if before is None or any(now <= w < later for w in delivered):
        return
    after = silence_now(delivered, covered, later)
    assert after is not None
    assert after.start == before.start
    assert after.expected >= before.expected


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.integers(0, SPAN_HOURS - 1), st.integers(1, 3), max_size=16),
    moments,
)
def test_a_mailbox_with_too_few_messages_is_never_silent(hours, now):
    delivered = {ORIGIN + h * HOUR: n for h, n in hours.items()}
    assert sum(delivered.values()) < MIN_HISTORY_MESSAGES
    covered = days(JAN4, JAN4 + 60 * DAY)
    assert silence_now(delivered, covered, now) is None
    assert silent_periods(delivered, covered, ORIGIN, now) == []


@settings(max_examples=100, deadline=None)
@given(mailboxes(), st.integers(0, SPAN_HOURS - 1))
def test_explicit_zero_hours_change_nothing(mailbox, zero_at):
    delivered, covered, now = mailbox
    zero = ORIGIN + zero_at * HOUR
    if zero in delivered:
        return
    padded = {**delivered, zero: 0}
    assert silence_now(padded, covered, now) == silence_now(delivered, covered, now)
    assert silent_periods(padded, covered, ORIGIN, now) == silent_periods(
        delivered, covered, ORIGIN, now
    )
