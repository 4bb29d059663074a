"""Approval: the run pauses until the assignee approves, rejects or requests changes."""

from __future__ import annotations

from engine.autonomy import draft_names
from engine.business_hours import problems as business_hours_problems
from engine.errors import Problem
from engine.kinds.base import AssigneeLabel, Kind, Look, step_name, swap_names, swap_text, twice_used
from engine.model import OUTCOMES, ApprovalNode, Edge, Workflow
from engine.policies import chain, chain_problems
from engine.steps.base import StepContext, StepOutcome

OUTCOME_NAMES = {
    "approved": "If approved",
    "rejected": "If rejected",
    "changes_requested": "If changes requested",
}
"""How the Designer names each exit of an approval."""


def run(ctx: StepContext) -> StepOutcome:
    """Pause: the runner opens a checkpoint row and the run waits for a decision."""
    return StepOutcome(wait=True)


def summary(node: ApprovalNode, assignee_label: AssigneeLabel) -> list[str]:
    """Who decides, and when it is due."""
    parts = [assignee_label(node.assignee) if node.assignee else "nobody assigned"]
    if node.due_hours:
        parts.append(f"due {node.due_hours:g} h")
    if node.auto_approval is not None:
        parts.append(f"auto-approves, spot-checks 1 in {node.auto_approval.spot_check_every}")
    return parts


def _policy_problems(wf: Workflow, node: ApprovalNode) -> list[str]:
    """What is wrong with the escalation chain, the quorum and the business hours it counts in."""
    out = chain_problems(node)
    q = node.quorum
    if q.mode == "count" and q.count is None:
        out.append("quorum `count`: say how many approvals are needed")
    if q.mode != "count" and q.count is not None:
        out.append(f"quorum `{q.mode}` does not use a count; choose mode `count` or clear the count")
    if q.mode != "any" and node.editable_values:
        out.append(
            "when several reviewers must approve, none of them may edit the values (their edits would "
            "differ); clear the editable values or use quorum `any`"
        )
    if node.auto_approval is not None:
        if q.mode != "any":
            out.append(
                "auto-approval cannot stand in for several approvers; use quorum `any` or turn "
                "auto-approval off"
            )
        if not draft_names(wf, node):
            out.append("auto-approval judges AI drafts, but this step shows no AI step's answer")
    if wf.business_hours is not None and (chain(node) or node.due_hours is not None):
        out += [f"business hours: {p}" for p in business_hours_problems(wf.business_hours)]
    return out


def check(wf: Workflow, node: ApprovalNode) -> list[str]:
    """Someone to decide, a due time its timeout needs, and a chain and quorum that can work."""
    out: list[str] = []
    if not node.assignee.strip():
        out.append("choose who approves (a user or a group)")
    if node.on_timeout != "none" and node.due_hours is None:
        out.append("set a due time, or choose 'nothing' for what happens when it passes")
    if node.on_timeout == "reassign" and not (node.timeout_assignee or "").strip():
        out.append("choose who receives the checkpoint when the due time passes")
    for name in node.editable_values:
        if node.visible_values and name not in node.visible_values:
            out.append(f"editable value `{name}` must also be visible to the reviewer")
    return out + _policy_problems(wf, node)


def check_exits(wf: Workflow, node: ApprovalNode, edges: list[Edge]) -> list[Problem]:
    """Each connection carries an outcome, once; "If approved" leads somewhere."""
    out: list[Problem] = []
    nodes = wf.node_map()
    choose = ", ".join(f"“{name}”" for name in OUTCOME_NAMES.values())
    for e in edges:
        if e.label not in OUTCOMES:
            target = nodes.get(e.target)
            to = f" to ‘{step_name(wf, target)}’" if target is not None else ""
            shown = f"the outcome “{e.label}”, which an approval does not have" if e.label else "no outcome"
            text = f"The connection from ‘{step_name(wf, node)}’{to} has {shown}: choose {choose}"
            out.append(Problem(text, edge_id=e.id, named=True))
    out += twice_used(node, edges)
    if "approved" not in {e.label for e in edges}:
        missing = (
            f"‘{step_name(wf, node)}’ has no “If approved” connection: connect it to where the task goes "
            "once it is approved"
        )
        out.append(Problem(missing, node_id=node.id, named=True))
    return out


def swap_value(node: ApprovalNode, old: str, new: str | None) -> ApprovalNode:
    """Its instructions, shown and editable values with `old` renamed or removed."""
    return node.model_copy(
        update={
            "instructions": swap_text(node.instructions, old, new),
            "visible_values": swap_names(node.visible_values, old, new),
            "editable_values": swap_names(node.editable_values, old, new),
        }
    )


KIND = Kind(
    type="approval",
    label="Approval",
    node_class=ApprovalNode,
    look=Look("✔", "#fff8e1", "#e65100", ":material/how_to_reg:"),
    handler=run,
    summary=summary,
    check=check,
    exit_labels=lambda node: list(OUTCOMES),
    exit_name=lambda node, label: OUTCOME_NAMES.get(str(label), str(label)),
    exit_word="Outcome",
    check_exits=check_exits,
    prompts=lambda node: [("the reviewer instructions", node.instructions)],
    value_refs=lambda node: [
        ("the reviewer's view", list(node.visible_values)),
        ("the editable values", list(node.editable_values)),
    ],
    loop_back=frozenset({"changes_requested"}),
    reads_all=lambda node: not node.visible_values,
    swap_value=swap_value,
    uses_word="shows",
)
