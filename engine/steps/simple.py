"""Handlers for the nodes that need no outside call: trigger, move, branch, end, approval."""

from __future__ import annotations

from engine.errors import StepError
from engine.model import DEFAULT_CASE, BranchNode, EndNode, FormTriggerNode, MoveToSectionNode
from engine.steps.base import StepContext, StepOutcome


def run_trigger(ctx: StepContext) -> StepOutcome:
    """The form was submitted: record the values it carried."""
    assert isinstance(ctx.node, FormTriggerNode)
    form = {f.name: ctx.run.values.get(f.name) for f in ctx.node.fields}
    return StepOutcome(output=form, input={"form": form})


def run_move(ctx: StepContext) -> StepOutcome:
    """Move the task to the node's section."""
    assert isinstance(ctx.node, MoveToSectionNode)
    if ctx.node.section not in ctx.workflow.sections:
        raise StepError(f"section `{ctx.node.section}` does not exist in this workflow")
    return StepOutcome(
        output={"section": ctx.node.section},
        input={"from": ctx.run.section},
        section=ctx.node.section,
    )


def run_branch(ctx: StepContext) -> StepOutcome:
    """Follow the case equal to the value, else `default`."""
    node = ctx.node
    assert isinstance(node, BranchNode)
    value = ctx.run.values.get(node.value)
    text = "" if value is None else str(value).strip()
    match = next((c for c in node.cases if c.strip().lower() == text.lower()), None)
    labels = {e.label for e in ctx.workflow.outgoing(node.id)}
    if match is not None and match in labels:
        label = match
    elif DEFAULT_CASE in labels:
        label = DEFAULT_CASE
    else:
        raise StepError(
            f"branch `{node.id}`: value `{node.value}` is '{text}', which matches no case "
            "and there is no default"
        )
    return StepOutcome(output={"case": label}, input={node.value: value}, edge_label=label)


def run_end(ctx: StepContext) -> StepOutcome:
    """Finish the run with the node's outcome label."""
    assert isinstance(ctx.node, EndNode)
    return StepOutcome(
        output={"outcome": ctx.node.outcome, "status": ctx.node.status},
        end_outcome=ctx.node.outcome,
        end_status=ctx.node.status,
    )


def run_approval(ctx: StepContext) -> StepOutcome:
    """Pause: the runner opens a checkpoint row and the run waits for a decision."""
    return StepOutcome(wait=True)
