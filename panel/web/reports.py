"""The evidence report of a package and a period: as a printable page, CSV and JSON.

Any party of the package may open it (the package is looked up through the scope: another
builder's package does not exist here). The period is given in whole UTC days, the last
one included; without one the report covers the last 30 days.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import login_required

from panel.models import Package
from panel.models.base import utcnow
from panel.services import evidence
from panel.web.common import actor, package_page, scoped_or_404

bp = Blueprint("reports", __name__)

DEFAULT_DAYS = 30
MAX_DAYS = 400
EARLIEST, LATEST = date(1970, 1, 1), date(9000, 12, 31)  # far enough for any evidence
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# --- the period ---------------------------------------------------------------------------------


@dataclass
class Period:
    """The period as typed, and what was wrong with it."""

    start_text: str
    end_text: str
    start: date | None = None
    end: date | None = None  # inclusive
    errors: dict[str, str] = field(default_factory=dict)
    form_errors: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors and not self.form_errors

    @property
    def all_errors(self) -> list[str]:
        return [*self.errors.values(), *self.form_errors]

    def bounds(self) -> tuple[datetime, datetime]:
        assert self.start is not None and self.end is not None
        return (
            datetime.combine(self.start, time.min, UTC),
            datetime.combine(self.end + timedelta(days=1), time.min, UTC),
        )


def _parse_day(text: str) -> date | None:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _check_range(period: Period, name: str) -> None:
    day = getattr(period, name)
    if day is not None and not EARLIEST <= day <= LATEST:
        setattr(period, name, None)
        period.errors[name] = _(
            "Choose a day between %(first)s and %(last)s.",
            first=EARLIEST.isoformat(),
            last=LATEST.isoformat(),
        )


def read_period(args: Any, today: date) -> Period:
    """``start`` and ``end`` (YYYY-MM-DD, UTC days, end included); the last 30 days if both
    are left out."""
    start_text = (args.get("start") or "").strip()[:40]
    end_text = (args.get("end") or "").strip()[:40]
    period = Period(start_text, end_text)
    period.end = _parse_day(end_text) if end_text else today
    if period.end is None:
        period.errors["end"] = _("The last day is not a date: write it as YYYY-MM-DD.")
    _check_range(period, "end")
    if start_text:
        period.start = _parse_day(start_text)
        if period.start is None:
            period.errors["start"] = _("The first day is not a date: write it as YYYY-MM-DD.")
    elif period.end is not None:
        period.start = period.end - timedelta(days=DEFAULT_DAYS - 1)
    _check_range(period, "start")
    if period.start is not None and period.end is not None:
        if period.end < period.start:
            period.form_errors.append(_("The last day is before the first day."))
        elif (period.end - period.start).days + 1 > MAX_DAYS:
            period.form_errors.append(
                _("A report covers at most %(days)s days: choose a shorter period.", days=MAX_DAYS)
            )
    if not period.start_text and period.start is not None:
        period.start_text = period.start.isoformat()
    if not period.end_text and period.end is not None:
        period.end_text = period.end.isoformat()
    return period


def _language() -> str:
    locale = get_locale()
    return str(locale.language) if locale is not None else "en"


def _prepare(package_id: int) -> tuple[Package, Period, evidence.EvidenceReport | None]:
    package = scoped_or_404(Package, package_id)
    now = utcnow()
    period = read_period(request.args, now.date())
    if not period.valid:
        return package, period, None
    start, end = period.bounds()
    return package, period, evidence.build(package, start, end, actor(), now, _language())


def _filename(report: evidence.EvidenceReport, extension: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", report.package).strip("-.") or "package"
    return (
        f"onus-evidence-{name}-{report.start.date().isoformat()}-"
        f"{report.last_day.isoformat()}.{extension}"
    )


# --- the page -----------------------------------------------------------------------------------


@bp.get("/packages/<int:package_id>/report")
@login_required
def package_report(package_id: int) -> tuple[str, int]:
    package, period, report = _prepare(package_id)
    query = {"start": period.start_text, "end": period.end_text}
    return render_template(
        "reports/report.html",
        package=package,
        period=period,
        report=report,
        package_page=package_page(package.id),
        csv_link=url_for("reports.package_report_csv", package_id=package.id, **query),
        json_link=url_for("reports.package_report_json", package_id=package.id, **query),
    ), (200 if report is not None else 400)


# --- JSON ---------------------------------------------------------------------------------------


@bp.get("/packages/<int:package_id>/report.json")
@login_required
def package_report_json(package_id: int) -> tuple[Response, int]:
    _package, period, report = _prepare(package_id)
    if report is None:
        return jsonify({"errors": period.all_errors}), 400
    response = jsonify(evidence.as_data(report))
    response.headers["Content-Disposition"] = f'attachment; filename="{_filename(report, "json")}"'
    response.headers["Cache-Control"] = "no-store"
    return response, 200


# --- CSV ----------------------------------------------------------------------------------------


def safe_cell(value: Any) -> Any:
    """A cell a spreadsheet will not run: text that starts like a formula gets a leading
    apostrophe. Numbers stay numbers; times are ISO 8601; nothing is None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = str(value)
    if text.startswith(FORMULA_START):
        return "'" + text
    return text


Table = tuple[str, list[str], list[list[Any]]]


def csv_tables(report: evidence.EvidenceReport) -> Iterator[Table]:
    """Every table of the report, as (section, columns, rows), in the page's order."""
    yield (
        "report",
        ["field", "value"],
        [
            ["package", report.package],
            ["plan", report.plan],
            ["quota_bytes", report.quota_bytes],
            ["period_start", report.start],
            ["period_end", report.end],
            ["last_day", report.last_day],
            ["made_at", report.made_at],
            *[[f"party_{row.role}", row.party] for row in report.parties],
        ],
    )
    summary = report.summary
    yield (
        "summary",
        ["field", "value"],
        [
            ["refused", summary.refused],
            ["refused_over_quota", summary.over_quota],
            ["first_refused_at", summary.first_refused_at],
            ["last_refused_at", summary.last_refused_at],
            ["alerts", summary.alerts],
            ["notifications", summary.notifications],
            *[[f"notifications_{k}", v] for k, v in summary.notifications_by_status.items()],
            ["silent_periods", summary.silences],
            ["unknowns", summary.unknowns],
        ],
    )
    yield (
        "usage",
        ["day", "taken_at", "part", "part_name", "bytes"],
        [
            row
            for day in report.usage.days
            for row in (
                *[
                    [day.day, day.taken_at, part.key, part.name, day.parts[part.key]]
                    for part in report.usage.parts
                    if part.key in day.parts
                ],
                [day.day, day.taken_at, "total", _("total"), day.total_bytes],
            )
        ],
    )
    yield (
        "usage_part",
        ["part", "part_name", "first_bytes", "last_bytes", "change_bytes", "peak_bytes"],
        [
            [p.key, p.name, p.first_bytes, p.last_bytes, p.change_bytes, p.peak_bytes]
            for p in report.usage.parts
        ],
    )
    agreement = report.agreement
    yield (
        "agreement",
        ["version", "created_at", "in_force_from", "in_force_until", "reason"],
        [
            [v.version, v.created_at, v.in_force_from, v.in_force_until, v.reason]
            for v in agreement.versions
        ],
    )
    yield (
        "acknowledgement",
        ["version", "role", "party", "acknowledged_at", "person", "after_period", "text_hash"],
        [
            [v.version, p.role, p.party, p.acknowledged_at, p.person, p.after_period, p.text_hash]
            for v in agreement.versions
            for p in v.parties
        ],
    )
    yield (
        "responsibility",
        ["version", "category", "responsible", "escalation"],
        [
            [v.version, r.category, " ".join(r.responsible), " ".join(r.escalation)]
            for v in agreement.versions
            for r in v.responsibilities
        ],
    )
    yield (
        "alert",
        [
            "alert_id", "subject", "subject_kind", "address", "level", "reason", "status",
            "opened_at", "used_bytes", "quota_bytes", "percent", "refused", "since",
            "acknowledged_at", "acknowledged_by", "acknowledged_via", "resolved_at", "resolution",
        ],
        [
            [
                a.id, a.subject, a.subject_kind, a.address, a.level, a.reason, a.status,
                a.opened_at, a.used_bytes, a.quota_bytes, round(a.percent, 1), a.refused,
                a.since, a.acknowledged_at, a.acknowledged_by, a.acknowledged_via,
                a.resolved_at, a.resolution,
            ]
            for a in report.alerts
        ],
    )  # fmt: skip
    yield (
        "alert_event",
        ["alert_id", "at", "kind", "step", "party", "detail"],
        [[a.id, e.at, e.kind, e.step, e.party, e.detail] for a in report.alerts for e in a.events],
    )
    yield (
        "notification",
        [
            "notification_id", "alert_id", "party", "kind", "channel", "recipient", "status",
            "created_at", "sent_at", "status_at", "read_at", "in_digest", "acknowledged_at",
            "error", "error_explained",
        ],
        [
            [
                n.id, n.alert_id, n.party, n.kind, n.channel,
                n.recipient if n.recipient is not None else _("(private to that party)"),
                n.status, n.created_at, n.sent_at, n.status_at, n.read_at, n.in_digest,
                n.acknowledged_at, n.error, n.error_explained,
            ]
            for a in report.alerts
            for n in a.notifications
        ],
    )  # fmt: skip
    flow_columns = [
        "delivered", "deferred", "bounced", "rejected", "refused", "over_quota",
        "first_refused_at", "last_refused_at",
    ]  # fmt: skip
    yield (
        "mail_day",
        ["address", "day", *flow_columns, "first_over_quota_at", "last_over_quota_at"],
        [
            [
                d.address,
                d.day,
                *[getattr(d, c) for c in flow_columns],
                d.first_over_quota_at,
                d.last_over_quota_at,
            ]
            for m in report.mail.mailboxes
            for d in m.days
        ],
    )
    yield (
        "mail_total",
        ["address", "days_with_refusals", *flow_columns],
        [
            [m.address, m.totals.days_with_refusals, *[getattr(m.totals, c) for c in flow_columns]]
            for m in report.mail.mailboxes
        ]
        + [
            [
                "*",
                report.mail.totals.days_with_refusals,
                *[getattr(report.mail.totals, c) for c in flow_columns],
            ]
        ],
    )
    yield (
        "status_code",
        ["code", "explanation", "count"],
        [[c.code, c.explanation, c.count] for c in report.mail.codes],
    )
    yield (
        "refusal",
        ["at", "address", "kind", "over_quota", "dsn", "code", "explanation", "reason"],
        [
            [r.at, r.address, r.kind, r.over_quota, r.dsn, r.code, r.explanation, r.reason]
            for r in report.mail.refusals
        ],
    )
    yield (
        "silence",
        ["address", "start", "end", "ongoing", "usual_per_day", "expected"],
        [
            [s.address, s.start, s.end, s.ongoing, round(s.usual_per_day, 2), round(s.expected, 1)]
            for s in report.silences
        ],
    )
    yield (
        "unknown",
        ["kind", "first_day", "last_day", "days", "count", "text"],
        [[u.kind, u.first_day, u.last_day, u.days, u.count, u.text] for u in report.unknowns],
    )


def as_csv(report: evidence.EvidenceReport) -> str:
    """One RFC 4180 file for all tables: each table starts with a row whose first cell is
    ``section`` and names its columns; every row after it starts with the table's name."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for section, columns, rows in csv_tables(report):
        writer.writerow(["section", *columns])
        for row in rows:
            writer.writerow([section, *(safe_cell(cell) for cell in row)])
    return out.getvalue()


@bp.get("/packages/<int:package_id>/report.csv")
@login_required
def package_report_csv(package_id: int) -> Response:
    _package, period, report = _prepare(package_id)
    if report is None:
        return Response("\n".join(period.all_errors) + "\n", 400, mimetype="text/plain")
    response = Response(as_csv(report), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{_filename(report, "csv")}"'
    response.headers["Cache-Control"] = "no-store"
    return response
