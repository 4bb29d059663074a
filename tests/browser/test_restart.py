"""Journey 4: the app stops while one run waits for approval and another's AI step is in flight;
after a restart both carry on and nothing is lost or repeated."""

from __future__ import annotations

import time
from pathlib import Path

from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from engine.store.duckdb import DuckDBStore
from tests.browser.conftest import navigate, start_server, wait_for_text, wait_idle
from tests.fakes.openai_server import FakeOpenAIServer, answer


def pick(page: Page, label: str, option: str) -> None:
    """Choose a selectbox option, retrying while a rerun replaces the list under the click."""
    for attempt in range(4):
        try:
            page.get_by_role("combobox", name=label).click()
            page.get_by_role("option", name=option).first.click(timeout=5_000)
            wait_idle(page)
            return
        except PlaywrightTimeoutError:
            if attempt == 3:
                raise
            page.keyboard.press("Escape")
            wait_idle(page)


def start_marketing_run(page: Page, url: str, topic: str) -> None:
    """Submit the marketing form with a topic from the Start a run page."""
    page.goto(url)
    wait_idle(page)
    navigate(page, "Start a run", "Start a run")
    pick(page, "Workflow", "Marketing social post")
    page.get_by_label("Topic", exact=True).fill(topic)
    page.get_by_role("button", name="Start run").click()


def test_journey4_runs_survive_an_app_restart(tmp_path: Path, browser: Browser) -> None:
    db = tmp_path / "restart.duckdb"
    with FakeOpenAIServer() as ai:
        env = {"OPENAI_API_KEY": "sk-test-restart", "OPENAI_BASE_URL": ai.base_url}
        first = start_server(db, tmp_path / "first.log", extra_env=env)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(20_000)
        try:
            start_marketing_run(page, first.url, "Run that waits")
            wait_for_text(page, "is waiting for Jamie Rivera")
            ai.plan(answer("never delivered", delay=120))
            start_marketing_run(page, first.url, "Run cut off mid-step")
            deadline = time.monotonic() + 30
            while len(ai.chat_requests) < 2:
                assert time.monotonic() < deadline, "the second AI call never started"
                time.sleep(0.1)
        finally:
            context.close()
        stopped = time.monotonic()
        first.stop()
        assert time.monotonic() - stopped < 14, "stopping the app waited for the AI call"

        with DuckDBStore(str(db)) as store:
            by_title = {r.title: r for r in store.list_runs()}
            assert by_title["Run that waits"].status == "waiting"
            cut = by_title["Run cut off mid-step"]
            assert (cut.status, cut.current_node) == ("running", "draft")

        second = start_server(db, tmp_path / "second.log", extra_env=env)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(20_000)
        try:
            deadline = time.monotonic() + 30
            while True:  # a reload signs in as the default user again: choose Jamie each time
                page.goto(second.url)
                wait_for_text(page, "Signed in as")
                wait_idle(page)
                pick(page, "Signed in as", "Jamie Rivera · Marketing reviewer")
                if page.get_by_role("link", name="Inbox (2)").count():
                    break
                assert time.monotonic() < deadline, "both runs should be waiting for Jamie"
                time.sleep(1)
            navigate(page, "Inbox (2)", "Inbox")
            expect(page.get_by_text("Run cut off mid-step").first).to_be_visible()
            expect(page.get_by_text("Run that waits").first).to_be_visible()
        finally:
            context.close()
            second.stop()
        assert len(ai.chat_requests) == 3  # the cut-off call was made again, nothing else

    with DuckDBStore(str(db)) as store:
        runs = {r.title: r for r in store.list_runs()}
        assert {r.status for r in runs.values()} == {"waiting"}
        cut = runs["Run cut off mid-step"]
        assert [s.node_id for s in store.list_steps(cut.id)] == ["form", "draft", "to_review"]
        assert any(a.event == "recovered" for a in store.list_audit(cut.id))
        waited = runs["Run that waits"]
        assert [s.node_id for s in store.list_steps(waited.id)] == ["form", "draft", "to_review"]
