"""Start a run and watch the draft being written: the progress names the step in flight and shows
the draft growing as its tokens arrive (the AI server streams slowly), then says who reviews it."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import navigate, wait_for_text, wait_idle
from tests.browser.test_restart import pick
from tests.fakes.openai_server import FakeOpenAIServer, answer
from tests.servers import start_server

DRAFT = " ".join(f"Spring{i}" for i in range(80))


def test_the_draft_grows_on_the_start_a_run_page(tmp_path: Path, page: Page) -> None:
    with FakeOpenAIServer() as ai:
        ai.plan(answer(DRAFT, chunk_delay=0.15))  # about 4 s for the whole draft
        env = {"OPENAI_API_KEY": "sk-test-live", "OPENAI_BASE_URL": ai.base_url}
        server = start_server(tmp_path / "live.duckdb", tmp_path / "server.log", extra_env=env)
        try:
            page.goto(server.url)
            wait_idle(page)
            navigate(page, "Start a run", "Start a run")
            pick(page, "Workflow", "Marketing social post")
            page.get_by_label("Topic", exact=True).fill("Spring sale")
            page.get_by_role("button", name="Start run").click()

            # mid-stream: the step in flight is named and part of the draft is already shown
            expect(page.get_by_text("Running Draft the post").first).to_be_visible(timeout=20_000)
            expect(page.get_by_text("words so far").first).to_be_visible(timeout=20_000)
            partial = page.locator('[data-testid="stCode"]').first.inner_text()
            assert partial.startswith("Spring0") and len(partial) < len(DRAFT)

            wait_for_text(page, "is waiting for Jamie Rivera", timeout=40)
            expect(page.get_by_text("words so far")).to_have_count(0)
        finally:
            server.stop()
