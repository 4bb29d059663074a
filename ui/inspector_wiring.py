"""Where a step leads, in the inspector: each exit with a picker of its next step, a selected
connection's panel (its outcome, "Insert a step here", "Delete connection") and the connection list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from engine.kinds import PALETTE, kind_of, node_title, step_name
from engine.model import Node, Workflow
from ui.canvas import edge_text
from ui.designer_intents import value_key
from ui.format import md_escape, md_label
from ui.inspector_fields import pick_one
from ui.wiring import exits
from ui.workflow_edits import allowed_labels, set_edge_label


def insert_buttons(edge_id: str, on_choose: Callable[..., None], width: Any = "content") -> None:
    """One button per palette kind that inserts a step of that kind on the connection `edge_id`."""
    for kind in PALETTE:
        st.button(
            kind.label,
            key=f"designer_insert_{edge_id}_{kind.type}",
            icon=kind.look.palette_icon,
            on_click=on_choose,
            args=("insert", (edge_id, kind.type)),
            width=width,
        )


def _chose_exit(
    on_choose: Callable[..., None], key: str, node_id: str, label: str | None, shown: str | None
) -> None:
    """A next-step picker changed: ask the page to rewire that exit. A report of the step it shows
    already is the browser repeating an older page (a connection drawn on the canvas meanwhile), not
    a choice."""
    chosen = st.session_state.get(key)
    if chosen != shown:
        on_choose("set_exit", (node_id, label, chosen))


def next_steps(wf: Workflow, node: Node, prefix: str, on_choose: Callable[..., None]) -> None:
    """Each exit of the step ("Next step", "If approved", a case, "Otherwise") with a picker of the
    step it leads to, and "Add a step after it"; choices go to `on_choose(action, arg)`."""
    outs = exits(wf, node.id)
    nodes = wf.node_map()
    if outs:
        st.markdown("**Where it leads**")
    options: list[str | None] = [
        None,
        *[n.id for n in wf.nodes if n.id != node.id and not kind_of(n).starts_runs],
    ]
    for way in outs:
        # keyed by where it leads now: a connection drawn on the canvas makes a new picker, never a
        # stale one whose old value reads as a choice
        key = value_key(f"{prefix}:exit:{way.label}", way.target)
        st.selectbox(
            md_label(way.name),
            options,
            index=options.index(way.target) if way.target in options else 0,
            format_func=lambda i: "— nowhere yet —" if i is None else node_title(nodes[str(i)]),
            key=key,
            on_change=_chose_exit,
            args=(on_choose, key, node.id, way.label, way.target),
        )
    if outs:
        c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
        kinds = {k.label: k.type for k in PALETTE}
        label = c1.selectbox("Add a step after it", list(kinds), key=f"{prefix}:after_kind")
        c2.button(
            "Add after",
            key="designer_add_after",
            icon=":material/add:",
            on_click=on_choose,
            args=("add_after", (node.id, kinds[str(label)])),
            help="The new step goes on this step's way on (between it and its next step when it has one)",
        )


def connection_panel(wf: Workflow, edge_id: str, prefix: str, on_choose: Callable[..., None]) -> Workflow:
    """A selected connection: where it leads, its outcome or case, "Insert a step here" and "Delete
    connection". Returns the workflow with a changed outcome."""
    edge = next(e for e in wf.edges if e.id == edge_id)
    nodes = wf.node_map()
    source, target = nodes.get(edge.source), nodes.get(edge.target)
    ends = [f"‘{step_name(wf, n)}’" if n is not None else "a step that is gone" for n in (source, target)]
    st.markdown(f"**Connection** from {md_escape(ends[0])} to {md_escape(ends[1])}")
    labels = allowed_labels(wf, edge.source)
    if labels and source is not None:
        chosen = pick_one(
            kind_of(source).exit_word, list(labels), edge.label, f"{prefix}:{edge.id}:label", "Choose…",
            format_func=lambda label: kind_of(source).exit_name(source, label),
        )  # fmt: skip
        if chosen != edge.label:
            wf = set_edge_label(wf, edge.id, chosen)
    st.markdown("**Insert a step here**")
    with st.container(horizontal=True, gap="small"):
        insert_buttons(edge.id, on_choose)
    st.button(
        "Delete connection",
        key=f"designer_delete_edge_{edge.id}",
        icon=":material/delete:",
        on_click=on_choose,
        args=("delete_edge", edge.id),
        help="Undo brings it back",
    )
    st.caption("Esc clears the selection; Delete removes the connection.")
    return wf


def connections(
    wf: Workflow,
    node: Node,
    prefix: str,
    on_delete: Callable[[str], None],
    on_insert: Callable[..., None] | None = None,
) -> Workflow:
    """The node's connections: choose the outcome or case of each one leaving it, insert a step on
    one (`on_insert("insert", (edge_id, kind))`), delete any.

    Returns the workflow with changed labels; a delete button calls `on_delete(edge_id)`.
    """
    nodes = wf.node_map()
    outgoing = wf.outgoing(node.id)
    incoming = [e for e in wf.edges if e.target == node.id]
    st.markdown("**Connections**")
    if not outgoing and not incoming:
        st.caption("None yet: drag from a handle of this step to another step on the canvas.")
    labels = allowed_labels(wf, node.id)
    for e in outgoing:
        target = nodes.get(e.target)
        name = node_title(target) if target else e.target
        c1, c2, c3 = st.columns([5, 6, 2], vertical_alignment="center")
        c1.text(f"→ {name}")
        if labels:
            with c2:
                what = kind_of(node).exit_word
                chosen = pick_one(
                    f"{what} of the connection to {md_label(name)}",
                    list(labels), e.label, f"{prefix}:edge:{e.id}", "Choose…",
                    label_visibility="collapsed",
                    format_func=lambda label: kind_of(node).exit_name(node, label),
                )  # fmt: skip
            if chosen != e.label:
                wf = set_edge_label(wf, e.id, chosen)
        c3.button(
            "",
            icon=":material/delete:",
            key=f"designer_del_out_{e.id}",
            help=f"Delete the connection to {md_label(name)}",
            on_click=on_delete,
            args=(e.id,),
        )
        if on_insert is not None:
            with st.popover(f"Insert a step before {md_label(name)}", icon=":material/add_circle:"):
                insert_buttons(e.id, on_insert, width="stretch")
    for e in incoming:
        source = nodes.get(e.source)
        name = node_title(source) if source else e.source
        c1, c2 = st.columns([11, 2], vertical_alignment="center")
        suffix = f" ({edge_text(source, e.label)})" if e.label else ""
        c1.text(f"← from {name}{suffix}")
        c2.button(
            "",
            icon=":material/delete:",
            key=f"designer_del_in_{e.id}",
            help=f"Delete the connection from {md_label(name)}",
            on_click=on_delete,
            args=(e.id,),
        )
    return wf
