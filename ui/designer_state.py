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

from engine.model import Workflow

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
