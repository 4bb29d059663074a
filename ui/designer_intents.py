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


def remember(widget_key: str, pending_key: str) -> None:
    """Record a choice made in a selectbox for this run."""
    st.session_state[pending_key] = st.session_state[widget_key]


def take() -> tuple[str | None, Any]:
    """The action asked for in this run and its argument (once), or (None, None)."""
    intent = st.session_state.pop(INTENT_KEY, None)
    return intent if intent is not None else (None, None)


def waiting() -> bool:
    """Whether an action is already recorded for this run."""
    return INTENT_KEY in st.session_state
