"""Issue 29 in a real browser at 1280×800 and 1920×1080: the canvas is the page (its top in the first
viewport, its bottom on screen, no page scroll to reach it), "Fit" shows every shipped template whole
with readable titles and 50 steps whole, the wheel pans, a clicked connection is selected, and a
refusal shows where the person is looking. Screenshots land in test-artifacts/ to be looked at."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Frame, Page, expect

from engine.catalog import list_templates
from engine.directory import Directory
from engine.llm.demo import DemoProvider
from engine.services import Loopdesk
from tests.browser.canvas_scripts import POINT_ON_EDGE
from tests.browser.conftest import ARTIFACTS, Server, start_server, wait_for_text, wait_idle, wait_quiet
from tests.sample_workflows import fifty_steps
from ui.canvas import TITLE_PX

CANVAS = 'iframe[title="streamlit_flow.streamlit_flow"]'
SIZES = [(1280, 800), (1920, 1080)]
READABLE_PX = 9.0

_GEOMETRY = """() => {
  const f = document.querySelector('iframe[title="streamlit_flow.streamlit_flow"]');
  const d = f && f.contentDocument;
  if (!d || !d.querySelector('.react-flow__viewport')) return null;
  const frame = f.getBoundingClientRect();
  const t = new DOMMatrixReadOnly(getComputedStyle(d.querySelector('.react-flow__viewport')).transform);
  const nodes = Array.from(d.querySelectorAll('.react-flow__node')).map(n => {
    const r = n.getBoundingClientRect();
    return {id: n.getAttribute('data-id'), left: r.left, top: r.top, right: r.right, bottom: r.bottom};
  });
  return {frame: {top: frame.top, left: frame.left, width: frame.width, height: frame.height},
          zoom: t.a, x: t.e, y: t.f, nodes, scroll: document.scrollingElement.scrollTop,
          pageHeight: document.scrollingElement.scrollHeight};
}"""


@pytest.fixture(scope="module")
def workflows(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, list[str]]]:
    """The app with Dana's copy of every shipped template and a 50-step workflow."""
    folder = tmp_path_factory.mktemp("fits")
    db = folder / "fits.duckdb"
    app = Loopdesk.open(str(db), provider=DemoProvider(), directory=Directory.load())
    try:
        app.install_templates()
        ids = [app.use_template(t.workflow.id, "dana").workflow_id for t in list_templates()]
        app.save_workflow(fifty_steps(), "dana")
    finally:
        app.close()
    server = start_server(db, folder / "streamlit.log")
    yield server, [*ids, "bench-50"]
    server.stop()


@contextmanager
def window(browser: Browser, width: int, height: int) -> Iterator[Page]:
    """A page in a browser window of this size, closed after."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        yield page
    finally:
        context.close()


def geometry(page: Page) -> dict[str, Any]:
    found = page.evaluate(_GEOMETRY)
    assert found is not None, "the canvas is not drawn"
    return dict(found)


def open_fitted(page: Page, url: str, workflow_id: str) -> dict[str, Any]:
    """The Designer on a workflow, after Fit, settled."""
    page.goto(f"{url}/designer?workflow={workflow_id}")
    wait_for_text(page, "Selected")
    wait_idle(page)
    # the window's size is reported once the page is at rest, then the canvas is sized to it
    page.wait_for_function(
        """() => { const f = document.querySelector('iframe[title="streamlit_flow.streamlit_flow"]');
                   const gap = f && window.innerHeight - f.getBoundingClientRect().bottom;
                   return f && gap >= 0 && gap <= 40; }""",
        timeout=20_000,
    )
    wait_idle(page)
    page.get_by_role("button", name="Fit", exact=True).click()
    wait_idle(page)
    return settled(page)


def settled(page: Page, timeout: float = 15.0) -> dict[str, Any]:
    """The canvas's geometry once the view has stopped moving (the same over 1 s)."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        g = geometry(page)
        view = (round(g["zoom"], 4), round(g["x"]), round(g["y"]), round(g["frame"]["height"]))
        if view != last:
            last, since = view, time.monotonic()
        elif time.monotonic() - since >= 1.0:
            return g
        page.wait_for_timeout(200)
    raise AssertionError("the canvas view never stopped moving")


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_every_shipped_workflow_and_fifty_steps_fit_the_canvas_that_fills_the_window(
    browser: Browser, workflows: tuple[Server, list[str]], size: tuple[int, int]
) -> None:
    server, ids = workflows
    width, height = size
    titles: dict[str, float] = {}
    with window(browser, width, height) as page:
        for workflow_id in ids:
            g = open_fitted(page, server.url, workflow_id)
            frame = g["frame"]
            assert frame["top"] < height / 4, (workflow_id, "the canvas starts too far down", frame)
            assert frame["top"] + frame["height"] <= height + 1, (workflow_id, "the canvas runs off screen")
            assert frame["height"] >= height / 2, (workflow_id, "the canvas does not fill the window", frame)
            assert g["pageHeight"] <= height + 2, (workflow_id, "the page scrolls")
            assert len(g["nodes"]) >= 5
            for n in g["nodes"]:  # every step's box lies inside the visible canvas
                assert n["left"] >= -1 and n["top"] >= -1, (workflow_id, n)
                assert n["right"] <= frame["width"] + 1, (workflow_id, n)
                assert n["bottom"] <= frame["height"] + 1, (workflow_id, n)
            for i, a in enumerate(g["nodes"]):  # and no two cards overlap
                for b in g["nodes"][i + 1 :]:
                    apart = a["right"] <= b["left"] or b["right"] <= a["left"]
                    assert apart or a["bottom"] <= b["top"] or b["bottom"] <= a["top"], (workflow_id, a, b)
            if workflow_id != "bench-50":
                titles[workflow_id] = round(TITLE_PX * g["zoom"], 1)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"designer-{workflow_id}-{width}x{height}.png"))
    print(size, titles)
    assert all(px >= READABLE_PX for px in titles.values()), titles


def test_wheel_pans_a_connection_is_selected_and_refusals_show_in_view(
    browser: Browser, workflows: tuple[Server, list[str]]
) -> None:
    server, _ = workflows
    with window(browser, 1280, 800) as page:
        before = open_fitted(page, server.url, "marketing-social-post-dana")
        frame = before["frame"]
        page.mouse.move(frame["left"] + frame["width"] / 2, frame["top"] + frame["height"] / 2)
        page.mouse.wheel(0, 200)
        page.wait_for_timeout(500)
        after = geometry(page)
        assert after["zoom"] == pytest.approx(before["zoom"]), "the wheel zoomed"
        assert after["y"] == pytest.approx(before["y"] - 200, abs=2), "the wheel did not pan"
        assert after["scroll"] == before["scroll"] == 0, "the page scrolled"
        page.keyboard.down("Control")
        page.mouse.wheel(0, -200)  # with Ctrl the wheel zooms
        page.keyboard.up("Control")
        page.wait_for_timeout(500)
        assert geometry(page)["zoom"] > after["zoom"]

        page.get_by_role("button", name="Fit", exact=True).click()
        wait_idle(page)
        settled(page)
        canvas = page.frame_locator(CANVAS)
        handle = page.locator(CANVAS).element_handle()
        inner = handle.content_frame() if handle is not None else None
        assert inner is not None
        point = inner.evaluate(POINT_ON_EDGE, "e-translation-translate")
        assert point, "no free point on the connection"
        page.mouse.click(frame["left"] + point[0], frame["top"] + point[1])
        wait_for_text(page, "Insert a step here")
        wait_for_text(page, "Connection from ‘To translation’ to ‘Translate’")
        expect(page.get_by_role("button", name="Delete connection")).to_be_visible()
        wait_quiet(page)  # a key sent in the same instant as the canvas's reply can be lost (conftest)
        page.keyboard.press("Escape")
        wait_for_text(page, "Workflow name")  # Esc: nothing selected, the workflow's settings show

        canvas.locator('[data-testid="rf__node-form"]').click()
        wait_quiet(page)
        canvas.locator('[data-testid="rf__node-form"]').press("Delete")
        toast = page.get_by_text("The form starts every run; it cannot be deleted.")
        toast.first.wait_for(state="visible", timeout=10_000)
        box = toast.first.bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 800, box
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "designer-refusal-1280x800.png"))


def accessibility_findings(target: Page | Frame, worst: tuple[str, ...]) -> list[str]:
    """axe-core's findings of these impacts on a page, or inside a frame (the canvas)."""
    found = Axe().run(target).response["violations"]
    return [
        f"{v['impact']} {v['id']}: {v['help']} {[n['target'] for n in v['nodes'][:3]]}"
        for v in found
        if v["impact"] in worst
    ]


def test_axe_finds_no_serious_problem_in_the_designer_its_canvas_menus_and_dialog(
    browser: Browser, workflows: tuple[Server, list[str]]
) -> None:
    server, _ = workflows
    serious = ("serious", "critical")
    with window(browser, 1280, 800) as page:
        open_fitted(page, server.url, "marketing-social-post-dana")
        assert accessibility_findings(page, serious) == []
        # the headings go h1 "Designer" (for screen readers; the toolbar is in its place) → h2 "Inspector"
        assert [f for f in accessibility_findings(page, ("moderate",)) if "heading-order" in f] == []
        handle = page.locator(CANVAS).element_handle()
        inner = handle.content_frame() if handle is not None else None
        assert inner is not None and inner.locator(".react-flow__node").count() == 10
        assert accessibility_findings(inner, serious) == []

        page.frame_locator(CANVAS).locator('[data-testid="rf__node-draft"]').click()
        wait_for_text(page, "Insert a value")  # the AI step's form in the inspector
        assert accessibility_findings(page, serious) == []
        page.get_by_role("button", name="File").click()
        wait_for_text(page, "Export")
        assert accessibility_findings(page, serious) == []
        page.keyboard.press("Escape")
        page.frame_locator(CANVAS).locator('[data-testid="rf__node-draft"]').press("Delete")
        wait_for_text(page, "Delete a step")  # the question, in a dialog
        assert accessibility_findings(page, serious) == []
