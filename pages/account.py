"""My account: who you are in Loopdesk, and the API tokens that act as you."""

from __future__ import annotations

import streamlit as st

from engine.errors import EngineError
from ui.format import clock, md_escape
from ui.runtime import get_app, require_user, show_error

NEW_TOKEN_KEY = "account_new_token"

app = get_app()
st.title("My account")
user = require_user(app, "see your account")
person = app.directory.users[user]

st.markdown(f"**{md_escape(person.display_name)}** · {md_escape(person.title)}")
st.caption(
    f"Email: {md_escape(person.email or '—')} · Roles: {', '.join(sorted(person.roles))} · Groups: "
    + (", ".join(md_escape(app.directory.label(f"group:{g}")) for g in person.groups) or "none")
)

if app.permissions.privileged(user):
    st.subheader("AI model", anchor=False)
    st.caption(
        "The model every workflow uses when it names none. Empty: LOOPDESK_MODEL from the server's "
        "environment, else gpt-4o-mini. A step or a workflow that names its own model keeps it."
    )
    with st.form("default_model_form", border=False):
        chosen = st.text_input("Default model", value=app.default_model(), key="account_default_model")
        if st.form_submit_button("Save default model", icon=":material/save:"):
            try:
                now_in_use = app.set_default_model(user, chosen or "")
            except EngineError as exc:
                show_error(exc)
            else:
                st.success(f"Workflows without a model of their own now use {md_escape(now_in_use)}.")

st.subheader("API tokens", anchor=False)
st.caption(
    "A token lets another system (a CRM, a script, a chat bot) call the Loopdesk API as you, with exactly "
    "your rights. Anyone holding it can act as you: keep it secret, and revoke it when it is no longer used."
)

new = st.session_state.pop(NEW_TOKEN_KEY, None)
if new:
    st.success("Token created. Copy it now: it is not shown again.", icon=":material/key:")
    st.code(new, language=None)

with st.form("new_token", clear_on_submit=True):
    label = st.text_input("What is it for?", placeholder="CRM integration", max_chars=200)
    if st.form_submit_button("Create token", icon=":material/add:", type="primary"):
        try:
            _, secret = app.create_token(user, user, label)
        except EngineError as exc:
            show_error(exc)
        else:
            st.session_state[NEW_TOKEN_KEY] = secret
            st.rerun()

tokens = app.list_tokens(user, owner=user)
if not tokens:
    st.info("You have no API tokens.", icon=":material/key_off:")
for token in tokens:
    with st.container(border=True):
        left, right = st.columns([5, 1], vertical_alignment="center")
        state = f"revoked {clock(token.revoked_at)}" if token.revoked_at else "active"
        left.markdown(f"**{md_escape(token.label or 'Unnamed token')}** · `{token.id}` · {state}")
        left.caption(
            f"Created {clock(token.created_at)} by {md_escape(app.directory.name_of(token.created_by))}"
        )
        if token.revoked_at is None and right.button(
            "Revoke", key=f"revoke_{token.id}", icon=":material/block:"
        ):
            try:
                app.revoke_token(token.id, user)
            except EngineError as exc:
                show_error(exc)
            else:
                st.rerun()
