"""Templates page: the gallery lists every template, "Use template" makes a copy, demo data loads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

from engine.catalog import list_templates
from engine.services import Loopdesk
from ui.runtime import get_app, reset_app

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages" / "templates.py")
APP = str(ROOT / "app.py")
TEMPLATE_IDS = {"marketing-social-post", "support-reply", "blog-localisation", "refund-request"}


def open_page(user: str = "jamie", script: str = PAGE) -> AppTest:
    """Run the Templates page (alone, or as the app's default page) signed in as `user`."""
    at = AppTest.from_file(script, default_timeout=30)
    at.session_state["loopdesk_user"] = user
    at.run()
    assert not at.exception, at.exception
    return at


def leaves(node: Any) -> Iterator[Any]:
    """Every element under a block, in page order."""
    children = getattr(node, "children", None)
    if children is None:
        yield node
        return
    for key in sorted(children):
        yield from leaves(children[key])


def cards(at: AppTest) -> dict[str, list[str]]:
    """Text of each template card, keyed by the card's heading."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for el in leaves(at.main):
        value = getattr(el, "value", None)
        if el.type == "subheader":
            current = out.setdefault(str(value), [])
        elif current is not None and isinstance(value, str):
            current.append(value)
    return out


def page_links(at: AppTest) -> list[tuple[str, str, str]]:
    """(label, page, query string) of every page link."""
    return [(e.proto.label, e.proto.page, e.proto.query_string) for e in at.get("page_link")]


def test_gallery_lists_every_template_with_its_counts(service: Loopdesk) -> None:
    at = open_page()
    shown = cards(at)
    templates = list_templates()
    assert set(shown) == {t.workflow.name for t in templates}
    assert next(iter(shown)) == "Marketing social post", "the seed article's workflow comes first"
    for t in templates:
        text = "\n".join(shown[t.workflow.name])
        steps = f"{t.ai_steps} AI step{'s' if t.ai_steps != 1 else ''}"
        checkpoints = f"{t.checkpoints} checkpoint{'s' if t.checkpoints != 1 else ''}"
        assert steps in text and checkpoints in text, (t.workflow.name, text)
        assert "Approvers:" in text
    assert "Support team \\(group\\), Managers \\(group\\)" in "\n".join(shown["Refund request"])
    assert [b.label for b in at.button].count("Use template") == len(templates)


def test_preview_draws_each_template_on_a_read_only_canvas(service: Loopdesk) -> None:
    at = open_page()
    flows = [
        json.loads(e.proto.json_args)
        for e in leaves(at.main)
        if e.type == "component_instance" and e.proto.component_name == "streamlit_flow.streamlit_flow"
    ]
    drawn = {frozenset(n["id"] for n in flow["nodes"]) for flow in flows}
    assert drawn == {frozenset(n.id for n in t.workflow.nodes) for t in list_templates()}
    assert not any(n["draggable"] for flow in flows for n in flow["nodes"]), "previews are read-only"


def test_first_start_installs_the_templates_once(service: Loopdesk) -> None:
    assert {w.workflow_id for w in service.list_workflows()} == TEMPLATE_IDS
    reset_app()  # the app restarts on the same database
    again = get_app()
    open_page()
    assert {w.workflow_id for w in again.list_workflows()} == TEMPLATE_IDS
    assert all(len(again.versions(t)) == 1 for t in TEMPLATE_IDS)


def test_use_template_creates_my_own_copy_and_links_to_it(service: Loopdesk) -> None:
    at = open_page("dana", script=APP)
    before = {w.workflow_id for w in service.list_workflows()}
    at.button(key="use_marketing-social-post").click().run()
    assert not at.exception, at.exception
    after = {w.workflow_id: w for w in service.list_workflows()}
    (new_id,) = set(after) - before
    copy = after[new_id]
    assert new_id not in TEMPLATE_IDS and copy.created_by == "dana"
    assert copy.definition.nodes == service.get_workflow("marketing-social-post").definition.nodes
    assert "Marketing social post (copy)" in at.success[0].value.replace("\\", "")
    links = page_links(at)
    assert ("Open in Designer", "designer", f"workflow={new_id}") in links
    assert ("Start a run", "start_run", f"workflow={new_id}") in links
    # the template itself is untouched
    assert len(service.versions("marketing-social-post")) == 1


def test_try_it_links_to_the_installed_template(service: Loopdesk) -> None:
    links = page_links(open_page("dana", script=APP))
    for template_id in TEMPLATE_IDS:
        assert ("Try it as is", "start_run", f"workflow={template_id}") in links


def test_load_demo_data_fills_the_inboxes(service: Loopdesk) -> None:
    at = open_page("dana")
    next(b for b in at.button if b.label == "Load demo data").click().run()
    assert not at.exception, at.exception
    message = at.success[0].value
    assert "Started 8 demo tasks" in message and "Jamie Rivera 3" in message and "Sam Okafor 5" in message
    assert len(service.inbox("jamie")) == 3 and len(service.inbox("morgan")) == 1
    assert {r.status for r in service.list_runs("cli")} == {"waiting"}
