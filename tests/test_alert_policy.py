"""The pure alert core: a forecast that catches a campaign but shrugs off a deleted backup,
levels by threshold and forecast, one alert per problem (hysteresis, no flapping), reminders,
what goes out at once and what waits for the digest, and whom a full package concerns."""

from __future__ import annotations

import itertools
import random
import statistics
from datetime import UTC, datetime, timedelta

import pytest

from panel.policy.agreement import DEFAULT_MATRIX, DEFAULT_THRESHOLDS, LEVELS
from panel.policy.alerts import (
    FLOOD_LIMIT,
    HYSTERESIS,
    RANK,
    Assessment,
    Decision,
    Forecast,
    Point,
    assess,
    category_of_component,
    decide,
    delivery,
    escalation_due,
    escalation_order,
    forecast,
    involved_categories,
    level_of,
    next_reminder_at,
    shares,
    time_to_full,
)

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
MIB = 1024 * 1024
HOUR = timedelta(hours=1)
WEEK_HOURS = 7 * 24


def series(used_at, step_hours: int = 6, hours: int = WEEK_HOURS) -> list[Point]:
    """Scheduled measurements every ``step_hours`` over the last ``hours``, oldest first;
    ``used_at(h)`` gives the bytes used ``h`` hours before NOW."""
    return [Point(NOW - h * HOUR, int(used_at(h))) for h in range(hours, -1, -step_hours)]


def interval_rates(points: list[Point]) -> list[float]:
    return [(b.used - a.used) / ((b.at - a.at) / HOUR) for a, b in itertools.pairwise(points)]


def assessment(percent: float, hours_to_full: float | None = None) -> Assessment:
    """An assessment of a 100-byte subject, as ``assess`` would make it."""
    prediction = None if hours_to_full is None else Forecast(1.0, hours_to_full)
    level, reason = level_of(percent, prediction, DEFAULT_THRESHOLDS)
    return Assessment(int(percent), 100, percent, level, reason, prediction)


# forecast


def test_steady_growth_gives_the_exact_rate_and_hours():
    points = series(lambda h: 1_000_000 + 20_000 * (WEEK_HOURS - h))
    latest = points[-1].used
    result = forecast(points, latest + 500 * 20_000, NOW)
    assert result is not None
    assert result.bytes_per_hour == pytest.approx(20_000)
    assert result.hours_to_full == pytest.approx(500)


def test_a_campaign_of_twenty_hours_is_caught_by_the_short_window():
    creep = 0.2 * MIB / 24  # per hour: plugins, a backup now and then
    campaign = 1.5 * MIB  # per hour: sign-ups through the contact form, as mail to info@

    def used(h: float) -> float:
        return 110 * MIB - creep * h - campaign * min(h, 20)

    points = series(used)
    quota = 150 * MIB
    result = forecast(points, quota, NOW)
    assert result is not None
    # the day's window holds 20 hours of campaign: its net rate, below the median, counts
    day_rate = (20 * campaign + 24 * creep) / 24
    assert result.bytes_per_hour == pytest.approx(day_rate, rel=1e-4)
    assert result.bytes_per_hour < statistics.median(interval_rates(points[-5:]))
    assert result.hours_to_full == pytest.approx(40 * MIB / day_rate, rel=1e-3)
    assert result.hours_to_full < 48
    assert time_to_full(result.hours_to_full) == ("hours", 32)
    # the week's median alone sees only the creep: full in months, no alert
    week_rate = statistics.median(interval_rates(points))
    assert week_rate == pytest.approx(creep, rel=1e-4)
    assert (quota - points[-1].used) / week_rate > 100 * 24
    found = assess(points, quota, DEFAULT_THRESHOLDS, NOW)
    assert (found.level, found.reason) == ("warning", "forecast")
    assert found.percent == pytest.approx(100 * 110 / 150, rel=1e-3)


@pytest.mark.parametrize(
    ("created", "deleted"),
    [(96, 72), (40, 10)],
    ids=["deleted mid-week", "deleted in the last day"],
)
def test_a_backup_of_thirty_percent_deleted_again_does_not_move_the_rate(created, deleted):
    steady = 20_000

    def used(h: float) -> float:
        base = 100 * MIB + steady * (WEEK_HOURS - h)
        return base + (30 * MIB if deleted < h <= created else 0)

    result = forecast(series(used), 150 * MIB, NOW)
    assert result is not None
    assert result.bytes_per_hour == pytest.approx(steady, rel=0.01)


def test_a_single_big_upload_does_not_move_the_rate():
    steady = 20_000

    def used(h: float) -> float:
        return 100 * MIB + steady * (WEEK_HOURS - h) + (20 * MIB if h <= 3 else 0)

    points = series(used)
    points.insert(-1, Point(NOW - 3 * HOUR, int(used(3))))  # measured right after it
    result = forecast(points, 150 * MIB, NOW)
    assert result is not None
    assert result.bytes_per_hour == pytest.approx(steady, rel=0.01)


def test_mail_that_comes_and_goes_gives_no_forecast_of_full():
    # a mailbox at 55 % whose mail goes up and down by 3 % of its quota between measurements:
    # the median of a day's intervals is positive half the time, the mailbox no fuller
    quota = 50 * MIB
    rng = random.Random(7)
    wobble = {h: rng.uniform(-1.5, 1.5) * MIB for h in range(0, WEEK_HOURS + 1, 6)}
    points = series(lambda h: 27.5 * MIB + wobble[h])
    for end in range(8, len(points) + 1):
        now = points[end - 1].at
        found = assess(points[:end], quota, DEFAULT_THRESHOLDS, now)
        assert found.level is None, (now, found)


def test_a_level_only_the_forecast_gives_waits_for_the_next_measurement_to_confirm_it():
    # flat at 50 MiB of 100, then rising 1 MiB an hour since 12 hours ago
    def used(h: float) -> float:
        return 50 * MIB + MIB * max(0.0, 12 - h)

    points = series(used)
    first = assess(points, 100 * MIB, DEFAULT_THRESHOLDS, NOW)
    assert first.forecast is not None and first.forecast.hours_to_full < 7 * 24
    assert (first.level, first.reason) == (None, "")  # the measurement before saw no trend
    later = [*points, Point(NOW + 6 * HOUR, int(used(-6)))]
    second = assess(later, 100 * MIB, DEFAULT_THRESHOLDS, NOW + 6 * HOUR)
    assert (second.level, second.reason) == ("warning", "forecast")


def test_too_few_points_or_too_short_a_span_says_nothing():
    two = [Point(NOW - 20 * HOUR, 100), Point(NOW, 200)]
    assert forecast(two, 1000, NOW) is None
    short = [Point(NOW - h * HOUR, 1000 - h * 10) for h in (11, 8, 4, 0)]
    assert forecast(short, 10_000, NOW) is None
    assert forecast([], 10_000, NOW) is None


def test_an_older_window_speaks_when_the_last_day_has_too_little():
    # three measurements over the week, one in the last day: only the week says something
    points = [Point(NOW - 100 * HOUR, 0), Point(NOW - 50 * HOUR, 5000), Point(NOW, 15_000)]
    result = forecast(points, 25_000, NOW)
    assert result is not None
    assert result.bytes_per_hour == pytest.approx((100 + 200) / 2)


def test_points_after_now_are_ignored():
    points = series(lambda h: 1_000_000 + 20_000 * (WEEK_HOURS - h))
    future = [*points, Point(NOW + HOUR, 9_000_000), Point(NOW + 2 * HOUR, 1)]
    assert forecast(future, 10_000_000, NOW) == forecast(points, 10_000_000, NOW)
    assert assess(future, 10_000_000, DEFAULT_THRESHOLDS, NOW).used == points[-1].used


def test_close_points_are_merged_keeping_the_later():
    cluster = [
        Point(NOW - 12 * HOUR, 0),
        Point(NOW - 55 * timedelta(minutes=1), 10_000),
        Point(NOW - 50 * timedelta(minutes=1), 11_000),
    ]
    # three points over twelve hours, but two are one measurement: too few
    assert forecast(cluster, 100_000, NOW) is None

    start, end = Point(NOW - 12 * HOUR, 0), Point(NOW, 12_000)
    earlier = Point(NOW - 6 * HOUR, 6_000)
    later = Point(NOW - 6 * HOUR + 5 * timedelta(minutes=1), 12_000)  # "measure now" after it
    merged = forecast([start, earlier, later, end], 100_000, NOW)
    assert merged == forecast([start, later, end], 100_000, NOW)
    assert merged is not None
    assert merged.bytes_per_hour == pytest.approx((12_000 / (6 + 5 / 60) + 0) / 2)
    assert forecast([start, earlier, end], 100_000, NOW) == Forecast(1000.0, 88.0)


def test_shrinking_usage_has_no_time_to_full():
    points = series(lambda h: 100 * MIB + 5000 * h)
    result = forecast(points, 150 * MIB, NOW)
    assert result is not None
    assert result.bytes_per_hour == pytest.approx(-5000)
    assert result.hours_to_full is None
    assert forecast(series(lambda h: 100 * MIB), 150 * MIB, NOW) == Forecast(0.0, None)


def test_over_quota_and_growing_is_full_now():
    points = series(lambda h: 200 * MIB - 1000 * h)
    assert forecast(points, 150 * MIB, NOW) == Forecast(1000.0, 0.0)


def test_no_quota_no_forecast():
    points = series(lambda h: 100 * MIB - 1000 * h)
    assert forecast(points, 0, NOW) is None
    found = assess(points, 0, DEFAULT_THRESHOLDS, NOW)
    assert (found.percent, found.level, found.reason, found.forecast) == (0.0, None, "", None)


def test_assess_without_points_is_quiet():
    assert assess([], 150 * MIB, DEFAULT_THRESHOLDS, NOW) == Assessment(
        0, 150 * MIB, 0.0, None, "", None
    )


def test_assess_a_flat_full_package_by_threshold():
    points = series(lambda h: 140 * MIB)
    found = assess(points, 150 * MIB, DEFAULT_THRESHOLDS, NOW)
    assert found.used == 140 * MIB
    assert found.percent == pytest.approx(93.33, abs=0.01)
    assert (found.level, found.reason) == ("warning", "threshold")
    assert found.forecast == Forecast(0.0, None)


# level_of


@pytest.mark.parametrize(
    ("percent", "hours", "expected"),
    [
        (50, None, (None, "")),
        (79.9, None, (None, "")),
        (80, None, ("notice", "threshold")),
        (89.9, None, ("notice", "threshold")),
        (90, None, ("warning", "threshold")),
        (99.9, None, ("warning", "threshold")),
        (100, None, ("critical", "threshold")),
        (120, None, ("critical", "threshold")),
        (50, 168.1, (None, "")),
        (50, 168, ("warning", "forecast")),
        (50, 100, ("warning", "forecast")),
        (50, 24.1, ("warning", "forecast")),
        (50, 24, ("critical", "forecast")),
        (50, 0.0, ("critical", "forecast")),
        (85, 100, ("warning", "forecast")),
        (95, 100, ("warning", "threshold")),  # a tie goes to the threshold
        (95, 10, ("critical", "forecast")),
        (100, 10, ("critical", "threshold")),
        (85, 500, ("notice", "threshold")),
    ],
)
def test_level_of_thresholds_and_forecast(percent, hours, expected):
    prediction = None if hours is None else Forecast(1.0, hours)
    assert level_of(percent, prediction, DEFAULT_THRESHOLDS) == expected


def test_level_of_a_shrinking_forecast_is_by_threshold_only():
    assert level_of(50, Forecast(-10.0, None), DEFAULT_THRESHOLDS) == (None, "")
    assert level_of(91, Forecast(-10.0, None), DEFAULT_THRESHOLDS) == ("warning", "threshold")


def test_level_of_with_slack_and_other_thresholds():
    assert level_of(88.0, None, DEFAULT_THRESHOLDS, slack=HYSTERESIS)[0] == "warning"
    assert level_of(87.9, None, DEFAULT_THRESHOLDS, slack=HYSTERESIS)[0] == "notice"
    own = {"notice": 60, "warning": 75, "critical": 95}
    assert level_of(76, None, own) == ("warning", "threshold")
    assert level_of(96, None, own) == ("critical", "threshold")


# decide


def test_decide_opens_raises_and_keeps():
    assert decide(assessment(50), None, DEFAULT_THRESHOLDS) == Decision("keep", None)
    assert decide(assessment(91), None, DEFAULT_THRESHOLDS) == Decision("open", "warning")
    assert decide(assessment(50, 100), None, DEFAULT_THRESHOLDS) == Decision("open", "warning")
    assert decide(assessment(91), "notice", DEFAULT_THRESHOLDS) == Decision("raise", "warning")
    assert decide(assessment(91, 5), "warning", DEFAULT_THRESHOLDS) == Decision("raise", "critical")
    assert decide(assessment(91), "warning", DEFAULT_THRESHOLDS) == Decision("keep", "warning")
    assert decide(assessment(91), "critical", DEFAULT_THRESHOLDS).action == "lower"


def test_a_measure_flapping_around_ninety_percent_sends_nothing_new():
    percents = [90.1, 89.9, 90.2, 89.8, 90.0, 88.5, 90.4, 88.1, 89.99, 90.05]
    naive = [level_of(p, None, DEFAULT_THRESHOLDS)[0] for p in percents]
    assert sum(a != b for a, b in itertools.pairwise(naive)) >= 6  # level by level, it would flap
    open_level = None
    actions = []
    for percent in percents:
        decision = decide(assessment(percent), open_level, DEFAULT_THRESHOLDS)
        actions.append(decision.action)
        open_level = decision.level
    assert [a for a in actions if a != "keep"] == ["open"]
    assert open_level == "warning"


def test_lower_and_resolve_only_clearly_below_the_threshold():
    assert decide(assessment(98.5), "critical", DEFAULT_THRESHOLDS) == Decision("keep", "critical")
    assert decide(assessment(97.9), "critical", DEFAULT_THRESHOLDS) == Decision("lower", "warning")
    assert decide(assessment(85), "critical", DEFAULT_THRESHOLDS) == Decision("lower", "notice")
    assert decide(assessment(78.5), "notice", DEFAULT_THRESHOLDS) == Decision("keep", "notice")
    assert decide(assessment(77.9), "notice", DEFAULT_THRESHOLDS) == Decision("resolve", None)
    assert decide(assessment(50), "critical", DEFAULT_THRESHOLDS) == Decision("resolve", None)


def test_an_alert_opened_by_the_forecast_resolves_when_growth_stops():
    assert decide(assessment(70, 30), None, DEFAULT_THRESHOLDS) == Decision("open", "warning")
    assert decide(assessment(70, 150), "warning", DEFAULT_THRESHOLDS) == Decision("keep", "warning")
    assert decide(assessment(70, None), "warning", DEFAULT_THRESHOLDS) == Decision("resolve", None)


def test_decide_property_no_reopen_no_false_raise_and_a_repeat_keeps():
    rng = random.Random(20250310)
    for _ in range(300):
        notice = rng.randint(1, 97)
        warning = rng.randint(notice + 1, 98)
        critical = rng.randint(warning + 1, 100)
        thresholds = {"notice": notice, "warning": warning, "critical": critical}
        percent = rng.choice([rng.uniform(0, 120), float(rng.choice([notice, warning, critical]))])
        roll = rng.random()
        prediction = (
            None
            if roll < 0.4
            else Forecast(-1.0, None)
            if roll < 0.5
            else Forecast(1.0, rng.uniform(0, 400))
        )
        level, reason = level_of(percent, prediction, thresholds)
        found = Assessment(int(percent), 100, percent, level, reason, prediction)
        open_level = rng.choice([None, *LEVELS])

        decision = decide(found, open_level, thresholds)
        assert decision.action in ("keep", "open", "raise", "lower", "resolve")
        if open_level is not None:
            assert decision.action != "open"
        else:
            assert decision.action in ("keep", "open")
        if decision.action == "raise":
            assert RANK[decision.level] > RANK[open_level]
        if decision.action in ("lower", "resolve"):
            assert RANK[decision.level] < RANK[open_level]
        assert (decision.action == "resolve") == (open_level is not None and decision.level is None)

        repeated = decision.level
        for _ in range(3):
            again = decide(found, repeated, thresholds)
            assert again == Decision("keep", repeated)


# reminders and escalation


def test_reminders_grow_and_cap_at_a_week():
    gaps = [next_reminder_at(NOW, n) - NOW for n in range(7)]
    assert [g / timedelta(days=1) for g in gaps] == [1, 2, 4, 7, 7, 7, 7]
    assert next_reminder_at(NOW, 10**9) == NOW + timedelta(days=7)
    assert next_reminder_at(NOW, -1) == NOW + timedelta(days=1)


def test_escalation_is_due_at_the_deadline():
    step = NOW - timedelta(hours=24)
    assert escalation_due(step, 24, NOW)
    assert not escalation_due(step, 24, NOW - timedelta(seconds=1))
    assert escalation_due(step, 2, NOW)
    assert not escalation_due(NOW, 72, NOW + timedelta(hours=71))


# delivery


@pytest.mark.parametrize(
    ("level", "kind", "today", "expected"),
    [
        *[("critical", kind, 99, "immediate") for kind in ("opened", "raised", "escalated")],
        *[("critical", kind, 99, "immediate") for kind in ("reminder", "resolved", "lowered")],
        *[("notice", kind, 0, "digest") for kind in ("opened", "raised", "escalated")],
        *[("notice", kind, 0, "digest") for kind in ("reminder", "resolved", "lowered")],
        *[("warning", kind, 0, "digest") for kind in ("reminder", "resolved", "lowered")],
        *[("warning", kind, 0, "immediate") for kind in ("opened", "raised", "escalated")],
        ("warning", "opened", FLOOD_LIMIT - 1, "immediate"),
        ("warning", "opened", FLOOD_LIMIT, "digest"),
        ("warning", "escalated", FLOOD_LIMIT + 5, "digest"),
        ("critical", "opened", FLOOD_LIMIT + 5, "immediate"),
    ],
)
def test_delivery_rules(level, kind, today, expected):
    assert delivery(level, kind, today) == expected


def test_delivery_refuses_unknown_kinds_and_levels():
    with pytest.raises(ValueError):
        delivery("warning", "bounced", 0)
    with pytest.raises(ValueError):
        delivery("urgent", "opened", 0)


# categories and whom to tell


@pytest.mark.parametrize(
    ("key", "category"),
    [
        ("mailbox:info@school.example", "mailbox"),
        ("site:/home/school/public_html:core", "site_files"),
        ("site:/home/school/public_html:plugins", "site_files"),
        ("site:/home/school/public_html:themes", "site_files"),
        ("site:/home/school/public_html:cache", "site_files"),
        ("site:/home/school/public_html:other", "site_files"),
        ("site:/home/school/static:files", "site_files"),
        ("site:/home/school/public_html:something_new", "site_files"),
        ("site:/home/school/public_html:uploads", "site_uploads"),
        ("site:/home/school/public_html:backups", "site_backups"),
        ("site:C:/odd:docroot:backups", "site_backups"),
        ("database:school_wp", "databases"),
        ("other", "capacity"),
        ("something:else", "capacity"),
    ],
)
def test_category_of_component(key, category):
    assert category_of_component(key) == category


SCHOOL = {
    "mailbox:info@school.example": [45 * MIB, 3100],
    "site:/home/school/public_html:backups": [46 * MIB, 4],
    "site:/home/school/public_html:plugins": [22 * MIB, 2900],
    "site:/home/school/public_html:themes": [9 * MIB, 800],
}


def test_shares_sum_bytes_per_category():
    assert shares(SCHOOL) == {
        "mailbox": 45 * MIB,
        "site_backups": 46 * MIB,
        "site_files": 31 * MIB,
    }
    assert shares({"database:a": [5, 0], "database:b": [7, 0], "other": [0, 0]}) == {
        "databases": 12,
        "capacity": 0,
    }


def test_the_school_package_involves_backups_mail_and_site_files():
    # 122 MiB used: backups 37.7 %, mailbox 36.9 %, plugins and themes 25.4 %
    assert involved_categories(SCHOOL) == ["capacity", "site_backups", "mailbox", "site_files"]
    less_themes = {**SCHOOL, "site:/home/school/public_html:themes": [8 * MIB, 800]}
    # 121 MiB: 30 / 121 = 24.8 % falls short
    assert involved_categories(less_themes) == ["capacity", "site_backups", "mailbox"]


def test_involved_categories_edge_cases():
    assert involved_categories({}) == ["capacity"]
    assert involved_categories({"other": [0, 0], "mailbox:a@x": [0, 0]}) == ["capacity"]
    assert involved_categories({"other": [90, 1], "mailbox:a@x": [10, 1]}) == ["capacity"]
    tie = {"mailbox:a@x": [50, 1], "database:wp": [50, 0]}
    assert involved_categories(tie) == ["capacity", "databases", "mailbox"]


def test_escalation_order_is_an_ordered_union_without_those_told():
    categories = ["capacity", "site_backups", "mailbox", "site_files"]
    assert escalation_order(DEFAULT_MATRIX, categories, []) == ["hoster"]
    assert escalation_order(DEFAULT_MATRIX, categories, ["hoster"]) == []
    assert escalation_order(DEFAULT_MATRIX, ["mailbox", "site_uploads"], []) == [
        "hoster",
        "builder",
    ]
    assert escalation_order(DEFAULT_MATRIX, ["site_uploads", "mailbox"], {"builder"}) == ["hoster"]
    assert escalation_order(DEFAULT_MATRIX, [], []) == []


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        (0.0, ("hours", 1)),
        (0.2, ("hours", 1)),
        (26.6, ("hours", 27)),
        (47.9, ("hours", 48)),
        (48, ("days", 2)),
        (100, ("days", 4)),
        (4800, ("days", 200)),
    ],
)
def test_time_to_full_wording(hours, expected):
    assert time_to_full(hours) == expected


def test_a_forecast_hovering_around_its_horizon_does_not_flap():
    # full in 6.5 days, 7.5, 6.9, 8, 7.2 ... days: the warning opens once and holds
    hours = [156, 180, 166, 192, 173, 200, 160]
    open_level = None
    actions = []
    for h in hours:
        decision = decide(assessment(60, h), open_level, DEFAULT_THRESHOLDS)
        actions.append(decision.action)
        open_level = decision.level
    assert [a for a in actions if a != "keep"] == ["open"]
    # clearly beyond the horizon (1.5 times 7 days) it resolves; near a day it stays critical
    levels = DEFAULT_THRESHOLDS
    assert decide(assessment(60, 253), "warning", levels) == Decision("resolve", None)
    assert decide(assessment(60, 30), "critical", levels) == Decision("keep", "critical")
    assert decide(assessment(60, 40), "critical", levels) == Decision("lower", "warning")
