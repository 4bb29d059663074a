"""Edits of a workflow the Designer makes (pure: no Streamlit, no session): a new step placed where it
is free, a step moved or deleted, a connection deleted or relabelled."""

from __future__ import annotations

from engine.kinds import KINDS, exit_labels, unique_title
from engine.model import Node, Position, Workflow


def new_node_id(wf: Workflow, kind: str) -> str:
    """The first free id `<kind>_<n>`, e.g. `ai_step_2`."""
    taken = {n.id for n in wf.nodes}
    n = 1
    while f"{kind}_{n}" in taken:
        n += 1
    return f"{kind}_{n}"


def _is_free(wf: Workflow, x: float, y: float) -> bool:
    """Whether a node placed at (x, y) would not cover another one."""
    return all(abs(n.position.x - x) >= 250 or abs(n.position.y - y) >= 90 for n in wf.nodes)


def _spot_near(wf: Workflow, x: float, y: float) -> Position:
    """A free spot next to a node at (x, y): below it, else to its right, else further down."""
    for dy in range(0, 50 * 130, 130):
        for cx, cy in ((x, y + 130 + dy), (x + 280, y + dy), (x + 280, y + 130 + dy)):
            if _is_free(wf, cx, cy):
                return Position(x=cx, y=cy)
    return Position(x=x + 280, y=y)


def make_node(wf: Workflow, kind: str, near: str | None) -> Node:
    """A new node of `kind` with its kind's settings for a new step, placed next to node `near` (or
    the last one)."""
    spec = KINDS.get(kind)
    if spec is None or not spec.in_palette:
        raise ValueError(f"the palette has no step kind `{kind}`")
    node_id = new_node_id(wf, kind)
    anchor = next((n for n in wf.nodes if n.id == near), None) or (wf.nodes[-1] if wf.nodes else None)
    pos = Position(x=0, y=0) if anchor is None else _spot_near(wf, anchor.position.x, anchor.position.y)
    title = unique_title(wf, spec.label)
    node: Node = spec.node_class(id=node_id, title=title, position=pos, **spec.new_settings(wf, node_id))
    return node


def add_node(wf: Workflow, kind: str, near: str | None) -> tuple[Workflow, str]:
    """The workflow with a new node of `kind`; returns it and the new node's id."""
    node = make_node(wf, kind, near)
    return wf.model_copy(update={"nodes": [*wf.nodes, node]}), node.id


def move_node(wf: Workflow, node_id: str, x: float, y: float) -> Workflow:
    """The workflow with one node placed at (x, y) on the canvas."""
    nodes = [
        n.model_copy(update={"position": Position(x=x, y=y)}) if n.id == node_id else n for n in wf.nodes
    ]
    return wf.model_copy(update={"nodes": nodes})


def delete_node(wf: Workflow, node_id: str) -> Workflow:
    """The workflow without the node and every connection touching it."""
    return wf.model_copy(
        update={
            "nodes": [n for n in wf.nodes if n.id != node_id],
            "edges": [e for e in wf.edges if node_id not in (e.source, e.target)],
        }
    )


def delete_edge(wf: Workflow, edge_id: str) -> Workflow:
    """The workflow without one connection."""
    return wf.model_copy(update={"edges": [e for e in wf.edges if e.id != edge_id]})


def set_edge_label(wf: Workflow, edge_id: str, label: str | None) -> Workflow:
    """The workflow with one connection's outcome or case changed."""
    edges = [e.model_copy(update={"label": label}) if e.id == edge_id else e for e in wf.edges]
    return wf.model_copy(update={"edges": edges})


def replace_node(wf: Workflow, node: Node) -> Workflow:
    """The workflow with the node of the same id replaced."""
    return wf.model_copy(update={"nodes": [node if n.id == node.id else n for n in wf.nodes]})


def allowed_labels(wf: Workflow, source_id: str) -> list[str]:
    """Labels a connection leaving this node may carry (empty: it carries none)."""
    return [label for label in exit_labels(wf, source_id) if label is not None]


def default_label(wf: Workflow, source_id: str) -> str | None:
    """The first allowed label not yet used by another connection from this node."""
    options = allowed_labels(wf, source_id)
    used = {e.label for e in wf.edges if e.source == source_id}
    return next((o for o in options if o not in used), None)
