"""Move to section: put the task in one of the workflow's board sections."""

from __future__ import annotations

from typing import Any

from engine.errors import StepError
from engine.kinds.base import AssigneeLabel, Kind, Look
from engine.model import MoveToSectionNode, Workflow
from engine.steps.base import StepContext, StepOutcome


def run(ctx: StepContext) -> StepOutcome:
    """Move the task to the node's section."""
    assert isinstance(ctx.node, MoveToSectionNode)
    if ctx.node.section not in ctx.workflow.sections:
        raise StepError(f"section `{ctx.node.section}` does not exist in this workflow")
    return StepOutcome(
        output={"section": ctx.node.section},
        input={"from": ctx.run.section},
        section=ctx.node.section,
    )


def check(wf: Workflow, node: MoveToSectionNode) -> list[str]:
    """A section, and one the workflow has."""
    if not node.section:
        return ["choose the section to move the task to"]
    if node.section not in wf.sections:
        return [
            f"section `{node.section}` is not one of the workflow's sections "
            f"({', '.join(wf.sections) or 'none declared'})"
        ]
    return []


def new_settings(wf: Workflow, node_id: str) -> dict[str, Any]:
    """A new move goes to the first section."""
    return {"section": wf.sections[0] if wf.sections else ""}


def summary(node: MoveToSectionNode, assignee_label: AssigneeLabel) -> list[str]:
    """The section it moves the task to."""
    return [node.section or "no section"]


KIND = Kind(
    type="move_to_section",
    label="Move to section",
    node_class=MoveToSectionNode,
    look=Look("➜", "#e3f2fd", "#1565c0", ":material/arrow_forward:", palette_label="Move"),
    handler=run,
    summary=summary,
    check=check,
    new_settings=new_settings,
)
