"""When a package's storage deserves an alert, how loud, and whom it concerns.

The pure decision core of the alert lifecycle: a robust forecast of time-to-full from the
usage history, the level a measurement reaches (threshold or forecast), what that means for
the subject's open alert (with hysteresis, so a measure hovering at a threshold sends nothing
new), when to remind and escalate, whether a notification goes out now or waits for the
digest, and which categories (hence parties) a whole-package alert involves.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from panel.policy.agreement import LEVELS

RANK: dict[str | None, int] = {None: 0, "notice": 1, "warning": 2, "critical": 3}
FORECAST_WARNING = timedelta(days=7)  # forecast full within this -> at least "warning"
FORECAST_CRITICAL = timedelta(hours=24)  # forecast full within this -> "critical"
# the recent window catches a campaign, the long one a steady creep
FORECAST_WINDOWS = (timedelta(hours=24), timedelta(days=7))
MIN_POINTS = 3  # fewer points in a window: that window says nothing
MIN_SPAN = timedelta(hours=12)  # a window's points must span at least this
# consecutive points closer than this are merged (a "measure now" right after a scheduled run)
MIN_INTERVAL = timedelta(minutes=10)
# percentage points an open alert's measure must drop below its level's threshold before it
# lowers or resolves
HYSTERESIS = 2.0
# an open forecast alert holds until the forecast is this much further out than its horizon
FORECAST_STRETCH = 1.5
REMINDER_FIRST = timedelta(hours=24)
REMINDER_MAX = timedelta(days=7)
FLOOD_LIMIT = 3  # immediate non-critical emails per party per day before the rest wait
SHARE_TO_INVOLVE = 0.25  # a category holding this share of the used bytes gets its party told

KINDS = ("opened", "raised", "escalated", "reminder", "resolved", "lowered")
_HOUR = timedelta(hours=1)


class Point(NamedTuple):
    """One measurement of a subject's used bytes (a tuple: a round makes millions)."""

    at: datetime  # timezone-aware UTC
    used: int  # bytes


@dataclass(frozen=True)
class Forecast:
    bytes_per_hour: float  # robust growth rate (may be <= 0)
    hours_to_full: float | None  # None when not growing; 0.0 when at/over quota and growing


def _merged(points: Sequence[Point], now: datetime) -> list[Point]:
    """The points up to ``now`` in time order, a point closer than MIN_INTERVAL to the one
    before it replacing that one: a manual re-measure must not make a near-zero interval
    whose rate is pure noise."""
    merged: list[Point] = []
    for point in sorted((p for p in points if p.at <= now), key=lambda p: p.at):
        if merged and point.at - merged[-1].at < MIN_INTERVAL:
            merged[-1] = point
        else:
            merged.append(point)
    return merged


def _window_rate(points: Sequence[Point]) -> float | None:
    """The growth rate in bytes per hour a window of points supports, or None when the
    points are too few or too close together to say anything.

    The median of the consecutive-interval rates: a one-off jump (a backup written, a big
    upload) moves one interval only, and the median ignores it where a regression line would
    tilt. Capped by the net rate over the window: a mailbox whose mail comes and goes has a
    positive median half the time, but it is no fuller at the end than at the start.
    """
    if len(points) < MIN_POINTS or points[-1].at - points[0].at < MIN_SPAN:
        return None
    rates = [(b.used - a.used) / ((b.at - a.at) / _HOUR) for a, b in itertools.pairwise(points)]
    net = (points[-1].used - points[0].used) / ((points[-1].at - points[0].at) / _HOUR)
    return min(float(statistics.median(rates)), net)


def forecast(points: Sequence[Point], quota: int, now: datetime) -> Forecast | None:
    """The growth rate and hours to full, from the fastest of the windows that have enough
    history; None when no window has, or when there is no quota to fill."""
    return _forecast(_merged(points, now), quota, now)


def _forecast(merged: Sequence[Point], quota: int, now: datetime) -> Forecast | None:
    """``forecast`` of points merged already."""
    if quota <= 0:
        return None
    rates = []
    for window in FORECAST_WINDOWS:
        since = now - window
        rate = _window_rate([p for p in merged if p.at >= since])
        if rate is not None:
            rates.append(rate)
    if not rates:
        return None
    rate = max(rates)
    latest = merged[-1].used
    if rate <= 0:
        return Forecast(rate, None)
    return Forecast(rate, 0.0 if latest >= quota else (quota - latest) / rate)


@dataclass(frozen=True)
class Assessment:
    """What one measurement says about a subject."""

    used: int
    quota: int
    percent: float  # 100 * used / quota (0.0 when quota <= 0)
    level: str | None  # None, "notice", "warning", "critical"
    reason: str  # "threshold", "forecast" or "" when level is None
    forecast: Forecast | None
    at: datetime | None = None  # when the latest measurement was taken


def _forecast_level(prediction: Forecast | None, stretch: float = 1.0) -> str | None:
    """A subject that will be full soon is as urgent as one that is nearly full now.
    ``stretch`` widens the horizons for an open alert, as the slack lowers thresholds."""
    if prediction is None or prediction.hours_to_full is None:
        return None
    if prediction.hours_to_full <= stretch * FORECAST_CRITICAL / _HOUR:
        return "critical"
    if prediction.hours_to_full <= stretch * FORECAST_WARNING / _HOUR:
        return "warning"
    return None


def level_of(
    percent: float,
    forecast: Forecast | None,
    thresholds: Mapping[str, int],
    slack: float = 0.0,
) -> tuple[str | None, str]:
    """The higher of the threshold level and the forecast level, with why.

    ``slack`` lowers every threshold by that many points, and stretches the forecast's
    horizons by FORECAST_STRETCH: an open alert holds its level until the measure is clearly
    below it. A tie goes to "threshold", the plainer reason.
    """
    by_threshold: str | None = None
    for level in LEVELS:
        if percent >= thresholds[level] - slack:
            by_threshold = level
    by_forecast = _forecast_level(forecast, FORECAST_STRETCH if slack else 1.0)
    if RANK[by_threshold] >= RANK[by_forecast]:
        return by_threshold, "threshold" if by_threshold is not None else ""
    return by_forecast, "forecast"


def assess(
    points: Sequence[Point], quota: int, thresholds: Mapping[str, int], now: datetime
) -> Assessment:
    """The level the latest measurement up to ``now`` and the trend before it reach.

    A level that only the forecast gives must be what the measurement before said too (the
    less urgent of the two counts): one noisy interval is no trend, and a subject filling
    for real is still filling at the next measurement.
    """
    known = _merged(points, now)
    if not known:
        return Assessment(0, quota, 0.0, None, "", None)
    used = known[-1].used
    percent = 100.0 * used / quota if quota > 0 else 0.0
    prediction = _forecast(known, quota, now)
    level, reason = level_of(percent, prediction, thresholds)
    if reason == "forecast":
        earlier = (
            _forecast_level(_forecast(known[:-1], quota, known[-2].at)) if len(known) > 1 else None
        )
        confirmed = min(level, earlier, key=RANK.__getitem__)
        by_threshold, _ = level_of(percent, None, thresholds)
        if RANK[by_threshold] >= RANK[confirmed]:
            level, reason = by_threshold, "threshold" if by_threshold is not None else ""
        else:
            level = confirmed
    return Assessment(used, quota, percent, level, reason, prediction, known[-1].at)


@dataclass(frozen=True)
class Decision:
    action: str  # "keep", "open", "raise", "lower", "resolve"
    level: str | None  # the level the subject is at after the decision


def decide(
    assessment: Assessment, open_level: str | None, thresholds: Mapping[str, int]
) -> Decision:
    """What a new assessment does to the subject's open alert (``open_level``, None if none).

    Rising counts at once; dropping counts only HYSTERESIS points under the threshold, so a
    measure going 89.9 / 90.1 / 89.8 % is one alert, not a mail per check.
    """
    if open_level is None:
        if assessment.level is None:
            return Decision("keep", None)
        return Decision("open", assessment.level)
    if RANK[assessment.level] > RANK[open_level]:
        return Decision("raise", assessment.level)
    held, _ = level_of(assessment.percent, assessment.forecast, thresholds, slack=HYSTERESIS)
    if RANK[held] >= RANK[open_level]:
        return Decision("keep", open_level)
    if held is None:
        return Decision("resolve", None)
    return Decision("lower", held)


def escalation_due(step_at: datetime, deadline_hours: int, now: datetime) -> bool:
    """Whether an alert left unacknowledged since ``step_at`` is due for the next party."""
    return now >= step_at + timedelta(hours=deadline_hours)


def next_reminder_at(since: datetime, reminders_sent: int) -> datetime:
    """When to remind again: after 1, 2, 4, then every 7 days, so an ignored alert stays
    visible without turning into the daily noise it exists to replace."""
    exponent = min(max(0, reminders_sent), 16)  # 2**16 days is past the cap already
    return since + min(REMINDER_FIRST * 2**exponent, REMINDER_MAX)


def delivery(level: str, kind: str, immediate_today: int) -> str:
    """ "immediate" or "digest" for one notification to one party.

    Critical always goes at once. News at warning goes at once too, until the party has had
    FLOOD_LIMIT immediate mails today; notices, reminders and good news wait for the digest.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}")
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    if level == "critical":
        return "immediate"
    if level == "notice" or kind in ("reminder", "resolved", "lowered"):
        return "digest"
    return "digest" if immediate_today >= FLOOD_LIMIT else "immediate"


# the category of each site part (PARTS in panel/measure/docroot.py); any other is site files
CATEGORY_OF_PART: dict[str, str] = {
    "core": "site_files",
    "plugins": "site_files",
    "themes": "site_files",
    "cache": "site_files",
    "other": "site_files",
    "files": "site_files",
    "uploads": "site_uploads",
    "backups": "site_backups",
}


def category_of_component(key: str) -> str:
    """The agreement category a usage component (``components_of``'s key) belongs to;
    what is not recognised falls to the package's capacity, which the hoster answers for."""
    kind, _, rest = key.partition(":")
    if kind == "mailbox":
        return "mailbox"
    if kind == "database":
        return "databases"
    if kind == "site":
        part = rest.rpartition(":")[2]  # a docroot may hold colons; the part is last
        return CATEGORY_OF_PART.get(part, "site_files")
    return "capacity"


def shares(components: Mapping[str, Sequence[int]]) -> dict[str, int]:
    """Used bytes per category, for the categories that have a component."""
    totals: dict[str, int] = {}
    for key, figures in components.items():
        category = category_of_component(key)
        totals[category] = totals.get(category, 0) + int(figures[0])
    return totals


def involved_categories(components: Mapping[str, Sequence[int]]) -> list[str]:
    """The categories a whole-package alert concerns: capacity always, and every category
    holding at least SHARE_TO_INVOLVE of the used bytes, biggest first, so the party whose
    part fills the package hears of it rather than only the hoster."""
    per_category = shares(components)
    total = sum(per_category.values())
    if total <= 0:
        return ["capacity"]
    big = [
        (category, used)
        for category, used in per_category.items()
        if category != "capacity" and used / total >= SHARE_TO_INVOLVE
    ]
    big.sort(key=lambda item: (-item[1], item[0]))
    return ["capacity", *(category for category, _ in big)]


def escalation_order(
    matrix: Mapping[str, Mapping[str, Sequence[str]]],
    categories: Sequence[str],
    told: Iterable[str],
) -> list[str]:
    """The roles to escalate to, in the matrix's order for each category in turn, without
    those already told."""
    skip = set(told)
    order: list[str] = []
    for category in categories:
        for role in matrix.get(category, {}).get("escalation", ()):
            if role not in skip and role not in order:
                order.append(role)
    return order


def time_to_full(hours: float) -> tuple[str, int]:
    """The unit and rounded number for "full in about N hours/days"."""
    if hours < 48:
        return "hours", max(1, round(hours))
    return "days", round(hours / 24)
