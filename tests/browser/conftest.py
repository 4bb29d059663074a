"""Real-browser fixtures: a Streamlit server on 127.0.0.1 and Debian's Chromium via Playwright.

These tests never skip: without /usr/bin/chromium they fail and say how to install it.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.servers import ROOT, Server, start_server

__all__ = ["Server", "start_server"]

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder `browser` so `-m browser` selects them."""
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A fresh app on its own database; stopped after the test."""
    srv = start_server(tmp_path / "browser.duckdb", tmp_path / "streamlit.log")
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium (never a downloaded browser)."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail("Debian's chromium is missing: run `apt-get install -y chromium`")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Remember each phase's result so the page fixture can screenshot failures."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page (1400x1000); a screenshot lands in test-artifacts/ when the test fails."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    said: list[str] = []  # what the page said while the test ran, kept for a failure
    pg.on("console", lambda m: said.append(f"{time.strftime('%H:%M:%S')} console.{m.type}: {m.text}"))
    pg.on("pageerror", lambda e: said.append(f"{time.strftime('%H:%M:%S')} page error: {e}"))
    pg.on("framenavigated", lambda f: said.append(f"{time.strftime('%H:%M:%S')} navigated: {f.url}"))
    pg.on("crash", lambda _: said.append(f"{time.strftime('%H:%M:%S')} the page crashed"))
    yield pg
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / f"{request.node.name}.log").write_text("\n".join(said))
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


BUSY = '[data-testid="stStatusWidget"], [data-stale="true"]'
"""A rerun in progress: the status widget, or elements of the previous run not yet replaced (they
stay on the page, greyed, until the new run has drawn everything; a locator can find both)."""


def wait_idle(page: Page, timeout: float = 20.0) -> None:
    """Wait until Streamlit has finished rerunning: no status widget and no stale element left."""
    deadline = time.time() + timeout
    page.wait_for_timeout(300)
    while time.time() < deadline:
        if page.locator(BUSY).count() == 0:
            page.wait_for_timeout(300)
            if page.locator(BUSY).count() == 0:
                return
        page.wait_for_timeout(200)


_COUNT_REPLIES = """() => {
  if (window.__loopdeskReplies) return;
  window.__loopdeskReplies = { last: Date.now() };
  window.addEventListener('message', (e) => {
    if (e.data && e.data.type === 'streamlit:setComponentValue') window.__loopdeskReplies.last = Date.now();
  }, true);
}"""


def wait_quiet(page: Page, quiet_ms: int = 1000, timeout: float = 20.0) -> None:
    """Wait until Streamlit is idle and no component (the canvas) has sent a value for `quiet_ms`.

    A click that Streamlit sends in the same instant as the canvas's answer to a state it was just
    sent can be lost on a busy machine (seen with Streamlit 1.67: the button's callback never runs;
    a person clicks again). A test clicks once, so it clicks when the canvas has answered.
    """
    page.evaluate(_COUNT_REPLIES)
    deadline = time.time() + timeout
    while True:
        wait_idle(page, max(1.0, deadline - time.time()))
        since = page.evaluate("() => Date.now() - window.__loopdeskReplies.last")
        if since >= quiet_ms or time.time() > deadline:
            return
        page.wait_for_timeout(quiet_ms - since + 50)


def wait_for_text(page: Page, text: str, timeout: float = 20.0) -> None:
    """Poll until `text` is visible on the page (Streamlit reruns replace the DOM)."""
    page.get_by_text(text).first.wait_for(state="visible", timeout=timeout * 1000)


WaitIdle = Callable[[Page], None]


def navigate(page: Page, link: str, heading: str, attempts: int = 4) -> None:
    """Click a sidebar link until the page with `heading` shows.

    Right after a page loads, its canvases report their first layout and Streamlit reruns
    the old page; a navigation click landing in that moment can be dropped, as it can for
    a person clicking early, who would simply click again.
    """
    target = page.get_by_role("heading", name=heading, exact=True)
    for _ in range(attempts):
        page.locator('[data-testid="stSidebar"]').get_by_role("link", name=link).click()
        wait_idle(page)
        try:
            target.wait_for(state="visible", timeout=8_000)
            return
        except PlaywrightTimeoutError:
            continue
    raise AssertionError(f"clicking {link!r} never opened the {heading!r} page")
