"""Handlers for the nodes that need no outside call: trigger, move, branch, end, approval."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

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
    match = next((c for c in node.cases if case_matches(c, value)), None)
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


_COMPARISON = re.compile(r"^\s*(>=|<=|>|<|==|=)\s*(-?\d+(?:\.\d+)?)\s*$")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
    "=": operator.eq, "==": operator.eq,
}  # fmt: skip


def comparison(case: str) -> tuple[str, float] | None:
    """A numeric case like `> 100` as (operator, number), or None for a plain text case."""
    m = _COMPARISON.match(case)
    return (m.group(1), float(m.group(2))) if m else None


def case_matches(case: str, value: Any) -> bool:
    """Whether a branch value matches a case: a comparison for `> 100`, else equal text."""
    compare = comparison(case)
    if compare is not None:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return False
        return _OPS[compare[0]](number, compare[1])
    text = "" if value is None else str(value).strip()
    return case.strip().lower() == text.lower()


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
