"""Issue 28's journey in a real browser: Dana drops an AI step on the connection after “Draft the
post” in her copy of the marketing workflow, writes only its instruction, saves, starts a run from the
Designer, and the reviewer's Inbox shows the tightened text; a "Request changes" note then reaches
both AI steps on the way back."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from engine.store.duckdb import DuckDBStore
from tests.browser.conftest import Server, navigate, wait_for_text, wait_quiet
from tests.browser.test_designer_browser import _canvas, _settle, _wait_count
from tests.browser.test_designer_canvas import _drag_palette_onto, on_edge
from tests.browser.test_journey1 import pick

COPY = "marketing-social-post-dana"
INSTRUCTION = "Tighten the post: keep what matters, drop the filler."
NOTE = "Mention the free onboarding call"


def test_an_inserted_ai_step_tightens_the_draft_the_reviewer_sees(server: Server, page: Page) -> None:
    page.goto(f"{server.url}/designer?workflow=marketing-social-post")
    wait_for_text(page, "is a shipped template")
    page.get_by_role("button", name="Use template").click()
    wait_for_text(page, "Inspector")
    _settle(page)
    canvas = _canvas(page)
    # the cards, one line per row whatever their text, never overlap (the template's rows are 130 apart)
    boxes = [b for b in (n.bounding_box() for n in canvas.locator(".react-flow__node").all()) if b]
    assert len(boxes) == 10
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            apart_x = a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
            assert apart_x or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"], (a, b)
    _drag_palette_onto(page, "ai_step", on_edge(page, "e-draft-review-move"))
    _wait_count(canvas.locator('[data-testid="rf__node-ai_step_1"]'), 1)

    # the one question that matters, answered for her where a draft is read later
    wait_for_text(page, "What should this step do?")
    expect(page.get_by_role("radio", name="Revise “Draft”")).to_be_checked()
    box = page.get_by_label("Instruction", exact=True)
    box.fill(INSTRUCTION)
    box.press("Control+Enter")
    wait_quiet(page)
    wait_for_text(page, "No problems: ready to save.")
    card = canvas.locator('[data-testid="rf__node-ai_step_1"]')
    expect(card).to_contain_text("uses Draft · writes Draft")
    page.get_by_role("button", name="Save", exact=True).click()
    wait_for_text(page, "Saved version 2")

    # run it from where she built it
    page.get_by_role("button", name="Start a run").click()
    wait_for_text(page, "Fill in the examples")
    expect(page.get_by_role("combobox", name="Workflow")).to_have_value("Marketing social post (copy)  (v2)")
    page.get_by_role("button", name="Fill in the examples").click()
    wait_quiet(page)
    page.get_by_role("button", name="Start run").click()
    wait_for_text(page, "is waiting for Jamie Rivera", timeout=30)

    pick(page, "Signed in as", "Jamie Rivera · Marketing reviewer")
    navigate(page, "Inbox (1)", "Inbox")
    shown = page.locator('[data-testid="stForm"] textarea').first
    expect(shown).not_to_have_value("")
    tightened = shown.input_value()
    page.get_by_label("Comment", exact=True).fill(NOTE)
    page.get_by_role("button", name="Request changes").click()
    wait_for_text(page, "Changes requested")

    server.stop()
    store = DuckDBStore(str(server.db_path))
    try:
        (run,) = store.list_runs(workflow_id=COPY)
        steps = store.list_steps(run.id)
        draft = [s for s in steps if s.node_id == "draft"]
        inserted = [s for s in steps if s.node_id == "ai_step_1"]
        assert len(draft) == 2 and len(inserted) == 2, [s.node_id for s in steps]
        # the reviewer was shown the inserted step's answer, not the first draft
        assert tightened.strip() == str(inserted[0].output).strip()
        assert str(draft[0].output).strip() != tightened.strip()
        for records in (draft, inserted):
            first, again = ("\n".join(m["content"] for m in s.input["messages"]) for s in records)
            assert NOTE not in first and NOTE in again
        assert inserted[1].output != inserted[0].output  # the revision differs
        assert INSTRUCTION in inserted[0].input["messages"][-1]["content"]
    finally:
        store.close()
