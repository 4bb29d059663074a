"""Checkpoint policies in the Designer: the escalation chain, quorum, self-approval and business hours
are edited in the inspector, explained in words at the node, and a broken one is named there."""

from __future__ import annotations

from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from engine.model import ApprovalNode, BusinessHours
from tests.ui.conftest import shown
from tests.ui.test_designer import by_label, designer, new_workflow, texts, working_copy
from ui import designer_state as ds

pytestmark = pytest.mark.usefixtures("streamlit_app")


def approval_step(at: AppTest, wid: str, assignee: str) -> ApprovalNode:
    """Add an approval for `assignee` to a new workflow; it stays selected."""
    at.button(key="designer_add_approval").click()
    at.run()
    by_label(at.selectbox, "Assignee").select(assignee)
    at.run()
    assert not at.exception, at.exception
    node = working_copy(at, wid).node("approval_1")
    assert isinstance(node, ApprovalNode)
    return node


def edit_chain(at: AppTest, wid: str, rows: list[dict[str, Any]]) -> None:
    """Type these rows into the selected approval's escalation table (as the browser reports them)."""
    rev_key = ds._k("rev", wid)
    rev = at.session_state.get(rev_key, 0)
    key = f"dz:{wid}:{rev}:approval_1:escalation"
    at.session_state[key] = {"edited_rows": {}, "added_rows": rows, "deleted_rows": []}
    at.run()
    assert not at.exception, at.exception


def node_errors(at: AppTest) -> list[str]:
    """The error messages shown on the page (the inspector's own and any refused value)."""
    return [shown(e.value) for e in at.error]


def policy_errors(at: AppTest) -> list[str]:
    """The errors about policies (a new step also lacks its connections; those are not asked about)."""
    return [e for e in node_errors(at) if any(w in e for w in ("escalation", "quorum", "business hours"))]


def test_an_escalation_chain_is_edited_and_explained_at_the_node() -> None:
    at = designer()
    wid = new_workflow(at)
    approval_step(at, wid, "jamie")
    assert "No reminders or escalation" in texts(at)

    edit_chain(
        at,
        wid,
        [
            {"after_hours": 4, "action": "remind"},
            {"after_hours": 24, "action": "reassign", "to": "sam"},
            {"after_hours": 48, "action": "approve"},
        ],
    )
    node = working_copy(at, wid).node("approval_1")
    assert isinstance(node, ApprovalNode)
    assert [(s.after_hours, s.action, s.to) for s in node.escalation] == [
        (4, "remind", None),
        (24, "reassign", "sam"),
        (48, "approve", None),
    ]
    page = texts(at)
    assert "after 4 h: reminds Jamie Rivera again" in page
    assert "after 24 h: hands it to Sam Okafor" in page
    assert "after 48 h: approves it as Loopdesk, with the reason in the audit trail" in page
    assert not policy_errors(at)


def test_a_broken_chain_is_named_at_the_node() -> None:
    at = designer()
    wid = new_workflow(at)
    approval_step(at, wid, "jamie")
    edit_chain(
        at,
        wid,
        [
            {"after_hours": 24, "action": "reassign"},  # nobody to hand it to
            {"after_hours": 8, "action": "remind"},  # earlier than the step before
        ],
    )
    errors = node_errors(at)
    assert any(
        "escalation step 1 (reassign after 24 h): choose who receives the checkpoint" in e for e in errors
    )
    assert any(
        "escalation step 2 (remind after 8 h) must come later than the step before (24 h)" in e
        for e in errors
    )
    # and the list of problems beside the canvas names the step
    problems = [shown(b.label) for b in at.button if b.key and b.key.startswith("designer_problem_")]
    assert any("choose who receives the checkpoint" in p for p in problems)


def test_quorum_and_self_approval_of_a_group_step() -> None:
    at = designer()
    wid = new_workflow(at)
    approval_step(at, wid, "group:marketing")
    assert "Marketing reviewers" in texts(at) and "member(s)" in texts(at)
    by_label(at.radio, "Approvals needed").set_value("count")
    at.run()
    by_label(at.number_input, "How many approvals").set_value(40)
    at.run()
    assert not at.exception, at.exception
    assert any("quorum needs 40 approvals but" in e for e in node_errors(at))

    by_label(at.number_input, "How many approvals").set_value(2)
    by_label(at.checkbox, "Let the requester decide it too").check()
    at.run()
    node = working_copy(at, wid).node("approval_1")
    assert isinstance(node, ApprovalNode)
    assert node.quorum.mode == "count" and node.quorum.count == 2
    assert node.allow_self_approval is True
    assert not policy_errors(at)


def test_a_single_reviewer_step_asks_nothing_about_quorum() -> None:
    at = designer()
    wid = new_workflow(at)
    approval_step(at, wid, "jamie")
    assert not [r for r in at.radio if r.label == "Approvals needed"]


def test_business_hours_are_set_on_the_workflow_and_checked() -> None:
    at = designer()
    wid = new_workflow(at)
    approval_step(at, wid, "jamie")
    by_label(at.number_input, "Due in hours (0: no due time)").set_value(8.0)
    at.run()
    by_label(at.selectbox, "Selected").select("__workflow__")
    at.run()
    by_label(at.checkbox, "Count business hours only").check()
    at.run()
    by_label(at.selectbox, "Time zone").select("Europe/Berlin")
    by_label(at.text_input, "Days").input("mon-funday")
    at.run()
    assert not at.exception, at.exception
    wf = working_copy(at, wid)
    assert wf.business_hours == BusinessHours(days="mon-funday", timezone="Europe/Berlin")
    problems = [shown(b.label) for b in at.button if b.key and b.key.startswith("designer_problem_")]
    assert any("business hours" in p and "funday" in p for p in problems), problems

    by_label(at.text_input, "Days").input("mon-fri")
    at.run()
    by_label(at.selectbox, "Selected").select("approval_1")
    at.run()
    assert not policy_errors(at)
    edit_chain(at, wid, [{"after_hours": 4, "action": "remind"}])
    assert "after 4 working hours: reminds Jamie Rivera again" in texts(at)
    assert "after 8 working hours" not in texts(at)  # no due-time action: the due time only marks it late


def test_an_ai_step_and_the_workflow_can_be_marked_as_reasoning_models() -> None:
    at = designer()
    wid = new_workflow(at)
    at.button(key="designer_add_ai_step").click()
    at.run()
    at.toggle(key="designer_advanced").set_value(True)  # the model is an advanced setting
    at.run()
    by_label(at.text_input, "Model").input("team-gateway-smart")
    by_label(at.selectbox, "Reasoning model").select(True)
    at.run()
    step = working_copy(at, wid).node("ai_step_1")
    assert step.type == "ai_step" and step.model == "team-gateway-smart" and step.reasoning is True

    by_label(at.selectbox, "Selected").select("__workflow__")
    at.run()
    assert "app default" in by_label(at.text_input, "Default model").placeholder
    by_label(at.selectbox, "Reasoning model").select(False)
    by_label(at.checkbox, "Review cut-off drafts").check()
    at.run()
    assert not at.exception, at.exception
    wf = working_copy(at, wid)
    assert wf.default_reasoning is False and wf.allow_cut_off is True and wf.default_model == ""


def test_auto_approval_is_switched_on_and_tuned_in_the_inspector() -> None:
    at = designer()
    wid = new_workflow(at)
    approval_step(at, wid, "jamie")
    assert not [n for n in at.number_input if n.label == "Spot-check one run in"]
    by_label(at.checkbox, "Auto-approve with spot checks").check()
    at.run()
    assert not at.exception, at.exception
    by_label(at.number_input, "Approved as is (%)").set_value(80)
    by_label(at.number_input, "Of the last reviews").set_value(10)
    by_label(at.number_input, "Spot-check one run in").set_value(4)
    at.run()
    node = working_copy(at, wid).node("approval_1")
    assert isinstance(node, ApprovalNode) and node.auto_approval is not None
    assert (node.auto_approval.threshold, node.auto_approval.window) == (0.8, 10)
    assert node.auto_approval.spot_check_every == 4 and node.auto_approval.unusual_below == 0.5
    # a new workflow has no AI step whose drafts it could judge: said at the step
    assert any("shows no AI step's answer" in e for e in node_errors(at))
    by_label(at.checkbox, "Auto-approve with spot checks").uncheck()
    at.run()
    node = working_copy(at, wid).node("approval_1")
    assert isinstance(node, ApprovalNode) and node.auto_approval is None
