"""Wiring in the Designer without dragging: next-step pickers, add after, insert on a connection,
delete with reconnect, the form that stays, and undo/redo over all of it."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.ui.conftest import shown
from tests.ui.test_designer import PAGE, by_label, texts, working_copy
from ui import designer_state as ds

pytestmark = pytest.mark.usefixtures("streamlit_app")
MARKETING = "marketing-social-post"


def open_marketing(step: str | None = None) -> AppTest:
    """The Designer on the marketing template's workflow, with `step` selected."""
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["loopdesk_user"] = "dana"
    at.session_state[ds.CURRENT_KEY] = MARKETING
    at.run()
    if step is not None:
        by_label(at.selectbox, "Selected").select(step)
        at.run()
    assert not at.exception, at.exception
    return at


def leads(at: AppTest, source: str) -> dict[str | None, str]:
    """Where each exit of `source` leads in the working copy."""
    return {e.label: e.target for e in working_copy(at, MARKETING).edges if e.source == source}


def test_choosing_where_an_approval_leads_rewires_it_and_undo_takes_it_back() -> None:
    at = open_marketing("review")
    assert {s.label for s in at.selectbox} >= {"If approved", "If rejected", "If changes requested"}
    by_label(at.selectbox, "If rejected").select("draft")
    at.run()
    assert not at.exception, at.exception
    assert leads(at, "review")["rejected"] == "draft"

    at.button(key="designer_undo").click()
    at.run()
    assert leads(at, "review")["rejected"] == "to_rejected"
    at.button(key="designer_redo").click()
    at.run()
    assert leads(at, "review")["rejected"] == "draft"


def test_add_after_puts_the_new_step_between_a_step_and_its_next() -> None:
    at = open_marketing("draft")
    by_label(at.selectbox, "Add a step after it").select("Approval")
    at.run()
    at.button(key="designer_add_after").click()
    at.run()
    assert not at.exception, at.exception
    wf = working_copy(at, MARKETING)
    new = next(n for n in wf.nodes if n.id.startswith("approval_"))
    assert leads(at, "draft") == {None: new.id}
    assert leads(at, new.id) == {"approved": "to_review"}
    assert at.selectbox(key=f"designer_inspect:{MARKETING}").value == new.id  # it is selected


def test_inserting_on_a_connection_keeps_its_outcome() -> None:
    at = open_marketing("review")
    approved = next(
        e for e in working_copy(at, MARKETING).edges if e.source == "review" and e.label == "approved"
    )
    at.button(key=f"designer_insert_{approved.id}_ai_step").click()
    at.run()
    assert not at.exception, at.exception
    new_id = next(n.id for n in working_copy(at, MARKETING).nodes if n.id.startswith("ai_step_"))
    assert leads(at, "review")["approved"] == new_id and leads(at, new_id) == {None: "to_translation"}


def test_deleting_a_step_joins_its_neighbours_and_the_form_cannot_be_deleted() -> None:
    at = open_marketing("to_review")
    at.button(key="designer_delete_node").click()
    at.run()
    assert "to_review" not in working_copy(at, MARKETING).node_map()
    assert leads(at, "draft") == {None: "review"}
    assert "the step before it now leads to the step after it" in texts(at)

    at.button(key="designer_undo").click()
    at.run()
    assert "to_review" in working_copy(at, MARKETING).node_map() and leads(at, "draft") == {None: "to_review"}

    by_label(at.selectbox, "Selected").select("form")
    at.run()
    assert not [b for b in at.button if b.key == "designer_delete_node"]
    # nothing can lead back to the form, the form included
    assert "Post request" not in [shown(o) for o in by_label(at.selectbox, "Next step").options]
