"""The Designer in a real browser: add a step, wire it by dragging handles, fill its prompt, save, reload."""

from __future__ import annotations

import time

from playwright.sync_api import FrameLocator, Locator, Page

from engine.directory import Directory
from engine.llm.demo import DemoProvider
from engine.model import AIStepNode
from engine.services import Loopdesk
from engine.store.duckdb import DuckDBStore
from tests.browser.conftest import Server, wait_for_text, wait_idle, wait_quiet

CANVAS = 'iframe[title="streamlit_flow.streamlit_flow"]'
PROMPT = "Write a friendly announcement about {{ title }}."
IN_WORDS = "Write a friendly announcement about [Title]."
"""The prompt as the inspector shows it: values by their labels."""


def _canvas(page: Page) -> FrameLocator:
    return page.frame_locator(CANVAS)


def _center(locator: Locator) -> tuple[float, float]:
    box = locator.bounding_box()
    assert box is not None, "element is not on screen"
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def _wait_count(locator: Locator, expected: int, timeout: float = 15.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if locator.count() == expected:
            return
        time.sleep(0.2)
    assert locator.count() == expected, f"expected {expected} of {locator}, found {locator.count()}"


def _settle(page: Page) -> None:
    """Wait for Streamlit to finish, the canvas to answer and stop zooming; show the whole canvas."""
    wait_idle(page)
    if page.locator(".loopdesk-fit").count():  # an editable canvas: drawn to the window's size first
        # the browser reports the window's size only while the page is at rest; with every core busy
        # (stress --cpu 2) a fresh server took over 20 s to get there, so this waits as long as a page load
        page.locator('.loopdesk-fit[data-sized="yes"]').wait_for(state="attached", timeout=60_000)
    wait_quiet(page)
    page.locator(CANVAS).evaluate("e => e.scrollIntoView({block: 'center'})")
    viewport = _canvas(page).locator(".react-flow__viewport")
    # the view may still be fitted after the canvas's first replies: wait until it has not moved for
    # 1.5 s (two equal looks 250 ms apart let a late fit move the cards under the next drag)
    last, still = viewport.get_attribute("style"), 0
    for _ in range(40):
        page.wait_for_timeout(250)
        now = viewport.get_attribute("style")
        still = still + 1 if now == last else 0
        if still >= 6:
            return
        last = now


def _drag_connect(page: Page, source: str, target: str) -> None:
    """Draw a connection by dragging from a node's source handle to another's target handle."""
    _settle(page)
    canvas = _canvas(page)
    start = _center(canvas.locator(f'.react-flow__handle.source[data-nodeid="{source}"]'))
    end = _center(canvas.locator(f'.react-flow__handle.target[data-nodeid="{target}"]'))
    page.mouse.move(*start)
    page.mouse.down()
    for i in range(1, 11):
        page.mouse.move(start[0] + (end[0] - start[0]) * i / 10, start[1] + (end[1] - start[1]) * i / 10)
        page.wait_for_timeout(30)
    page.mouse.up()
    edge = canvas.locator(f'[data-testid="rf__edge-st-flow-edge_{source}-{target}"]')
    _wait_count(edge, 1)
    wait_quiet(page)


def _drag_node(page: Page, node_id: str, dx: float, dy: float) -> None:
    """Move a node on the canvas by grabbing its card (not a handle)."""
    _settle(page)
    x, y = _center(_canvas(page).locator(f'[data-testid="rf__node-{node_id}"]'))
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, 11):
        page.mouse.move(x + dx * i / 10, y + dy * i / 10)
        page.wait_for_timeout(30)
    page.mouse.up()
    wait_quiet(page)


def _click_node(page: Page, node_id: str) -> None:
    _canvas(page).locator(f'[data-testid="rf__node-{node_id}"]').click()
    wait_quiet(page)


def test_add_connect_fill_save_reload(server: Server, page: Page) -> None:
    # Open the app's home first: a fresh server whose first visit is a page URL runs that page
    # without app.py's navigation (Streamlit's legacy `pages/` mode); see the report.
    page.goto(server.url)
    wait_for_text(page, "Designer")
    page.goto(f"{server.url}/designer")
    wait_for_text(page, "You have no workflows of your own yet")  # the templates are not Dana's to change
    wait_quiet(page)

    page.get_by_role("button", name="File").click()  # the toolbar's File menu: New workflow
    page.get_by_label("Name of the new workflow").fill("Browser flow")
    page.get_by_role("button", name="Create", exact=True).click()
    wait_for_text(page, "New workflow: not saved yet")
    _settle(page)
    canvas = _canvas(page)
    _wait_count(canvas.locator('[data-testid="rf__node-end"]'), 1)

    page.get_by_role("button", name="AI step", exact=True).click()
    wait_quiet(page)
    _wait_count(canvas.locator('[data-testid="rf__node-ai_step_1"]'), 1)
    wait_for_text(page, "What it writes")  # the new step is selected in the inspector
    _settle(page)
    placed = _center(canvas.locator('[data-testid="rf__node-ai_step_1"]'))
    _drag_node(page, "ai_step_1", 170, -60)  # to the right of the form → End line
    moved = _center(canvas.locator('[data-testid="rf__node-ai_step_1"]'))
    assert moved[0] > placed[0] + 120, "the node did not move"

    # The form goes straight to End: select the form and delete that connection.
    _click_node(page, "form")
    wait_for_text(page, "→ Done")
    page.locator(".st-key-designer_del_out_form-end").get_by_role("button").first.click()
    wait_quiet(page)
    _wait_count(canvas.locator('[data-testid="rf__edge-form-end"]'), 0)

    _drag_connect(page, "form", "ai_step_1")
    _drag_connect(page, "ai_step_1", "end")

    _click_node(page, "ai_step_1")
    prompt = page.get_by_label("Instruction", exact=True)
    prompt.fill(IN_WORDS)  # a value by its label, as a designer writes it
    prompt.press("Tab")  # commit the text area
    wait_quiet(page)
    wait_for_text(page, "The answer of ‘AI step’ is never used")  # nothing reads it yet
    page.get_by_text("Deliver it when the run ends", exact=True).click()
    wait_quiet(page)
    wait_for_text(page, "No problems: ready to save.")

    page.get_by_role("button", name="Save", exact=True).click()
    wait_for_text(page, "Saved version 1")

    # A fresh session (reload): everything must come back from the database.
    page.goto(f"{server.url}/designer?workflow=browser-flow")
    wait_for_text(page, "Saved · version 1")
    wait_quiet(page)
    canvas = _canvas(page)
    _wait_count(canvas.locator('[data-testid="rf__node-ai_step_1"]'), 1)
    _wait_count(canvas.locator('[data-testid="rf__edge-st-flow-edge_form-ai_step_1"]'), 1)
    _wait_count(canvas.locator('[data-testid="rf__edge-st-flow-edge_ai_step_1-end"]'), 1)
    _wait_count(canvas.locator('[data-testid="rf__edge-form-end"]'), 0)
    _click_node(page, "ai_step_1")
    assert page.get_by_label("Instruction", exact=True).input_value() == IN_WORDS

    server.stop()
    store = DuckDBStore(str(server.db_path))
    try:
        saved = store.get_workflow("browser-flow")
        assert saved is not None and saved.version == 1
        wf = saved.definition
        step = wf.node("ai_step_1")
        assert isinstance(step, AIStepNode) and step.instruction == PROMPT
        assert wf.node("end").result == ["answer"]  # type: ignore[union-attr]
        assert {(e.source, e.target) for e in wf.edges} == {("form", "ai_step_1"), ("ai_step_1", "end")}
        # the dragged position was saved: right of the form and End column (both at x=0)
        assert step.position.x > 100
    finally:
        store.close()

    # journey 2's last word: a new run of the saved version really runs the new step
    app = Loopdesk.open(str(server.db_path), provider=DemoProvider(), directory=Directory.load())
    try:
        run = app.start_run("browser-flow", {"title": "our new pricing page"}, "dana")
        assert run.status == "completed"
        steps = {s.node_id: s for s in app.store.list_steps(run.id)}
        assert list(steps) == ["form", "ai_step_1", "end"]
        prompt = steps["ai_step_1"].input["messages"][-1]["content"]
        assert prompt == "Write a friendly announcement about our new pricing page."
    finally:
        app.close()
