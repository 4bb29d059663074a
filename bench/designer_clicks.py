"""How long a person waits per click in the Designer on a 50-step workflow, in a real browser; and
how many actions and seconds issue 28's journey takes.

Each action is timed from the click (or the drop, or the key) to a settled page: the change it makes
is on screen (the inspector shows the step, the canvas has the new step or connection, the card shows
the new title, the status says saved) and Streamlit's status widget is gone.

The journey: from Dana's copy of the marketing workflow open in the Designer, insert an AI step that
tightens the draft (dropped on the connection after “Draft the post”), save, start a run, until that
run waits for the reviewer with the tightened text. `--root` runs the app of another checkout (the
code before issue 28 needs the steps it needed then: `--flow before`).

    python -m bench.designer_clicks --repeat 7
    python -m bench.designer_clicks --journey --repeat 5 [--flow before --root /tmp/before]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import FrameLocator, Locator, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from engine.directory import Directory
from engine.llm.demo import DemoProvider
from engine.services import Loopdesk
from tests.browser.canvas_scripts import POINT_ON_EDGE
from tests.sample_workflows import SEGMENTS, WORKFLOW_ID, fifty_steps
from tests.servers import ROOT, start_server

CHROMIUM = "/usr/bin/chromium"
CANVAS = 'iframe[title="streamlit_flow.streamlit_flow"]'


def seed(db: Path) -> None:
    """The database with the 50-step workflow saved by Dana."""
    app = Loopdesk.open(str(db), provider=DemoProvider(), directory=Directory.load())
    try:
        app.install_templates()
        app.save_workflow(fifty_steps(), "dana")
    finally:
        app.close()


SETTLED_FOR = 0.2
"""A page counts as settled once nothing on the canvas changed for this long; the time recorded is
when that quiet state began, not when the watching ended."""

_CANVAS_SHAPE = """() => {
  const f = document.querySelector('iframe[title="streamlit_flow.streamlit_flow"]');
  const d = f && f.contentDocument;
  if (!d) return '';
  const at = f.getBoundingClientRect();
  const v = d.querySelector('.react-flow__viewport');
  return [Math.round(at.top), Math.round(at.left), v ? v.getAttribute('style') : '',
          d.querySelectorAll('.react-flow__node').length,
          d.querySelectorAll('.react-flow__edge').length,
          Array.from(d.querySelectorAll('.react-flow__node')).map(n => n.innerText).join('|').length
         ].join(';');
}"""


def settle(page: Page, done: Callable[[], bool], timeout: float = 30.0) -> float:
    """Wait until `done()` holds, Streamlit's status widget is gone and the canvas stopped changing
    (polled every 25 ms); returns the `perf_counter` time the page reached that state."""
    deadline = time.monotonic() + timeout
    status = page.locator('[data-testid="stStatusWidget"]')
    shape, since = None, time.perf_counter()
    while time.monotonic() < deadline:
        now_shape = page.evaluate(_CANVAS_SHAPE)
        if now_shape != shape:
            shape, since = now_shape, time.perf_counter()
        if not (done() and status.count() == 0):
            since = time.perf_counter()
        elif time.perf_counter() - since >= SETTLED_FOR:
            return since
        page.wait_for_timeout(25)
    page.screenshot(path=str(Path(tempfile.gettempdir()) / "designer-clicks-timeout.png"))
    raise TimeoutError("the page did not settle (screenshot: designer-clicks-timeout.png in the temp folder)")


def center(locator: Locator) -> tuple[float, float]:
    """The middle of an element on the page."""
    box = locator.bounding_box()
    assert box is not None, "not on screen"
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def drag(page: Page, start: tuple[float, float], end: tuple[float, float], steps: int = 12) -> float:
    """Press at `start`, move to `end` in steps, release; the `perf_counter` time of the release
    (a drag is timed from the drop: the hand's movement is not the app's doing)."""
    page.mouse.move(*start)
    page.mouse.down()
    dx, dy = end[0] - start[0], end[1] - start[1]
    for i in range(1, steps + 1):
        page.mouse.move(start[0] + dx * i / steps, start[1] + dy * i / steps)
        page.wait_for_timeout(30)  # a hand takes a moment per move; drag and drop needs it too
    page.wait_for_timeout(100)  # and rests on the target before letting go
    released = time.perf_counter()
    page.mouse.up()
    return released


class Session:
    """The Designer open on the 50-step workflow, with the actions to time."""

    def __init__(self, page: Page, url: str) -> None:
        self.page = page
        self.url = url
        self.saved = 1
        """The newest saved version (the seeded one is 1)."""
        self.before = (0, 0)
        """Steps and connections before the last action Undo takes back."""

    @property
    def canvas(self) -> FrameLocator:
        return self.page.frame_locator(CANVAS)

    def nodes(self) -> int:
        return self.canvas.locator(".react-flow__node").count()

    def counts(self) -> tuple[int, int]:
        """Steps and connections on the canvas."""
        return self.nodes(), self.canvas.locator(".react-flow__edge").count()

    def on_edge(self, edge_id: str) -> tuple[float, float]:
        """A point on the page where the connection itself is what the pointer is over (where two
        connections cross, the one drawn on top takes a drop: a person sees which one lights up)."""
        handle = self.page.locator(CANVAS).element_handle()
        frame = handle.content_frame() if handle is not None else None
        box = self.page.locator(CANVAS).bounding_box()
        assert frame is not None and box is not None
        point = frame.evaluate(POINT_ON_EDGE, edge_id)
        assert point, f"no uncovered point on connection {edge_id}"
        return box["x"] + point[0], box["y"] + point[1]

    def open(self) -> None:
        self.page.goto(self.url)
        self.page.get_by_text("Designer").first.wait_for()
        self.page.goto(f"{self.url}/designer?workflow={WORKFLOW_ID}")
        settle(self.page, lambda: self.nodes() >= 50, timeout=60)
        self.page.wait_for_timeout(1500)  # the first fit of the view
        # fitted whole, 50 steps are too small to work on: zoom in as a person would, to about 70 %
        zoom_in = self.canvas.locator(".react-flow__controls-zoomin")
        for _ in range(12):
            if self.zoom() >= 0.7:
                break
            zoom_in.click()
            self.page.wait_for_timeout(150)

    def zoom(self) -> float:
        """The canvas's zoom."""
        handle = self.page.locator(CANVAS).element_handle()
        frame = handle.content_frame() if handle is not None else None
        assert frame is not None
        return float(
            frame.evaluate(
                "() => new DOMMatrixReadOnly(getComputedStyle("
                "document.querySelector('.react-flow__viewport')).transform).a"
            )
        )

    def recover(self) -> None:
        """After an action that never settled: reload, throw the unsaved changes away, start again."""
        self.open()
        discard = self.page.locator(".st-key-designer_discard_draft button")
        if discard.count():
            discard.click()
            settle(self.page, lambda: discard.count() == 0)

    def visible_segments(self) -> list[int]:
        """Segments whose draft and review cards are both inside the canvas's view and on screen."""
        frame = self.page.locator(CANVAS).bounding_box()
        assert frame is not None
        screen = self.page.viewport_size or {"height": 1100}
        top, bottom = frame["y"] + 10, min(frame["y"] + frame["height"], screen["height"]) - 10
        seen = []
        for i in range(1, SEGMENTS + 1):
            cards = [self.canvas.locator(f'[data-testid="rf__node-{n}_{i}"]') for n in ("draft", "review")]
            boxes = [c.bounding_box() for c in cards]
            if all(b is not None and top < b["y"] and b["y"] + b["height"] < bottom for b in boxes):
                seen.append(i)
        return seen

    def inspector_value(self) -> str:
        return str(self.page.get_by_role("combobox", name="Selected").input_value())

    def select(self, i: int) -> float:
        t0 = time.perf_counter()
        self.canvas.locator(f'[data-testid="rf__node-draft_{i}"]').click()
        return settle(self.page, lambda: f"Draft part {i} " in self.inspector_value()) - t0

    def add(self) -> float:
        self.before = self.counts()
        before = self.nodes()
        t0 = time.perf_counter()
        self.page.locator(".st-key-designer_add_ai_step button").click()
        return settle(self.page, lambda: self.nodes() == before + 1) - t0

    def insert(self, i: int) -> float:
        self.before = self.counts()
        before = self.nodes()
        palette = self.page.locator(".st-key-designer_add_move_to_section button")
        target = f"e-to_review_{i}-review_{i}"
        t0 = drag(self.page, center(palette), self.on_edge(target))
        # inserted there: one step more, and the connection it was dropped on split in two
        replaced = self.canvas.locator(f'[data-testid="rf__edge-{target}"]')
        return settle(self.page, lambda: self.nodes() == before + 1 and replaced.count() == 0) - t0

    def connect(self, i: int) -> float:
        self.before = self.counts()
        source = self.canvas.locator(f'.react-flow__handle.source[data-nodeid="draft_{i}"]')
        target = self.canvas.locator(f'.react-flow__handle.target[data-nodeid="review_{i}"]')
        edge = self.canvas.locator(f'[data-testid="rf__edge-st-flow-edge_draft_{i}-review_{i}"]')
        t0 = drag(self.page, center(source), center(target))
        # the browser draws the line at once; the app has taken it when it names what it changed
        # (a plain step with two ways on is a problem the page lists)
        taken = self.page.get_by_text("has 2 outgoing connections")
        return settle(self.page, lambda: edge.count() == 1 and taken.count() > 0) - t0

    def edit(self, i: int, r: int) -> float:
        title = f"Draft part {i} edited {r}"
        box = self.page.get_by_label("Title", exact=True)
        box.fill(title)
        t0 = time.perf_counter()
        box.press("Tab")  # the text is sent when the box is left
        card = self.canvas.locator(f'[data-testid="rf__node-draft_{i}"]')
        return settle(self.page, lambda: title in card.inner_text()) - t0

    def undo(self) -> float:
        """Take back the last connect, insert or add: settled when the canvas is as it was before it
        (not merely changed: a canvas still catching up with the last action changes too)."""
        t0 = time.perf_counter()
        self.page.get_by_role("button", name="Undo").click()
        return settle(self.page, lambda: self.counts() == self.before) - t0

    def save(self) -> float:
        n = self.saved + 1
        t0 = time.perf_counter()
        self.page.get_by_role("button", name="Save", exact=True).click()
        took = settle(self.page, lambda: self.page.get_by_text(f"Saved version {n}").count() > 0) - t0
        self.saved = n
        return took


THINK_TIME = 0.6
"""Seconds between one settled action and the next click, as a person reads what changed (not timed)."""


def timed(action: Callable[[], float]) -> float:
    """Seconds from the click (or the drop, or the key) to the moment the page settled, as the
    action measured it (after a person's pause before it)."""
    time.sleep(THINK_TIME)
    return action()


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def run_bench(repeat: int, folder: Path, size: tuple[int, int] = (1600, 1100)) -> dict[str, Any]:
    """Time each action `repeat` times on a fresh server and browser, in a window of `size`."""
    db = folder / "bench.duckdb"
    seed(db)
    server = start_server(db, folder / "server.log")
    actions = ("select", "edit", "connect", "insert", "add", "undo", "save")
    times: dict[str, list[float]] = {k: [] for k in actions}
    failures: dict[str, int] = {k: 0 for k in actions}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": size[0], "height": size[1]})
            page.set_default_timeout(30_000)
            session = Session(page, server.url)
            session.open()
            segments = session.visible_segments()
            assert segments, "no segment is in view"
            for r in range(repeat):
                i = segments[r % len(segments)]  # a different segment each round, in view
                # connect, insert and add leave the workflow unsaveable (a second way on, a step with
                # nothing set up): each is undone, so the save at the end writes a real version
                steps: list[tuple[str, Callable[[], float]]] = [
                    ("select", lambda i=i: session.select(i)),  # type: ignore[misc]
                    ("edit", lambda i=i, r=r: session.edit(i, r)),  # type: ignore[misc]
                    ("connect", lambda i=i: session.connect(i)),  # type: ignore[misc]
                    ("undo", session.undo),
                    ("insert", lambda i=i: session.insert(i)),  # type: ignore[misc]
                    ("undo", session.undo),
                    ("add", session.add),
                    ("undo", session.undo),
                    ("save", session.save),
                ]
                for name, action in steps:
                    try:
                        times[name].append(timed(action))
                    except (TimeoutError, PlaywrightTimeoutError):
                        failures[name] += 1  # counted and reported, then a fresh start
                        session.recover()
                        break
            browser.close()
    finally:
        server.stop()
    return {
        action: {
            "median_s": round(statistics.median(values), 3) if values else None,
            "p90_s": round(percentile(values, 90), 3) if values else None,
            "runs": len(values),
            "failed": failures[action],
        }
        for action, values in times.items()
    }


# -- the journey of issue 28 ------------------------------------------------------------------------

TIGHTEN = "Tighten the post: keep what matters, drop the filler."


class Journey:
    """Issue 28's journey in the Designer, counting what a person does (a click, a drop, a text typed
    and left) and timing it from the first action to the run waiting for the reviewer."""

    def __init__(self, page: Page, url: str) -> None:
        self.page = page
        self.url = url
        self.actions = 0
        self.waited = 0.0
        """Seconds spent waiting for the page after each action (think time not counted)."""

    @property
    def canvas(self) -> FrameLocator:
        return self.page.frame_locator(CANVAS)

    def act(self, do: Callable[[], object], done: Callable[[], bool]) -> None:
        """One action of the person: do it, then wait until the page shows it took effect."""
        time.sleep(THINK_TIME)
        self.actions += 1
        t0 = time.perf_counter()
        do()
        self.waited += settle(self.page, done) - t0

    def open_copy(self) -> None:
        """Dana's own copy of the marketing template, open in the Designer (not counted)."""
        self.page.goto(self.url)
        self.page.get_by_text("Designer").first.wait_for()
        self.page.goto(f"{self.url}/designer?workflow=marketing-social-post")
        self.page.get_by_role("button", name="Use template").click()
        settle(self.page, lambda: self.page.get_by_text("Inspector").count() > 0, timeout=60)
        self.page.wait_for_timeout(1500)  # the first fit of the view

    def shown(self, text: str) -> Callable[[], bool]:
        return lambda: self.page.get_by_text(text).count() > 0

    def drop_on_draft(self) -> None:
        palette = self.page.locator(".st-key-designer_add_ai_step button")
        session = Session(self.page, self.url)
        target = session.on_edge("e-draft-review-move")
        node = self.canvas.locator('[data-testid="rf__node-ai_step_1"]')
        self.act(lambda: drag(self.page, center(palette), target), lambda: node.count() == 1)

    def type_into(self, label: str, text: str, done: Callable[[], bool]) -> None:
        box = self.page.get_by_label(label, exact=True)

        def do() -> None:
            box.fill(text)
            box.press("Tab")

        self.act(do, done)

    def click(self, name: str, done: Callable[[], bool]) -> None:
        self.act(lambda: self.page.get_by_role("button", name=name, exact=True).click(), done)

    def run_after(self) -> None:
        """With issue 28: the new step revises the draft by itself; Start a run is a button."""
        self.drop_on_draft()
        self.type_into("Instruction", TIGHTEN, self.shown("No problems: ready to save."))
        self.click("Save", self.shown("Saved version 2"))
        self.click("Start a run", self.shown("Fill in the examples"))

    def run_before(self) -> None:
        """Before issue 28: the answer had to be put in by hand and renamed to the draft, and Start
        a run found from the sidebar, the workflow chosen there."""
        self.drop_on_draft()
        prompt = "Instruction (prompt)"
        self.type_into(prompt, f"{TIGHTEN}\n\n", lambda: True)
        pill = self.page.get_by_role("radio", name="Answer of “Draft the post”")
        self.act(pill.click, lambda: "{{ draft }}" in self.page.get_by_label(prompt).input_value())
        self.type_into("Output name", "draft", self.shown("No problems: ready to save."))
        self.click("Save", self.shown("Saved version 2"))
        link = self.page.get_by_role("link", name="Start a run")
        combo = self.page.get_by_role("combobox", name="Workflow")
        self.act(link.first.click, lambda: combo.count() > 0)
        self.act(combo.click, lambda: self.page.get_by_role("option").count() > 0)
        option = self.page.get_by_role("option", name="Marketing social post (dana)").first
        self.act(option.click, self.shown("Fill in the examples"))

    def finish(self) -> None:
        """Fill in the examples and start: the run waits for the reviewer."""
        self.click("Fill in the examples", lambda: True)
        self.click("Start run", self.shown("is waiting for Jamie Rivera"))


def run_journey(repeat: int, folder: Path, flow: str, root: Path | None) -> dict[str, Any]:
    """The journey `repeat` times, each on a fresh database and server."""
    seconds, waited, actions = [], [], []
    for r in range(repeat):
        db = folder / f"journey-{r}.duckdb"
        server = start_server(db, folder / f"journey-{r}.log", root=root or ROOT)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
                )
                page = browser.new_page(viewport={"width": 1600, "height": 1100})
                page.set_default_timeout(30_000)
                journey = Journey(page, server.url)
                journey.open_copy()
                t0 = time.perf_counter()
                journey.run_before() if flow == "before" else journey.run_after()
                journey.finish()
                seconds.append(time.perf_counter() - t0)
                waited.append(journey.waited)
                actions.append(journey.actions)
                browser.close()
        finally:
            server.stop()
    return {
        "flow": flow,
        "actions": statistics.median(actions),
        "median_s": round(statistics.median(seconds), 2),
        "median_waiting_s": round(statistics.median(waited), 2),
        "runs": repeat,
    }


def main() -> None:
    """Run the benchmark and print a table (and JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--journey", action="store_true", help="time issue 28's journey instead")
    parser.add_argument("--flow", choices=["before", "after"], default="after")
    parser.add_argument("--root", type=Path, help="run the app of this checkout")
    parser.add_argument("--size", default="1600x1100", help="the browser window, WIDTHxHEIGHT")
    args = parser.parse_args()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    if args.journey:
        with tempfile.TemporaryDirectory(prefix="designer-journey-") as tmp:
            journey = run_journey(args.repeat, Path(tmp), args.flow, args.root)
        print(json.dumps({"machine": machine, **journey}, indent=2))
        return
    with tempfile.TemporaryDirectory(prefix="designer-clicks-") as tmp:
        width, height = (int(v) for v in args.size.lower().split("x"))
        result = run_bench(args.repeat, Path(tmp), (width, height))
    if args.json:
        print(json.dumps({"machine": machine, "actions": result}, indent=2))
        return
    print(f"Designer clicks on a 50-step workflow ({machine}, window {args.size}), {args.repeat} of each")
    print("| action | median | p90 | timed | never settled |")
    print("|---|---|---|---|---|")
    for action, r in result.items():
        if r["median_s"] is None:  # never timed: an earlier action of every round failed
            print(f"| {action} | — | — | 0 | {r['failed']} |")
        else:
            print(f"| {action} | {r['median_s']:.2f} s | {r['p90_s']:.2f} s | {r['runs']} | {r['failed']} |")


if __name__ == "__main__":
    main()
