"""End: finish the run with an outcome label."""

from __future__ import annotations

from engine.errors import Problem
from engine.kinds.base import AssigneeLabel, Kind, Look, swap_names
from engine.model import Edge, EndNode, Workflow
from engine.steps.base import StepContext, StepOutcome


def run(ctx: StepContext) -> StepOutcome:
    """Finish the run with the node's outcome label."""
    assert isinstance(ctx.node, EndNode)
    return StepOutcome(
        output={"outcome": ctx.node.outcome, "status": ctx.node.status},
        end_outcome=ctx.node.outcome,
        end_status=ctx.node.status,
    )


def summary(node: EndNode, assignee_label: AssigneeLabel) -> list[str]:
    """The outcome, and 'rejected' for the end of a rejection path."""
    parts = [node.outcome or "no outcome"]
    if node.status == "rejected":
        parts.append("rejected")
    return parts


def check_exits(wf: Workflow, node: EndNode, edges: list[Edge]) -> list[Problem]:
    """Nothing leaves an End."""
    return [Problem("an End step cannot have outgoing connections", node_id=node.id)] if edges else []


KIND = Kind(
    type="end",
    label="End",
    node_class=EndNode,
    look=Look("⚑", "#eceff1", "#455a64", ":material/flag:"),
    handler=run,
    summary=summary,
    exit_labels=lambda node: [],
    check_exits=check_exits,
    new_settings=lambda wf, node_id: {"outcome": "Done"},
    canvas_role="output",
    value_refs=lambda node: [("the result", list(node.result))] if node.result else [],
    uses_word="delivers",
    swap_value=lambda node, old, new: node.model_copy(update={"result": swap_names(node.result, old, new)}),
)
