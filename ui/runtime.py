"""The one Loopdesk service per app process, and who the current user is."""

from __future__ import annotations

import logging
from typing import Any

import streamlit as st

from engine.errors import EngineError
from engine.services import Loopdesk
from engine.store.duckdb import default_db_path

log = logging.getLogger("loopdesk.ui")
USER_KEY = "loopdesk_user"


def _secrets() -> dict[str, Any]:
    """Streamlit secrets as a plain dict (empty when there is no secrets file)."""
    try:
        return {k: st.secrets[k] for k in st.secrets}
    except (FileNotFoundError, KeyError, st.errors.StreamlitSecretNotFoundError):
        return {}


def get_app() -> Loopdesk:
    """The process-wide service for the configured database (`LOOPDESK_DB`)."""
    return _open_app(default_db_path())


def _release(app: Loopdesk) -> None:
    app.close()


@st.cache_resource(show_spinner="Starting Loopdesk…", on_release=_release)
def _open_app(db_path: str) -> Loopdesk:
    """Open the database once per process, install templates, resume interrupted runs."""
    app = Loopdesk.open(db_path, secrets=_secrets())
    installed = app.install_templates()
    if installed:
        log.info("installed templates: %s", ", ".join(installed))
    recovered = app.recover(background=True)
    if recovered:
        log.info("resuming %d interrupted run(s)", len(recovered))
    return app


def reset_app() -> None:
    """Close every open service and forget it (tests; a fresh start)."""
    _open_app.clear()


def oidc_configured() -> bool:
    """Whether Streamlit's built-in login is configured in secrets."""
    return bool(_secrets().get("auth"))


def current_user(app: Loopdesk) -> str:
    """The signed-in user's name in the directory (demo mode: the sidebar picker's choice)."""
    if oidc_configured():
        if not st.user.is_logged_in:
            return ""
        user = app.directory.by_email(str(st.user.get("email", "")))
        return user.name if user else ""
    name = st.session_state.get(USER_KEY)
    if name not in app.directory.users:
        name = "jamie" if "jamie" in app.directory.users else next(iter(app.directory.users))
        st.session_state[USER_KEY] = name
    return str(name)


def show_error(exc: EngineError) -> None:
    """Show an engine error's message to the user (no traceback: it's their input)."""
    st.error(str(exc), icon=":material/error:")
