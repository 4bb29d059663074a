"""Who is signed in: the demo picker, or Streamlit's login (OIDC) mapped to the user directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from engine.services import Loopdesk
from tests.ui.conftest import shown
from ui.runtime import get_app

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
INBOX = str(ROOT / "pages" / "inbox.py")
AUTH: dict[str, Any] = {
    "auth": {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "not-a-real-secret-but-long-enough-for-tests",
        "client_id": "loopdesk",
        "client_secret": "secret",
        "server_metadata_url": "https://login.example.com/.well-known/openid-configuration",
    }
}


@pytest.fixture
def service(streamlit_app: None) -> Loopdesk:
    """The service the pages use, with one marketing run waiting for Jamie."""
    app = get_app()
    app.start_run("marketing-social-post", {"topic": "Identity check"}, "dana")
    return app


def run(path: str, secrets: dict[str, Any] | None = None, user: dict[str, Any] | None = None) -> AppTest:
    """Run a script once with optional secrets and a signed-in user."""
    at = AppTest.from_file(path, default_timeout=30)
    if secrets:
        at.secrets = secrets
    if user is not None:
        at.user = user
    at.run()
    assert not at.exception, at.exception
    return at


def test_demo_mode_has_a_signed_in_as_picker_of_directory_users(service: Loopdesk) -> None:
    at = run(APP)
    picker = at.sidebar.selectbox(key="loopdesk_user_picker")
    assert picker.label == "Signed in as"
    assert picker.options[:3] == [
        "Dana Kim · Designer (marketing ops)",
        "Jamie Rivera · Marketing reviewer",
        "Sam Okafor · Support lead",
    ]
    assert picker.value == "dana"  # the requester of the demo journey; switch to Jamie to review
    assert not any(b.label.startswith("Log in") for b in at.sidebar.button)
    picker.set_value("jamie").run()
    assert at.session_state["loopdesk_user"] == "jamie"


def test_the_signed_in_user_survives_the_pickers_state_being_dropped(service: Loopdesk) -> None:
    at = run(APP)
    at.sidebar.selectbox(key="loopdesk_user_picker").set_value("sam").run()
    assert at.session_state["loopdesk_user"] == "sam"
    fresh = AppTest.from_file(APP, default_timeout=30)  # a run where the picker has no state yet
    fresh.session_state["loopdesk_user"] = "sam"
    fresh.run()
    assert fresh.sidebar.selectbox(key="loopdesk_user_picker").value == "sam"


def test_demo_mode_page_follows_the_picker(service: Loopdesk) -> None:
    at = AppTest.from_file(INBOX, default_timeout=30)
    at.session_state["loopdesk_user"] = "jamie"
    at.run()
    assert at.tabs[0].label == "Pending (1)"
    at.session_state["loopdesk_user"] = "sam"
    at.run()
    assert at.tabs[0].label == "Pending (0)"


def test_with_login_configured_the_email_maps_to_the_directory_and_the_picker_is_gone(
    service: Loopdesk,
) -> None:
    at = run(
        APP,
        AUTH,
        {"is_logged_in": True, "email": "Jamie@Example.com", "name": "Jamie", "email_verified": True},
    )
    assert not at.sidebar.selectbox, "no 'Signed in as' picker when real login is configured"
    assert any("Signed in as **Jamie Rivera**" in c.value for c in at.sidebar.caption)
    assert [b.label for b in at.sidebar.button] == ["Log out"]

    inbox = run(INBOX, AUTH, {"is_logged_in": True, "email": "jamie@example.com", "email_verified": True})
    assert inbox.tabs[0].label == "Pending (1)"
    # A stale demo choice in session state changes nothing: the login decides who you are.
    at = AppTest.from_file(INBOX, default_timeout=30)
    at.secrets = AUTH
    at.user = {"is_logged_in": True, "email": "sam@example.com", "email_verified": True}
    at.session_state["loopdesk_user"] = "jamie"
    at.run()
    assert at.tabs[0].label == "Pending (0)"


def test_with_login_configured_strangers_and_logged_out_visitors_get_no_identity(service: Loopdesk) -> None:
    at = run(APP, AUTH, {"is_logged_in": False})
    assert [b.label for b in at.sidebar.button] == ["Log in"]
    inbox = run(INBOX, AUTH, {"is_logged_in": False})
    assert any("Log in" in i.value for i in inbox.info)
    assert not inbox.tabs

    stranger = run(INBOX, AUTH, {"is_logged_in": True, "email": "eve@evil.test", "email_verified": True})
    assert any(
        "eve@evil.test is not in the Loopdesk user directory" in shown(e.value) for e in stranger.error
    )
    assert not stranger.tabs


def test_named_providers_get_one_login_button_each(service: Loopdesk) -> None:
    secrets = {
        "auth": {
            "redirect_uri": "http://localhost:8501/oauth2callback",
            "cookie_secret": "not-a-real-secret-but-long-enough-for-tests",
            "google": {"client_id": "a", "client_secret": "b", "server_metadata_url": "https://g/"},
            "microsoft": {"client_id": "c", "client_secret": "d", "server_metadata_url": "https://m/"},
        }
    }
    at = run(APP, secrets, {"is_logged_in": False})
    assert [b.label for b in at.sidebar.button] == ["Log in with Google", "Log in with Microsoft"]


def test_an_unverified_email_gets_no_identity(service: Loopdesk) -> None:
    """Anyone can register `jamie@example.com` at some providers; only a verified address counts."""
    for claims in (
        {"is_logged_in": True, "email": "jamie@example.com"},
        {"is_logged_in": True, "email": "jamie@example.com", "email_verified": False},
    ):
        inbox = run(INBOX, AUTH, claims)
        assert not inbox.tabs
        assert any(
            "jamie@example.com is not verified by your identity provider" in shown(e.value)
            for e in inbox.error
        )
        at = run(APP, AUTH, claims)
        assert not any("Signed in as **Jamie Rivera**" in c.value for c in at.sidebar.caption)


def test_production_mode_never_falls_back_to_the_picker(
    service: Loopdesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPDESK_AUTH", "oidc")
    # Login not configured: nobody is anybody, and the page says what to set.
    at = AppTest.from_file(INBOX, default_timeout=30)
    at.session_state["loopdesk_user"] = "alex"  # a stale demo choice grants nothing
    at.run()
    assert not at.tabs
    assert any("LOOPDESK_AUTH=oidc, but there is no [auth] section" in shown(e.value) for e in at.error)
    shell = run(APP)
    assert not shell.sidebar.selectbox
    assert any("LOOPDESK_AUTH=oidc" in shown(e.value) for e in shell.sidebar.error)
    # Configured: a verified login decides, as before.
    inbox = run(INBOX, AUTH, {"is_logged_in": True, "email": "jamie@example.com", "email_verified": True})
    assert inbox.tabs[0].label == "Pending (1)"
    assert [b.label for b in run(APP, AUTH, {"is_logged_in": False}).sidebar.button] == ["Log in"]


def test_demo_mode_says_it_is_not_a_login(service: Loopdesk) -> None:
    at = run(APP)
    assert any("Demo mode: anyone can act as anyone" in c.value for c in at.sidebar.caption)


def _guarded_script() -> None:
    import streamlit as st

    from ui.runtime import DRAWN_FOR_KEY, PICKER_KEY, rerun_app_if_identity_changed

    st.session_state["runs"] = st.session_state.get("runs", 0) + 1
    rerun_app_if_identity_changed()
    st.session_state[DRAWN_FOR_KEY] = st.session_state.get(PICKER_KEY)  # as the shell's full run does


@pytest.mark.parametrize(("drawn_for", "runs"), [("dana", 2), ("jamie", 1)])
def test_a_canvas_rerun_that_carried_a_new_identity_reruns_the_whole_app(drawn_for: str, runs: int) -> None:
    """(`drawn_for`: what the picker held when the app last ran in full.)"""
    """A "Signed in as" choice sent in one batch with a canvas's reply reruns only the canvas; the
    canvas then reruns the whole app, so the choice is never silently dropped."""
    at = AppTest.from_function(_guarded_script)
    at.session_state["loopdesk_user_picker"] = "jamie"
    at.session_state["loopdesk_drawn_for"] = drawn_for
    at.run()
    assert not at.exception and at.session_state["runs"] == runs
