"""The AI step: ask a model and keep its answer under the step's output name."""

from __future__ import annotations

from typing import Any

from engine.kinds.base import NAME_RE, RESERVED_NAMES, AssigneeLabel, Kind, Look, dupes
from engine.model import AIStepNode, Workflow
from engine.steps.ai import run_ai

ANSWER_KINDS = {"text": "text", "classification": "label", "json": "JSON"}


def summary(node: AIStepNode, assignee_label: AssigneeLabel) -> list[str]:
    """'→ post (text) · gpt-4o-mini' and whether the instruction is still missing."""
    parts = [f"→ {node.output_name} ({ANSWER_KINDS[node.output_kind]})"]
    if node.model:
        parts.append(node.model)
    if not node.instruction.strip():
        parts.append("no instruction yet")
    return parts


def check(wf: Workflow, node: AIStepNode) -> list[str]:
    """An instruction, an output name later steps can use, and a complete answer shape."""
    out: list[str] = []
    if not node.instruction.strip():
        out.append("the AI step has no instruction; write what the model should do")
    if not NAME_RE.match(node.output_name):
        out.append(f"output name `{node.output_name}` must be letters, digits and _")
    if node.output_name in RESERVED_NAMES:
        out.append(f"output name `{node.output_name}` is reserved; choose another")
    if node.output_kind == "classification" and len(node.labels) < 2:
        out.append("a classification needs at least two labels")
    if node.output_kind == "json" and not node.json_fields:
        out.append("a JSON output needs at least one field")
    twins = dupes(f.name for f in node.json_fields)
    out += [f"two JSON output fields are named `{d}`" for d in sorted(twins)]
    return out


def new_settings(wf: Workflow, node_id: str) -> dict[str, Any]:
    """The answer is kept under the step's id (unless another step's answer already is)."""
    taken = {n.output_name for n in wf.nodes if isinstance(n, AIStepNode)}
    return {"output_name": node_id if node_id not in taken else f"{node_id}_out"}


KIND = Kind(
    type="ai_step",
    label="AI step",
    node_class=AIStepNode,
    look=Look("✦", "#f3e5f5", "#7b1fa2", ":material/auto_awesome:"),
    handler=run_ai,
    summary=summary,
    check=check,
    new_settings=new_settings,
    calls_out=True,
    produces=lambda node: {node.output_name},
    closed_values=lambda node: (
        {node.output_name: list(node.labels)} if node.output_kind == "classification" else {}
    ),
    prompts=lambda node: [("the instruction", node.instruction), ("the system prompt", node.system_prompt)],
)
