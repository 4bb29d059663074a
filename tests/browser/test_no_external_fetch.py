"""Text people type is shown as text: no page fetches anything from outside because of it.

Every text field of a workflow, a form submission and a review comment holds a Markdown image,
an HTML image and a Markdown link to an outside host. Each page that shows them is opened in
Chromium, and every request the browser makes is recorded: none may leave 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, Request, Route, expect

from engine.decisions import Reject
from engine.directory import Directory
from engine.llm.demo import DemoProvider
from engine.model import Workflow
from engine.records import CheckpointQuery
from engine.services import Loopdesk
from tests.browser.conftest import Server, start_server, wait_idle
from tests.browser.test_journey1 import pick

TRACKER = "t.invalid"


def payload(tag: str) -> str:
    """A piece of text that fetches from outside wherever it is rendered as Markdown or HTML."""
    return f"{tag} ![px](http://{TRACKER}/{tag}.png) <img src=http://{TRACKER}/{tag}h.png> [a](http://{TRACKER}/{tag})"


def hostile_workflow() -> Workflow:
    """A valid workflow whose every free text is a payload."""
    p = payload
    sections = [p("Section-in"), p("Section-review"), p("Section-out")]
    return Workflow.model_validate(
        {
            "id": "hostile",
            "name": p("Name"),
            "description": p("Description"),
            "sections": sections,
            "nodes": [
                {
                    "id": "form",
                    "type": "form_trigger",
                    "title": p("Form"),
                    "position": {"x": 0, "y": 0},
                    "title_field": "topic",
                    "fields": [
                        {
                            "name": "topic",
                            "label": p("Label"),
                            "required": True,
                            "help": p("Help"),
                            "default": p("Default"),
                        },
                        {
                            "name": "channel",
                            "label": p("Channel"),
                            "type": "choice",
                            "options": [p("Option-a"), p("Option-b")],
                            "help": p("Choice-help"),
                        },
                    ],
                },
                {
                    "id": "draft",
                    "type": "ai_step",
                    "title": p("AI-title"),
                    "position": {"x": 0, "y": 120},
                    "instruction": p("Instruction") + " {{ topic }}",
                    "output_name": "draft",
                },
                {
                    "id": "to_review",
                    "type": "move_to_section",
                    "title": p("Move"),
                    "position": {"x": 0, "y": 240},
                    "section": sections[1],
                },
                {
                    "id": "review",
                    "type": "approval",
                    "title": p("Approval"),
                    "position": {"x": 0, "y": 360},
                    "assignee": "jamie",
                    "instructions": p("Reviewer-instructions") + " {{ topic }}",
                    "editable_values": ["draft"],
                },
                {
                    "id": "route",
                    "type": "branch",
                    "title": p("Branch"),
                    "position": {"x": 0, "y": 420},
                    "value": "topic",
                    "cases": [p("Case")],
                },
                {
                    "id": "end",
                    "type": "end",
                    "title": p("End"),
                    "position": {"x": 0, "y": 480},
                    "outcome": p("Outcome"),
                },
                {
                    "id": "stop",
                    "type": "end",
                    "title": p("Stop"),
                    "position": {"x": 200, "y": 480},
                    "outcome": p("Rejected-outcome"),
                    "status": "rejected",
                },
            ],
            "edges": [
                {"id": "e1", "source": "form", "target": "draft"},
                {"id": "e2", "source": "draft", "target": "to_review"},
                {"id": "e3", "source": "to_review", "target": "review"},
                {"id": "e4", "source": "review", "target": "route", "label": "approved"},
                {"id": "b1", "source": "route", "target": "end", "label": p("Case")},
                {"id": "b2", "source": "route", "target": "stop", "label": "default"},
                {"id": "e5", "source": "review", "target": "stop", "label": "rejected"},
            ],
        }
    )


@pytest.fixture
def hostile_server(tmp_path: Path) -> Iterator[tuple[Server, dict[str, Any]]]:
    """The app on a database holding the hostile workflow, one run waiting and one rejected."""
    db = tmp_path / "hostile.duckdb"
    app = Loopdesk.open(str(db), provider=DemoProvider(), directory=Directory.load(), workers=1)
    try:
        app.install_templates()
        app.save_workflow(hostile_workflow(), "cli")
        inputs = {"topic": payload("Title"), "channel": payload("Option-a")}
        waiting = app.start_run("hostile", inputs, "riley")
        rejected = app.start_run("hostile", {**inputs, "topic": payload("Other-title")}, "riley")
        cp_rejected = app.store.list_checkpoints(CheckpointQuery(run_id=rejected.id))[0].id
        app.decide(cp_rejected, "jamie", Reject(comment=payload("Comment")))
        ids = {"run": waiting.id, "cp": app.store.list_checkpoints(CheckpointQuery(run_id=waiting.id))[0].id}
    finally:
        app.close()
    srv = start_server(db, tmp_path / "streamlit.log")
    yield srv, ids
    srv.stop()


def watch_requests(page: Page) -> list[str]:
    """Record every request that leaves the machine (and refuse it, so nothing waits on it)."""
    outside: list[str] = []

    def on_request(request: Request) -> None:
        host = urlparse(request.url).hostname or ""
        if request.url.startswith("http") and host not in ("127.0.0.1", "localhost"):
            outside.append(request.url)

    def refuse(route: Route) -> None:
        route.abort()

    page.on("request", on_request)
    page.context.route(f"**://{TRACKER}/**", refuse)
    return outside


def visit(page: Page, url: str, heading: str) -> None:
    page.goto(url)
    page.get_by_role("heading", name=heading, exact=True).wait_for(state="visible", timeout=30_000)
    wait_idle(page)
    page.wait_for_timeout(500)  # images start loading as soon as they are in the DOM


def test_no_page_fetches_what_a_user_typed(hostile_server: tuple[Server, dict[str, Any]], page: Page) -> None:
    server, ids = hostile_server
    outside = watch_requests(page)
    base = server.url

    visit(page, f"{base}/start_run?workflow=hostile", "Start a run")
    # the typed text shows literally, Markdown image syntax included
    expect(page.get_by_text(f"Description ![px](http://{TRACKER}/Description.png)").first).to_be_visible()
    page.get_by_role("combobox").nth(1).click()  # the choice field's options open
    page.wait_for_timeout(500)
    page.keyboard.press("Escape")

    visit(page, f"{base}/inbox?cp={ids['cp']}", "Inbox")
    visit(page, f"{base}/runs?run={ids['run']}", "Runs")
    for tab in ("Canvas", "Audit trail", "Values"):
        page.get_by_role("tab", name=tab).click()
        wait_idle(page)
    page.wait_for_timeout(1500)  # the canvas iframe draws its nodes
    visit(page, f"{base}/board?workflow=hostile", "Board")
    visit(page, f"{base}/designer?workflow=hostile", "Designer")
    page.wait_for_timeout(1500)
    visit(page, f"{base}/insights", "Insights")

    # Jamie's decided tab shows the comment with the payload
    visit(page, f"{base}/inbox", "Inbox")
    pick(page, "Signed in as", "Jamie Rivera · Marketing reviewer")
    page.get_by_role("tab", name="Decided").click()
    wait_idle(page)
    page.locator('[data-testid="stExpander"]').first.click()
    wait_idle(page)
    expect(page.get_by_text(f"Comment ![px](http://{TRACKER}/Comment.png)").first).to_be_visible()
    page.wait_for_timeout(500)

    assert outside == [], f"the browser fetched from outside: {outside}"
    assert page.locator(f'img[src*="{TRACKER}"]').count() == 0


def test_selecting_every_step_in_the_designer_fetches_nothing(
    hostile_server: tuple[Server, dict[str, Any]], page: Page
) -> None:
    """The attack: field labels rendered as Markdown in the AI step's "Insert a value" chips, so opening
    the step fetched tracker images. Every step's inspector is opened here, and nothing may leave."""
    server, _ = hostile_server
    outside = watch_requests(page)
    visit(page, f"{server.url}/designer?workflow=hostile", "Designer")
    selected = page.get_by_role("combobox", name="Selected")
    selected.click()
    count = page.get_by_role("option").count()
    page.keyboard.press("Escape")
    assert count == 8  # workflow settings and seven steps
    for i in range(count):
        page.get_by_role("combobox", name="Selected").click()
        page.get_by_role("option").nth(i).click()
        wait_idle(page)
        page.wait_for_timeout(400)  # images start loading as soon as they are in the DOM
    assert outside == [], f"the browser fetched from outside: {outside}"
    assert page.locator(f'img[src*="{TRACKER}"]').count() == 0
