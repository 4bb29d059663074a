"""Wiring a workflow by choosing instead of dragging: each step's exits with the step they lead to,
inserting a step on a connection or after a step, and deleting a step without breaking the path.

Pure functions of a Workflow (no Streamlit), written once for every node kind: what differs
between kinds (which exits a step has and what they are called, whether it is the form) is what each
kind declares in its home (`engine.kinds`).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.kinds import kind_of, node_title
from engine.model import Edge, Position, Workflow
from ui.workflow_edits import default_label, delete_node, make_node

ROW = 130.0
"""How far a step is moved down to make room for one inserted above it (canvas pixels)."""


class WiringError(ValueError):
    """An edit that would break the workflow (the message says why, in a designer's words)."""


@dataclass(frozen=True)
class Exit:
    """One way out of a step: its label on the connection (None: the only way on) and where it
    leads now."""

    label: str | None
    name: str
    """How the Designer names it: "Next step", "If approved", "If the case is “refund”", "Otherwise"."""
    target: str | None
    edge_id: str | None


def exits(wf: Workflow, node_id: str) -> list[Exit]:
    """The step's exits, each with the step it leads to (a step that ends the run has none)."""
    node = wf.node(node_id)
    kind = kind_of(node)
    out = []
    for label in kind.exit_labels(node):
        edge = next((e for e in wf.outgoing(node_id) if e.label == label), None)
        name = kind.exit_name(node, label)
        out.append(Exit(label, name, edge.target if edge else None, edge.id if edge else None))
    return out


def new_edge_id(wf: Workflow, source: str, target: str) -> str:
    """A connection id not used yet, e.g. `e-draft-review`."""
    taken = {e.id for e in wf.edges}
    base = f"e-{source}-{target}"
    n, candidate = 2, base
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def set_exit(wf: Workflow, node_id: str, label: str | None, target: str | None) -> Workflow:
    """The workflow with one exit of the step leading to `target` (None: nowhere)."""
    if node_id not in wf.node_map():
        raise WiringError(f"there is no step `{node_id}` any more")
    if target is not None and target not in wf.node_map():
        raise WiringError(f"there is no step `{target}` to lead to")
    if target == node_id:
        raise WiringError("a step cannot lead to itself")
    if target is not None and kind_of(wf.node(target)).starts_runs:
        raise WiringError("nothing can lead back to the form: it is where every run starts")
    if [e.target for e in wf.outgoing(node_id) if e.label == label] == ([target] if target else []):
        return wf  # it leads there already: the connection (and its id) stays as it is
    edges = [e for e in wf.edges if not (e.source == node_id and e.label == label)]
    if target is not None:
        edges.append(Edge(id=new_edge_id(wf, node_id, target), source=node_id, target=target, label=label))
    return wf.model_copy(update={"edges": edges})


def _room_below(wf: Workflow, y: float) -> Workflow:
    """The workflow with every step at or below `y` moved down one row."""
    nodes = [
        n.model_copy(update={"position": n.position.model_copy(update={"y": n.position.y + ROW})})
        if n.position.y >= y - 1
        else n
        for n in wf.nodes
    ]
    return wf.model_copy(update={"nodes": nodes})


def _place(wf: Workflow, kind: str, at: Position) -> tuple[Workflow, str]:
    """The workflow with a new step of `kind` at `at`, after moving the steps from that row down."""
    wf = _room_below(wf, at.y)
    node = make_node(wf, kind, None)
    node = node.model_copy(update={"position": at})
    return wf.model_copy(update={"nodes": [*wf.nodes, node]}), node.id


def insert_on_edge(wf: Workflow, edge_id: str, kind: str) -> tuple[Workflow, str]:
    """A new step of `kind` between the two ends of a connection: it takes the connection's
    outcome or case on its incoming side and leads on to the old target (an End leads nowhere);
    the steps below make room. Returns the workflow and the new step's id."""
    edge = next((e for e in wf.edges if e.id == edge_id), None)
    if edge is None:
        raise WiringError(f"there is no connection `{edge_id}`")
    wf, new_id = _place(wf, kind, wf.node(edge.target).position)
    wf = wf.model_copy(update={"edges": [e for e in wf.edges if e.id != edge_id]})
    wf = set_exit(wf, edge.source, edge.label, new_id)
    if kind_of(wf.node(new_id)).exit_labels(wf.node(new_id)):  # a step that ends the run leads nowhere
        wf = set_exit(wf, new_id, default_label(wf, new_id), edge.target)
    return _settled(wf, new_id), new_id


def _settled(wf: Workflow, new_id: str) -> Workflow:
    """The workflow once its new step, now wired in, has chosen its settings there (its kind's
    `placed`: an AI step after a draft revises it)."""
    node = wf.node(new_id)
    return kind_of(node).placed(wf, node)


def add_after(wf: Workflow, node_id: str, kind: str) -> tuple[Workflow, str]:
    """A new step of `kind` after a step: on its only way on when it has exactly one next step
    (the new step then leads there), else on its first free exit. Returns the workflow and the
    new step's id."""
    if node_id not in wf.node_map():
        raise WiringError(f"there is no step `{node_id}` any more")
    node = wf.node(node_id)
    if not kind_of(node).exit_labels(node):
        raise WiringError(f"“{node_title(node)}” finishes the run; nothing can come after it")
    leaving = wf.outgoing(node_id)
    if len(leaving) == 1:
        return insert_on_edge(wf, leaving[0].id, kind)
    free = [x for x in exits(wf, node_id) if x.target is None]
    if not free:
        raise WiringError(
            "every exit of this step already leads somewhere; select a connection and insert the step there"
        )
    below = Position(x=node.position.x, y=node.position.y + ROW)
    wf, new_id = _place(wf, kind, below)
    return _settled(set_exit(wf, node_id, free[0].label, new_id), new_id), new_id


def delete_step(wf: Workflow, node_id: str) -> Workflow:
    """The workflow without the step; when it had exactly one way in and one way on, the step
    before it now leads to the step after it. The form cannot be deleted."""
    if kind_of(wf.node(node_id)).starts_runs:
        raise WiringError("the form starts every run; it cannot be deleted")
    incoming = [e for e in wf.edges if e.target == node_id]
    leaving = wf.outgoing(node_id)
    rest = delete_node(wf, node_id)
    if len(incoming) == 1 and len(leaving) == 1 and incoming[0].source != leaving[0].target:
        before = incoming[0]
        rest = set_exit(rest, before.source, before.label, leaving[0].target)
    return rest
