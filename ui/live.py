"""Live updates: the Inbox list and the sidebar's waiting count refresh by themselves, and a toast
says when a new item arrives (Streamlit fragments that rerun every few seconds)."""

from __future__ import annotations

import os

import streamlit as st

from engine.errors import EngineError
from engine.records import RunFilter, now
from engine.services import Loopdesk
from ui import inbox_state
from ui.format import md_escape
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


FINISHED_SEEN_KEY = "live_seen_finished_runs"
RECENT_SECONDS = 24 * 3600.0
OUTCOME_LOOK: dict[str, tuple[str, str]] = {
    "completed": (":material/check_circle:", "is done"),
    "rejected": (":material/cancel:", "was rejected"),
    "failed": (":material/error:", "failed"),
}


@st.fragment(run_every=live_seconds())
def my_requests(app: Loopdesk, user: str) -> None:
    """How the runs the user started lately ended (done, rejected, failed), each a link to its run; a
    toast when one ends while the app is open."""
    try:
        mine = app.list_runs(user, limit=20, where=RunFilter(started_by=user, since=now() - RECENT_SECONDS))
    except EngineError:  # the database cannot be read now; the page's banner says why
        return
    ended = [r for r in mine if r.status in OUTCOME_LOOK][:3]
    seen: set[str] | None = st.session_state.get(FINISHED_SEEN_KEY)
    for run in ended:
        if seen is not None and run.id not in seen:
            icon, word = OUTCOME_LOOK[run.status]
            st.toast(f"Your request “{md_escape(run.title)}” {word}", icon=icon)
    st.session_state[FINISHED_SEEN_KEY] = (seen or set()) | {r.id for r in ended}
    if not ended:
        return
    st.caption("Your requests")
    for run in ended:
        icon, word = OUTCOME_LOOK[run.status]
        outcome = f": {run.outcome}" if run.status == "completed" and run.outcome else ""
        link_to("pages/runs.py", f"“{run.title}” {word}{outcome}", {"run": run.id}, icon=icon)
