"""The Inbox refreshes by itself: a run started elsewhere (here: through the API) appears in the
reviewer's open Inbox, with a toast, without a click."""

from __future__ import annotations

from pathlib import Path

import requests
from playwright.sync_api import Page, expect

from tests.browser.conftest import navigate, wait_for_text, wait_idle
from tests.browser.test_restart import pick
from tests.servers import seed_database, start_server


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
    finally:
        server.stop()
