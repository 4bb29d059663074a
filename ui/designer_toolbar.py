"""The Designer's one toolbar row: the workflow picker, Save, Undo/Redo, Start a run, Fit, Arrange,
a File menu (new workflow, export, import, versions) and a View menu (focus, inspector width).

Every button records what it asks for (`ui.designer_intents.intend`); the page acts on it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from engine.records import WorkflowVersion
from ui.designer_intents import PICK_KEY, PICK_PENDING, intend, remember, value_key
from ui.format import minute

FILE_POPOVER = "designer_file_popover"
VIEW_POPOVER = "designer_view_popover"
IMPORT_NONCE_KEY = "designer_import_nonce"
FOCUS_KEY = "designer_focus"
WIDTH_KEY = "designer_inspector_width"
WIDTHS = {"Narrow": (5, 2), "Wide": (3, 2)}
"""Canvas and inspector shares of the page's width."""
# One row, one line per button: a button that wraps its label would make the row taller on some
# reruns than on others, and the canvas below would jump.
TOOLBAR_CSS = (
    "<style>.st-key-designer_actions button p{white-space:nowrap}"
    ".st-key-designer_actions{flex-wrap:nowrap;overflow-x:auto}</style>"
)


@dataclass(frozen=True)
class ToolbarState:
    """What the toolbar shows besides the buttons."""

    workflow_id: str | None
    choices: list[str]
    labels: dict[str, str]
    versions: list[WorkflowVersion]
    can_undo: bool
    can_redo: bool


def import_key() -> str:
    """The key of the file uploader (a new one after each import empties it)."""
    return f"designer_import_{st.session_state.get(IMPORT_NONCE_KEY, 0)}"


def toolbar(state: ToolbarState, export_text: Callable[[], str]) -> None:
    """Draw the toolbar row; `export_text` makes the exported file when it is downloaded."""
    st.html(TOOLBAR_CSS)
    row = st.container(horizontal=True, vertical_alignment="center", key="designer_actions", gap="small")
    with row:
        st.selectbox(
            "Workflow",
            state.choices,
            format_func=state.labels.__getitem__,
            key=value_key(PICK_KEY, state.workflow_id),
            placeholder="No workflows yet: create one",
            on_change=remember,
            args=(value_key(PICK_KEY, state.workflow_id), PICK_PENDING, state.workflow_id),
            label_visibility="collapsed",
            width=220,
        )
    if state.workflow_id is None:
        with row:
            _file_menu(state)
        return
    saved = bool(state.versions)
    row.button(
        "Save", type="primary", icon=":material/save:", key="designer_save", on_click=intend, args=("save",)
    )
    row.button(
        "Undo", key="designer_undo", on_click=intend, args=("undo",),
        disabled=not state.can_undo, help="Take back the last edit",
    )  # fmt: skip
    row.button(
        "Redo", key="designer_redo", on_click=intend, args=("redo",),
        disabled=not state.can_redo, help="Bring back the edit you took back",
    )  # fmt: skip
    row.button(
        "Start a run",
        key="designer_start_run",
        on_click=intend,
        args=("start_run",),
        disabled=not saved,
        help="Open Start a run with this workflow chosen (a run uses the saved version)"
        if saved
        else "Save the workflow first: a run uses its saved version",
    )
    row.button(
        "Fit",
        key="designer_fit",
        on_click=intend,
        args=("fit",),
        help="Show the whole workflow on the canvas",
    )
    row.button(
        "Arrange",
        key="designer_arrange",
        on_click=intend,
        args=("arrange",),
        help="Lay the steps out top to bottom, branches side by side (Undo puts them back)",
    )
    with row:
        _file_menu(state, export_text)
        _view_menu()


def _file_menu(state: ToolbarState, export_text: Callable[[], str] | None = None) -> None:
    """New workflow, Export, Import and Versions."""
    with st.popover("File", key=FILE_POPOVER, on_change="rerun"):
        st.markdown("**New workflow**")
        st.text_input("Name of the new workflow", key="designer_new_name")
        st.button(
            "Create",
            type="primary",
            key="designer_create",
            on_click=intend,
            args=("create", None, FILE_POPOVER),
        )
        if state.workflow_id is None or export_text is None:
            return
        st.divider()
        st.download_button(
            "Export JSON",
            data=export_text,
            file_name=f"{state.workflow_id}.json",
            mime="application/json",
            icon=":material/download:",
            on_click="ignore",
            key="designer_export",
        )
        st.file_uploader(
            "Import JSON",
            type=["json"],
            key=import_key(),
            help="A workflow exported from Loopdesk. It is checked first; a broken file changes nothing.",
            on_change=intend,
            args=("import", import_key(), FILE_POPOVER),
        )
        st.markdown("**Versions**")
        if not state.versions:
            st.caption("Not saved yet.")
        for v in state.versions:
            c1, c2 = st.columns([4, 1], vertical_alignment="center")
            note = f" · {v.note}" if v.note else ""
            c1.text(f"Version {v.version} · {minute(v.created_at)} · {v.created_by}{note}")
            c2.button(
                "Restore",
                key=f"designer_restore_{v.version}",
                help="Load this version into the working copy",
                on_click=intend,
                args=("restore", v.version, FILE_POPOVER),
            )


def _view_menu() -> None:
    """Focus on the canvas (the sidebar and the inspector fold away) and the inspector's width."""
    with st.popover("View", key=VIEW_POPOVER, on_change="rerun"):
        st.toggle(
            "Focus on the canvas",
            key=FOCUS_KEY,
            help="Hide the sidebar and fold the inspector below the canvas",
        )
        st.radio("Inspector width", list(WIDTHS), key=WIDTH_KEY, horizontal=True)


def focused() -> bool:
    """Whether the canvas has the page to itself."""
    return bool(st.session_state.get(FOCUS_KEY))


def shares() -> tuple[int, int]:
    """The canvas's and the inspector's shares of the width."""
    return WIDTHS.get(str(st.session_state.get(WIDTH_KEY) or "Narrow"), WIDTHS["Narrow"])
