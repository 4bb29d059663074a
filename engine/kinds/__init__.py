"""Every node kind in one home: `engine/kinds/<kind>.py` declares its label, look, summary, exits,
new-step settings, checks, values and handler (see `engine.kinds.base.Kind`).

Adding a kind: its node model in `engine/model.py` (the saved format), its home here, listed in
`KINDS`, and its inspector form in `ui/inspector.FORMS`. The runner, validation, the canvas, the
palette and the Designer's wiring, insert and undo work for it without further changes.
"""

from __future__ import annotations

from typing import Any

from engine.kinds import ai_step, approval, branch, end, form_trigger, move_to_section
from engine.kinds.base import AssigneeLabel, Kind, Look
from engine.model import Node, Workflow

KINDS: dict[str, Kind[Any]] = {
    k.type: k
    for k in (
        form_trigger.KIND,
        ai_step.KIND,
        move_to_section.KIND,
        approval.KIND,
        branch.KIND,
        end.KIND,
    )
}
"""Every kind by node `type`, in palette order."""

PALETTE: list[Kind[Any]] = [k for k in KINDS.values() if k.in_palette]
"""The kinds people add from the Designer's palette, in order."""


def kind_of(node: Node) -> Kind[Any]:
    """The kind of a node."""
    return KINDS[node.type]


def kind_label(kind: str) -> str:
    """The name of a kind ("Approval"); an unknown one (an old step record) as it is stored."""
    known = KINDS.get(kind)
    return known.label if known is not None else kind


def node_title(node: Node) -> str:
    """The node's title, or its kind's name when it has none."""
    return node.title.strip() or kind_label(node.type)


def step_name(wf: Workflow, node: Node) -> str:
    """A step by its title; its id is added only when another step has the same title."""
    title = node_title(node)
    twins = sum(node_title(n) == title for n in wf.nodes)
    return title if twins == 1 else f"{title} ({node.id})"


def unique_title(wf: Workflow, base: str) -> str:
    """`base`, or `base 2`, `base 3`… whichever no step has yet (so steps are told apart by title)."""
    taken = {n.title.strip() for n in wf.nodes}
    if base not in taken:
        return base
    n = 2
    while f"{base} {n}" in taken:
        n += 1
    return f"{base} {n}"


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


def closed_values(wf: Workflow) -> dict[str, list[str]]:
    """Values that can only take listed options (choice fields, classifications), by name; the first
    step making a name wins."""
    out: dict[str, list[str]] = {}
    for node in wf.nodes:
        for name, options in kind_of(node).closed_values(node).items():
            out.setdefault(name, options)
    return out


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
