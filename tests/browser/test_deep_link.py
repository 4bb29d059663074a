"""A bookmarked page opened first on a fresh server still gets the app shell."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import Server, wait_for_text, wait_idle


def test_deep_link_on_fresh_server_shows_navigation_and_identity(server: Server, page: Page) -> None:
    page.goto(f"{server.url}/inbox")
    wait_for_text(page, "Signed in as")
    wait_idle(page)
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar.get_by_role("link", name="Start a run")).to_be_visible()
    expect(sidebar.get_by_text("Designer", exact=True)).to_be_visible()
