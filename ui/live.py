"""Live updates: the Inbox list and the sidebar's waiting count refresh by themselves, and a toast
says when a new item arrives (Streamlit fragments that rerun every few seconds)."""

from __future__ import annotations

import os

import streamlit as st

from engine.services import Loopdesk
from ui import inbox_state
from ui.timeline import link_to


def live_seconds() -> float:
    """How often live parts refresh: `LOOPDESK_LIVE_SECONDS`, default 5."""
    try:
        return max(1.0, float(os.environ.get("LOOPDESK_LIVE_SECONDS", "5")))
    except ValueError:
        return 5.0


@st.fragment(run_every=live_seconds())
def waiting_badge(app: Loopdesk, user: str) -> None:
    """The sidebar's live count of items waiting for the user (the same read as every other count)."""
    count = inbox_state.live(app, user).count
    if count:
        link_to("pages/inbox.py", f"{count} waiting for you", icon=":material/notifications_active:")
    else:
        st.caption(":material/inbox: Nothing waiting for you")
