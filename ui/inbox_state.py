"""One read of a person's Inbox per run of the app: the sidebar's link and badge, the Inbox's tab, its
list and its "nothing waiting" line are drawn from the same `InboxState`, so they always agree.

The shell reads it at the top of every full run (`refresh`); the page and the sidebar draw from that
read (`current`). The live parts (the sidebar badge, the Inbox list) look again every few seconds when
they rerun alone; when what waits has changed, they rerun the whole app rather than draw a number of
their own, so a count on one part of the screen never contradicts another.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from engine.errors import EngineError
from engine.services import InboxState, Loopdesk
from ui.format import md_escape

STATE_KEY = "inbox_state_drawn"
"""(user, the InboxState the page on screen was drawn from)."""
BY_SHELL_KEY = "inbox_state_by_shell"
"""Set once the app's shell reads the state at the top of every full run (pages then reuse it)."""
SEEN_KEY = "live_seen_checkpoints"
EMPTY = InboxState(0, ())


def read(app: Loopdesk, user: str) -> InboxState:
    """The user's Inbox now (empty while the database cannot be read; the page's banner says why)."""
    if not user:
        return EMPTY
    try:
        return app.inbox_state(user)
    except EngineError:
        return EMPTY


def refresh(app: Loopdesk, user: str, by_shell: bool = False) -> InboxState:
    """Read the state this full run draws from (toasting items new since the last look)."""
    state = read(app, user)
    st.session_state[STATE_KEY] = (user, state)
    if by_shell:
        st.session_state[BY_SHELL_KEY] = True
    announce_new(state)
    return state


def current(app: Loopdesk, user: str) -> InboxState:
    """The state this full run draws from: the shell's read, or (a page running on its own) a new one."""
    kept = st.session_state.get(STATE_KEY)
    if st.session_state.get(BY_SHELL_KEY) and isinstance(kept, tuple) and kept[0] == user:
        state: InboxState = kept[1]
        return state
    return refresh(app, user)


def live(app: Loopdesk, user: str) -> InboxState:
    """The state a live fragment draws: in a full run, the run's one read; when the fragment reruns
    alone, a fresh look, which reruns the whole app when the Inbox changed since the page was drawn."""
    if not _fragment_rerun():
        return current(app, user)
    kept = st.session_state.get(STATE_KEY)
    fresh = read(app, user)
    if isinstance(kept, tuple) and kept[0] == user and kept[1] != fresh:
        st.rerun(scope="app")
    return fresh


def announce_new(state: InboxState) -> None:
    """Toast (at most three) items newer than what this session saw before."""
    seen: set[str] | None = st.session_state.get(SEEN_KEY)
    if seen is not None:
        for _, title in [item for item in state.newest if item[0] not in seen][:3]:
            st.toast(f"New in your Inbox: {md_escape(title)}", icon=":material/inbox:")
    ids = {cp_id for cp_id, _ in state.newest}
    merged = ids if seen is None else seen | ids  # an older item moving up into the newest is not new
    st.session_state[SEEN_KEY] = merged if len(merged) <= 1000 else ids


def _fragment_rerun() -> bool:
    """Whether this run reruns fragments alone (a live part's timer), not the whole app."""
    ctx = get_script_run_ctx()
    return bool(getattr(ctx, "fragment_ids_this_run", None))
