"""Branch: route on a value; each outgoing connection carries a case, or `default`."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

from engine.errors import Problem, StepError
from engine.kinds.base import AssigneeLabel, Kind, Look, closed_values, dupes, twice_used
from engine.model import DEFAULT_CASE, BranchNode, Edge, Workflow
from engine.steps.base import StepContext, StepOutcome

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


def run(ctx: StepContext) -> StepOutcome:
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


def summary(node: BranchNode, assignee_label: AssigneeLabel) -> list[str]:
    """The value it routes on and how many cases it has."""
    n = len(node.cases)
    return [f"on {node.value}" if node.value else "no value", f"{n} case{'s' if n != 1 else ''}"]


def check(wf: Workflow, node: BranchNode) -> list[str]:
    """A value to route on and distinct cases."""
    out: list[str] = []
    if not node.value.strip():
        out.append("choose the value the branch routes on")
    if not node.cases:
        out.append("add at least one case")
    return out + [f"case `{d}` is listed twice" for d in sorted(dupes(node.cases))]


def check_exits(wf: Workflow, node: BranchNode, edges: list[Edge]) -> list[Problem]:
    """Each connection carries a case or `default`, once; every value the branch can meet has a way."""
    out: list[Problem] = []
    allowed = set(node.cases) | {DEFAULT_CASE}
    for e in edges:
        if e.label not in allowed:
            shown = f"`{e.label}`" if e.label else "no case"
            out.append(
                Problem(
                    f"connection from branch `{node.id}` has {shown}; choose one of "
                    f"{', '.join(sorted(allowed))}",
                    edge_id=e.id,
                )
            )
    out += twice_used(node, edges)
    labels = {e.label for e in edges}
    if DEFAULT_CASE in labels:
        return out
    missing = [c for c in node.cases if c not in labels]
    possible = closed_values(wf).get(node.value)

    def bad(msg: str) -> None:
        out.append(Problem(msg, node_id=node.id))

    if missing:
        bad(
            f"case(s) {', '.join(missing)} have no connection and there is no `default`; "
            "connect them or add a default"
        )
    elif possible is None:
        bad(f"`{node.value}` can take values no case lists; add a `default` connection for them")
    elif uncovered := [v for v in possible if v not in node.cases]:
        bad(
            f"`{node.value}` can also be {', '.join(uncovered)}, which no case covers; "
            "add those cases or a `default` connection"
        )
    return out


KIND = Kind(
    type="branch",
    label="Branch",
    node_class=BranchNode,
    look=Look("⋔", "#e0f2f1", "#00695c", ":material/call_split:"),
    handler=run,
    summary=summary,
    check=check,
    exit_labels=lambda node: [*node.cases, DEFAULT_CASE],
    exit_name=lambda node, label: "Otherwise" if label == DEFAULT_CASE else f"If the case is “{label}”",
    exit_word="Case",
    check_exits=check_exits,
    value_refs=lambda node: [("the branch", [node.value])] if node.value.strip() else [],
    swap_value=lambda node, old, new: (
        node.model_copy(update={"value": new or ""}) if node.value == old else node
    ),
)
