"""Learning from reviewers in a real browser: on the marketing template with a seeded review history,
"Improve this prompt" → "Use this instruction" → "Test against past runs" → save (publish) — and the
replay left no run, checkpoint or outbox event behind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from engine.directory import Directory
from engine.llm.demo import DemoProvider
from engine.model import AIStepNode
from engine.records import CheckpointQuery
from engine.replay import replay_log
from engine.services import Loopdesk
from engine.store.duckdb import DuckDBStore
from tests.browser.conftest import Server, wait_for_text, wait_idle
from tests.engine.test_prompt_improvement import OWN, seed
from tests.servers import start_server

CANVAS = 'iframe[title="streamlit_flow.streamlit_flow"]'


@pytest.fixture
def seeded_server(tmp_path: Path) -> Iterator[tuple[Server, dict[str, str], int]]:
    """The app on a database holding dana's copy of the marketing template and five reviewed runs;
    with the runs by name and how many outbox events they made."""
    db = tmp_path / "lab.duckdb"
    app = Loopdesk.open(str(db), provider=DemoProvider(), directory=Directory.load())
    try:
        app.install_templates()
        runs = seed(app)
        events = sum(len(app.store.list_events(r)) for r in runs.values())
    finally:
        app.close()
    srv = start_server(db, tmp_path / "streamlit.log")
    yield srv, runs, events
    srv.stop()


def test_improve_test_against_past_runs_and_publish(
    seeded_server: tuple[Server, dict[str, str], int], page: Page
) -> None:
    server, runs, events = seeded_server
    page.goto(server.url)
    wait_for_text(page, "Designer")
    page.goto(f"{server.url}/designer?workflow={OWN}")
    wait_for_text(page, "Saved · version 1")
    wait_idle(page)
    page.frame_locator(CANVAS).locator('[data-testid="rf__node-draft"]').click()
    wait_idle(page)
    wait_for_text(page, "Instruction")

    page.get_by_text("Improve this prompt").click()
    wait_idle(page)
    page.get_by_role("button", name="Suggest a better instruction").click()
    wait_idle(page)
    wait_for_text(page, "Demo suggestion (offline demo model)")
    wait_for_text(page, "Reviewers added “Shop now” to 2 of 3 edited drafts.")
    diff = page.locator(".st-key-designer_suggestion_diff")
    assert "Include “Shop now”" in diff.inner_text()
    # the designer edits the suggestion before using it
    suggested = page.get_by_label("Suggested instruction (you may edit it)")
    text = suggested.input_value()
    assert text.rstrip().endswith("- Include “Shop now”.")  # each note was given once: no rule
    mine = text.replace("- Heed this reviewer note: “Off brand”.\n", "")
    suggested.fill(mine)
    suggested.press("Tab")
    wait_idle(page)
    page.get_by_role("button", name="Use this instruction").click()
    wait_idle(page)
    wait_for_text(page, "The instruction box now holds the suggestion")
    assert page.get_by_label("Instruction", exact=True).input_value() == mine

    page.get_by_text("Test against past runs").click()
    wait_idle(page)
    wait_for_text(page, "4 approved runs to replay")
    wait_for_text(page, "Before it starts: 4 model calls · about ")
    page.get_by_role("button", name="Replay on past runs").click()
    wait_idle(page)
    wait_for_text(page, ": 2 of 4 closer to what reviewers approved")
    wait_for_text(page, "Replays on record for this workflow: 1 (the newest 20 are kept)")  # its cost
    page.get_by_role("button", name="Compare run by run").click()
    wait_idle(page)
    dialog = page.get_by_role("dialog")
    wait_for_text(page, "Look at one run")
    expect(dialog.get_by_text("What the reviewer finally approved, edits included.")).to_be_visible()
    expect(dialog.locator('[data-testid="stDataFrame"]')).to_have_count(1)  # drawn a moment later
    page.keyboard.press("Escape")
    wait_idle(page)

    page.get_by_role("button", name="Save", exact=True).click()
    wait_for_text(page, "Saved version 2")
    server.stop()

    store = DuckDBStore(str(server.db_path))
    try:
        published = store.get_workflow(OWN)
        assert published is not None and published.version == 2
        step = published.definition.node("draft")
        assert isinstance(step, AIStepNode) and step.instruction == mine
        # the replay was a sandbox: the same five runs and their checkpoints, no outbox event added
        assert sorted(r.id for r in store.list_runs()) == sorted(runs.values())
        assert len(store.list_checkpoints(CheckpointQuery(status=None))) == 6  # one run was sent back once
        assert store.list_checkpoints(CheckpointQuery(status="pending")) == []
        assert sum(len(store.list_events(r)) for r in runs.values()) == events
        (logged,) = replay_log(store, OWN)
        assert logged["by"] == "dana" and logged["steps"]["draft"]["closer"] == 2
    finally:
        store.close()
