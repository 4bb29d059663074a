"""Canvas adapter: a Workflow drawn with streamlit-flow (each kind's look and summary: `engine.kinds`).

The component renders node content as Markdown with raw HTML inside an iframe, so every piece of
text a user typed goes through `html_text` (entities, one line) before it becomes content.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import streamlit as st
from streamlit_flow import StreamlitFlowEdge, StreamlitFlowNode, StreamlitFlowState, streamlit_flow

from engine.dataflow import flow_summary, flows, value_labels
from engine.kinds import KINDS, AssigneeLabel, kind_of, node_title, summarize
from engine.model import Node, Workflow
from ui.runtime import rerun_app_if_identity_changed

NODE_WIDTH = 230
TITLE_PX = 17
SUMMARY_PX = 13
EDGE_LABEL_PX = 13
ONE_LINE = "white-space:nowrap;overflow:hidden;text-overflow:ellipsis"
"""Every line of a card stays one line (cut with …): cards are the same height, so a layout's rows
never overlap; the whole text is in the inspector."""
MIN_ZOOM = 0.05
"""How far the view may zoom out: "Fit" shows any workflow whole (far out, cards keep their title,
then their shape only: `ui.canvas_bridge`)."""
MINIMAP_FROM = 12
"""Workflows with more steps than this get a minimap (they no longer fit at a readable zoom)."""


STATUS_LOOK: dict[str, tuple[str, str, str]] = {
    "done": ("#e8f5e9", "#2e7d32", "done"),
    "running": ("#e3f2fd", "#1565c0", "running"),
    "waiting": ("#fff8e1", "#ef6c00", "waiting"),
    "failed": ("#ffebee", "#c62828", "failed"),
    "pending": ("#fafafa", "#b0bec5", "not reached"),
}
"""Background, border and label per run status of a node."""

PROBLEM_BORDER = "#d32f2f"
SELECTED_EDGE = "#1976d2"
MARKS = {"writes": "0 0 0 4px rgba(46,125,50,0.6)", "reads": "0 0 0 4px rgba(0,131,143,0.45)"}
"""The glow of a step that writes or reads the value the designer is looking at."""


_HTML_SAFE = str.maketrans({c: f"&#{ord(c)};" for c in "&<>\"'\\`*_{}[]()#+-.!|~:$="})


def html_text(text: str) -> str:
    """User text inside the canvas's HTML: one line (a blank line would end the HTML block and
    turn Markdown back on), HTML-escaped, and Markdown characters as entities."""
    return " ".join(text.split()).translate(_HTML_SAFE)


def node_content(
    node: Node, assignee_label: AssigneeLabel | None = None, badge: str = "", flow: str = ""
) -> str:
    """The card drawn inside a canvas node: icon, title, summary and what it uses and writes, all
    escaped."""
    look = kind_of(node).look
    title = html_text(node_title(node))
    summary = html_text(summarize(node, assignee_label))
    flow_html = (
        f'<div style="font-size:{SUMMARY_PX}px;color:#37474f;margin-top:2px;font-style:italic;{ONE_LINE}">'
        f"{html_text(flow)}</div>"
        if flow
        else ""
    )
    badge_html = (
        f'<div style="font-size:11px;font-weight:600;margin-top:3px">{html_text(badge)}</div>'
        if badge
        else ""
    )
    # One line of HTML: a Markdown HTML block, so no Markdown inside is interpreted.
    return (
        '<div style="text-align:left;line-height:1.3">'
        f'<div style="font-weight:600;font-size:{TITLE_PX}px;{ONE_LINE}">{look.icon} {title}</div>'
        f'<div style="font-size:{SUMMARY_PX}px;color:#455a64;margin-top:2px;{ONE_LINE}">{summary}</div>'
        f"{flow_html}{badge_html}</div>"
    )


def node_style(
    kind: str, broken: bool = False, status: str | None = None, selected: bool = False, mark: str = ""
) -> dict[str, Any]:
    """A fresh style dict for one node (never shared: the component mutates defaults)."""
    look = KINDS[kind].look
    background, border = look.background, look.border
    style: dict[str, Any] = {
        "background": background,
        "border": f"2px solid {border}",
        "borderRadius": "8px",
        "padding": "6px 10px",
        "width": f"{NODE_WIDTH}px",
        "color": "#212121",
    }
    if status is not None:
        bg, bd, _ = STATUS_LOOK.get(status, STATUS_LOOK["pending"])
        style["background"] = bg
        style["border"] = f"3px solid {bd}"
        if status in ("pending", "", None) or status not in STATUS_LOOK:
            style["opacity"] = "0.6"
    if broken:
        style["border"] = f"3px solid {PROBLEM_BORDER}"
        style["boxShadow"] = "0 0 0 3px rgba(211,47,47,0.25)"
    if mark in MARKS:
        style["boxShadow"] = MARKS[mark]
    if selected:
        style["boxShadow"] = "0 0 0 4px rgba(25,118,210,0.55)"
    return style


def to_flow_node(
    node: Node,
    *,
    broken: bool = False,
    selected: bool = False,
    editable: bool = True,
    status: str | None = None,
    assignee_label: AssigneeLabel | None = None,
    flow: str = "",
    mark: str = "",
) -> StreamlitFlowNode:
    """One workflow node as a canvas node (data keeps the node id and kind); `flow` says what it
    uses and writes, `mark` ("writes" or "reads") makes it glow."""
    badge = ""
    if status is not None:
        badge = "● " + STATUS_LOOK.get(status, STATUS_LOOK["pending"])[2]
    return StreamlitFlowNode(
        id=node.id,
        pos=(node.position.x, node.position.y),
        data={
            "content": node_content(node, assignee_label, badge, flow),
            "kind": node.type,
            "node_id": node.id,
        },
        node_type=kind_of(node).canvas_role,
        draggable=editable,
        selectable=editable,
        connectable=editable,
        selected=selected,
        style=node_style(node.type, broken=broken, status=status, selected=selected and editable, mark=mark),
    )


def edge_text(node: Node | None, label: str | None) -> str:
    """A connection's label as the canvas shows it: "Approved", "Changes requested", “billing”."""
    if not label:
        return ""
    if node is None:
        return label
    name = kind_of(node).exit_name(node, label).removeprefix("If the case is ").removeprefix("If ")
    return name[:1].upper() + name[1:]


def to_flow_edge(
    edge_id: str,
    source: str,
    target: str,
    label: str | None,
    broken: bool = False,
    text: str | None = None,
    selected: bool = False,
) -> StreamlitFlowEdge:
    """One connection as a canvas edge, shown with `text` (its outcome or case in words); a
    selected one is drawn thick and blue."""
    revision = label == "changes_requested"
    colour = PROBLEM_BORDER if broken else ("#ef6c00" if revision else "#78909c")
    if selected:
        colour = SELECTED_EDGE
    style: dict[str, object] = {"stroke": colour, "strokeWidth": 4 if selected else 2}
    if revision:  # a loop back: dashed and moving, so it stands out where it crosses the chain
        style["strokeDasharray"] = "6 4"
    return StreamlitFlowEdge(
        id=edge_id,
        source=source,
        target=target,
        edge_type="default" if revision else "smoothstep",
        animated=revision,
        marker_end={"type": "arrowclosed", "color": colour},
        label=text if text is not None else (label or ""),
        label_show_bg=bool(label),
        label_style={"fontSize": f"{EDGE_LABEL_PX}px", "fontWeight": 600, "fill": colour},
        label_bg_style={"fill": "#ffffff"},
        style=style,
    )


def build_flow_state(
    wf: Workflow,
    *,
    broken_nodes: set[str] | None = None,
    broken_edges: set[str] | None = None,
    selected_id: str | None = None,
    editable: bool = True,
    node_status: dict[str, str] | None = None,
    assignee_label: AssigneeLabel | None = None,
    timestamp: int | None = None,
    highlight: str | None = None,
) -> StreamlitFlowState:
    """The canvas state for a workflow; problem nodes and edges are drawn red, and the steps that
    write and read the value `highlight` glow."""
    broken_nodes = broken_nodes or set()
    broken_edges = broken_edges or set()
    labels = value_labels(wf)
    step_flows = flows(wf)

    def mark(node_id: str) -> str:
        if highlight is None:
            return ""
        if highlight in step_flows[node_id].writes:
            return "writes"
        return "reads" if step_flows[node_id].uses(highlight) else ""

    nodes = [
        to_flow_node(
            n,
            broken=n.id in broken_nodes,
            selected=n.id == selected_id,
            editable=editable,
            status=(node_status.get(n.id, "pending") if node_status is not None else None),
            assignee_label=assignee_label,
            flow=flow_summary(wf, n, labels) if node_status is None else "",
            mark=mark(n.id),
        )
        for n in wf.nodes
    ]
    by_id = wf.node_map()

    def loops_back(label: str | None, source: str) -> bool:
        node = by_id.get(source)
        return node is not None and label in kind_of(node).loop_back

    # loops back first: drawn beneath, so where one runs along the chain (a revision loop often
    # does), a pointer or a dropped step finds the forward connection on top
    ordered = sorted(wf.edges, key=lambda e: not loops_back(e.label, e.source))
    edges = [
        to_flow_edge(
            e.id,
            e.source,
            e.target,
            e.label,
            e.id in broken_edges,
            edge_text(by_id.get(e.source), e.label),
            selected=editable and e.id == selected_id,
        )
        for e in ordered
    ]
    return StreamlitFlowState(
        nodes=nodes,
        edges=edges,
        selected_id=selected_id,
        timestamp=timestamp if timestamp is not None else now_ms(),
    )


def now_ms() -> int:
    """Milliseconds since the epoch (the component's timestamp unit)."""
    return int(time.time() * 1000)


def flow_signature(state: StreamlitFlowState) -> str:
    """What a user sees of a canvas state apart from positions: ids, cards, styles, edges, labels."""
    parts: list[str] = []
    for n in sorted(state.nodes, key=lambda n: n.id):
        parts.append(f"N|{n.id}|{n.data.get('content', '')}|{sorted(n.style.items())}")
    for e in sorted(state.edges, key=lambda e: e.id):
        parts.append(f"E|{e.id}|{e.source}|{e.target}|{e.label or ''}|{sorted(e.style.items())}")
    return hashlib.sha1("\n".join(parts).encode("utf-8")).hexdigest()


def shape_of(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> str:
    """Which nodes sit where and which connections exist: what an echo of a pushed state repeats."""
    placed = sorted(
        (str(n.get("id")), round(float((n.get("position") or {}).get("x", 0)), 1),
         round(float((n.get("position") or {}).get("y", 0)), 1))
        for n in nodes
        if isinstance(n, dict)
    )  # fmt: skip
    wired = sorted(str(e.get("id")) for e in edges if isinstance(e, dict))
    return hashlib.sha1(repr((placed, wired)).encode("utf-8")).hexdigest()


REDRAW = "loopdesk_redraw"
"""Set in a reply `take_browser_reply` changed: the browser shows something the page does not have."""
PUSHES_REMEMBERED = 8
"""How many earlier pushed states are recognised when the browser echoes one of them late."""


def _directory_label() -> AssigneeLabel | None:
    """The process-wide directory's label function, when the app is available."""
    try:
        from ui.runtime import get_app

        return get_app().directory.label
    except Exception:  # a read-only drawing never fails because the directory is missing
        return None


@st.fragment  # the component's own replies rerun only the canvas, never swallow a page change
def show_readonly(
    wf: Workflow,
    key: str,
    node_status: dict[str, str] | None = None,
    height: int = 520,
) -> None:
    """Draw a workflow that cannot be edited; colour nodes by run status when given.

    Statuses: "done", "running", "waiting", "failed", "pending" (a node missing from
    `node_status` counts as pending, i.e. not reached).
    """
    rerun_app_if_identity_changed()
    label = _directory_label()
    signature_source = wf.model_dump_json() + repr(sorted((node_status or {}).items()))
    signature = hashlib.sha1(signature_source.encode("utf-8")).hexdigest()
    slot = f"_canvas_ro:{key}"
    cached = st.session_state.get(slot)
    if not (isinstance(cached, tuple) and cached[0] == signature):
        # Changed (or first draw): a fresh state with a new timestamp; unchanged reruns reuse the
        # stored one so the component is not re-seeded on every run (that loops).
        state = build_flow_state(wf, editable=False, node_status=node_status, assignee_label=label)
        for n in state.nodes:
            n.draggable = False
            n.selectable = False
            n.connectable = False
        cached = (signature, state)
        st.session_state[slot] = cached
    streamlit_flow(
        key,
        cached[1],
        height=height,
        fit_view=True,
        show_controls=True,
        allow_new_edges=False,
        get_node_on_click=False,
        get_edge_on_click=False,
        pan_on_drag=True,
        allow_zoom=True,
        min_zoom=0.2,
        hide_watermark=True,
    )
    if node_status is not None:
        legend = " · ".join(f'<span style="color:{bd}">●</span> {lbl}' for _, bd, lbl in STATUS_LOOK.values())
        st.caption(legend, unsafe_allow_html=True)


# -- the editable canvas of the Designer ----------------------------------------------------------


def _slot(key: str) -> str:
    return f"_canvas_ed:{key}"


def take_browser_reply(key: str) -> dict[str, Any] | None:
    """The canvas's latest reply from the browser if it was not handled yet, else None.

    The reply is the component's value in session state; it is read before the canvas is drawn
    so that every widget of the run sees the positions and connections the user just made.
    """
    raw = st.session_state.get(key)
    slot = st.session_state.setdefault(_slot(key), {})
    if raw is None and slot.get("seen") is not None:
        # The canvas was not drawn for a while (another page): its browser side starts afresh.
        slot.clear()
    if not isinstance(raw, dict) or "timestamp" not in raw:
        return None
    if raw["timestamp"] == slot.get("seen"):
        return None
    slot["seen"] = raw["timestamp"]
    # The browser answers every state it is sent with that same state (stamped with its own clock).
    # An answer to an earlier push that arrives after a newer one was sent (an Undo right after a
    # connection, say) would put back what the newer push took away: until the browser has answered
    # the newest push, an answer repeating an older one is not a change the person made.
    try:
        shape = shape_of(list(raw.get("nodes") or []), list(raw.get("edges") or []))
    except (TypeError, ValueError):
        return raw
    pushed = list(slot.get("pushed", []))
    if slot.get("awaiting") and shape in pushed[:-1]:
        return None
    slot["awaiting"] = False  # the browser has the newest state (or built on it): replies are real
    return without_gone(raw, slot)


def note_pushed_edges(slot: dict[str, Any], edge_ids: set[str]) -> None:
    """Remember the connections of a state sent to the browser, and which ones it took away: until
    a reply no longer shows one, a reply showing it is older than this state."""
    taken = set(slot.get("edge_ids", set())) - edge_ids
    slot["gone"] = (set(slot.get("gone", set())) | taken) - edge_ids
    slot["edge_ids"] = edge_ids


def without_gone(raw: dict[str, Any], slot: dict[str, Any]) -> dict[str, Any]:
    """The reply without the connections the page took away that the browser still showed when it
    answered (a step moved just before a deletion arrived sends the deleted connection back; taken
    as drawn anew, it came back). Once a reply shows one gone, drawing it again is a new connection."""
    gone = set(slot.get("gone", set()))
    if not gone:
        return raw
    edges = [e for e in raw.get("edges") or [] if isinstance(e, dict)]
    shown = {str(e.get("id")) for e in edges}
    slot["gone"] = gone & shown
    if not gone & shown:
        return raw
    # (drawn again, so the browser stops showing them)
    return {**raw, "edges": [e for e in edges if str(e.get("id")) not in gone], REDRAW: True}


def draw_editable(
    wf: Workflow,
    key: str,
    *,
    broken_nodes: set[str],
    broken_edges: set[str],
    selected_id: str | None,
    push: bool = False,
    height: int = 600,
    assignee_label: AssigneeLabel | None = None,
    highlight: str | None = None,
) -> None:
    """Draw the Designer canvas for the working copy (the steps writing and reading the value
    `highlight` glow).

    The state sent to the browser gets a new timestamp (so the browser takes it) only when what
    it shows changed in Python (cards, styles, connections, labels) or `push` asks for it; a
    rerun caused by a drag keeps the old timestamp, so the browser keeps its own view and no
    rerun loop starts. Fitting the view is the browser's (`ui.canvas_bridge`: on the first draw, when
    the canvas changes size, and when asked), so a zoomed-in designer is never thrown around by a
    rerun. The component's return value is read on the next run by `take_browser_reply`.
    """
    slot = st.session_state.setdefault(_slot(key), {})
    desired = build_flow_state(
        wf,
        broken_nodes=broken_nodes,
        broken_edges=broken_edges,
        selected_id=selected_id,
        assignee_label=assignee_label,
        timestamp=0,
        highlight=highlight,
    )
    signature = flow_signature(desired)
    last_ts = slot.get("ts")
    if last_ts is None or push or signature != slot.get("sig"):
        seen = slot.get("seen")
        # newer than anything the browser sent, whatever its clock says
        desired.timestamp = max(now_ms(), int(seen) + 1 if isinstance(seen, int) else 0, (last_ts or 0) + 1)
        slot["ts"] = desired.timestamp
        slot["sig"] = signature
        sent = desired.asdict()
        shape = shape_of(sent.get("nodes", []), sent.get("edges", []))
        slot["pushed"] = [*[s for s in slot.get("pushed", []) if s != shape], shape][-PUSHES_REMEMBERED:]
        slot["awaiting"] = True
        note_pushed_edges(slot, {str(e.get("id")) for e in sent.get("edges", []) if isinstance(e, dict)})
    else:
        desired.timestamp = int(last_ts)
    streamlit_flow(
        key,
        desired,
        height=height,
        fit_view=False,
        show_controls=True,
        allow_new_edges=True,
        get_node_on_click=True,
        get_edge_on_click=True,
        pan_on_drag=True,
        allow_zoom=True,
        min_zoom=MIN_ZOOM,
        show_minimap=len(wf.nodes) > MINIMAP_FROM,
        hide_watermark=True,
    )
