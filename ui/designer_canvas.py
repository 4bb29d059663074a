"""The Designer's canvas as a fragment: the browser's answer to a state it was just sent reruns only
the canvas, not the whole page.

The canvas component answers every state it is sent (a new step, an Undo, a selection shown) with
that same state. Handled by the whole page, each answer cost a second full rerun per click; it
changes nothing, so the fragment takes it alone. Any answer that does change something (a step
moved, a connection drawn, a step clicked) reruns the whole page, whose first step takes it.
"""

from __future__ import annotations

import streamlit as st

from engine.kinds import AssigneeLabel
from ui import designer_state as ds
from ui.canvas import draw_editable, take_browser_reply
from ui.canvas_reply import apply_browser_state
from ui.runtime import rerun_app_if_identity_changed

RUN_KEY = "designer_full_run"
"""Counts the Designer page's full runs: a canvas drawn again within the same count is a fragment rerun."""


def mark_full_run() -> None:
    """Called at the top of every full run of the Designer page."""
    st.session_state[RUN_KEY] = int(st.session_state.get(RUN_KEY, 0)) + 1


def only_echo(workflow_id: str, selected_id: str | None) -> bool:
    """Whether the canvas's latest answer changes nothing the page shows: no position, no
    connection, no other selection, nothing to draw again."""
    wf = ds.get_wc(workflow_id)
    raw = st.session_state.get(ds.canvas_key(workflow_id))
    if wf is None or not isinstance(raw, dict):
        return True
    after, clicked, redraw = apply_browser_state(wf, raw)
    return not redraw and clicked in (None, selected_id) and after == wf


@st.fragment
def designer_canvas(
    workflow_id: str,
    *,
    broken_nodes: set[str],
    broken_edges: set[str],
    selected_id: str | None,
    push: bool,
    height: int,
    assignee_label: AssigneeLabel | None = None,
    highlight: str | None = None,
) -> None:
    """Draw the working copy's canvas (see `ui.canvas.draw_editable`); on a rerun of the canvas
    alone, an echo is taken here and anything else hands over to the whole page."""
    rerun_app_if_identity_changed()
    key = ds.canvas_key(workflow_id)
    drawn_in = f"_designer_canvas_run:{workflow_id}"
    alone = st.session_state.get(drawn_in) == st.session_state.get(RUN_KEY)
    st.session_state[drawn_in] = st.session_state.get(RUN_KEY)
    if alone:
        if not only_echo(workflow_id, selected_id):
            st.rerun()  # the whole page takes the answer first thing
        take_browser_reply(key)  # an echo: seen, nothing to change
        push = False  # the arguments are those of the last full run: its push is done
    wf = ds.get_wc(workflow_id)
    if wf is None:
        return
    draw_editable(
        wf,
        key,
        broken_nodes=broken_nodes,
        broken_edges=broken_edges,
        selected_id=selected_id,
        push=push,
        height=height,
        assignee_label=assignee_label,
        highlight=highlight,
    )
