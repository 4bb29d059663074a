"""Every node kind in one home: `engine/kinds/<kind>.py` declares its label, look, summary, exits,
new-step settings, checks, values and handler (see `engine.kinds.base.Kind`).

Adding a kind: its node model in `engine/model.py` (the saved format), its home here, listed in
the registry below, and its inspector form in `ui/inspector.FORMS`. The runner, validation, the
canvas, the palette and the Designer's wiring, insert and undo work for it without further changes.
"""

from __future__ import annotations

from typing import Any

from engine.kinds import ai_step, approval, branch, end, form_trigger, http_request, move_to_section
from engine.kinds.base import (
    KINDS,
    AssigneeLabel,
    Kind,
    Look,
    closed_values,
    kind_label,
    kind_of,
    node_title,
    step_name,
    unique_title,
)
from engine.model import Node, Workflow

KINDS.update(
    (k.type, k)
    for k in (
        form_trigger.KIND,
        ai_step.KIND,
        move_to_section.KIND,
        approval.KIND,
        branch.KIND,
        http_request.KIND,
        end.KIND,
    )
)

PALETTE: list[Kind[Any]] = [k for k in KINDS.values() if k.in_palette]
"""The kinds people add from the Designer's palette, in order."""


def default_assignee_label(assignee: str) -> str:
    """A readable assignee name without a directory: `group:marketing` → `marketing (group)`."""
    if assignee.startswith("group:"):
        return f"{assignee[len('group:') :]} (group)"
    return assignee.capitalize()


def summarize(node: Node, assignee_label: AssigneeLabel | None = None) -> str:
    """One line describing a node's settings, e.g. 'Approval · Jamie · due 48 h' (plain text)."""
    kind = kind_of(node)
    return " · ".join([kind.label, *kind.summary(node, assignee_label or default_assignee_label)])


def exit_labels(wf: Workflow, node_id: str) -> list[str | None]:
    """Labels a connection leaving this node may carry: `[None]` for a step with one plain way on,
    `[]` for a step that ends the run (or an id that is not a step)."""
    node = wf.node_map().get(node_id)
    return kind_of(node).exit_labels(node) if node is not None else []


__all__ = [
    "KINDS",
    "PALETTE",
    "AssigneeLabel",
    "Kind",
    "Look",
    "closed_values",
    "exit_labels",
    "kind_label",
    "kind_of",
    "node_title",
    "step_name",
    "summarize",
    "unique_title",
]
