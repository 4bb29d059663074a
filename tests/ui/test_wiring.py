"""Wiring by choosing, on the shipped templates: exits and their targets, insert on a connection,
add after a step, delete with reconnect, and the form that cannot be deleted."""

from __future__ import annotations

import pytest

from engine.kinds import KINDS, PALETTE
from engine.model import Workflow
from engine.validation import validate_workflow
from tests.conftest import load_template
from ui.wiring import WiringError, add_after, delete_step, exits, insert_on_edge, set_exit


@pytest.fixture
def marketing() -> Workflow:
    return load_template("marketing_social_post")


def edge(wf: Workflow, source: str, target: str) -> str | None:
    """The label of the connection from `source` to `target` ("" when unlabelled; None: none)."""
    found = next((e for e in wf.edges if e.source == source and e.target == target), None)
    return None if found is None else (found.label or "")


def test_each_kind_has_its_exits_with_where_they_lead(marketing: Workflow) -> None:
    assert [(x.name, x.target) for x in exits(marketing, "draft")] == [("Next step", "to_review")]
    assert [(x.name, x.label, x.target) for x in exits(marketing, "review")] == [
        ("If approved", "approved", "to_translation"),
        ("If rejected", "rejected", "to_rejected"),
        ("If changes requested", "changes_requested", "draft"),
    ]
    assert exits(marketing, "done") == []
    support = load_template("support_reply")
    branch = next(n for n in support.nodes if n.type == "branch")
    names = [x.name for x in exits(support, branch.id)]
    assert names[-1] == "Otherwise" and names[0].startswith("If the case is “")


def test_choosing_a_next_step_rewires_one_exit(marketing: Workflow) -> None:
    wf = set_exit(marketing, "review", "rejected", "draft")
    assert any(e.source == "review" and e.label == "rejected" and e.target == "draft" for e in wf.edges)
    assert edge(wf, "review", "to_rejected") is None
    assert [x.target for x in exits(wf, "review")] == ["to_translation", "draft", "draft"]
    cleared = set_exit(wf, "review", "rejected", None)
    assert [x.target for x in exits(cleared, "review")][1] is None
    with pytest.raises(WiringError, match="cannot lead to itself"):
        set_exit(marketing, "draft", None, "draft")
    with pytest.raises(WiringError, match="form"):
        set_exit(marketing, "draft", None, "form")


def test_choosing_where_a_step_already_leads_changes_nothing(marketing: Workflow) -> None:
    """The connection (and its id, which the canvas and the undo history know it by) stays."""
    approved = next(e for e in marketing.edges if e.source == "review" and e.label == "approved")
    assert set_exit(marketing, "review", "approved", approved.target) == marketing
    cleared = set_exit(marketing, "review", "approved", None)
    assert set_exit(cleared, "review", "approved", None) == cleared


def test_inserting_on_a_connection_keeps_its_outcome_and_makes_room(marketing: Workflow) -> None:
    into_review = next(e for e in marketing.edges if e.source == "review" and e.label == "approved")
    below = marketing.node("to_translation").position.y
    wf, new_id = insert_on_edge(marketing, into_review.id, "approval")

    assert edge(wf, "review", new_id) == "approved"  # the new step took the outcome
    assert edge(wf, new_id, "to_translation") == "approved"  # and leads on, by its own first exit
    assert edge(wf, "review", "to_translation") is None
    assert wf.node(new_id).position.y == below and wf.node("to_translation").position.y == below + 130
    assert wf.node("form").position == marketing.node("form").position  # steps above stay put

    ai_wf, ai_id = insert_on_edge(
        marketing, next(e.id for e in marketing.edges if e.source == "draft"), "ai_step"
    )
    assert edge(ai_wf, "draft", ai_id) == "" and edge(ai_wf, ai_id, "to_review") == ""


def test_adding_after_a_step_with_one_next_step_goes_in_between(marketing: Workflow) -> None:
    wf, new_id = add_after(marketing, "draft", "move_to_section")
    assert edge(wf, "draft", new_id) == "" and edge(wf, new_id, "to_review") == ""
    assert edge(wf, "draft", "to_review") is None

    open_review = set_exit(marketing, "review", "rejected", None)
    wf, new_id = add_after(open_review, "review", "end")  # the first free exit
    assert edge(wf, "review", new_id) == "rejected" and wf.outgoing(new_id) == []
    with pytest.raises(WiringError, match="nothing can come after"):
        add_after(marketing, "done", "ai_step")


def test_deleting_a_step_reconnects_its_one_way_in_to_its_one_way_on(marketing: Workflow) -> None:
    wf = delete_step(marketing, "to_review")
    assert "to_review" not in wf.node_map()
    assert edge(wf, "draft", "review") == ""
    assert validate_workflow(wf) == []  # still a whole workflow

    # the review has three ways on: nothing is guessed, its incoming connection simply goes
    wf = delete_step(marketing, "review")
    assert not any("review" in (e.source, e.target) for e in wf.edges)
    assert edge(wf, "to_review", "to_translation") is None

    with pytest.raises(WiringError, match="cannot be deleted"):
        delete_step(marketing, "form")


def test_new_steps_get_titles_that_tell_them_apart() -> None:
    wf = load_template("marketing_social_post")
    wf, first = add_after(wf, "draft", "ai_step")
    wf, second = add_after(wf, first, "ai_step")
    wf, third = add_after(wf, second, "ai_step")
    # each improves the draft written before it (see engine.kinds.ai_step.placed)
    assert [wf.node(i).title for i in (first, second, third)] == [
        "Improve the draft",
        "Improve the draft 2",
        "Improve the draft 3",
    ]
    wf, first = add_after(wf, "form", "move_to_section")
    wf, second = add_after(wf, first, "move_to_section")
    assert [wf.node(i).title for i in (first, second)] == ["Move to section", "Move to section 2"]


@pytest.mark.parametrize("kind", [k.type for k in PALETTE])
def test_insert_add_after_and_delete_work_for_every_palette_kind(marketing: Workflow, kind: str) -> None:
    """Written once for every kind: what differs is only what each kind declares (its exits)."""
    spec = KINDS[kind]
    into_review = next(e for e in marketing.edges if e.target == "review")
    wf, new_id = insert_on_edge(marketing, into_review.id, kind)
    node = wf.node(new_id)
    assert node.type == kind and node.title == (spec.label if kind != "ai_step" else "Improve the draft")
    assert edge(wf, into_review.source, new_id) == ""  # the plain connection into it stays plain
    assert [x.label for x in exits(wf, new_id)] == spec.exit_labels(node)
    leads_on = edge(wf, new_id, "review")
    assert leads_on == (None if not spec.exit_labels(node) else (spec.exit_labels(node)[0] or ""))

    after, after_id = add_after(marketing, "draft", kind)
    assert edge(after, "draft", after_id) == ""
    assert (edge(after, after_id, "to_review") is not None) == bool(spec.exit_labels(after.node(after_id)))

    if spec.exit_labels(node):  # one way in and one way on: deleting it joins its neighbours again
        back = delete_step(wf, new_id)
        assert edge(back, into_review.source, "review") == ""
        assert {n.id for n in back.nodes} == {n.id for n in marketing.nodes}
