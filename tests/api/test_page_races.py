"""The guard against a fragment rerun from a page the person has left (it blanked the new page).

Seen in the browser tier under load: a canvas on the Home page replied just after a click on "Inbox";
Streamlit ran that reply after drawing the Inbox, announced it as the Home page, and the browser
cleared the Inbox and then crashed on the next live refresh. These tests drive the guard on a
Streamlit session class whose own rerun and event handlers only record what reaches them.
"""

from __future__ import annotations

from typing import Any

from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.runtime.app_session import AppSession
from streamlit.runtime.scriptrunner import ScriptRunnerEvent

from server.page_races import guard_page_changes

HOME, INBOX, RUNS = "home-page-hash", "inbox-page-hash", "runs-page-hash"


class RecordingSession(AppSession):
    """An AppSession that records the reruns it is asked for instead of running a script."""

    def __init__(self) -> None:  # no Streamlit runtime behind it: nothing of the base to set up
        self.reruns: list[tuple[str, str]] = []

    def request_rerun(self, client_state: ClientState | None) -> None:
        """Record which page and fragment the rerun was for."""
        assert client_state is not None
        self.reruns.append((client_state.page_script_hash, client_state.fragment_id))

    def _handle_scriptrunner_event_on_event_loop(self, *args: Any, **kwargs: Any) -> None:
        """Take the event (nothing to send)."""

    def __del__(self) -> None:
        """Nothing to shut down."""


guard_page_changes(RecordingSession)


def ask(session: RecordingSession, page: str, fragment: str = "") -> None:
    """The browser asks for a rerun of `page` (of one fragment on it, or the whole page)."""
    session.request_rerun(ClientState(page_script_hash=page, fragment_id=fragment))


def started(session: RecordingSession, page: str, fragments: list[str]) -> None:
    """The script runner says a run started (positional, as Streamlit calls it)."""
    session._handle_scriptrunner_event_on_event_loop(
        None, ScriptRunnerEvent.SCRIPT_STARTED, None, None, None, page, fragments, None, None
    )


def test_a_reply_from_the_page_just_left_is_dropped_and_the_new_pages_own_go_through() -> None:
    session = RecordingSession()
    ask(session, HOME)
    ask(session, HOME, "canvas")  # the Home page's canvas replies: still on Home
    ask(session, INBOX)  # the person clicks "Inbox"
    ask(session, HOME, "canvas")  # the canvas's late reply, sent after the click
    ask(session, INBOX, "live-list")  # the Inbox's own live refresh
    assert session.reruns == [(HOME, ""), (HOME, "canvas"), (INBOX, ""), (INBOX, "live-list")]


def test_a_page_the_script_switched_to_is_the_page_now() -> None:
    session = RecordingSession()
    ask(session, HOME)
    started(session, RUNS, [])  # st.switch_page: the server ran another page
    ask(session, RUNS, "board")
    ask(session, HOME, "canvas")
    started(session, HOME, ["canvas"])  # a fragment run does not change the page
    ask(session, RUNS, "board")
    assert session.reruns == [(HOME, ""), (RUNS, "board"), (RUNS, "board")]


def test_a_first_visit_without_a_page_id_drops_nothing() -> None:
    session = RecordingSession()
    ask(session, "")  # the first load names no page: the server picks it from the address
    ask(session, HOME, "canvas")
    assert session.reruns == [("", ""), (HOME, "canvas")]


def test_streamlits_own_sessions_are_guarded_once() -> None:
    guard_page_changes()
    guarded = AppSession.request_rerun
    guard_page_changes()
    assert AppSession.request_rerun is guarded
    assert getattr(guarded, "_loopdesk_page_guard", False)
