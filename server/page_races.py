"""A guard against a Streamlit race that blanks the page a person just navigated to.

A canvas (or any component in a fragment) can send its reply a moment after the person clicked a
link to another page. Streamlit queues that fragment rerun behind the navigation and runs it after
the new page has been drawn, announcing it with the *old* page's id. The browser takes that as a
page change and clears the new page; the next live refresh then writes into the emptied page and the
browser's renderer stops with "Bad delta path index", leaving a blank page (Streamlit 1.67).

The guard drops a fragment rerun that names a page other than the one the session is on now: its
fragment belonged to a page the person has left, so nothing it would draw can be shown anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.runtime.app_session import AppSession

_LOG = logging.getLogger(__name__)
PAGE_ATTR = "_loopdesk_page_now"
"""Where a session keeps the id of the page it is on now."""
_GUARDED = "_loopdesk_page_guard"


def from_a_page_left_behind(session: object, page: str, fragment_id: str) -> bool:
    """Whether a rerun request is a fragment's from a page other than the session's page now."""
    now = getattr(session, PAGE_ATTR, "")
    return bool(fragment_id and page and now and page != now)


def note_page(session: object, page: str) -> None:
    """Remember the page the session is on now."""
    if page:
        setattr(session, PAGE_ATTR, page)


def guard_page_changes(sessions: type[AppSession] = AppSession) -> None:
    """Install the guard on Streamlit's sessions (once per process; safe to call again).

    The page a session is on is the one a full rerun asks for (a click on a page link) or the one the
    server tells the browser it is on (the `navigation` message every full run sends, which also
    covers a first visit and `st.switch_page`). The page a run *starts* with is not used: with
    `st.navigation` it is the main script's until the navigation has chosen the page.
    """
    if getattr(sessions.request_rerun, _GUARDED, False):
        return
    request_rerun = sessions.request_rerun
    enqueue = sessions._enqueue_forward_msg

    def guarded_request_rerun(self: AppSession, client_state: Any) -> None:
        if client_state is not None:
            page, fragment_id = client_state.page_script_hash, client_state.fragment_id
            if from_a_page_left_behind(self, page, fragment_id):
                _LOG.info("Dropped a rerun of fragment %s from a page the session has left", fragment_id)
                return
            if not fragment_id:
                note_page(self, page)
        request_rerun(self, client_state)

    def noting_enqueue(self: AppSession, msg: ForwardMsg) -> None:
        if msg.WhichOneof("type") == "navigation":
            note_page(self, msg.navigation.page_script_hash)
        enqueue(self, msg)

    _mark(guarded_request_rerun)
    sessions.request_rerun = guarded_request_rerun  # type: ignore[method-assign]
    sessions._enqueue_forward_msg = noting_enqueue  # type: ignore[method-assign]


def _mark(function: Callable[..., None]) -> None:
    setattr(function, _GUARDED, True)
