"""The pages' access to the process's Loopdesk service, and who the current user is."""

from __future__ import annotations

import os
from collections.abc import Mapping

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from engine.errors import EngineError, StoreDamagedError
from engine.services import Loopdesk
from server.process import close_shared, current_app, set_secrets_source, shared_app
from server.secrets import read_secrets
from ui.format import code_span, md_escape, md_message

USER_KEY = "loopdesk_user"
PICKER_KEY = "loopdesk_user_picker"
# Demo mode keeps the picked person in a browser cookie, so a reload does not sign them out.
DEMO_COOKIE = "loopdesk_demo_user"
_shell_checked = False


def get_app() -> Loopdesk:
    """The process-wide service for the configured database (`LOOPDESK_DB`); pages call this.

    When it cannot start (the file is locked, damaged or read-only), the page says why and
    stops; the next page load tries again, so the app heals once the cause is gone.
    """
    _ensure_app_shell()
    return shell_app()


def shell_app() -> Loopdesk:
    """The same service for app.py, which sets up the navigation itself."""
    set_secrets_source(read_secrets)
    try:
        if current_app() is None:
            with st.spinner("Starting Loopdesk…"):
                return shared_app()
        return shared_app()
    except StoreDamagedError as exc:
        st.error(
            f"**The database is damaged.** Loopdesk cannot read its database file {code_span(exc.path)} "
            f"({md_escape(exc.reason)}) and does nothing more with it.\n\n"
            "To go on: stop Loopdesk, restore that file from a backup and start Loopdesk again; or move "
            "the damaged file aside to start with an empty database. Reload this page once it is replaced.",
            icon=":material/database:",
        )
        st.stop()
    except EngineError as exc:
        st.error(
            f"Loopdesk cannot start: {md_message(str(exc))}. Reload the page to try again.",
            icon=":material/database:",
        )
        st.stop()


def _ensure_app_shell() -> None:
    """Make a deep link on a fresh server run through app.py's navigation.

    Until some session has called `st.navigation`, Streamlit treats `pages/` as an
    old-style page folder and runs a linked page alone (no sidebar, no identity).
    Turning that mode off and rerunning makes the same URL go through app.py.
    """
    global _shell_checked
    if _shell_checked:
        return
    _shell_checked = True  # once per process: after this, st.navigation keeps the mode off
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()


def show_health(app: Loopdesk) -> None:
    """One clear message while the database cannot be used (it goes away by itself)."""
    problem = app.health()
    if problem:
        st.error(f"{md_message(problem)}.", icon=":material/database:")


def reset_app() -> None:
    """Close the open service and forget it (tests; a fresh start)."""
    close_shared()


AUTH_MODES = ("demo", "oidc")


def auth_mode() -> str:
    """`oidc` (real login only) or `demo` (the "Signed in as" picker), from `LOOPDESK_AUTH`.

    Unset: `oidc` when `[auth]` is configured in secrets, else `demo`. `LOOPDESK_AUTH=oidc` turns
    the picker off for good, even if the login settings are missing.
    """
    mode = os.environ.get("LOOPDESK_AUTH", "").strip().lower()
    if mode in AUTH_MODES:
        return mode
    return "oidc" if oidc_configured() else "demo"


def auth_problem() -> str | None:
    """Why nobody can sign in (a setting is wrong), or None."""
    raw = os.environ.get("LOOPDESK_AUTH", "").strip().lower()
    if raw and raw not in AUTH_MODES:
        return f"LOOPDESK_AUTH is '{raw}'; use 'oidc' for real login or 'demo' for the demo picker"
    if auth_mode() == "oidc" and not oidc_configured():
        return (
            "LOOPDESK_AUTH=oidc, but there is no [auth] section in .streamlit/secrets.toml, so nobody "
            "can log in; add your identity provider's settings there"
        )
    return None


def oidc_configured() -> bool:
    """Whether Streamlit's built-in login (st.login, OIDC) is configured in secrets (`[auth]`)."""
    return bool(read_secrets().get("auth"))


def login_providers() -> list[str | None]:
    """Providers to offer on the login screen: None for a plain `[auth]`, else `[auth.<name>]` names."""
    auth = read_secrets().get("auth") or {}
    named: list[str | None] = [str(k) for k, v in auth.items() if isinstance(v, Mapping)]
    return [None, *named] if "client_id" in auth or not named else named


def signed_in_email() -> str:
    """The email of the user logged in through OIDC ("" when nobody is)."""
    if not st.user.get("is_logged_in", False):
        return ""
    return str(st.user.get("email") or "")


def email_verified() -> bool:
    """Whether the identity provider vouches for the signed-in email (`email_verified` claim)."""
    return st.user.get("email_verified") is True or str(st.user.get("email_verified")).lower() == "true"


def sign_in_problem(app: Loopdesk) -> str | None:
    """Why the person logged in through OIDC has no Loopdesk identity, or None."""
    email = signed_in_email()
    if not email:
        return None
    if not email_verified():
        return (
            f"{email} is not verified by your identity provider, so Loopdesk cannot trust it; "
            "verify the address there and log in again"
        )
    if app.directory.by_email(email) is None:
        return f"{email} is not in the Loopdesk user directory; ask an admin to add you"
    return None


def remember_picked_user() -> None:
    """Copy the demo picker's choice into the session's signed-in user."""
    st.session_state[USER_KEY] = st.session_state[PICKER_KEY]


DRAWN_FOR_KEY = "loopdesk_drawn_for"
"""What the "Signed in as" picker held when the whole app last ran (its choice as drawn)."""
RERAN_FOR_KEY = "loopdesk_reran_for"
"""The picker choice a fragment last reran the whole app for (never twice for one choice)."""


APP_RERUN_KEY = "loopdesk_app_rerun_wanted"
"""A button's callback changed what the whole page shows (set until the next full run)."""


def want_app_rerun() -> None:
    """Called in a button's callback that changes the page: if Streamlit batches the click with a
    canvas's reply and reruns only the canvas fragment, the fragment reruns the whole app."""
    st.session_state[APP_RERUN_KEY] = True


def note_picker_drawn() -> None:
    """Remember the picker's choice as this full run of the app drew it (and that the page is drawn
    for every click made so far)."""
    st.session_state[DRAWN_FOR_KEY] = st.session_state.get(PICKER_KEY)
    st.session_state.pop(APP_RERUN_KEY, None)


def rerun_app_if_identity_changed() -> None:
    """Call first in a fragment that a component's reply reruns. Streamlit sends widget changes made in
    the same instant as one batch, tagged with the first fragment among them: a "Signed in as" choice
    made while a canvas reports its first layout then reruns only the canvas, so the choice would not
    take effect (and choosing the same person again sends nothing). This reruns the whole app instead,
    once per choice: the full run notes the choice it drew. The same for a button whose callback
    asked for it (`want_app_rerun`)."""
    if st.session_state.pop(APP_RERUN_KEY, False):
        st.rerun(scope="app")  # a click batched with this fragment's reply changed the page
    if DRAWN_FOR_KEY not in st.session_state:
        return  # no full run of the app has drawn the picker in this session
    picked = st.session_state.get(PICKER_KEY)
    if picked != st.session_state[DRAWN_FOR_KEY] and picked != st.session_state.get(RERAN_FOR_KEY):
        st.session_state[RERAN_FOR_KEY] = picked
        st.rerun(scope="app")


def current_user(app: Loopdesk) -> str:
    """The signed-in user's name in the directory ("" when nobody is); demo mode: the picker's choice."""
    if auth_mode() == "oidc":
        email = signed_in_email()
        if not email or sign_in_problem(app) is not None:
            return ""
        user = app.directory.by_email(email)
        return user.name if user else ""
    name = st.session_state.get(USER_KEY)
    if name not in app.directory.users:
        # after a reload: the person picked before (kept in a cookie); on a first visit the first
        # user of the directory (a designer in the demo config) starts as requester
        name = remembered_demo_user()
        if name not in app.directory.users:
            name = next(iter(app.directory.users))
        st.session_state[USER_KEY] = name
    return str(name)


def remembered_demo_user() -> str | None:
    """The person this browser picked last in demo mode (from its cookie), if any."""
    try:
        return st.context.cookies.get(DEMO_COOKIE)
    except (AttributeError, RuntimeError):  # no browser request behind this run (AppTest)
        return None


def require_user(app: Loopdesk, doing: str) -> str:
    """The current user, or stop the page with a message saying how to sign in."""
    user = current_user(app)
    if user:
        return user
    problem = auth_problem() or (sign_in_problem(app) if auth_mode() == "oidc" else None)
    if problem:
        st.error(f"{md_message(problem)}.", icon=":material/person_off:")
    else:
        st.info(f"Log in (in the sidebar) to {doing}.", icon=":material/login:")
    st.stop()


def show_error(exc: EngineError) -> None:
    """Show an engine error's message to the user (no traceback: it's their input)."""
    st.error(md_message(str(exc)), icon=":material/error:")
