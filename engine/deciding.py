"""The decision rules: what one decision on a checkpoint writes, as plain functions of the workflow,
the checkpoint, the run and who decides (no store, no engine).

A decision is refused here with a message that says why (a missing reason, a value that is not
editable, a send-back over the workflow's limit, a second vote); otherwise it becomes one
`Transition`: a vote short of the quorum keeps the checkpoint open, a reassignment hands it on, and
approve, reject or request changes close it and move the run along the matching connection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from engine.decisions import Approve, Decision, Reassign, Reject, RequestChanges
from engine.diffs import edit_size
from engine.directory import RESERVED_USERS, SYSTEM, Directory
from engine.errors import AlreadyDecidedError, InvalidDecisionError, InvalidStateError
from engine.forms import as_text, coerce_field, parse_number
from engine.json_guard import has_surrogates
from engine.limits import MAX_FORM_TEXT
from engine.llm.base import LLMError
from engine.llm.structured import parse_answer
from engine.model import AIStepNode, ApprovalNode, FormTriggerNode, Workflow
from engine.permissions import Permissions
from engine.policies import QuorumState, progress
from engine.records import (
    AuditEvent,
    CheckpointClose,
    CheckpointRecord,
    PolicyState,
    RunRecord,
    RunUpdate,
    StepRecord,
    Transition,
    now,
)


@dataclass
class _Move:
    """Where a closing decision sends the run, and the values it goes on with."""

    status: str
    next_node: str | None
    values: dict[str, Any]
    revisions: int
    outcome: str | None = None
    edits: dict[str, dict[str, Any]] = field(default_factory=dict)


def decision_transition(
    permissions: Permissions,
    wf: Workflow,
    node: ApprovalNode,
    cp: CheckpointRecord,
    run: RunRecord,
    user: str,
    decision: Decision,
    auto: dict[str, Any] | None = None,
    seat: str | None = None,
) -> Transition:
    """What `user`'s decision on a pending checkpoint writes; InvalidDecisionError (or
    AlreadyDecidedError for a second vote) when it cannot be taken. `auto` marks an approval Loopdesk
    makes under auto-approval; `seat` is the quorum place a reassignment hands on."""
    if isinstance(decision, Reassign):
        return reassign_transition(cp, run, user, decision, seat)
    comment = decision.comment.strip()
    if isinstance(decision, (Reject, RequestChanges)) and not comment:
        what = "a reason" if isinstance(decision, Reject) else "a note saying what to change"
        raise InvalidDecisionError(f"{decision.kind.replace('_', ' ')} needs {what}")
    override = decision.override_reason.strip() if permissions.self_approval(user, cp) else ""
    policy, overridden = cp.policy, ""
    if isinstance(decision, Approve):
        quorum = permissions.quorum(cp)
        if quorum.several and user in quorum.deciders:
            policy = with_vote(cp, user, decision, quorum.needed)
            after = permissions.quorum(replace(cp, policy=policy))
            if len(after.approved) < after.needed:  # the checkpoint stays open
                return vote_transition(cp, node, run, user, policy, progress(after, permissions.directory))
        elif quorum.several:  # an admin, the operator or the escalation chain, before the quorum
            overridden = quorum_override(user, decision, quorum, permissions.directory)
    move = _move(wf, node, cp, run, decision, comment)
    record: dict[str, Any] = {"kind": decision.kind, "comment": comment, "edits": move.edits}
    if isinstance(decision, Approve):
        record["edit_size"] = edit_size(move.edits)  # words changed / words in the draft
    if policy.votes:
        record["approvals"] = policy.voters
    if override:
        record["override_reason"] = override
    if overridden:
        record["quorum_override"] = overridden
    if auto is not None:
        record["auto_approved"] = auto
    ts = now()
    step = StepRecord(
        run_id=run.id, node_id=node.id, kind=node.type, status="done",
        input={"shown": cp.shown, "editable": cp.editable, "assignee": cp.assignee},
        output={**record, "by": user}, started_at=cp.created_at, finished_at=ts,
        meta={"checkpoint": cp.id, "review_seconds": ts - cp.created_at},
    )  # fmt: skip
    update = RunUpdate(
        run.id, ("waiting",), move.status, move.next_node, move.values, run.section, move.revisions,
        expect_node=node.id, outcome=move.outcome,
    )  # fmt: skip
    audit = _decision_audit(cp, run, user, decision, record, ts, move.status)
    close = CheckpointClose(
        cp.id, "decided", user, decision=record, expect_assignee=cp.assignee,
        policy=policy if policy != cp.policy else None, expect_policy=cp.policy,
    )  # fmt: skip
    return Transition(run_update=update, steps=[step], close_checkpoint=close, audit=audit)


def _move(
    wf: Workflow, node: ApprovalNode, cp: CheckpointRecord, run: RunRecord, decision: Decision, comment: str
) -> _Move:
    """Where approve, reject or request changes sends the run: the matching connection, or the end."""
    values = dict(run.values)
    if isinstance(decision, Approve):
        edits = applied_edits(wf, cp, values, decision.edits)
        values["feedback"] = ""  # a note answered by a revision must not reach later steps
        return _Move("running", next_node(wf, node.id, "approved"), values, run.revisions, edits=edits)
    if isinstance(decision, Reject):
        values["feedback"] = ""
        target = edge_target(wf, node.id, "rejected")
        if target is None:
            return _Move("rejected", None, values, run.revisions, outcome="Rejected")
        return _Move("running", target, values, run.revisions)
    refusal = send_back_refusal(wf, node.id, cp.policy.revisions)
    if refusal is not None:
        raise InvalidDecisionError(refusal)
    values["feedback"] = comment
    return _Move("running", edge_target(wf, node.id, "changes_requested"), values, run.revisions + 1)


def applied_edits(
    wf: Workflow, cp: CheckpointRecord, values: dict[str, Any], edits: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Put a reviewer's edits into `values` (each typed as the workflow declares it); the ones that
    changed something, as before → after. Refused for a value the checkpoint does not let them edit."""
    changed: dict[str, dict[str, Any]] = {}
    for name, new in edits.items():
        if name not in cp.editable:
            allowed = ", ".join(cp.editable) or "none"
            raise InvalidDecisionError(f"`{name}` is not editable here (editable: {allowed})")
        new_value = coerce_edit(wf, name, new)
        if new_value != values.get(name):
            changed[name] = {"before": values.get(name), "after": new_value}
            values[name] = new_value
    return changed


def _decision_audit(
    cp: CheckpointRecord,
    run: RunRecord,
    user: str,
    decision: Decision,
    record: dict[str, Any],
    ts: float,
    status: str,
) -> list[AuditEvent]:
    """The audit trail of a closing decision: the decision, and any override, auto-approval or
    rejection of the run it carries."""
    node_id, comment = cp.node_id, record["comment"]
    decided = {"checkpoint": cp.id, "node": node_id, **record, "shown": cp.shown}
    audit = [AuditEvent(run.id, user, f"decision_{decision.kind}", decided, ts)]
    if "override_reason" in record:
        reason = record["override_reason"]
        detail = {"checkpoint": cp.id, "node": node_id, "reason": reason, "decision": decision.kind}
        audit.append(AuditEvent(run.id, user, "self_approval_override", detail, ts))
    if "quorum_override" in record:
        detail = {
            "checkpoint": cp.id,
            "node": node_id,
            "progress": record["quorum_override"],
            "comment": comment,
        }
        if isinstance(decision, Approve) and decision.override_reason.strip():
            detail["reason"] = decision.override_reason.strip()
        audit.append(AuditEvent(run.id, user, "quorum_overridden", detail, ts))
    if "auto_approved" in record:
        auto = {"checkpoint": cp.id, "node": node_id, **record["auto_approved"]}
        audit.append(AuditEvent(run.id, SYSTEM, "auto_approved", auto, ts))
    if status == "rejected":
        audit.append(AuditEvent(run.id, SYSTEM, "rejected", {"reason": comment}, ts))
    return audit


def reassign_transition(
    cp: CheckpointRecord, run: RunRecord, user: str, decision: Reassign, seat: str | None
) -> Transition:
    """Hand the checkpoint on, or on a quorum hand one person's place on (`seat`): who must approve
    never shrinks. The checkpoint stays open."""
    comment = decision.comment.strip()
    if seat is None:
        close = CheckpointClose(
            cp.id, "pending", user, new_assignee=decision.to, expect_assignee=cp.assignee,
            clear_due=user == SYSTEM,  # the timeout acted once; a person may reassign again
        )  # fmt: skip
        detail = {"checkpoint": cp.id, "from": cp.assignee, "to": decision.to, "comment": comment}
        return Transition(close_checkpoint=close, audit=[AuditEvent(run.id, user, "reassigned", detail)])
    first = next((k for k, v in cp.policy.seat_holders().items() if v == seat), seat)
    policy = cp.policy.with_seat(first, decision.to)
    close = CheckpointClose(
        cp.id, "pending", user, expect_assignee=cp.assignee, policy=policy,
        expect_policy=cp.policy, action_at=cp.action_at,
    )  # fmt: skip
    detail = {
        "checkpoint": cp.id, "from": seat, "to": decision.to, "comment": comment, "place_of": seat,
    }  # fmt: skip
    return Transition(close_checkpoint=close, audit=[AuditEvent(run.id, user, "reassigned", detail)])


def quorum_override(user: str, decision: Approve, quorum: QuorumState, directory: Directory) -> str:
    """An approval by someone not asked (an admin, the operator, the escalation chain) before the
    quorum is reached: allowed with a reason (admins) and recorded; what it overrode, in words."""
    standing = progress(quorum, directory) or f"{len(quorum.approved)} of {quorum.needed} approved"
    if user not in RESERVED_USERS and not decision.override_reason.strip():
        raise InvalidDecisionError(
            f"this approval needs {quorum.needed} approvals ({standing}); as an admin you may approve "
            "it alone with a reason (recorded in the audit trail)"
        )
    return standing


def with_vote(cp: CheckpointRecord, user: str, decision: Approve, needed: int) -> PolicyState:
    """The policy state with this member's approval added, where several are needed; refused
    for a second vote, and for edits (each approver would edit differently)."""
    mine = cp.policy.vote_by(user)
    if mine is not None:
        raise AlreadyDecidedError(cp.id, user, "decided", mine.get("at"), "approve", "you")
    if decision.edits:
        raise InvalidDecisionError(
            f"this approval needs {needed} approvals, so it cannot be edited by one of them; "
            "approve as it is, or request changes"
        )
    ballot = {"by": user, "at": now(), "comment": decision.comment.strip()}
    return replace(cp.policy, votes=[*cp.policy.votes, ballot])


def vote_transition(
    cp: CheckpointRecord,
    node: ApprovalNode,
    run: RunRecord,
    user: str,
    policy: PolicyState,
    standing: str | None,
) -> Transition:
    """Record one member's approval short of the quorum; the checkpoint stays open."""
    close = CheckpointClose(
        cp.id, "pending", user, expect_assignee=cp.assignee, policy=policy,
        expect_policy=cp.policy, action_at=cp.action_at,
    )  # fmt: skip
    detail = {
        "checkpoint": cp.id, "node": node.id, "comment": policy.votes[-1]["comment"], "progress": standing,
    }  # fmt: skip
    return Transition(close_checkpoint=close, audit=[AuditEvent(run.id, user, "approval_counted", detail)])


def send_back_refusal(wf: Workflow, node_id: str, revisions: int) -> str | None:
    """Why a task at this approval cannot be sent back for changes now, or None when it can."""
    if edge_target(wf, node_id, "changes_requested") is None:
        return "this step has no way back for changes; approve or reject it"
    if revisions >= wf.max_revisions:
        return (
            f"this task was already sent back {revisions} time(s), the workflow's limit; approve or reject it"
        )
    return None


def edge_target(wf: Workflow, node_id: str, label: str | None) -> str | None:
    """The step the connection with this label leads to, or None when there is none."""
    for e in wf.outgoing(node_id):
        if e.label == label:
            return e.target
    return None


def next_node(wf: Workflow, node_id: str, label: str | None) -> str:
    """Target of the edge with this label (or the single edge); error if there is none."""
    edges = wf.outgoing(node_id)
    if label is None and len(edges) == 1:
        return edges[0].target
    target = edge_target(wf, node_id, label)
    if target is None:
        raise InvalidStateError(f"node `{node_id}` has no `{label}` connection to follow")
    return target


def updated(run: RunRecord, u: RunUpdate) -> RunRecord:
    """The run as it is once the update is committed."""
    return replace(
        run, status=u.status, current_node=u.current_node, values=u.values, section=u.section,
        revisions=u.revisions, outcome=u.outcome, error=u.error, failed_node=u.failed_node,
        updated_at=now(),
    )  # fmt: skip


def coerce_edit(wf: Workflow, name: str, new: Any) -> Any:
    """Give a reviewer's edit the type the workflow declares for that value."""
    for node in wf.nodes:
        if isinstance(node, FormTriggerNode):
            for f in node.fields:
                if f.name == name:
                    if new in (None, "") and not f.required:
                        return None if f.type == "number" else ""
                    try:
                        return coerce_field(f, new)
                    except ValueError as exc:
                        raise InvalidDecisionError(f"`{name}`: {exc}") from None
        if isinstance(node, AIStepNode) and node.output_name == name:
            try:
                if node.output_kind == "text":
                    return "" if new is None else _checked_text(as_text(new))
                return parse_answer(node.output_kind, node.labels, node.json_fields, _as_text(new))
            except (LLMError, ValueError) as exc:
                raise InvalidDecisionError(f"`{name}`: {exc}") from None
    try:  # a value no step declares: text or a number, as the reviewer typed it
        return new if isinstance(new, str) else parse_number(new)
    except ValueError as exc:
        raise InvalidDecisionError(f"`{name}`: {exc}") from None


def _checked_text(text: str) -> str:
    """A reviewer's text within the size a form value may have, with no broken characters."""
    if len(text) > MAX_FORM_TEXT:
        raise ValueError(f"is too long ({len(text):,} characters; at most {MAX_FORM_TEXT:,})")
    if has_surrogates(text):
        raise ValueError("contains a broken character (a lone surrogate); paste the text again")
    return text


def _as_text(value: Any) -> str:
    """A value as the text an answer parser reads (JSON for anything but text)."""
    return value if isinstance(value, str) else json.dumps(value)
