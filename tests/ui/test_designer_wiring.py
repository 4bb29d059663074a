"""Wiring in the Designer without dragging: next-step pickers, add after, insert on a connection,
delete with reconnect, the form that stays, and undo/redo over all of it."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from engine.model import Workflow
from engine.services import Loopdesk
from tests.ui.conftest import keyed_select, shown
from tests.ui.test_designer import PAGE, by_label, canvas_args, texts, working_copy
from ui import designer_state as ds

pytestmark = pytest.mark.usefixtures("streamlit_app")
MARKETING = "marketing-social-post-dana"
"""Dana's own copy of the marketing template (templates themselves are read-only)."""


@pytest.fixture(autouse=True)
def no_drafts_kept(service: Loopdesk) -> None:
    """Each test starts from Dana's fresh copy of the marketing template, with no unsaved changes
    kept from another test."""
    if MARKETING not in {w.workflow_id for w in service.workflows_for("dana", "edit")}:
        assert service.use_template("marketing-social-post", "dana").workflow_id == MARKETING
    for user in ("dana", "sam"):
        service.drop_design_draft(user, MARKETING)


def open_marketing(step: str | None = None) -> AppTest:
    """The Designer on the marketing template's workflow as Dana, with `step` selected."""
    return open_marketing_as("dana", step)


def open_marketing_as(user: str, step: str | None = None) -> AppTest:
    """The Designer on the marketing template's workflow as `user`, with `step` selected."""
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["loopdesk_user"] = user
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
    assert keyed_select(at, f"designer_inspect:{MARKETING}").value == new.id  # it is selected


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
    assert "Delete “To draft review”?" in texts(at)  # asked once, in the Delete step menu
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


def test_unsaved_changes_survive_a_reload_and_can_be_restored_or_discarded(service: Loopdesk) -> None:
    at = open_marketing("review")
    by_label(at.selectbox, "If rejected").select("draft")
    at.run()
    assert service.design_draft("dana", MARKETING) is not None  # kept as it happened

    reloaded = open_marketing()  # a new browser session: the saved version opens, with an offer
    assert leads(reloaded, "review")["rejected"] == "to_rejected"
    assert not [b for b in open_marketing_as("sam").button if b.key == "designer_restore_draft"]
    reloaded.button(key="designer_restore_draft").click()
    reloaded.run()
    assert not reloaded.exception, reloaded.exception
    assert leads(reloaded, "review")["rejected"] == "draft"
    assert any("Restored your unsaved changes" in shown(m.value) for m in reloaded.toast)

    again = open_marketing()
    again.button(key="designer_discard_draft").click()
    again.run()
    assert service.design_draft("dana", MARKETING) is None
    assert leads(again, "review")["rejected"] == "to_rejected"
    assert not [b for b in open_marketing().button if b.key == "designer_restore_draft"]


def test_saving_drops_the_kept_draft(service: Loopdesk) -> None:
    at = open_marketing("draft")
    by_label(at.text_input, "Title").input("Write the post")
    at.run()
    assert service.design_draft("dana", MARKETING) is not None
    at.button(key="designer_save").click()
    at.run()
    assert not at.exception, at.exception
    assert service.design_draft("dana", MARKETING) is None
    assert not [b for b in open_marketing().button if b.key == "designer_restore_draft"]


def test_editing_instead_of_answering_the_offer_keeps_the_new_work(service: Loopdesk) -> None:
    at = open_marketing("review")
    by_label(at.selectbox, "If rejected").select("draft")
    at.run()
    later = open_marketing("review")
    assert [b for b in later.button if b.key == "designer_restore_draft"]
    by_label(later.selectbox, "If approved").select("to_rejected")
    later.run()
    assert not [b for b in later.button if b.key == "designer_restore_draft"]
    draft = service.design_draft("dana", MARKETING)
    assert draft is not None
    kept = Workflow.model_validate_json(draft.definition)
    assert {e.label: e.target for e in kept.edges if e.source == "review"}["approved"] == "to_rejected"


def test_a_refused_edit_says_why_in_a_sentence_and_changes_nothing() -> None:
    at = open_marketing("done")
    before = working_copy(at, MARKETING)
    at.session_state["designer_intent"] = ("add_after", ("done", "ai_step"))  # as a button would ask
    at.run()
    assert not at.exception, at.exception
    assert "“Published” finishes the run; nothing can come after it." in texts(at)
    assert working_copy(at, MARKETING) == before


def test_auto_arrange_lays_the_steps_out_and_undo_puts_them_back() -> None:
    at = open_marketing()
    before = {n.id: n.position for n in working_copy(at, MARKETING).nodes}
    at.button(key="designer_arrange").click()
    at.run()
    assert not at.exception, at.exception
    after = {n.id: n.position for n in working_copy(at, MARKETING).nodes}
    assert after != before and after["form"].y < after["draft"].y < after["review"].y
    assert "Arranged the steps top to bottom" in texts(at)
    at.button(key="designer_undo").click()
    at.run()
    assert {n.id: n.position for n in working_copy(at, MARKETING).nodes} == before


def test_focus_mode_gives_the_canvas_the_width_and_folds_the_inspector() -> None:
    at = open_marketing("draft")
    assert not [e for e in at.expander if e.label == "Inspector and problems"]
    at.toggle(key="designer_focus").set_value(True)
    at.run()
    assert not at.exception, at.exception
    (folded,) = [e for e in at.expander if e.label == "Inspector and problems"]
    assert any(s.label == "Selected" for s in folded.selectbox)  # the inspector is there, folded


def test_a_new_workflow_never_saved_comes_back_in_a_new_session_and_can_be_discarded(
    service: Loopdesk,
) -> None:
    at = open_marketing()
    at.text_input(key="designer_new_name").input("Launch checklist")
    at.button(key="designer_create").click()
    at.run()
    wid = str(at.session_state[ds.CURRENT_KEY])
    at.button(key="designer_add_approval").click()  # some work on it
    at.run()
    assert not at.exception, at.exception
    assert service.design_draft("dana", wid) is not None

    again = AppTest.from_file(PAGE, default_timeout=30)  # a reload: a new session
    again.session_state["loopdesk_user"] = "dana"
    again.run()
    picker = keyed_select(again, "designer_pick")
    assert any("Launch checklist" in o and "(not saved yet)" in o for o in picker.options)
    picker.select(wid)
    again.run()
    assert not again.exception, again.exception
    assert any(n.type == "approval" for n in working_copy(again, wid).nodes)  # as it was left
    assert "is back as you left it" in texts(again)

    again.button(key="designer_discard_new").click()
    again.run()
    assert "Discarded the new workflow “Launch checklist”" in texts(again)
    assert service.design_draft("dana", wid) is None
    assert not any("Launch checklist" in o for o in keyed_select(again, "designer_pick").options)


def test_a_late_echo_of_an_earlier_canvas_state_does_not_undo_an_undo() -> None:
    at = open_marketing()
    pushed_before = canvas_args(at)
    edges = [
        *pushed_before["edges"],
        {"id": "st-flow-edge_draft-review", "source": "draft", "target": "review"},
    ]
    at.session_state[ds.canvas_key(MARKETING)] = {
        "nodes": pushed_before["nodes"], "edges": edges, "selectedId": "st-flow-edge_draft-review",
        "timestamp": int(time.time() * 1000) + 1000,
    }  # fmt: skip
    at.run()  # a connection drawn in the browser
    with_edge = canvas_args(at)  # what the page sent back to the browser after taking it
    assert any(e["id"] == "st-flow-edge_draft-review" for e in with_edge["edges"])
    at.button(key="designer_undo").click()
    at.run()
    assert "st-flow-edge_draft-review" not in {e.id for e in working_copy(at, MARKETING).edges}

    # the browser's answer to the earlier state arrives only now (it was on its way during Undo)
    at.session_state[ds.canvas_key(MARKETING)] = {
        "nodes": with_edge["nodes"], "edges": with_edge["edges"], "selectedId": None,
        "timestamp": int(time.time() * 1000) + 2000,
    }  # fmt: skip
    at.run()
    assert not at.exception, at.exception
    assert "st-flow-edge_draft-review" not in {e.id for e in working_copy(at, MARKETING).edges}
    at.button(key="designer_redo").click()
    at.run()
    assert "st-flow-edge_draft-review" in {e.id for e in working_copy(at, MARKETING).edges}
