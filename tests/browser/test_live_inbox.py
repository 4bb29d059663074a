"""The Inbox refreshes by itself: a run started elsewhere (here: through the API) appears in the
reviewer's open Inbox, with a toast, without a click."""

from __future__ import annotations

from pathlib import Path

import requests
from playwright.sync_api import Page, expect

from tests.browser.conftest import navigate, wait_for_text, wait_idle
from tests.browser.test_restart import pick
from tests.fakes.openai_server import FakeOpenAIServer, answer
from tests.servers import seed_database, start_server
from ui.inbox_keys import OPEN_ITEM_KEY


def test_a_new_item_appears_in_the_open_inbox_without_a_click(tmp_path: Path, page: Page) -> None:
    db = tmp_path / "live.duckdb"
    token = seed_database(db, "dana")["dana"]
    server = start_server(db, tmp_path / "server.log", extra_env={"LOOPDESK_LIVE_SECONDS": "2"})
    try:
        page.goto(server.url)
        wait_for_text(page, "Signed in as")
        wait_idle(page)
        pick(page, "Signed in as", "Jamie Rivera · Marketing reviewer")
        navigate(page, "Inbox", "Inbox")
        expect(page.get_by_text("Nothing is waiting for you.")).to_be_visible()

        r = requests.post(
            f"{server.url}/api/v1/workflows/marketing-social-post/runs?wait=30",
            json={"inputs": {"topic": "Arrives by itself"}},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert r.status_code == 201
        # no click, no reload: the list and the sidebar catch up within a refresh or two
        expect(page.get_by_text("New in your Inbox: Arrives by itself")).to_be_visible(timeout=30_000)
        item = page.locator('[class*="st-key-inbox_item_"]')
        expect(item.get_by_text("Arrives by itself", exact=True)).to_be_visible(timeout=30_000)
        expect(item.get_by_role("button", name="Open")).to_be_visible()
        expect(page.get_by_text("1 waiting for you")).to_be_visible(timeout=30_000)
        assert_counts_agree(page, 1)
    finally:
        server.stop()


def assert_counts_agree(page: Page, count: int) -> None:
    """Every count on the screen says the same: the tab, the sidebar's link and badge, the page title,
    and the list (no "nothing waiting" beside a listed item)."""
    expect(page.get_by_role("tab", name=f"Pending ({count})")).to_be_visible(timeout=30_000)
    sidebar = page.locator('[data-testid="stSidebar"]')
    link = f"Inbox ({count})" if count else "Inbox"
    expect(sidebar.get_by_role("link", name=link, exact=True)).to_be_visible()
    expect(page).to_have_title(f"Inbox ({count}) · Loopdesk" if count else "Inbox · Loopdesk")
    badge = f"{count} waiting for you" if count else "Nothing waiting for you"
    expect(sidebar.get_by_text(badge)).to_be_visible()
    items = page.locator('[class*="st-key-inbox_item_"]')
    expect(items).to_have_count(count)
    expect(page.get_by_text("Nothing is waiting for you.")).to_have_count(0 if count else 1)


def test_a_revision_arriving_while_the_inbox_is_open_is_counted_everywhere_at_once(
    tmp_path: Path, page: Page
) -> None:
    """The attack: with the revised item already listed, the tab still said "Pending (0)" and "Nothing
    is waiting for you". Every count comes from one read per refresh, so they always agree."""
    db = tmp_path / "revision.duckdb"
    token = seed_database(db, "dana")["dana"]
    model = FakeOpenAIServer().__enter__()
    # the first draft comes at once; the revision takes a few seconds, so the page is drawn before it
    model.plan(answer("A first draft about our launch."), answer("A shorter draft.", delay=4.0))
    env = {"LOOPDESK_LIVE_SECONDS": "2", "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": model.base_url}
    server = start_server(db, tmp_path / "server.log", extra_env=env)
    try:
        r = requests.post(
            f"{server.url}/api/v1/workflows/marketing-social-post/runs?wait=30",
            json={"inputs": {"topic": "Send it back"}},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert r.status_code == 201 and r.json()["status"] == "waiting"
        page.goto(server.url)
        wait_for_text(page, "Signed in as")
        wait_idle(page)
        pick(page, "Signed in as", "Jamie Rivera · Marketing reviewer")
        navigate(page, "Inbox (1)", "Inbox")
        assert_counts_agree(page, 1)
        page.get_by_label("Comment", exact=True).fill("Shorter, please")
        page.get_by_role("button", name="Request changes").click()
        wait_for_text(page, "“Send it back”: Changes requested")
        # the revision comes back while the page stays open: listed, counted, announced, everywhere
        item = page.locator('[class*="st-key-inbox_item_"]')
        expect(item.get_by_text("Send it back", exact=True)).to_be_visible(timeout=30_000)
        wait_idle(page)
        assert_counts_agree(page, 1)
        revised = page.locator(f'[class*="st-key-{OPEN_ITEM_KEY}"] textarea').first
        expect(revised).to_have_value("A shorter draft.")  # the revised draft, open beside the list
    finally:
        server.stop()
        model.__exit__(None, None, None)
