"""The review loop reaches the reviewer in the app: a live waiting count in the sidebar, a toast
when a new item arrives, and a link to the item from Start a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

from engine.decisions import Approve
from engine.services import Loopdesk
from tests.ui.conftest import shown
from ui.inbox_state import SEEN_KEY
from ui.live import FINISHED_SEEN_KEY

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")


def shell(user: str, seen: Any = None) -> AppTest:
    """One view of the app as `user`; `seen` carries what the session had already seen."""
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["loopdesk_user"] = user
    if seen is not None:
        at.session_state[SEEN_KEY] = seen
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_new_item_is_announced_and_counted_without_opening_the_inbox(service: Loopdesk) -> None:
    at = shell("jamie")
    assert any("Nothing waiting for you" in c.value for c in at.sidebar.caption)
    assert not at.toast

    service.start_run("marketing-social-post", {"topic": "Fresh draft"}, "dana")
    at = shell("jamie", seen=at.session_state[SEEN_KEY])  # the sidebar fragment's next refresh
    assert [t.value for t in at.toast] == ["New in your Inbox: Fresh draft"]
    assert any(link.proto.label == "1 waiting for you" for link in at.sidebar.get("page_link"))

    at = shell("jamie", seen=at.session_state[SEEN_KEY])  # announced once, not on every refresh
    assert not at.toast
    assert any(link.proto.label == "1 waiting for you" for link in at.sidebar.get("page_link"))


def test_the_first_look_does_not_toast_what_was_already_waiting(service: Loopdesk) -> None:
    service.start_run("marketing-social-post", {"topic": "Old news"}, "dana")
    at = shell("jamie")
    assert not at.toast
    assert any(link.proto.label == "1 waiting for you" for link in at.sidebar.get("page_link"))


def test_the_person_who_asked_sees_how_their_run_ended_in_the_sidebar(service: Loopdesk) -> None:
    at = shell("dana")
    assert not [link for link in at.sidebar.get("page_link") if "is done" in link.proto.label]
    seen = at.session_state[FINISHED_SEEN_KEY]
    run = service.start_run("marketing-social-post", {"topic": "Spring sale"}, "dana")
    service.decide(service.inbox("jamie")[0].id, "jamie", Approve())
    at = AppTest.from_file(APP, default_timeout=30)  # the sidebar's next refresh, in the same session
    at.session_state["loopdesk_user"] = "dana"
    at.session_state[FINISHED_SEEN_KEY] = seen
    at.run()
    assert not at.exception, at.exception
    links = [link for link in at.sidebar.get("page_link") if "is done" in link.proto.label]
    assert [shown(link.proto.label) for link in links] == ["“Spring sale” is done: Published"]
    assert links[0].proto.query_string == f"run={run.id}"
    assert [t.value for t in at.toast] == ["Your request “Spring sale” is done"]
