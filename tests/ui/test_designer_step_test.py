"""Plain words in the Designer: clicking a value puts it into a prompt, and “Test this step” runs one
AI step on sample values (the form's defaults or a past run's), showing its answer, saving nothing."""

from __future__ import annotations

from typing import Any

import pytest

from engine.model import AIStepNode
from engine.services import Loopdesk
from tests.ui.conftest import shown
from tests.ui.test_designer import by_label, texts, working_copy
from tests.ui.test_designer_wiring import MARKETING, no_drafts_kept, open_marketing

pytestmark = pytest.mark.usefixtures("streamlit_app")
__all__ = ["no_drafts_kept"]
INSERT = "Insert a value (click: it is added to the end of the text)"


def value_box(widgets: Any, label: str) -> Any:
    """The sample-value box whose label reads `label` (labels are Markdown-escaped)."""
    return next(w for w in widgets if shown(w.label) == label)


def instruction(at: object, step: str) -> str:
    """The instruction of an AI step in the working copy."""
    node = working_copy(at, MARKETING).node(step)  # type: ignore[arg-type]
    assert isinstance(node, AIStepNode)
    return node.instruction


def test_clicking_a_value_adds_its_placeholder_to_the_prompt() -> None:
    at = open_marketing("draft")
    pills = by_label(at.button_group, INSERT)
    labels = [pills.format_func(o) for o in pills.options]  # what people read: labels, not ids
    assert "Target language" in str(labels) and "target_language" not in str(labels)
    before = instruction(at, "draft")

    pills.set_value("target_language")
    at.run()

    assert not at.exception, at.exception
    assert instruction(at, "draft") == f"{before} {{{{ target_language }}}}"
    assert by_label(at.button_group, INSERT).value is None


def test_testing_a_step_shows_the_answer_and_creates_no_run(service: Loopdesk) -> None:
    runs_before = len(service.store.list_runs())
    versions_before = len(service.versions(MARKETING))
    at = open_marketing("draft")
    topic = value_box(at.text_input, "Topic")
    assert topic.value == "the launch of our new analytics dashboard"  # the form's default
    topic.input("our autumn webinar")
    before = working_copy(at, MARKETING)

    at.button(key="designer_test_step_draft").click()
    at.run()

    assert not at.exception, at.exception
    shown = texts(at)
    assert "demo output (offline demo model)" in shown
    assert "autumn webinar" in shown.lower()  # the demo answer is built from the values given
    assert "offline demo model" in shown and "free (demo)" in shown and " tokens · " in shown
    assert len(service.store.list_runs()) == runs_before
    assert len(service.versions(MARKETING)) == versions_before
    assert working_copy(at, MARKETING) == before


def test_a_past_runs_values_can_feed_the_test(service: Loopdesk) -> None:
    run = service.start_run(MARKETING, {"topic": "Spring sale", "channel": "X"}, "dana")
    at = open_marketing("translate")
    source = by_label(at.selectbox, "Sample values from")
    source.select(run.id)
    at.run()
    assert not at.exception, at.exception
    draft_box = value_box(at.text_area, "Draft")
    assert "Spring sale" in draft_box.value  # the draft that run's AI step wrote
    assert value_box(at.text_input, "Channel").value == "X"
