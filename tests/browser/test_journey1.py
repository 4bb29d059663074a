"""Journey 1 in a real browser, offline: start the marketing post, review and edit it, see it published."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from engine.store.duckdb import DuckDBStore
from tests.browser.conftest import Server, navigate, wait_for_text, wait_idle

EDITED = "Every campaign result in one place, refreshed every hour."


def pick(page: Page, label: str, option: str) -> None:
    """Choose an option of a Streamlit selectbox by its label."""
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option).first.click()
    wait_idle(page)


def sentence_to_edit(draft: str) -> str:
    """One sentence of the demo draft (its longest line that isn't the demo tag)."""
    lines = [line for line in draft.splitlines() if line.strip() and not line.startswith("[Demo")]
    return max(lines, key=len)


def test_journey1_marketing_post_from_form_to_published(server: Server, page: Page) -> None:
    page.goto(server.url)
    wait_idle(page)
    wait_for_text(page, "Signed in as")

    # A requester starts the marketing workflow from its form (defaults are prefilled).
    navigate(page, "Start a run", "Start a run")
    pick(page, "Workflow", "Marketing social post")
    topic = page.get_by_label("Topic", exact=True).input_value()
    assert topic == "the launch of our new analytics dashboard"
    page.get_by_role("button", name="Start run").click()
    wait_for_text(page, "is waiting for Jamie Rivera")
    wait_for_text(page, "Draft the post")

    # The reviewer signs in (demo picker) and finds the draft in her inbox.
    pick(page, "Signed in as", "Jamie Rivera · Marketing reviewer")
    navigate(page, "Inbox (1)", "Inbox")
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    item = page.locator('[class*="st-key-inbox_item_"]')
    expect(item).to_have_count(1)
    expect(item.get_by_text(topic)).to_be_visible()
    # The oldest item opens by itself, so the reviewer can decide at once.
    expect(item.get_by_role("button", name="Opened")).to_be_disabled()
    wait_for_text(page, "Check the LinkedIn draft for tone")

    # She edits one sentence of the draft and approves.
    draft = page.locator('[data-testid="stForm"] textarea').first
    original = draft.input_value()
    assert "let's talk about" in original and "[Demo" not in original
    expect(page.get_by_text("demo output (offline demo model)").first).to_be_visible()
    sentence = sentence_to_edit(original)
    draft.fill(original.replace(sentence, EDITED))
    page.get_by_role("button", name="Approve").click()
    wait_for_text(page, "Approved with 1 edited value")
    wait_for_text(page, "Nothing is waiting for you")

    # The board shows the task reaching the last section.
    navigate(page, "Board", "Board")
    expect(page.get_by_role("combobox", name="Workflow")).to_have_value("Marketing social post")
    published = page.locator(".st-key-board_col_published")
    deadline = time.monotonic() + 20
    while published.get_by_text(topic).count() == 0:
        assert time.monotonic() < deadline, "the task never reached Published on the board"
        page.wait_for_timeout(500)
    expect(published.get_by_text("completed")).to_be_visible()
    expect(page.locator(".st-key-board_col_draft_review").get_by_text(topic)).to_have_count(0)

    # After the app stops, the database shows the edited sentence went into the translation.
    server.stop()
    store = DuckDBStore(str(server.db_path))
    try:
        runs = store.list_runs(workflow_id="marketing-social-post")
        assert [(r.title, r.status, r.section) for r in runs] == [(topic, "completed", "Published")]
        steps = store.list_steps(runs[0].id)
        translate = next(s for s in steps if s.node_id == "translate")
        prompt = "\n".join(m["content"] for m in translate.input["messages"])
        assert EDITED in prompt and sentence not in prompt
        review = next(s for s in steps if s.node_id == "review")
        assert review.output["by"] == "jamie" and review.output["edits"]["draft"]["before"] == original
    finally:
        store.close()
