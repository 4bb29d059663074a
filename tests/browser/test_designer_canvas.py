"""The Designer's canvas in a real browser, as the issue's journey: open your copy of the marketing
workflow, drag “AI step” from the palette onto the connection into the approval, fill its prompt by
clicking a value, test it, save, reload and find it wired; then delete it with the Delete key (asked
once, its neighbours joined) and undo back to the saved state."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from engine.kinds.ai_step import REVISE_INSTRUCTION
from engine.model import AIStepNode
from engine.store.duckdb import DuckDBStore
from tests.browser.canvas_scripts import POINT_ON_EDGE
from tests.browser.conftest import Server, wait_for_text, wait_quiet
from tests.browser.test_designer_browser import CANVAS, _canvas, _center, _settle, _wait_count

COPY = "marketing-social-post-dana"


def on_edge(page: Page, edge_id: str) -> tuple[float, float]:
    """A point on the page where the connection itself is under the pointer (not a handle or a card
    drawn over it), as a person aims a drop."""
    frame = page.locator(CANVAS)
    handle = frame.element_handle()
    inner = handle.content_frame() if handle is not None else None
    box = frame.bounding_box()
    assert inner is not None and box is not None
    point = inner.evaluate(POINT_ON_EDGE, edge_id)
    assert point, f"no uncovered point on connection {edge_id}"
    return box["x"] + point[0], box["y"] + point[1]


def _drag_palette_onto(page: Page, kind: str, target: tuple[float, float]) -> None:
    """Drag a palette button onto a point of the canvas (HTML5 drag and drop into its frame)."""
    x, y = _center(page.locator(f".st-key-designer_add_{kind} button"))
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, 13):
        page.mouse.move(x + (target[0] - x) * i / 12, y + (target[1] - y) * i / 12)
        page.wait_for_timeout(40)
    page.mouse.up()
    wait_quiet(page)


def test_drop_on_a_connection_fill_test_save_reload_delete_and_undo(server: Server, page: Page) -> None:
    page.goto(server.url)
    wait_for_text(page, "Designer")
    page.goto(f"{server.url}/designer?workflow=marketing-social-post")
    wait_for_text(page, "is a shipped template")  # read-only: nothing of the template can change
    expect(page.get_by_role("button", name="Save", exact=True)).to_have_count(0)
    page.get_by_role("button", name="Use template").click()
    wait_for_text(page, "Inspector")
    _settle(page)
    canvas = _canvas(page)
    handle = canvas.locator('.react-flow__handle.source[data-nodeid="draft"]').bounding_box()
    assert handle is not None and handle["width"] >= 10, "handles are big enough to grab"

    # the connection into the approval: “To draft review” → “Review the draft”
    _drag_palette_onto(page, "ai_step", on_edge(page, "e-move-review"))
    _wait_count(canvas.locator('[data-testid="rf__node-ai_step_1"]'), 1)
    _wait_count(canvas.locator('[data-testid="rf__edge-e-move-review"]'), 0)
    wait_for_text(page, "What should this step do?")  # the new step is selected in the inspector
    # after the draft, it revises the draft: its instruction starts from "Improve the text below…"
    expect(page.get_by_role("radio", name="Revise “Draft”")).to_be_checked()

    page.get_by_role("radio", name="Topic", exact=True).click()  # a value, by its label
    wait_quiet(page)
    expect(page.get_by_label("Instruction", exact=True)).to_have_value(f"{REVISE_INSTRUCTION} [Topic]")
    page.get_by_text("Test this step").click()
    wait_quiet(page)
    page.get_by_role("button", name="Run this step only").click()
    wait_quiet(page)
    wait_for_text(page, "demo output (offline demo model)", timeout=30)
    page.get_by_role("button", name="Save", exact=True).click()
    wait_for_text(page, "Saved version 2")

    page.reload()  # a fresh session: the saved version comes back from the database, wired
    wait_for_text(page, "Saved · version 2")
    _settle(page)
    canvas = _canvas(page)
    _wait_count(canvas.locator('[data-testid="rf__node-ai_step_1"]'), 1)
    _wait_count(canvas.locator('[data-testid="rf__edge-e-to_review-ai_step_1"]'), 1)
    _wait_count(canvas.locator('[data-testid="rf__edge-e-ai_step_1-review"]'), 1)

    canvas.locator('[data-testid="rf__node-ai_step_1"]').click()
    wait_quiet(page)
    canvas.locator('[data-testid="rf__node-ai_step_1"]').press("Delete")
    wait_for_text(page, "Yes, delete this step")  # asked once
    page.get_by_role("button", name="Yes, delete this step").first.click()
    _wait_count(canvas.locator('[data-testid="rf__node-ai_step_1"]'), 0)
    _wait_count(canvas.locator('[data-testid="rf__edge-e-to_review-review"]'), 1)  # neighbours joined
    wait_for_text(page, "Unsaved changes")

    page.get_by_role("button", name="Undo").click()
    wait_for_text(page, "Saved · version 2")  # back to the saved state
    _wait_count(canvas.locator('[data-testid="rf__node-ai_step_1"]'), 1)
    assert page.locator(CANVAS).count() == 1

    server.stop()  # what was saved, read back from the database
    store = DuckDBStore(str(server.db_path))
    try:
        saved = store.get_workflow(COPY)
        assert saved is not None and saved.version == 2
        wf = saved.definition
        assert len(store.list_runs()) == 0  # testing the step started no run
    finally:
        store.close()
    step = wf.node("ai_step_1")
    assert isinstance(step, AIStepNode)
    assert step.instruction == f"{REVISE_INSTRUCTION} {{{{ topic }}}}\n\n{{{{ draft }}}}"
    assert step.output_name == "draft"
    assert {(e.source, e.target, e.label) for e in wf.edges} >= {
        ("to_review", "ai_step_1", None),
        ("ai_step_1", "review", None),
    }
