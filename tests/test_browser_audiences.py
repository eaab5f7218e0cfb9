"""Each audience's main path on the demo data, in a real browser (Debian's Chromium), in
English and Dutch, at desktop and phone width: the hoster's riskiest package first and its
chart, the builder's clean-up, the owner's space. The pages must show the figures the
services compute; screenshots go to ``test-artifacts/screenshots/``.

The demo is loaded once for the module: its node's files measured by the real scanner, its
mail log read, the alerts evaluated, as the worker does after ``onus demo``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask_babel import force_locale, gettext
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from panel.extensions import db
from panel.measure.units import format_size
from panel.models import Package, User
from panel.models.base import utcnow
from panel.services import alerts, demo, mail_alerts, mailflow, measurement, space, usage
from panel.services.dashboard import PackageFilters, hoster_packages
from panel.services.scope import Actor
from tests.browser import CHROMIUM, PHONE, assert_no_horizontal_scroll, chromium, screenshot
from tests.conftest import DatabaseStates, close_app, make_app
from tests.live_server import LiveServer

PASSWORD = "demo-password-for-tests"
HOSTER, BUILDER, OWNER = (
    "hoster@snelhost.example",
    "studio@pixelwerk.example",
    "directie@sprint-post.example",
)
WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": PHONE}
# both languages and both widths for every audience, in two runs each (the suite stays short)
CASES = [("en", "desktop"), ("nl", "phone")]

if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM}", allow_module_level=True)


@pytest.fixture(scope="module")
def demo_app(database: DatabaseStates, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    database.restore("empty")
    root = tmp_path_factory.mktemp("demo")
    app = make_app(database)
    with app.app_context():
        story = demo.load_story(PASSWORD, root / "node")
        now = utcnow()
        settings = measurement.NodeSettings(root / "cache", None, None)
        measurement.measure_node(story.node_id, settings)
        alerts.evaluate(measurement.package_ids(story.node_id), now)
        mail_alerts.after_ingest(mailflow.ingest_node(story.node_id, now), now)
        mail_alerts.review(now)
        db.session.remove()
    yield app
    close_app(app)


@pytest.fixture(scope="module")
def server(demo_app: Flask) -> Iterator[LiveServer]:
    with LiveServer(demo_app) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def open_page(browser: Browser, server: LiveServer, demo_app: Flask) -> Iterator[Any]:
    """A fresh context for one person in one language at one width, logged in."""
    contexts = []

    def make(email: str, lang: str, width: str) -> Page:
        with demo_app.app_context():
            user = db.session.scalars(select(User).where(User.email == email)).one()
            user.language = lang
            db.session.commit()
            db.session.remove()
        options: dict[str, Any] = {"viewport": WIDTHS[width], "base_url": server.url}
        if width == "phone":
            options.update(device_scale_factor=2, is_mobile=True, has_touch=True)
        context = browser.new_context(locale="nl-NL" if lang == "nl" else "en-GB", **options)
        context.set_default_timeout(5_000)
        contexts.append(context)
        page = context.new_page()
        page.goto("/login")
        page.locator("#email").fill(email)
        page.locator("#password").fill(PASSWORD)
        page.locator("main form button[type=submit]").click()
        expect(page.locator("header.top nav")).to_be_visible()
        return page

    yield make
    for context in contexts:
        context.close()


def words(app: Flask, lang: str, text: str, **params: Any) -> str:
    """``text`` as the panel says it in ``lang``."""
    with app.test_request_context(), force_locale(lang):
        return gettext(text, **params)


def actor_of(email: str) -> Actor:
    user = db.session.scalars(select(User).where(User.email == email)).one()
    return Actor.for_membership(user, user.memberships[0].party)


def size(app: Flask, lang: str, value: int) -> str:
    with app.test_request_context(), force_locale(lang):
        return format_size(value)


@pytest.mark.parametrize(("lang", "width"), CASES)
def test_the_hoster_sees_the_riskiest_package_first_and_its_storage_over_time(
    open_page: Any, demo_app: Flask, lang: str, width: str
) -> None:
    with demo_app.app_context():
        listing = hoster_packages(actor_of(HOSTER), PackageFilters(), 1)
        first = listing.rows[0]
        school = db.session.get_one(Package, first.id)
        total = usage.views_of([school])[school.id].used_bytes
        db.session.remove()
    assert first.name == "sprint" and first.level == "critical"  # refusing the sign-ups

    page = open_page(HOSTER, lang, width)
    expect(page.locator("html")).to_have_attribute("lang", lang)
    rows = page.locator("table.packages tbody tr")
    expect(rows).to_have_count(listing.total)
    expect(rows.first).to_contain_text("sprint")
    expect(rows.first).to_contain_text(size(demo_app, lang, first.used_bytes))
    expect(page.locator("main")).to_contain_text("info@sportschool-desprint.nl")
    screenshot(page, f"{width}-hoster-{lang}-dashboard")
    if width == "phone":
        assert_no_horizontal_scroll(page)

    rows.first.get_by_role("link", name="sprint").click()
    heading = words(demo_app, lang, "Storage over time")
    expect(page.get_by_role("heading", name=heading)).to_be_visible()
    canvas = page.locator("figure[data-chart] canvas").first
    expect(canvas).to_be_visible()
    box = canvas.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 100
    figure = page.locator("figure[data-chart]").first
    expect(figure).to_contain_text(size(demo_app, lang, total))  # the table under the chart
    if width == "phone":
        assert_no_horizontal_scroll(page)
    screenshot(page, f"{width}-hoster-{lang}-package-sprint")


@pytest.mark.parametrize(("lang", "width"), CASES)
def test_the_builder_sees_its_clients_sites_and_what_a_clean_up_would_free(
    open_page: Any, demo_app: Flask, lang: str, width: str
) -> None:
    with demo_app.app_context():
        overview = space.builder_overview(actor_of(BUILDER))
        db.session.remove()
    assert [item.package.name for item in overview.packages] == ["vandam"]
    bakery = overview.packages[0]

    page = open_page(BUILDER, lang, width)
    main = page.locator("main")
    expect(main).to_contain_text("bakkerijvandam.nl")
    expect(main).not_to_contain_text("sportschool-desprint.nl")  # another builder's client
    expect(main).to_contain_text(size(demo_app, lang, bakery.cleanup_bytes))
    expect(main).to_contain_text(size(demo_app, lang, bakery.used_bytes))
    screenshot(page, f"{width}-builder-{lang}-dashboard")
    if width == "phone":
        assert_no_horizontal_scroll(page)


@pytest.mark.parametrize(("lang", "width"), CASES)
def test_the_owner_sees_its_space_in_one_picture_and_where_it_is_warned(
    open_page: Any, demo_app: Flask, lang: str, width: str
) -> None:
    with demo_app.app_context():
        [school] = space.owner_spaces(actor_of(OWNER))
        db.session.remove()

    page = open_page(OWNER, lang, width)
    main = page.locator("main")
    expect(page.get_by_role("heading", name=words(demo_app, lang, "Your space"))).to_be_visible()
    expect(main).to_contain_text(size(demo_app, lang, school.used_bytes))
    expect(main).to_contain_text(size(demo_app, lang, school.free_bytes))
    for share in school.shares:
        if share.key == "mailbox":
            expect(main).to_contain_text(share.name)
    expect(main.locator("figure[data-chart] canvas").first).to_be_visible()
    expect(main).to_contain_text(OWNER)  # the address Onus warns the school at
    expect(main).not_to_contain_text("bakkerijvandam.nl")  # another owner's package
    button = words(demo_app, lang, "Acknowledge")
    expect(main.get_by_role("button", name=button).first).to_be_visible()
    screenshot(page, f"{width}-owner-{lang}-space")
    if width == "phone":
        assert_no_horizontal_scroll(page)
