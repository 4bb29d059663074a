"""The guard against a fragment rerun from a page the person has left (it blanked the new page).

Seen in the browser tier under load: a canvas on the Home page replied just after a click on "Inbox";
Streamlit ran that reply after drawing the Inbox, announced it as the Home page, and the browser
cleared the Inbox and then crashed on the next live refresh. These tests drive the guard on a
Streamlit session class whose own rerun and event handlers only record what reaches them.
"""

from __future__ import annotations

from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.runtime.app_session import AppSession

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

    def _enqueue_forward_msg(self, msg: ForwardMsg) -> None:
        """Take the message (nothing to send)."""

    def __del__(self) -> None:
        """Nothing to shut down."""


guard_page_changes(RecordingSession)


def ask(session: RecordingSession, page: str, fragment: str = "") -> None:
    """The browser asks for a rerun of `page` (of one fragment on it, or the whole page)."""
    session.request_rerun(ClientState(page_script_hash=page, fragment_id=fragment))


def shown(session: RecordingSession, page: str) -> None:
    """A full run tells the browser which page it is on (every run of an `st.navigation` app does)."""
    msg = ForwardMsg()
    msg.navigation.page_script_hash = page
    session._enqueue_forward_msg(msg)
    other = ForwardMsg()
    other.new_session.page_script_hash = "main-script-hash"  # a run starts as the main script's
    session._enqueue_forward_msg(other)


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
    shown(session, RUNS)  # st.switch_page: the server ran another page
    ask(session, RUNS, "board")
    ask(session, HOME, "canvas")
    ask(session, RUNS, "board")
    assert session.reruns == [(HOME, ""), (RUNS, "board"), (RUNS, "board")]


def test_a_first_visit_takes_the_page_the_server_shows() -> None:
    """The first load names no page (the server picks it from the address); the canvas on the page
    it shows must be heard. (The guard once took the page a run starts with, the main script's, and
    dropped every canvas reply after a first visit.)"""
    session = RecordingSession()
    ask(session, "")
    ask(session, HOME, "canvas")  # before the server said anything: nothing to compare with
    shown(session, HOME)
    ask(session, HOME, "canvas")
    ask(session, HOME, "live-badge")
    assert session.reruns == [("", ""), (HOME, "canvas"), (HOME, "canvas"), (HOME, "live-badge")]


def test_streamlits_own_sessions_are_guarded_once() -> None:
    guard_page_changes()
    guarded = AppSession.request_rerun
    guard_page_changes()
    assert AppSession.request_rerun is guarded
    assert getattr(guarded, "_loopdesk_page_guard", False)
