"""The Designer's working copy in session state: a Workflow as JSON per workflow id, plus selection.

Session state holds only plain values (JSON text, ids, counters); every rerun parses the working
copy again, so nothing goes stale. Other pages can open a workflow in the Designer by setting
`st.session_state[CURRENT_KEY] = workflow_id` before `st.switch_page("pages/designer.py")`, or
by linking with the query parameter `?workflow=<id>`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from engine.kinds import KINDS, exit_labels, unique_title
from engine.model import Edge, Node, Position, Workflow
from ui.canvas import REDRAW

CURRENT_KEY = "designer_workflow"
"""Id of the workflow open in the Designer."""
DRAFTS_KEY = "designer_drafts"
"""Ids of new workflows that exist only in this session (not saved yet)."""
FLASH_KEY = "designer_flash"
"""The outcome of the last action (save, import, restore), shown until the next action."""
CONFIRM_DELETE_KEY = "designer_confirm_delete_step"
"""The step whose deletion (Delete pressed on the canvas) waits for "Yes, delete this step"."""
PENDING_IMPORT_KEY = "designer_pending_import"
"""A checked file (name, bytes) waiting for "Import as version n"."""


@dataclass
class Flash:
    """A message about the last action, with optional detail lines (e.g. validation problems)."""

    kind: str
    text: str
    details: list[str] = field(default_factory=list)


def _k(prefix: str, workflow_id: str) -> str:
    return f"designer_{prefix}:{workflow_id}"


def offer_key(workflow_id: str) -> str:
    """Where the page remembers that unsaved changes from an earlier visit wait to be restored."""
    return f"designer_draft_offer:{workflow_id}"


def kept_key(workflow_id: str) -> str:
    """The working copy last kept as a draft in the store (so unchanged copies are not rewritten)."""
    return f"designer_draft_kept:{workflow_id}"


INSPECTED_KEY = "designer_inspected"
"""The inspector's widget values as last drawn (widget key prefix, values by key)."""


def inspector_prefix(workflow_id: str) -> str:
    """Start of the inspector's widget keys for the working copy's current generation."""
    return f"dz:{workflow_id}:{rev(workflow_id)}"


def remember_inspector(workflow_id: str) -> None:
    """Note the inspector's widget values as this run drew them."""
    prefix = inspector_prefix(workflow_id)
    values = {k: st.session_state[k] for k in list(st.session_state.keys()) if str(k).startswith(prefix)}
    st.session_state[INSPECTED_KEY] = (prefix, values)


def inspector_untouched(workflow_id: str) -> bool:
    """Whether no inspector widget changed since the last run drew it: nothing typed waits to be
    applied, so a click elsewhere can be acted on at once."""
    seen = st.session_state.get(INSPECTED_KEY)
    prefix = inspector_prefix(workflow_id)
    if not (isinstance(seen, tuple) and seen[0] == prefix):
        return False
    now = {k for k in list(st.session_state.keys()) if str(k).startswith(prefix)}
    if now != set(seen[1]):
        return False
    try:
        return all(bool(st.session_state[k] == v) for k, v in seen[1].items())
    except Exception:  # a value that cannot be compared: assume it changed
        return False


def canvas_key(workflow_id: str) -> str:
    """Component key of the workflow's canvas (its browser reply lives under this key)."""
    return f"designer_canvas_{workflow_id}"


def wc_key(workflow_id: str) -> str:
    """Session-state key of the working copy's JSON."""
    return _k("wc", workflow_id)


def get_wc(workflow_id: str) -> Workflow | None:
    """The working copy of a workflow, parsed afresh, or None when none is open."""
    text = st.session_state.get(wc_key(workflow_id))
    return Workflow.model_validate_json(text) if isinstance(text, str) else None


UNDO_LIMIT = 50
"""How many edits back Undo reaches, per workflow."""


def put_wc(wf: Workflow) -> None:
    """Store the working copy (as JSON) under its workflow id; a change is an edit Undo can take
    back (and clears what Redo could bring back)."""
    text = wf.model_dump_json()
    before = st.session_state.get(wc_key(wf.id))
    if isinstance(before, str) and before != text:
        undo = [*st.session_state.get(_k("undo", wf.id), []), before][-UNDO_LIMIT:]
        st.session_state[_k("undo", wf.id)] = undo
        st.session_state[_k("redo", wf.id)] = []
    st.session_state[wc_key(wf.id)] = text


def can_undo(workflow_id: str) -> bool:
    """Whether there is an edit to take back."""
    return bool(st.session_state.get(_k("undo", workflow_id)))


def can_redo(workflow_id: str) -> bool:
    """Whether there is an undone edit to bring back."""
    return bool(st.session_state.get(_k("redo", workflow_id)))


def step_history(workflow_id: str, back: bool) -> bool:
    """Undo (`back`) or redo one edit of the working copy; False when there is none. Widgets and
    the canvas are redrawn from the restored copy."""
    take, give = (_k("undo", workflow_id), _k("redo", workflow_id))
    if not back:
        take, give = give, take
    stack = list(st.session_state.get(take, []))
    current = st.session_state.get(wc_key(workflow_id))
    if not stack or not isinstance(current, str):
        return False
    st.session_state[wc_key(workflow_id)] = stack.pop()
    st.session_state[take] = stack
    st.session_state[give] = [*st.session_state.get(give, []), current][-UNDO_LIMIT:]
    bump_rev(workflow_id)
    request_push(workflow_id)  # redrawn where the person is looking: no zoom to fit under their pointer
    selected_id = selected(workflow_id)
    restored = get_wc(workflow_id)
    if restored is not None and selected_id not in restored.node_map():
        set_selected(workflow_id, None)
    return True


def base_version(workflow_id: str) -> int | None:
    """The saved version the working copy started from (None for a new workflow)."""
    value = st.session_state.get(_k("base", workflow_id))
    return int(value) if isinstance(value, int) else None


def set_base_version(workflow_id: str, version: int | None) -> None:
    """Remember which saved version the working copy is based on."""
    st.session_state[_k("base", workflow_id)] = version


def rev(workflow_id: str) -> int:
    """Generation of the working copy; inspector widget keys include it."""
    return int(st.session_state.get(_k("rev", workflow_id), 0))


def bump_rev(workflow_id: str) -> None:
    """Start a new generation of inspector widgets (their values come from the working copy)."""
    st.session_state[_k("rev", workflow_id)] = rev(workflow_id) + 1


def load_working_copy(wf: Workflow, version: int | None) -> None:
    """Replace the working copy (open, restore, import): fresh widgets, redrawn canvas."""
    put_wc(wf)
    set_base_version(wf.id, version)
    bump_rev(wf.id)
    set_selected(wf.id, None)
    request_fit(wf.id)


def selected(workflow_id: str) -> str | None:
    """Id of the selected node, or None (the workflow's own settings)."""
    value = st.session_state.get(_k("sel", workflow_id))
    return str(value) if value else None


def set_selected(workflow_id: str, node_id: str | None, show_on_canvas: bool = False) -> None:
    """Select a node (and no connection); `show_on_canvas` redraws the canvas with it highlighted."""
    st.session_state[_k("sel", workflow_id)] = node_id
    st.session_state.pop(_k("edge", workflow_id), None)
    if show_on_canvas:
        request_push(workflow_id)


def selected_edge(workflow_id: str) -> str | None:
    """Id of the selected connection, or None."""
    value = st.session_state.get(_k("edge", workflow_id))
    return str(value) if value else None


def set_selected_edge(workflow_id: str, edge_id: str) -> None:
    """Select a connection (and no step): the inspector shows what can be done with it."""
    st.session_state[_k("sel", workflow_id)] = None
    st.session_state[_k("edge", workflow_id)] = edge_id
    request_push(workflow_id)


def request_push(workflow_id: str) -> None:
    """Ask for the canvas to be redrawn from the working copy on this run."""
    st.session_state[_k("push", workflow_id)] = True


def request_fit(workflow_id: str) -> None:
    """Ask for the canvas to be redrawn and zoomed to show every node (new or loaded nodes): the
    browser fits the view when this number changes (`ui.canvas_bridge`)."""
    st.session_state[_k("fit", workflow_id)] = fit_number(workflow_id) + 1
    request_push(workflow_id)


def fit_number(workflow_id: str) -> int:
    """Counts the fits asked for (the browser fits the view when it changes)."""
    value = st.session_state.get(_k("fit", workflow_id))
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def take_push_request(workflow_id: str) -> bool:
    """Whether a redraw was requested (and forget the request)."""
    return bool(st.session_state.pop(_k("push", workflow_id), False))


def drafts() -> list[str]:
    """Ids of unsaved new workflows of this session."""
    return list(st.session_state.get(DRAFTS_KEY, []))


def add_draft(workflow_id: str) -> None:
    """Remember a new, not yet saved workflow."""
    st.session_state[DRAFTS_KEY] = [*drafts(), workflow_id]


def drop_draft(workflow_id: str) -> None:
    """Forget a draft once it has been saved."""
    st.session_state[DRAFTS_KEY] = [d for d in drafts() if d != workflow_id]


def set_flash(kind: str, text: str, details: list[str] | None = None) -> None:
    """Show a message about an action until the next action."""
    st.session_state[FLASH_KEY] = {"kind": kind, "text": text, "details": list(details or [])}


def clear_flash() -> None:
    """Forget the last action's message."""
    st.session_state.pop(FLASH_KEY, None)


def get_flash() -> Flash | None:
    """The last action's message, if any."""
    raw: Any = st.session_state.get(FLASH_KEY)
    if not isinstance(raw, dict):
        return None
    return Flash(str(raw["kind"]), str(raw["text"]), [str(d) for d in raw.get("details", [])])


# -- pure edits of a workflow (no Streamlit) ------------------------------------------------------


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
