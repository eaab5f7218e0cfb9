"""Browser tests: Debian's Chromium, driven by Playwright, against the app served by waitress.

Each test gets the seeded world (``world_app``), its own live server and a fresh browser
context; the browser itself is started once for the module. The session cookie keeps the
production setting (``Secure``): Chromium treats http://127.0.0.1 as a secure context and
stores and sends Secure cookies there, which ``test_session_cookie_is_secure`` pins down.

Screenshots of the main pages go to ``test-artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from tests.browser import (
    CHROMIUM,
    PHONE,
    assert_no_horizontal_scroll,
    chromium,
    screenshot,
)
from tests.live_server import LiveServer
from tests.world import LOGINS, PASSWORD, World

TIMEOUT_MS = 5_000
ALPHA_DOMAINS = ["alpha-extra.example", "alpha.example"]

if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM}", allow_module_level=True)


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the whole module."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def live_server(world_app: Flask) -> Iterator[LiveServer]:
    """The world app over real HTTP; stopped (threads joined) before the database is closed."""
    with LiveServer(world_app) as server:
        yield server
    assert not server.running


@pytest.fixture
def new_context(browser: Browser, live_server: LiveServer) -> Iterator[Any]:
    """Make fresh browser contexts pointed at the live server; all closed at teardown."""
    contexts: list[BrowserContext] = []

    def make(**options: Any) -> BrowserContext:
        options.setdefault("locale", "en-GB")
        context = browser.new_context(base_url=live_server.url, **options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_context: Any) -> Page:
    """A page in a fresh desktop-sized context."""
    return new_context(viewport={"width": 1280, "height": 800}).new_page()


@pytest.fixture
def phone_page(new_context: Any) -> Page:
    """A page in a fresh phone-sized context (390x844, touch, mobile viewport rules)."""
    return new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    ).new_page()


# --- helpers -----------------------------------------------------------------------------------


def log_in(page: Page, role: str) -> None:
    """Through the login form, as a person would."""
    page.goto("/login")
    page.locator("#email").fill(LOGINS[role])
    page.locator("#password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page.locator("header.top nav")).to_be_visible()


def column(table: Locator, index: int = 0) -> list[str]:
    """The trimmed texts of one column of a table's body."""
    cells = table.locator(f"tbody tr td:nth-child({index + 1})")
    return [text.strip() for text in cells.all_inner_texts()]


def domains(text: str) -> list[str]:
    """A comma-separated list of domains, in a fixed order (the page's order is not the point)."""
    return sorted(name.strip() for name in text.split(","))


# --- tests -------------------------------------------------------------------------------------


def test_session_cookie_is_secure(page: Page) -> None:
    """The production cookie setting holds in the browser: Secure, HttpOnly, Lax, and kept."""
    log_in(page, "owner")
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["session"]
    assert session["secure"] and session["httpOnly"] and session["sameSite"] == "Lax"
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your hosting")


def test_hoster_adds_a_mailbox_and_sees_it_audited(page: Page, world_app: Flask) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))
    log_in(page, "hoster")

    expect(page).to_have_url(re.compile(r"/hoster/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Packages")
    packages = page.get_by_role("table")
    assert column(packages) == ["alpha", "beta"]  # not gamma: another hoster's
    assert [domains(cell) for cell in column(packages, 1)] == [ALPHA_DOMAINS, ["beta.example"]]
    expect(packages).to_contain_text("Owner Alpha · builder: Builder One")
    screenshot(page, "desktop-hoster-packages")

    packages.get_by_role("link", name="alpha", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Package alpha")
    mail = page.locator("section").filter(
        has=page.get_by_role("heading", name=re.compile(r"^Mailboxes"))
    )
    expect(mail.get_by_role("heading", level=2)).to_have_text("Mailboxes (1 / 3)")
    mail.get_by_label("Name before the @").fill("sales")
    mail.get_by_label("Domain").select_option("alpha.example")
    mail.get_by_role("button", name="Add mailbox").click()

    expect(page.locator(".flash.success")).to_have_text("Mailbox created.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Package alpha")
    expect(mail.get_by_role("heading", level=2)).to_have_text("Mailboxes (2 / 3)")
    assert column(mail.get_by_role("table")) == ["info@alpha.example", "sales@alpha.example"]
    screenshot(page, "desktop-hoster-package-alpha")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")
    newest = page.locator("table.audit tbody tr").first
    expect(newest).to_contain_text("hoster@one.example")
    expect(newest).to_contain_text(
        re.compile(r"create Mailbox #\d+: Mailbox sales@alpha\.example created")
    )
    expect(newest.locator("ul.changes li", has_text="address")).to_have_text(
        re.compile(r"^\s*address\s+sales@alpha\.example\s*$")
    )
    screenshot(page, "desktop-hoster-audit-log")

    # what the browser did reached the database the test set up
    from sqlalchemy import select

    from panel.extensions import db
    from panel.models import Mailbox

    with world_app.app_context():
        addresses = db.session.scalars(select(Mailbox.address).order_by(Mailbox.address)).all()
    assert "sales@alpha.example" in addresses


def test_builder_sees_only_its_package(page: Page, world: World) -> None:
    log_in(page, "builder")
    expect(page).to_have_url(re.compile(r"/builder/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Packages you build for")
    packages = page.get_by_role("table")
    assert column(packages) == ["alpha"]
    expect(packages).not_to_contain_text("beta")
    expect(packages).to_contain_text("Owner Alpha")
    screenshot(page, "desktop-builder-packages")

    packages.get_by_role("link", name="alpha", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Package alpha")
    expect(page.locator("dl.facts")).to_contain_text("150 MiB shared by mail and website")
    screenshot(page, "desktop-builder-package-alpha")

    response = page.goto(f"/builder/packages/{world.other_package}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(page.locator("main")).to_contain_text("There is nothing here, or it is not yours.")
    expect(page.locator("main")).not_to_contain_text("beta")
    screenshot(page, "desktop-builder-404")


def owner_path(page: Page, label: str) -> None:
    """The owner logs in, sees its one package with the shared-storage sentence, opens it."""
    log_in(page, "owner")
    expect(page).to_have_url(re.compile(r"/client/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your hosting")
    cards = page.locator("main section.card")
    expect(cards).to_have_count(1)
    card = cards.first
    assert domains(card.get_by_role("heading", level=2).inner_text()) == ALPHA_DOMAINS
    expect(card).to_contain_text(
        "Your package has 150 MiB, shared by your mailbox and your website."
    )
    expect(page.locator("main")).not_to_contain_text("beta")
    screenshot(page, f"{label}-owner-packages")
    if label == "phone":
        assert_no_horizontal_scroll(page)

    card.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("alpha-extra.example")
    assert domains(page.get_by_role("heading", level=1).inner_text()) == ALPHA_DOMAINS
    expect(page.locator("main")).to_contain_text(
        "Your package has 150 MiB, shared by your mailboxes and your website."
    )
    expect(page.get_by_role("table")).to_contain_text("info@alpha.example")
    screenshot(page, f"{label}-owner-package-alpha")
    if label == "phone":
        assert_no_horizontal_scroll(page)


def test_owner_sees_its_package_in_plain_words(page: Page) -> None:
    owner_path(page, "desktop")


def test_owner_at_phone_width_has_no_sideways_scrolling(phone_page: Page) -> None:
    phone_page.goto("/login")
    assert_no_horizontal_scroll(phone_page)
    screenshot(phone_page, "phone-login")
    owner_path(phone_page, "phone")


@pytest.mark.parametrize(
    ("browser_locale", "lang"), [("en-GB", "en"), ("nl-NL", "nl")], ids=["en", "nl"]
)
def test_login_with_the_keyboard(new_context: Any, browser_locale: str, lang: str) -> None:
    context = new_context(
        viewport={"width": 1280, "height": 800},
        locale=browser_locale,
        extra_http_headers={"Accept-Language": lang},
    )
    page = context.new_page()
    page.goto("/login")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    screenshot(page, f"desktop-login-{lang}")

    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement.id || document.activeElement.className")
    assert focused in {"email", "skip"}, f"the first Tab focused {focused!r}"
    if focused == "skip":
        skip = page.locator("a.skip")
        expect(skip).to_be_focused()
        box = skip.bounding_box()
        assert box is not None and box["x"] >= 0 and box["y"] >= 0, "focused skip link is hidden"
        screenshot(page, f"desktop-login-{lang}-skip-link-focused")
        page.keyboard.press("Enter")  # jump to the content; the next Tab starts from there
        page.keyboard.press("Tab")
    email = page.locator("#email")
    expect(email).to_be_focused()

    page.keyboard.type(LOGINS["hoster"])
    page.keyboard.press("Tab")
    expect(page.locator("#password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"/hoster/$"))
    expect(page.locator("table")).to_contain_text("alpha")
    # once logged in, the person's own language setting (English here) wins over the browser's
    expect(page.locator("html")).to_have_attribute("lang", "en")


def accept_agreement(page: Page) -> None:
    """On an agreement page: accept it, and see the acknowledgement recorded."""
    page.get_by_role("button", name="I have read and accept this agreement").click()
    expect(page.locator(".flash.success")).to_have_text(
        "Thank you: your acknowledgement is recorded."
    )
    accept = page.get_by_role("button", name="I have read and accept this agreement")
    expect(accept).to_have_count(0)


def test_terms_written_applied_and_acknowledged_by_every_party(new_context: Any) -> None:
    """The hoster writes terms and applies them to alpha; hoster, builder and owner each
    read and accept; the hoster's list then says agreed by all."""
    desktop = {"viewport": {"width": 1280, "height": 800}}
    hoster = new_context(**desktop).new_page()
    log_in(hoster, "hoster")
    hoster.get_by_role("navigation", name="Main").get_by_role("link", name="Terms").click()
    expect(hoster.get_by_role("heading", level=1)).to_have_text("Terms")
    hoster.get_by_role("link", name="New terms").click()
    hoster.get_by_label("Name").fill("Browser terms")
    hoster.get_by_label("Terms in English").fill("We keep your site running.\n\nCall us first.")
    hoster.get_by_label("Terms in Dutch").fill("Wij houden je site in de lucht.\n\nBel ons eerst.")
    expect(hoster.get_by_label("mailbox contents: answers for it")).to_have_value("owner")
    hoster.get_by_label("Notice at (%)").fill("75")
    hoster.get_by_role("button", name="Save").click()
    expect(hoster.locator(".flash.success")).to_have_text("Terms saved.")
    expect(hoster.get_by_role("table")).to_contain_text("Browser terms")

    hoster.get_by_role("navigation", name="Main").get_by_role("link", name="Packages").click()
    hoster.get_by_role("table").get_by_role("link", name="alpha", exact=True).click()
    agreement = hoster.locator("section").filter(
        has=hoster.get_by_role("heading", name="Agreement", exact=True)
    )
    expect(agreement).to_contain_text("no agreement")
    agreement.get_by_label("Terms").select_option(label="Browser terms, version 1")
    agreement.get_by_role("button", name="Apply terms").click()
    expect(hoster.locator(".flash.success")).to_contain_text("Agreement made")
    expect(agreement).to_contain_text("waiting for Builder One, Hoster one, Owner Alpha since")
    agreement.get_by_role("link", name="Read the agreement").click()
    expect(hoster.locator(".terms")).to_contain_text("We keep your site running.")
    expect(hoster.locator(".terms")).to_contain_text("You answer for the size of the package")
    accept_agreement(hoster)

    builder = new_context(**desktop).new_page()
    log_in(builder, "builder")
    builder.get_by_role("link", name="read and acknowledge").click()
    expect(builder.get_by_role("heading", level=1)).to_have_text("Agreement for package alpha")
    expect(builder.locator(".terms")).to_contain_text("You answer for the website's files")
    accept_agreement(builder)

    owner = new_context(**desktop).new_page()
    log_in(owner, "owner")
    owner.locator("main section.card").get_by_role("link", name="Read and acknowledge").click()
    expect(owner.locator(".terms")).to_contain_text(
        "Your package has 150 MiB, shared by your mailboxes and your website."
    )
    expect(owner.locator(".terms")).to_contain_text("a notice at 75 %")
    accept_agreement(owner)
    acknowledgements = owner.locator("table.acknowledgements")
    expect(acknowledgements).not_to_contain_text("not yet")
    expect(acknowledgements).to_contain_text("Builder One")
    screenshot(owner, "desktop-owner-agreement")

    hoster.goto("/hoster/?agreement=agreed")
    packages = hoster.get_by_role("table")
    assert column(packages) == ["alpha"]
    expect(packages.locator("tbody tr").first).to_contain_text("agreed by all")


def test_owner_acknowledges_an_alert_from_the_mail_and_the_hoster_sees_it(
    new_context: Any, world_app: Flask, world: World
) -> None:
    """Alpha's mailbox goes over its quota; the warning mail really goes out (to an SMTP
    sink); the owner opens the link in its body without logging in, acknowledges, and the
    hoster's alert list at phone width shows who did."""
    from datetime import timedelta

    from panel.extensions import db
    from panel.models.base import utcnow
    from tests.alerting import evaluate, measure
    from tests.smtp import SMTPSink

    with SMTPSink() as smtp:
        world_app.config.update(ONUS_MAIL_SERVER=smtp.host, ONUS_MAIL_PORT=smtp.port)
        with world_app.app_context():
            now = utcnow()
            mailbox = {"info@alpha.example": 55 * 1024 * 1024}
            measure(world.package, now - timedelta(minutes=1), mailboxes=mailbox)
            evaluate([world.package], now)
            db.session.remove()
        received = smtp.wait_for(3)
    mail = next(r for r in received if r.rcpt_tos == ["owner@elsewhere.example"])
    body = mail.message.get_body(("plain",))
    assert body is not None
    link = re.search(r"https?://[^/\s]+(/ack/\S+)", body.get_content())
    assert link is not None, body.get_content()

    owner = new_context(viewport={"width": 1280, "height": 800}).new_page()
    owner.goto(link.group(1))
    expect(owner.get_by_role("heading", level=1)).to_have_text("Acknowledge an alert")
    facts = owner.locator("dl.facts")
    expect(facts).to_contain_text("mailbox info@alpha.example")
    expect(facts).to_contain_text("55 MiB of 50 MiB (110 %)")
    expect(facts).to_contain_text("Owner Alpha")
    owner.get_by_role("button", name="Acknowledge").click()
    expect(owner.locator(".flash.success")).to_have_text(
        "Thank you: the acknowledgement is recorded."
    )
    expect(owner.locator("p.done")).to_contain_text("Acknowledged by Owner Alpha at")
    expect(owner.get_by_role("button", name="Acknowledge")).to_have_count(0)
    screenshot(owner, "desktop-owner-alert-ack")

    hoster = new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    ).new_page()
    log_in(hoster, "hoster")
    hoster.get_by_role("navigation", name="Main").get_by_role("link", name="Alerts").click()
    expect(hoster.get_by_role("heading", level=1)).to_have_text("Alerts")
    row = hoster.locator("table.active-alerts tbody tr").first
    expect(row).to_contain_text("mailbox info@alpha.example")
    expect(row).to_contain_text("acknowledged")
    screenshot(hoster, "phone-hoster-alerts")
    assert_no_horizontal_scroll(hoster)


def test_a_full_mailbox_from_the_log_to_the_evidence_report(
    new_context: Any, world_app: Flask, world: World, tmp_path: Path
) -> None:
    """The hoster points Onus at a node's log through the form; the log says info@ refused
    three messages because it is full; the hoster sees the source read, the package's mail
    page and the critical alert; the owner, in Dutch, gets the evidence report with the same
    figures."""
    from datetime import timedelta

    from sqlalchemy import select

    from panel.extensions import db
    from panel.models import User
    from panel.models.base import utcnow
    from panel.services import mail_alerts, mailflow

    now = utcnow().replace(microsecond=0)
    log = tmp_path / "mail.log"
    lines = [
        f"{(now - timedelta(minutes=50)).isoformat()} mx1 postfix/lmtp[9]: Q1000000001: "
        "to=<info@alpha.example>, relay=mx[private/dovecot-lmtp], delay=0.2, dsn=2.0.0, "
        "status=sent (250 2.0.0 Saved)"
    ] + [
        f"{(now - timedelta(minutes=9 - 3 * i)).isoformat()} mx1 postfix/lmtp[9]: Q20000000{i}: "
        "to=<info@alpha.example>, relay=mx[private/dovecot-lmtp], delay=1, dsn=5.2.2, "
        "status=bounced (host mx said: 552 5.2.2 <info@alpha.example> Mailbox is full)"
        for i in range(3)
    ]
    log.write_text("\n".join(lines) + "\n")

    hoster = new_context(viewport={"width": 1280, "height": 800}).new_page()
    log_in(hoster, "hoster")
    hoster.get_by_role("navigation", name="Main").get_by_role("link", name="Mail logs").click()
    expect(hoster.get_by_role("heading", level=1)).to_have_text("Mail logs")
    hoster.get_by_label("Log file").fill(str(log))
    hoster.get_by_label("Format").select_option("postfix")
    hoster.get_by_role("button", name="Follow this log").click()
    expect(hoster.locator(".flash.success")).to_contain_text(f"Onus now follows {log}.")
    with world_app.app_context():  # what the node's worker does when beat says so
        ingested = mailflow.ingest_node(world.node, now)
        mail_alerts.after_ingest(ingested, now)
        owner = db.session.scalars(select(User).where(User.email == LOGINS["owner"])).one()
        owner.language = "nl"  # the owner reads the panel in Dutch
        db.session.commit()
        db.session.remove()
    hoster.reload()
    expect(hoster.locator("main")).to_contain_text(str(log))
    screenshot(hoster, "desktop-hoster-mail-logs")

    hoster.goto(f"/hoster/packages/{world.package}")
    hoster.get_by_role("link", name="Mail: messages per mailbox and every refused message").click()
    main = hoster.locator("main")
    expect(main).to_contain_text("3 messages were refused in this period.")
    expect(main).to_contain_text("552 5.2.2")
    expect(main).to_contain_text("the recipient's mailbox is full")
    screenshot(hoster, "desktop-hoster-package-mail")
    hoster.goto("/alerts")
    expect(hoster.locator("main")).to_contain_text("mail to info@alpha.example")

    owner = new_context(viewport=PHONE, locale="nl-NL", is_mobile=True, has_touch=True).new_page()
    log_in(owner, "owner")
    owner.goto(f"/packages/{world.package}/report")
    expect(owner.get_by_role("heading", level=1)).to_have_text("Bewijsrapport voor pakket alpha")
    report = owner.locator("main")
    expect(report).to_contain_text("Berichten geweigerd")
    expect(report).to_contain_text("kritiek mail geweigerd voor info@alpha.example (mailbox vol)")
    expect(report).to_contain_text("mail geweigerd: 3 berichten geweigerd sinds")
    screenshot(owner, "phone-owner-evidence-report")
    assert_no_horizontal_scroll(owner)


def test_an_owner_makes_an_api_token_uses_it_and_revokes_it(
    phone_page: Page, live_server: LiveServer
) -> None:
    """From the account page at phone width: the token is shown once, answers the API as
    its person, and stops working when revoked."""

    def me(token: str) -> tuple[int, dict[str, Any]]:
        call = urllib.request.Request(
            f"{live_server.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}
        )
        try:
            with urllib.request.urlopen(call, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as refused:
            return refused.code, json.loads(refused.read())

    page = phone_page
    log_in(page, "owner")
    page.goto("/account")
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("home automation")
    page.get_by_role("button", name="Make a token").click()
    secret = page.locator("#new-token").inner_text()
    assert secret.startswith("onus_")
    assert_no_horizontal_scroll(page)
    screenshot(page, "phone-api-token")

    status, body = me(secret)
    assert status == 200, body
    assert body["party"]["name"] == "Owner Alpha" and body["party"]["kind"] == "owner"

    page.goto("/account/tokens")
    expect(page.locator("#new-token")).to_have_count(0)  # shown once
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator("main")).to_contain_text("no longer works")
    status, problem = me(secret)
    assert status == 401 and problem["status"] == 401
