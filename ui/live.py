"""Live updates: the Inbox list and the sidebar's waiting count refresh by themselves, and a toast
says when a new item arrives (Streamlit fragments that rerun every few seconds)."""

from __future__ import annotations

import os

import streamlit as st

from engine.errors import EngineError
from engine.services import Loopdesk
from ui.format import md_escape
from ui.timeline import link_to

SEEN_KEY = "live_seen_checkpoints"


def live_seconds() -> float:
    """How often live parts refresh: `LOOPDESK_LIVE_SECONDS`, default 5."""
    try:
        return max(1.0, float(os.environ.get("LOOPDESK_LIVE_SECONDS", "5")))
    except ValueError:
        return 5.0


NEWEST = 20
"""How many of the newest items are compared with the last look (older ones were seen before)."""


def announce_new(app: Loopdesk, user: str) -> int:
    """Toast each item that reached the user's inbox since the last look; return how many wait."""
    try:
        count = app.inbox_count(user)
        items = app.inbox(user, limit=NEWEST, newest_first=True) if count else []
    except EngineError:  # the database cannot be read now; the page's banner says why
        return 0
    ids = {cp.id for cp in items}
    seen: set[str] | None = st.session_state.get(SEEN_KEY)
    if seen is not None:
        for cp in [c for c in items if c.id not in seen][:3]:
            st.toast(f"New in your Inbox: {md_escape(cp.title)}", icon=":material/inbox:")
    # remember what was seen, so that an older item moving up into the newest ones is not "new"
    merged = ids if seen is None else seen | ids
    st.session_state[SEEN_KEY] = merged if len(merged) <= 1000 else ids
    return count


@st.fragment(run_every=live_seconds())
def waiting_badge(app: Loopdesk, user: str) -> None:
    """The sidebar's live count of items waiting for the user."""
    count = announce_new(app, user)
    if count:
        link_to("pages/inbox.py", f"{count} waiting for you", icon=":material/notifications_active:")
    else:
        st.caption(":material/inbox: Nothing waiting for you")
