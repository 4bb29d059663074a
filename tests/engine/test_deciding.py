"""The decision rules as plain functions: no store, no engine, no clock to wait on."""

from __future__ import annotations

from typing import Any

import pytest

from engine.deciding import decision_transition, send_back_refusal
from engine.decisions import Approve, Reassign, Reject, RequestChanges
from engine.directory import SYSTEM, Directory, User
from engine.errors import AlreadyDecidedError, InvalidDecisionError
from engine.model import ApprovalNode, Quorum, Workflow
from engine.permissions import Permissions
from engine.policies import opening_policy
from engine.records import CheckpointRecord, RunRecord
from tests.engine.helpers import linear_workflow

PEOPLE = Directory(
    users={
        name: User(name=name, display_name=name.title(), groups=groups)
        for name, groups in (("jamie", ("editors",)), ("morgan", ("editors",)), ("riley", ()))
    },
    groups={"editors": "Editors"},
)
RULES = Permissions(PEOPLE)


def _at_review(
    wf: Workflow, **node_changes: Any
) -> tuple[Workflow, ApprovalNode, CheckpointRecord, RunRecord]:
    """The workflow (its review step changed as asked), and a run waiting at that step."""
    review = wf.node("review").model_copy(update=node_changes)
    assert isinstance(review, ApprovalNode)
    wf = wf.model_copy(update={"nodes": [review if n.id == "review" else n for n in wf.nodes]})
    values = {"topic": "Launch", "channel": "X", "draft": "A first draft.", "feedback": ""}
    run = RunRecord("run_1", wf.id, 1, "waiting", "review", "Review", "Launch", values, "riley", 1.0, 1.0)
    cp = CheckpointRecord(
        id="cp_1", run_id=run.id, workflow_id=wf.id, node_id="review", status="pending",
        assignee=review.assignee, created_at=10.0, due_at=None, shown={"draft": "A first draft."},
        editable=list(review.editable_values), instructions="", policy=opening_policy(review, 0),
    )  # fmt: skip
    return wf, review, cp, run


def test_an_approval_with_an_edit_moves_the_run_on_and_records_before_and_after() -> None:
    wf, node, cp, run = _at_review(linear_workflow())
    t = decision_transition(RULES, wf, node, cp, run, "jamie", Approve(edits={"draft": "A better draft."}))
    assert t.run_update is not None and t.close_checkpoint is not None
    assert (t.run_update.status, t.run_update.current_node) == ("running", "translate")
    assert t.run_update.values["draft"] == "A better draft." and t.run_update.values["feedback"] == ""
    assert t.close_checkpoint.decision is not None
    assert t.close_checkpoint.decision["edits"] == {
        "draft": {"before": "A first draft.", "after": "A better draft."}
    }
    assert [a.event for a in t.audit] == ["decision_approve"]


def test_a_value_the_reviewer_may_not_edit_is_refused_by_name() -> None:
    wf, node, cp, run = _at_review(linear_workflow())
    with pytest.raises(InvalidDecisionError, match="`topic` is not editable here"):
        decision_transition(RULES, wf, node, cp, run, "jamie", Approve(edits={"topic": "Other"}))


def test_reject_and_send_back_need_words_and_send_back_needs_a_way_back() -> None:
    wf, node, cp, run = _at_review(linear_workflow())
    with pytest.raises(InvalidDecisionError, match="reject needs a reason"):
        decision_transition(RULES, wf, node, cp, run, "jamie", Reject(comment=" "))
    with pytest.raises(InvalidDecisionError, match="request changes needs a note"):
        decision_transition(RULES, wf, node, cp, run, "jamie", RequestChanges(comment=""))
    t = decision_transition(RULES, wf, node, cp, run, "jamie", RequestChanges(comment="Shorter"))
    assert t.run_update is not None
    assert (t.run_update.current_node, t.run_update.revisions) == ("draft", 1)
    assert t.run_update.values["feedback"] == "Shorter"
    limit = wf.max_revisions
    assert send_back_refusal(wf, "review", limit) is not None and "limit" in str(
        send_back_refusal(wf, "review", limit)
    )
    no_way_back = wf.model_copy(update={"edges": [e for e in wf.edges if e.label != "changes_requested"]})
    assert (
        send_back_refusal(no_way_back, "review", 0)
        == "this step has no way back for changes; approve or reject it"
    )


def test_a_rejection_without_a_rejected_connection_ends_the_run() -> None:
    wf, node, cp, run = _at_review(linear_workflow())
    t = decision_transition(RULES, wf, node, cp, run, "jamie", Reject(comment="Off brand"))
    assert t.run_update is not None
    assert (t.run_update.status, t.run_update.current_node, t.run_update.outcome) == (
        "rejected",
        None,
        "Rejected",
    )
    assert [a.event for a in t.audit] == ["decision_reject", "rejected"]


def test_a_quorum_counts_votes_once_each_and_closes_at_the_last() -> None:
    wf, node, cp, run = _at_review(linear_workflow(), assignee="group:editors", quorum=Quorum(mode="all"))
    first = decision_transition(RULES, wf, node, cp, run, "jamie", Approve(comment="fine"))
    assert first.run_update is None and first.close_checkpoint is not None
    assert first.close_checkpoint.status == "pending" and [a.event for a in first.audit] == [
        "approval_counted"
    ]
    voted = first.close_checkpoint.policy
    assert voted is not None and voted.voters == ["jamie"]
    cp.policy = voted
    with pytest.raises(AlreadyDecidedError):
        decision_transition(RULES, wf, node, cp, run, "jamie", Approve())
    with pytest.raises(InvalidDecisionError, match="cannot be edited by one of them"):
        decision_transition(RULES, wf, node, cp, run, "morgan", Approve(edits={"draft": "Mine"}))
    last = decision_transition(RULES, wf, node, cp, run, "morgan", Approve())
    assert last.close_checkpoint is not None and last.close_checkpoint.status == "decided"
    assert last.close_checkpoint.decision is not None
    assert last.close_checkpoint.decision["approvals"] == ["jamie", "morgan"]


def test_the_escalation_chain_may_approve_before_the_quorum_and_says_what_it_overrode() -> None:
    wf, node, cp, run = _at_review(linear_workflow(), assignee="group:editors", quorum=Quorum(mode="all"))
    t = decision_transition(RULES, wf, node, cp, run, SYSTEM, Approve(comment="timed out"))
    assert t.close_checkpoint is not None and t.close_checkpoint.status == "decided"
    assert [a.event for a in t.audit] == ["decision_approve", "quorum_overridden"]


def test_a_reassignment_hands_the_checkpoint_on_and_keeps_it_open() -> None:
    wf, node, cp, run = _at_review(linear_workflow())
    t = decision_transition(RULES, wf, node, cp, run, "jamie", Reassign(to="morgan", comment="on leave"))
    assert t.run_update is None and t.close_checkpoint is not None
    assert (t.close_checkpoint.status, t.close_checkpoint.new_assignee) == ("pending", "morgan")
    assert t.audit[0].detail == {"checkpoint": "cp_1", "from": "jamie", "to": "morgan", "comment": "on leave"}
