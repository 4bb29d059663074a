"""What the canvas's reply from the browser changes in the working copy: positions, connections drawn,
the clicked step or connection (pure: the reply is read from session state by `ui.canvas`)."""

from __future__ import annotations

from typing import Any

from engine.model import Edge, Position, Workflow
from ui.canvas import REDRAW
from ui.workflow_edits import default_label


def apply_browser_state(wf: Workflow, value: Any) -> tuple[Workflow, str | None, bool]:
    """Take positions, new connections and the clicked item from the canvas's reply.

    The working copy stays the authority for nodes and deletions: the browser can only move
    nodes and draw connections. Returns the updated workflow, what to select (the clicked step or
    connection, or a newly drawn connection) if any, and whether the canvas shows something the
    working copy does not have (then it must be redrawn).
    """
    if not isinstance(value, dict):
        return wf, None, False
    node_ids = {n.id for n in wf.nodes}
    positions: dict[str, Position] = {}
    for raw in value.get("nodes") or []:
        if not isinstance(raw, dict) or raw.get("id") not in node_ids:
            continue
        pos = raw.get("position") or {}
        try:
            positions[str(raw["id"])] = Position(x=float(pos.get("x", 0)), y=float(pos.get("y", 0)))
        except (TypeError, ValueError):
            continue
    nodes = [
        n.model_copy(update={"position": positions[n.id]})
        if n.id in positions and positions[n.id] != n.position
        else n
        for n in wf.nodes
    ]
    wf = wf.model_copy(update={"nodes": nodes})
    edge_ids = {e.id for e in wf.edges}
    pairs = {(e.source, e.target) for e in wf.edges}
    seen_edges: set[str] = set()
    redraw = False
    for raw in value.get("edges") or []:
        if not isinstance(raw, dict):
            continue
        eid, src, tgt = str(raw.get("id", "")), str(raw.get("source", "")), str(raw.get("target", ""))
        seen_edges.add(eid)
        if eid in edge_ids:
            continue
        if not eid or src not in node_ids or tgt not in node_ids or (src, tgt) in pairs or src == tgt:
            redraw = True  # a connection the working copy refuses: draw it away again
            continue
        edge = Edge(id=eid, source=src, target=tgt, label=default_label(wf, src))
        wf = wf.model_copy(update={"edges": [*wf.edges, edge]})
        edge_ids.add(eid)
        pairs.add((src, tgt))
        redraw = redraw or edge.label is not None
    seen_nodes = {str(raw.get("id")) for raw in value.get("nodes") or [] if isinstance(raw, dict)}
    if seen_nodes != node_ids or not edge_ids <= seen_edges or value.get(REDRAW):
        redraw = True
    clicked = value.get("selectedId")
    select: str | None = None
    if clicked in node_ids or any(e.id == clicked for e in wf.edges):
        select = str(clicked)
    return wf, select, redraw
