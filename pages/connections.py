"""Connections (admins): the SMTP servers, HTTP APIs and Slack workspaces steps send through, by name.

Secrets are typed once and never shown again (only their last four characters); leaving a secret
box empty keeps what was saved.
"""

from __future__ import annotations

import streamlit as st

from engine.connections import HEADER_PREFIX, TYPES, ConnectionView
from engine.errors import EngineError
from ui.format import clock, md_escape
from ui.runtime import get_app, require_user, show_error

FLASH_KEY = "connections_flash"
PICK_KEY = "connections_pick"
NEXT_PICK_KEY = "connections_pick_next"  # the connection to open after a save or a delete
NEW = "New connection…"

app = get_app()
st.title("Connections")
user = require_user(app, "see connections")
if not app.permissions.privileged(user):
    st.info("Only admins see and change connections. Steps pick them by name.", icon=":material/lock:")
    st.stop()

st.caption(
    "Where steps that act send things: an email server, an HTTP API, Slack. Steps name a connection, "
    "so secrets stay here, encrypted, and never appear in a workflow, a run or an export."
)
flash = st.session_state.pop(FLASH_KEY, None)
if flash:
    st.success(flash, icon=":material/check_circle:")

views = {v.name: v for v in app.connections.list(user)}


def _describe(view: ConnectionView) -> None:
    """One saved connection: its settings, its masked secrets, who saved it last."""
    with st.container(border=True):
        st.markdown(f"**{md_escape(view.name)}** · {md_escape(TYPES[view.type].label)}")
        shown = {**view.settings, **view.secrets}
        st.caption(" · ".join(f"{md_escape(k)}: `{v}`" for k, v in sorted(shown.items())) or "no settings")
        if view.problem:
            st.warning(md_escape(view.problem), icon=":material/key_off:")
        st.caption(f"Saved {clock(view.updated_at)} by {md_escape(app.directory.name_of(view.updated_by))}")


for view in views.values():
    _describe(view)
if not views:
    st.info("No connections yet.", icon=":material/link_off:")

st.subheader("Add or change a connection", anchor=False)
if NEXT_PICK_KEY in st.session_state:
    st.session_state[PICK_KEY] = st.session_state.pop(NEXT_PICK_KEY)
picked = st.selectbox("Connection", [NEW, *views], key=PICK_KEY)
existing = views.get(picked) if picked != NEW else None
type_names = list(TYPES)
type_name = st.selectbox(
    "Type",
    type_names,
    index=type_names.index(existing.type) if existing else 0,
    format_func=lambda t: TYPES[t].label,
    key=f"connections_type_{picked}",
    disabled=existing is not None,
)
kind = TYPES[type_name]

with st.form(f"connection_form_{picked}_{type_name}", border=True):
    name = existing.name if existing else st.text_input("Name", placeholder="crm", max_chars=64)
    values: dict[str, str | None] = {}
    for setting in kind.settings:
        if setting.secret:
            saved = existing.secrets.get(setting.key) if existing else None
            typed = st.text_input(
                setting.label,
                type="password",
                placeholder=f"unchanged ({saved})" if saved else "",
                help=setting.help,
                key=f"connection_{picked}_{setting.key}",
            )
            values[setting.key] = typed or None  # empty: keep what was saved
        else:
            current = existing.settings.get(setting.key, "") if existing else ""
            values[setting.key] = st.text_input(
                setting.label, value=current, help=setting.help, key=f"connection_{picked}_{setting.key}"
            )
    if kind.header_settings:
        saved_headers = [k[len(HEADER_PREFIX) :] for k in (existing.secrets if existing else {})]
        st.caption(
            "Headers sent with every request (e.g. `Authorization: Bearer …`), kept secret. A saved "
            "header's name with no value removes it."
            + (f" Saved: {', '.join(md_escape(h) for h in saved_headers)}." if saved_headers else "")
        )
        header = st.text_input("Header name", placeholder="Authorization", key=f"connection_{picked}_hname")
        header_value = st.text_input(
            "Header value", type="password", placeholder="Bearer …", key=f"connection_{picked}_hvalue"
        )
        if header.strip():
            values[f"{HEADER_PREFIX}{header.strip()}"] = header_value
    if st.form_submit_button("Save connection", icon=":material/save:", type="primary"):
        try:
            saved_view = app.connections.set(user, name or "", type_name, values, new=existing is None)
        except EngineError as exc:
            show_error(exc)
        else:
            st.session_state[FLASH_KEY] = f"Saved connection {saved_view.name}."
            st.session_state[NEXT_PICK_KEY] = saved_view.name  # open it; a new form starts empty
            for key in [k for k in st.session_state if str(k).startswith(f"connection_{NEW}_")]:
                del st.session_state[key]
            st.rerun()

if existing is not None:
    with st.popover("Delete connection", icon=":material/delete:"):
        st.markdown(f"Steps that name **{md_escape(existing.name)}** will fail until it is added again.")
        if st.button("Delete for good", key=f"connection_delete_{existing.name}", type="primary"):
            try:
                app.connections.delete(user, existing.name)
            except EngineError as exc:
                show_error(exc)
            else:
                st.session_state[FLASH_KEY] = f"Deleted connection {existing.name}."
                st.session_state[NEXT_PICK_KEY] = NEW
                st.rerun()
