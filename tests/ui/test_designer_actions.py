"""The Designer's actions as plain functions: each takes the working copy (and the service) and
says what it did; no page is drawn here (the AppTests drive the same functions through the page)."""

from __future__ import annotations

import pytest
import streamlit as st

from engine.model import Workflow
from engine.services import Loopdesk
from tests.conftest import load_template
from ui import designer_actions as acts
from ui import designer_state as ds
from ui.canvas_bridge import CanvasEvent
from ui.wiring import WiringError, set_exit


@pytest.fixture
def own(app: Loopdesk) -> Workflow:
    """Dana's own copy of the marketing template, saved as version 1."""
    return app.use_template("marketing-social-post", "dana").definition


def labelled(wf: Workflow, source: str, target: str) -> str | None:
    """The label of the connection from `source` to `target` ("" unlabelled; None: none)."""
    found = next((e for e in wf.edges if e.source == source and e.target == target), None)
    return None if found is None else (found.label or "")


def test_a_palette_button_adds_the_step_next_to_the_selection_and_selects_it() -> None:
    wf = load_template("marketing_social_post")
    done = acts.act("add", wf, "branch", "review")
    assert done is not None and done.wf is not None
    assert done.select == "branch_1" and done.wf.node("branch_1").type == "branch"
    assert done.redraw == "fit" and done.flash is None


def test_insert_and_add_after_rewire_or_say_why_they_cannot() -> None:
    wf = load_template("marketing_social_post")
    into_review = next(e for e in wf.edges if e.target == "review")
    done = acts.act("insert", wf, (into_review.id, "ai_step"), None)
    assert done is not None and done.wf is not None and done.select is not None
    assert labelled(done.wf, into_review.source, done.select) == ""
    assert labelled(done.wf, done.select, "review") == ""

    refused = acts.act("add_after", wf, ("done", "ai_step"), None)
    assert refused is not None and refused.wf is None and refused.select is None
    assert refused.flash is not None and refused.flash.kind == "error"
    assert refused.flash.text == "“Published” finishes the run; nothing can come after it."


def test_a_drop_inserts_on_the_connection_or_places_the_step_where_it_fell() -> None:
    wf = load_template("marketing_social_post")
    into_review = next(e for e in wf.edges if e.target == "review")
    on_edge = acts.drop_step(wf, CanvasEvent("drop", kind="approval", edge=into_review.id))
    assert on_edge.wf is not None and on_edge.select is not None
    assert labelled(on_edge.wf, on_edge.select, "review") == "approved"  # its first exit leads on
    assert on_edge.redraw == "push"  # where it was dropped: the view stays put

    loose = acts.drop_step(wf, CanvasEvent("drop", kind="end", x=900.0, y=40.0))
    assert loose.wf is not None and loose.select is not None
    placed = loose.wf.node(loose.select).position
    assert (placed.x, placed.y) == (900.0, 40.0)
    assert not [e for e in loose.wf.edges if loose.select in (e.source, e.target)]


def test_delete_pressed_on_the_canvas_asks_about_a_step_removes_a_connection_keeps_the_form() -> None:
    wf = load_template("marketing_social_post")
    asked = acts.press_delete(wf, CanvasEvent("delete", node="draft"))
    assert asked.ask_delete == "draft" and asked.wf is None

    into_review = next(e for e in wf.edges if e.target == "review")
    gone = acts.press_delete(wf, CanvasEvent("delete", edge=into_review.id))
    assert gone.wf is not None and into_review.id not in {e.id for e in gone.wf.edges}
    assert gone.flash is not None and gone.flash.text.startswith("Deleted the connection ")
    assert "Undo brings it back." in gone.flash.text

    form = acts.press_delete(wf, CanvasEvent("delete", node="form"))
    assert form.wf is None and form.ask_delete is None
    assert form.flash is not None and form.flash.text == "The form starts every run; it cannot be deleted."
    assert acts.press_delete(wf, CanvasEvent("delete", node="no-such-step")) == acts.Done()


def test_deleting_a_step_joins_its_neighbours_and_says_so() -> None:
    wf = load_template("marketing_social_post")
    done = acts.remove_step(wf, "to_review")  # one way in (the draft), one way on (the review)
    assert done.wf is not None and "to_review" not in done.wf.node_map()
    assert labelled(done.wf, "draft", "review") == ""
    assert done.unselect and done.fresh_widgets and done.redraw == "fit"
    assert done.flash is not None and "now leads to the step after it" in done.flash.text
    assert acts.remove_step(wf, "no-such-step") == acts.Done()


def test_choosing_a_next_step_rewires_or_refuses_and_redraws_the_pickers() -> None:
    wf = load_template("marketing_social_post")
    done = acts.rewire(wf, "review", "rejected", "draft")
    assert done.wf is not None and labelled(done.wf, "review", "draft") is not None
    assert done.fresh_widgets and done.redraw == "push"
    refused = acts.rewire(wf, "draft", None, "form")
    assert refused.wf is None and refused.fresh_widgets  # the picker shows the wiring as it is
    assert refused.flash is not None and refused.flash.text.startswith("Nothing can lead back to the form")


def test_only_edits_are_dispatched_as_edits() -> None:
    wf = load_template("marketing_social_post")
    assert acts.act("save", wf, None, None) is None
    assert acts.act("undo", wf, None, None) is None
    arranged = acts.act("arrange", wf, None, None)
    assert arranged is not None and arranged.wf is not None and arranged.redraw == "fit"
    picked = acts.act("select", wf, None, "draft")
    assert picked == acts.Done(unselect=True, redraw="push")


def test_saving_a_broken_working_copy_names_the_problems_by_title_and_saves_nothing(
    app: Loopdesk, own: Workflow
) -> None:
    broken = acts.remove_connection(own, next(e.id for e in own.edges if e.target == "review")).wf
    assert broken is not None
    done = acts.save(app, broken, "dana", app.get_workflow(own.id))
    assert done.saved is None and done.flash is not None and done.flash.kind == "error"
    assert done.flash.text.startswith("Not saved: the workflow has ")
    assert (
        "To draft review: has no way forward; connect it to the next step (or an End)" in done.flash.details
    )
    assert any(line.startswith("Review the draft: cannot be reached") for line in done.flash.details)
    assert [v.version for v in app.versions(own.id)] == [1]


def test_saving_makes_a_version_once_and_says_when_nothing_changed(app: Loopdesk, own: Workflow) -> None:
    latest = app.get_workflow(own.id)
    same = acts.save(app, own, "dana", latest)
    assert same.saved is not None and same.saved.version == 1
    assert same.flash is not None and same.flash.text == "Nothing changed since version 1."
    moved = acts.arrange_steps(own).wf
    assert moved is not None
    changed = acts.save(app, moved.model_copy(update={"name": "Posts v2"}), "dana", latest)
    assert changed.saved is not None and changed.saved.version == 2
    assert changed.flash is not None and changed.flash.kind == "success"


def test_a_broken_file_is_refused_before_anything_is_saved_and_a_good_one_waits_for_yes(
    app: Loopdesk, own: Workflow
) -> None:
    refused = acts.check_import(app, "posts.json", b'{"id": "x", "nodes": [', "dana")
    assert refused.pending_import is None and refused.flash is not None
    assert refused.flash.text.startswith("Import refused: ") and refused.flash.text.endswith(
        "Nothing was saved."
    )

    changed = own.model_copy(update={"name": "Posts, imported"})
    data = changed.to_json().encode()
    waiting = acts.check_import(app, "posts.json", data, "dana")
    assert waiting.pending_import == ("posts.json", data) and waiting.flash is None
    assert [v.version for v in app.versions(own.id)] == [1]  # nothing saved before the yes

    done = acts.confirm_import(app, "posts.json", data, "dana")
    assert done.load and done.saved is not None and done.saved.version == 2 and done.base == 2
    assert done.wf is not None and done.wf.name == "Posts, imported"


def test_restoring_a_version_or_kept_changes_loads_them_into_the_working_copy(
    app: Loopdesk, own: Workflow
) -> None:
    assert acts.restore_version(app.versions(own.id), 7, 1) == acts.Done()
    back = acts.restore_version(app.versions(own.id), 1, 1)
    assert back.load and back.wf == own and back.base == 1

    missing = acts.restore_draft(app, "dana", own.id, 1)
    assert missing.wf is None and missing.flash is not None and missing.flash.kind == "error"
    app.keep_design_draft("dana", own.model_copy(update={"name": "Half done"}))
    kept = acts.restore_draft(app, "dana", own.id, 1)
    assert kept.load and kept.wf is not None and kept.wf.name == "Half done" and kept.base == 1


def test_a_late_choice_for_a_step_already_gone_changes_nothing() -> None:
    """A picker or button of a step that an Undo has just taken away can still report (the page
    was drawn with it): it must not leave a connection from a step that no longer exists."""
    wf = load_template("marketing_social_post")
    stale = acts.rewire(wf, "move_to_section_1", None, "draft")
    assert stale.wf is None and stale.flash is None
    assert acts.add_step_after(wf, "move_to_section_1", "ai_step").wf is None
    with pytest.raises(WiringError, match="no step"):
        set_exit(wf, "move_to_section_1", None, "draft")


def test_unsaved_work_is_kept_while_it_differs_from_the_saved_version(
    app: Loopdesk, own: Workflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(st, "session_state", {})
    changed = own.model_copy(update={"name": "Posts, half done"})
    acts.keep_draft(app, "dana", changed, own)
    kept = app.design_draft("dana", own.id)
    assert kept is not None and Workflow.model_validate_json(kept.definition).name == "Posts, half done"
    acts.keep_draft(app, "dana", own, own)  # back as saved: nothing to keep any more
    assert app.design_draft("dana", own.id) is None

    st.session_state[ds.offer_key(own.id)] = 1.0  # an earlier draft waits to be restored
    app.keep_design_draft("dana", changed)
    acts.keep_draft(app, "dana", own, own)  # looking, not editing: the earlier draft stays
    assert app.design_draft("dana", own.id) is not None


def test_a_large_workflow_stays_where_the_person_looks_after_a_new_step() -> None:
    """Fitting fifty steps would only jump to their middle (the zoom stops at a readable size), so a
    step added to a large workflow is drawn in place; a small one is zoomed to show every step."""
    from tests.sample_workflows import fifty_steps

    small = load_template("marketing_social_post")
    large = fifty_steps()
    assert acts.add_step(small, "ai_step", "draft").redraw == "fit"
    assert acts.add_step(large, "ai_step", "draft_3").redraw == "push"
    into = large.edges[5].id
    assert acts.insert_step(large, into, "end").redraw == "push"
    assert acts.remove_step(large, "to_review_3").redraw == "push"
