"""The page shell: page config, the sidebar identity and the navigation between pages."""

from __future__ import annotations

from typing import Any

import streamlit as st

from engine.errors import EngineError
from engine.llm.factory import describe_provider
from engine.services import Loopdesk
from ui import inbox_state
from ui.a11y import repair_markup
from ui.branding import page_icon
from ui.browser_cookie import keep_cookie
from ui.format import md_escape, md_message
from ui.live import my_requests, waiting_badge
from ui.runtime import (
    DEMO_COOKIE,
    PICKER_KEY,
    auth_mode,
    auth_problem,
    current_user,
    login_providers,
    note_picker_drawn,
    remember_picked_user,
    shell_app,
    show_health,
    sign_in_problem,
    signed_in_email,
)

DEMO_PICKER_HELP = (
    "Demo mode: pick who you are. Set LOOPDESK_AUTH=oidc and [auth] in secrets for real logins."
)


def render() -> None:
    """Run one page view: the sidebar, then the page the URL names."""
    st.set_page_config(page_title="Loopdesk", page_icon=page_icon(), layout="wide")
    app = shell_app()
    user = current_user(app)
    page = st.navigation(_pages(app, user))
    st.set_page_config(page_title=f"{page.title} · Loopdesk")  # each page its own browser-tab title
    with st.sidebar:
        _sidebar(app, user)
        repair_markup()
    show_health(app)
    try:
        page.run()
    except EngineError as exc:  # the database went away mid-page, say: a message, not a traceback
        st.error(md_message(str(exc)), icon=":material/error:")


def _sidebar(app: Loopdesk, user: str) -> None:
    """Who is signed in (or the login buttons, or the demo picker) and which model answers."""
    st.markdown("### :material/autorenew: Loopdesk")
    problem = auth_problem()
    if problem:
        st.error(f"{md_message(problem)}.", icon=":material/lock:")
    elif auth_mode() == "oidc":
        _login(app, user)
    else:
        _demo_picker(app, user)
    if user:
        waiting_badge(app, user)
        my_requests(app, user)
    provider_label = describe_provider(app.engine.provider)
    if app.engine.provider.kind == "demo":
        st.warning(f"AI: {provider_label}. Answers are demo output.", icon=":material/science:")
    else:
        try:
            model = f" · default model {md_escape(app.default_model())}"
        except EngineError:  # the database cannot be read now; show_health says why
            model = ""
        st.caption(f"AI: {md_escape(provider_label)}{model}")


def _login(app: Loopdesk, user: str) -> None:
    email = signed_in_email()
    if email:
        who = app.directory.users[user].display_name if user else email
        st.caption(f"Signed in as **{md_escape(who)}**")
        refused = sign_in_problem(app)
        if refused:
            st.error(f"{md_message(refused)}.", icon=":material/person_off:")
        st.button("Log out", on_click=st.logout, icon=":material/logout:")
        return
    for provider in login_providers():
        st.button(
            f"Log in with {provider.title()}" if provider else "Log in",
            key=f"login_{provider or 'default'}",
            on_click=st.login,
            args=(provider,) if provider else (),
            type="primary",
            icon=":material/login:",
        )


def _demo_picker(app: Loopdesk, user: str) -> None:
    names = list(app.directory.users)
    people = app.directory.users
    st.selectbox(
        "Signed in as",
        names,
        # the choice lives in a plain session key: a widget's own state can be dropped on
        # a page change, which would silently sign the person in as someone else
        index=names.index(user) if user in names else 0,
        key=PICKER_KEY,
        on_change=remember_picked_user,
        format_func=lambda n: f"{people[n].display_name} · {people[n].title}",
        help=DEMO_PICKER_HELP,
    )
    note_picker_drawn()
    if user:
        keep_cookie(DEMO_COOKIE, user)  # a reload keeps the person picked
    st.caption(
        ":material/warning: Demo mode: anyone can act as anyone. This is not a login; "
        "do not use it for real work."
    )


def _pages(app: Loopdesk, user: str) -> list[Any]:
    """The navigation, with the number of items waiting in the user's inbox.

    One flat list, in the order people use it (build, then work, then their account): Streamlit
    draws named sections as headers inside the list, which is not a valid list for screen readers.
    """
    pending = inbox_state.refresh(app, user, by_shell=True).count
    inbox_title = f"Inbox ({pending})" if pending else "Inbox"
    admin = (
        [st.Page("pages/connections.py", title="Connections", icon=":material/cable:")]
        if user and app.permissions.privileged(user)
        else []
    )
    return [
        st.Page("pages/templates.py", title="Templates", icon=":material/extension:", default=True),
        st.Page("pages/designer.py", title="Designer", icon=":material/edit:"),
        st.Page("pages/start_run.py", title="Start a run", icon=":material/play_arrow:"),
        st.Page("pages/inbox.py", title=inbox_title, icon=":material/inbox:"),
        st.Page("pages/runs.py", title="Runs", icon=":material/list_alt:"),
        st.Page("pages/board.py", title="Board", icon=":material/view_kanban:"),
        st.Page("pages/insights.py", title="Insights", icon=":material/insights:"),
        *admin,
        st.Page("pages/account.py", title="My account", icon=":material/person:"),
    ]
