"""What the browser tests share: Debian's Chromium, a phone's viewport, screenshots under
``test-artifacts/screenshots/`` (git-ignored), and the check that a page does not scroll
sideways."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's headless Chromium, driven by Playwright, for as long as the block lasts."""
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def assert_no_horizontal_scroll(page: Page) -> None:
    """The page fits its viewport's width; the failure names what sticks out (outside any
    element that scrolls by itself)."""
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    if widths[0] <= widths[1]:
        return
    culprits = page.evaluate(_STICKING_OUT, widths[1])
    raise AssertionError(
        f"{page.url} scrolls sideways: {widths[0]} > {widths[1]} px: " + "; ".join(culprits)
    )


_STICKING_OUT = """(width) => Array.from(document.querySelectorAll('body *'))
  .filter(e => {
    if (e.getBoundingClientRect().right <= width + 1) return false;
    if (['absolute', 'fixed'].includes(getComputedStyle(e).position)) return true;
    for (let p = e.parentElement; p; p = p.parentElement) {
      if (['auto', 'hidden', 'scroll'].includes(getComputedStyle(p).overflowX)) return false;
    }
    return true;
  })
  .slice(0, 5)
  .map(e => {
    const right = Math.round(e.getBoundingClientRect().right);
    return `${e.tagName.toLowerCase()}.${e.className} (${right} px)`;
  })"""
