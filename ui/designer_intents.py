"""What a Designer button asked for: recorded in its callback (kept even when a canvas reply
interrupts the run), acted on by the page after the inspector has stored any text typed just before.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from ui.runtime import want_app_rerun

INTENT_KEY = "designer_intent"
PICK_KEY = "designer_pick"
PICK_PENDING = "designer_pick_pending"
INSPECT_PENDING = "designer_inspect_pending"
CLICK_PENDING = "designer_canvas_click"


def intend(action: str, arg: Any = None, close: str | None = None) -> None:
    """Record a button's action for this run (and close the popover it sits in)."""
    st.session_state[INTENT_KEY] = (action, arg)
    want_app_rerun()
    if close:
        st.session_state[close] = False


def value_key(base: str, value: object) -> str:
    """The key of a widget whose value the page sets (the workflow picker, the selected step): a new
    key for each value the page sets, so the browser's copy of the widget is replaced. The browser may
    still report the old widget's value in a rerun it asked for before the page's change arrived, and
    Streamlit takes that as a choice (a dropped step lost its selection on a busy machine): `remember`
    with `shown` lets it pass."""
    return f"{base}:{value}"


def remember(widget_key: str, pending_key: str, shown: object = None) -> None:
    """Record a choice made in a selectbox for this run. With `shown` (the value the page set under
    this `value_key`), a report of that same value is the browser repeating an older page, not a
    choice: Streamlit still calls this for a widget the page has replaced, on a busy machine."""
    value = st.session_state[widget_key]
    if shown is not None and value == shown:
        return
    st.session_state[pending_key] = value


def take() -> tuple[str | None, Any]:
    """The action asked for in this run and its argument (once), or (None, None)."""
    intent = st.session_state.pop(INTENT_KEY, None)
    return intent if intent is not None else (None, None)


def waiting() -> bool:
    """Whether an action is already recorded for this run."""
    return INTENT_KEY in st.session_state
