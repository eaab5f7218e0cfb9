"""Storage over time: the history by part, the quota, the forecast line, its thinning and
cost; the chart part's JSON spec and table; the vendored Chart.js and nothing from a CDN."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask, render_template
from flask_babel import format_datetime
from flask_login import login_user
from sqlalchemy import event, select

from panel.extensions import db
from panel.measure.units import format_size
from panel.models import Package, User
from panel.policy import alerts as policy
from panel.services import usage
from tests.alerting import report
from tests.world import LOGINS, World

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
QUOTA = 150 * MIB  # the world's plan


def measure(package_id: int, at: datetime, databases: dict[str, int] | None = None, **kw: Any):
    """A measurement with chosen figures (and databases, which alerting.report leaves out)."""
    figures = report(**kw)
    figures["databases"] = {name: {"bytes": size} for name, size in (databases or {}).items()}
    package = db.session.get_one(Package, package_id)
    usage.record_measurement(package, figures, at, 0.01)


def story(package_id: int) -> None:
    """Four measurements 12 hours apart: mail and uploads grow 2 MiB each time, so the
    package grows 4 MiB per 12 hours from 70 to 82 MiB; themes, cache and backups stay 0."""
    for step in range(4):
        measure(
            package_id,
            NOW - timedelta(hours=36 - 12 * step),
            mailboxes={"info@alpha.example": (10 + 2 * step) * MIB, "sales@alpha.example": MIB},
            parts={
                "core": 20 * MIB,
                "plugins": 30 * MIB,
                "themes": 0,
                "uploads": (5 + 2 * step) * MIB,
                "backups": 0,
                "cache": 0,
            },
            databases={"wp_alpha": 4 * MIB},
        )


def fresh_package(package_id: int) -> Package:
    db.session.remove()
    return db.session.get_one(Package, package_id)


@contextmanager
def counted() -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


# --- the service ------------------------------------------------------------------------------


def test_history_by_part_with_quota_and_forecast(world_app: Flask, world: World) -> None:
    with world_app.app_context():
        story(world.package)
        history = usage.history_chart(fresh_package(world.package), NOW - timedelta(days=30), NOW)

    assert history.quota_bytes == QUOTA
    assert not history.daily
    assert history.taken_at == [NOW - timedelta(hours=h) for h in (36, 24, 12, 0)]
    # parts zero throughout (themes, backups, cache, other) are left out; mailboxes summed
    assert {p.key: p.values for p in history.parts} == {
        "mailboxes": [11 * MIB, 13 * MIB, 15 * MIB, 17 * MIB],
        "core": [20 * MIB] * 4,
        "plugins": [30 * MIB] * 4,
        "uploads": [5 * MIB, 7 * MIB, 9 * MIB, 11 * MIB],
        "databases": [4 * MIB] * 4,
    }
    assert [p.key for p in history.parts] == [
        "mailboxes",
        "core",
        "plugins",
        "uploads",
        "databases",
    ]
    assert history.totals == [70 * MIB, 74 * MIB, 78 * MIB, 82 * MIB]
    assert [sum(v) for v in zip(*(p.values for p in history.parts), strict=True)] == history.totals

    # the forecast is the alert policy's: 4 MiB per 12 hours, full (68 MiB on) in 204 hours
    expected = policy.forecast(
        [
            policy.Point(at, total)
            for at, total in zip(history.taken_at, history.totals, strict=True)
        ],
        QUOTA,
        NOW,
    )
    assert expected is not None and expected.hours_to_full == pytest.approx(204)
    line = history.forecast
    assert line is not None and line.reaches_quota
    assert line.bytes_per_hour == expected.bytes_per_hour == pytest.approx(MIB / 3)
    assert line.hours_to_full == expected.hours_to_full
    # points as far apart as the measured ones (12 hours) up to 204 hours, where it is full
    assert [at for at, _ in line.points[:-1]] == [
        NOW + timedelta(hours=12 * k) for k in range(1, 17)
    ]
    assert [used for _, used in line.points[:-1]] == [(82 + 4 * k) * MIB for k in range(1, 17)]
    end, used = line.points[-1]
    assert abs(end - (NOW + timedelta(hours=204))) < timedelta(seconds=1) and used == QUOTA
    # the chart's x axis runs on into the forecast, whose line starts at the last total
    assert history.times == history.taken_at + [at for at, _ in line.points]
    assert history.forecast_values == [None, None, None, 82 * MIB] + [
        used for _, used in line.points
    ]


def test_forecast_stops_fourteen_days_ahead(world_app: Flask, world: World) -> None:
    with world_app.app_context():
        for step in range(4):  # 1 MiB per 12 hours to 73 MiB: full in 924 hours
            measure(world.package, NOW - timedelta(hours=36 - 12 * step), other=(70 + step) * MIB)
        history = usage.history_chart(fresh_package(world.package), NOW - timedelta(days=3), NOW)

    assert [p.key for p in history.parts] == ["other"]
    line = history.forecast
    assert line is not None and not line.reaches_quota
    assert line.hours_to_full == pytest.approx(77 * 12)
    assert [at for at, _ in line.points] == [NOW + timedelta(hours=12 * k) for k in range(1, 29)]
    assert [used for _, used in line.points] == [(73 + k) * MIB for k in range(1, 29)]
    assert line.points[-1][1] == 73 * MIB + 28 * MIB


def test_the_forecast_has_at_most_sixty_points(world_app: Flask, world: World) -> None:
    """Hourly measurements, slow growth: a point every 336/60 hours, not every hour."""
    with world_app.app_context():
        for hour in range(40):
            measure(
                world.package, NOW - timedelta(hours=39 - hour), other=10 * MIB + 100 * 1024 * hour
            )
        history = usage.history_chart(fresh_package(world.package), NOW - timedelta(days=3), NOW)
    line = history.forecast
    assert not history.daily and len(history.taken_at) == 40
    assert line is not None and not line.reaches_quota
    assert len(line.points) == usage.HISTORY_MAX_POINTS
    assert line.points[0][0] == NOW + timedelta(hours=336 / 60)
    assert line.points[-1] == (
        NOW + timedelta(days=14),
        round(history.totals[-1] + 336 * 100 * 1024),
    )


def test_no_forecast_when_flat_full_or_too_short(world_app: Flask, world: World) -> None:
    with world_app.app_context():
        for step in range(4):
            measure(world.package, NOW - timedelta(hours=36 - 12 * step), other=70 * MIB)
            # beta is over its quota and still growing: no line to draw up to the quota
            measure(
                world.other_package,
                NOW - timedelta(hours=36 - 12 * step),
                other=(160 + step) * MIB,
            )
        flat = usage.history_chart(fresh_package(world.package), NOW - timedelta(days=3), NOW)
        full = usage.history_chart(fresh_package(world.other_package), NOW - timedelta(days=3), NOW)
        # two points of history: too few for the policy
        short = usage.history_chart(
            fresh_package(world.package), NOW - timedelta(days=3), NOW - timedelta(hours=24)
        )
        empty = usage.history_chart(
            fresh_package(world.foreign_package), NOW - timedelta(days=3), NOW
        )
    assert flat.forecast is None and flat.forecast_values == [] and flat.times == flat.taken_at
    assert full.forecast is None and full.totals[-1] == 163 * MIB
    assert short.forecast is None and len(short.taken_at) == 2
    assert empty.taken_at == [] and empty.parts == [] and empty.forecast is None


def test_the_forecast_looks_back_beyond_the_shown_period(world_app: Flask, world: World) -> None:
    """Showing the last hour only still draws the forecast the alerts would make."""
    with world_app.app_context():
        story(world.package)
        history = usage.history_chart(fresh_package(world.package), NOW - timedelta(hours=1), NOW)
    assert history.taken_at == [NOW] and history.totals == [82 * MIB]
    assert history.forecast is not None and history.forecast.hours_to_full == pytest.approx(204)
    assert history.forecast_values[0] == 82 * MIB


def test_parts_of_other_cms_and_several_sites(world_app: Flask, world: World) -> None:
    assert usage.history_part("mailbox:a@b.example") == "mailboxes"
    assert usage.history_part("database:wp") == "databases"
    assert usage.history_part("other") == "other"
    assert usage.history_part("site:/srv/a:b:plugins") == "plugins"  # a colon in the docroot
    assert usage.history_part("site:x:modules") == "plugins"
    assert usage.history_part("site:x:images") == "uploads"
    assert usage.history_part("site:x:image_cache") == "cache"
    assert usage.history_part("site:x:other") == "site_other"
    assert usage.history_part("site:x:logs") == "site_other"
    with world_app.app_context():
        package = db.session.get_one(Package, world.package)
        figures = report(parts={"plugins": 3 * MIB, "other": MIB})
        figures["sites"]["blog"] = report(parts={"plugins": 2 * MIB, "logs": MIB})["sites"][
            "public_html"
        ]
        usage.record_measurement(package, figures, NOW, 0.01)
        history = usage.history_chart(fresh_package(world.package), NOW - timedelta(days=1), NOW)
    assert {p.key: p.values for p in history.parts} == {
        "plugins": [5 * MIB],
        "site_other": [2 * MIB],
    }


def test_many_samples_are_thinned_to_the_last_of_each_day(world_app: Flask, world: World) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with world_app.app_context():
        package = db.session.get_one(Package, world.package)
        moments = [
            start + timedelta(days=day, hours=hour)
            for day in range(16)
            for hour in (5.5, 11.5, 17.5, 23.5)
        ]  # 64 samples, more than HISTORY_MAX_POINTS
        for n, moment in enumerate(moments):
            usage.record_measurement(package, report(other=(n + 1) * MIB), moment, 0.01)
        end = start + timedelta(days=16)
        in_utc = usage.history_chart(fresh_package(world.package), start, end)
        in_amsterdam = usage.history_chart(
            fresh_package(world.package), start, end, ZoneInfo("Europe/Amsterdam")
        )
        few = usage.history_chart(fresh_package(world.package), start + timedelta(days=4), end)

    assert len(moments) > usage.HISTORY_MAX_POINTS
    assert in_utc.daily and len(in_utc.taken_at) == 16
    assert in_utc.taken_at == [start + timedelta(days=d, hours=23.5) for d in range(16)]
    assert in_utc.totals == [(4 * d + 4) * MIB for d in range(16)]
    assert in_utc.parts[0].values == in_utc.totals
    # 23:30 UTC is 00:30 the next day in Amsterdam: there 17:30 UTC ends each day, and the
    # last sample alone makes a day of its own
    assert in_amsterdam.taken_at == [
        *(start + timedelta(days=d, hours=17.5) for d in range(16)),
        start + timedelta(days=15, hours=23.5),
    ]
    # 48 samples are few enough to show each
    assert not few.daily and len(few.taken_at) == 48


def test_a_constant_number_of_queries(world_app: Flask, world: World) -> None:
    with world_app.app_context():
        story(world.package)
        package = fresh_package(world.package)
        with counted() as few:
            usage.history_chart(package, NOW - timedelta(days=30), NOW)
        for n in range(80):  # many more samples, and many more parts
            measure(
                world.package,
                NOW - timedelta(days=20, hours=-n),
                mailboxes={f"m{k}@alpha.example": MIB for k in range(10)},
                parts={"core": MIB, "themes": MIB, "cache": MIB},
                databases={f"db{k}": MIB for k in range(5)},
            )
        package = fresh_package(world.package)
        with counted() as many:
            history = usage.history_chart(package, NOW - timedelta(days=30), NOW)
    assert history.daily
    assert len(few) == len(many) <= 2  # the samples, and the plan when it is not loaded


# --- the page part ------------------------------------------------------------------------------


class Tables(HTMLParser):
    """The text of every cell of every table, row by row."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def chart_specs(page: str) -> list[dict[str, Any]]:
    found = re.findall(
        r'<script type="application/json" class="chart-spec">(.*?)</script>', page, re.S
    )
    return [json.loads(text) for text in found]


def render_history(app: Flask, world: World, template: str, **context: Any) -> tuple[str, Any]:
    """The part as the hoster sees it (timezone Europe/Amsterdam, the default)."""
    with app.test_request_context():
        user = db.session.scalars(select(User).where(User.email == LOGINS["hoster"])).one()
        assert user.timezone == "Europe/Amsterdam"
        login_user(user)
        package = db.session.get_one(Package, world.package)
        history = usage.history_chart(package, NOW - timedelta(days=30), NOW)
        page = render_template(template, history=history, package=package, **context)
        labels = [format_datetime(at, "short") for at in history.times]
        return page, (history, labels)


def test_the_part_carries_the_service_data_as_spec_and_table(
    world_app: Flask, world: World
) -> None:
    with world_app.app_context():
        story(world.package)
    page, (history, labels) = render_history(world_app, world, "parts/usage_history.html")

    assert "Storage over time" in page
    [spec] = chart_specs(page)
    extra = len(history.times) - len(history.taken_at)
    assert extra == 17
    assert spec["type"] == "stacked-area" and spec["unit"] == "bytes"
    assert spec["title"] == "Storage over time"
    assert spec["quota"] == QUOTA
    assert spec["labels"] == labels
    assert "1:00" in spec["labels"][3]  # 12:00 UTC on 20 November, in Amsterdam
    assert spec["series"] == [
        {"key": p.key, "label": name, "values": p.values + [None] * extra}
        for p, name in zip(
            history.parts, ["Mailboxes", "CMS core", "Plugins", "Uploads", "Databases"], strict=True
        )
    ]
    assert spec["forecast"]["values"] == history.forecast_values
    assert spec["forecast"]["label"].startswith("Forecast: full around")

    parser = Tables()
    parser.feed(page)
    header, *rows = parser.rows
    assert header == ["Date", "Mailboxes", "CMS core", "Plugins", "Uploads", "Databases", "Total",
                      spec["forecast"]["label"]]  # fmt: skip
    assert len(rows) == len(history.times)
    assert rows[0] == [labels[0], "11 MiB", "20 MiB", "30 MiB", "5 MiB", "4 MiB", "70 MiB", ""]
    assert rows[3] == [
        labels[3],
        "17 MiB",
        "20 MiB",
        "30 MiB",
        "11 MiB",
        "4 MiB",
        "82 MiB",
        "82 MiB",
    ]
    assert rows[4] == [labels[4], "", "", "", "", "", "", "86 MiB"]
    assert rows[-1] == [labels[-1], "", "", "", "", "", "", "150 MiB"]
    for row, index in zip(rows, range(len(history.taken_at)), strict=False):
        assert row[1:6] == [format_size(p.values[index]) for p in history.parts]
        assert row[6] == format_size(history.totals[index])

    # the scripts, ours only, each once, deferred; no inline script or style
    assert page.count('src="/static/vendor/chartjs/chart.umd.min.js"') == 1
    assert page.count('src="/static/charts.js"') == 1
    assert 'role="img"' in page and 'aria-label="Storage over time.' in page
    assert not re.search(r"<script(?![^>]*(\bsrc=|application/json))", page)
    assert "style=" not in page


def test_the_part_in_dutch(world_app: Flask, world: World) -> None:
    with world_app.app_context():
        story(world.package)
        user = db.session.scalars(select(User).where(User.email == LOGINS["hoster"])).one()
        user.language = "nl"
        db.session.commit()
    page, (_history, labels) = render_history(world_app, world, "parts/usage_history.html")
    [spec] = chart_specs(page)
    assert spec["labels"] == labels and "20-11" in labels[3] and "13:00" in labels[3]
    assert spec["series"][0]["label"] == "Mailboxen"
    assert 'data-label-quota="Quotum"' in page and 'data-label-total="Totaal"' in page


def test_the_usage_part_includes_the_history(world_app: Flask, world: World) -> None:
    with world_app.app_context():
        story(world.package)
        package = db.session.get_one(Package, world.package)
        view = usage.views_of([package])[package.id]
    page, _ = render_history(world_app, world, "parts/usage.html", usage=view)
    assert len(chart_specs(page)) == 1
    assert page.index('id="usage-title"') < page.index('id="usage-history-title"')


def test_package_pages_without_a_history_still_render(world_app: Flask, world: World) -> None:
    """Until a view passes `history`, the part draws nothing and the page is as before."""
    from tests.conftest import https_client, login
    from tests.world import PASSWORD

    with world_app.app_context():
        story(world.package)
    for role, path in (
        ("hoster", f"/hoster/packages/{world.package}"),
        ("builder", f"/builder/packages/{world.package}"),
        ("owner", f"/client/packages/{world.package}"),
    ):
        client = https_client(world_app)
        login(client, LOGINS[role], PASSWORD)
        response = client.get(path)
        assert response.status_code == 200, (role, path)
        page = response.get_data(as_text=True)
        assert "82 MiB of 150 MiB" in page
        specs = chart_specs(page)
        assert len(specs) <= 1
        if specs:  # a view passes the history already
            assert specs[0]["quota"] == QUOTA
            assert page.count("charts.js") == 1


# --- the shipped files --------------------------------------------------------------------------


def test_chart_js_is_vendored_with_its_licence() -> None:
    vendor = ROOT / "static" / "vendor"
    [script] = list((vendor / "chartjs").glob("chart.umd*.js"))
    assert script.read_text(encoding="utf-8")[:200].find("Chart.js v4.") != -1
    assert "MIT" in (vendor / "chartjs" / "LICENSE.md").read_text(encoding="utf-8")
    assert "4.6.1" in (vendor / "README.md").read_text(encoding="utf-8")
    assert (ROOT / "static" / "charts.js").is_file()


def test_no_template_loads_anything_from_elsewhere() -> None:
    remote = re.compile(r"<(script|link|img|iframe)\b[^>]*\b(src|href)=[\"']?(https?:)?//", re.I)
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not remote.search(text), template
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag or 'type="application/json"' in tag, (template, tag)
    assert not re.search(r"https?://", (ROOT / "static" / "charts.js").read_text(encoding="utf-8"))


@pytest.mark.skipif(not shutil.which("node"), reason="node is not installed")
def test_the_script_writes_sizes_as_the_server_does() -> None:
    sizes = [0, 1, 1023, 1024, 1536, 10 * 1024, 150 * MIB, 157_286_399, 82 * MIB + 12345]
    sizes += [3 * 1024 * MIB, 1024**4 * 3 // 2, 2 * 1024**5, 999 * MIB + 700_000]
    program = (
        "global.window = {}; global.document = {readyState: 'complete',"
        " querySelectorAll: () => []};"
        f"require({json.dumps(str(ROOT / 'static' / 'charts.js'))});"
        f"console.log(JSON.stringify({json.dumps(sizes)}.map(window.onusFormatSize)));"
    )
    out = subprocess.run(["node", "-e", program], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [format_size(size) for size in sizes]
