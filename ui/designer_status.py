"""The Designer's status line (saved, unsaved changes, a new workflow) and its outcomes, shown as a
toast where the person is looking rather than above the canvas."""

from __future__ import annotations

import streamlit as st

from engine.model import Workflow
from engine.records import WorkflowVersion
from engine.services import Loopdesk
from ui import designer_state as ds
from ui.designer_intents import intend
from ui.format import md_escape, minute

TOAST_DETAILS = 6
"""How many lines of an outcome's details a toast lists (the rest are beside the canvas)."""
ICONS = {"error": ":material/error:", "success": ":material/check_circle:", "info": ":material/info:"}


def same(a: Workflow, b: Workflow) -> bool:
    """Whether two definitions are equal by value (not by class: a reloaded module makes new ones)."""
    return a.model_dump() == b.model_dump()


def status_line(app: Loopdesk, wf: Workflow, versions: list[WorkflowVersion]) -> None:
    """One line: saved (which version, when, by whom), unsaved changes, or a new workflow."""
    latest = versions[0] if versions else None
    if latest is None:
        with st.container(horizontal=True, vertical_alignment="center"):
            st.markdown(
                ":orange[:material/edit_note: New workflow: not saved yet (kept for you until you save "
                "or discard it).]"
            )
            st.button(
                "Discard this new workflow",
                key="designer_discard_new",
                icon=":material/delete:",
                type="tertiary",
                on_click=intend,
                args=("discard_new",),
            )
    elif not same(latest.definition, wf):
        base = ds.base_version(wf.id)
        newer = (
            f" Version {latest.version} was saved by "
            f"{md_escape(app.directory.name_of(latest.created_by))} since."
            if base and base < latest.version
            else ""
        )
        # one line, as tall as the "Saved" line: the canvas below must not jump when the state changes
        st.markdown(
            f":orange[:material/edit_note: **Unsaved changes** (last saved: version {latest.version}, "
            f"{minute(latest.created_at)}).{newer}]",
            help="Your changes are kept for you until you save or discard them.",
        )
    else:
        st.markdown(
            f":green[:material/check:] Saved · version {latest.version} · "
            f"{minute(latest.created_at)} by {md_escape(app.directory.name_of(latest.created_by))}"
        )


def show_outcome() -> None:
    """The last action's outcome (saved, refused, imported, undone…) as a toast, once."""
    flash = ds.get_flash()
    if flash is None:
        return
    lines = [flash.text, *[f"• {md_escape(line)}" for line in flash.details[:TOAST_DETAILS]]]
    if len(flash.details) > TOAST_DETAILS:
        lines.append(f"… and {len(flash.details) - TOAST_DETAILS} more, listed beside the canvas")
    st.toast(
        "  \n".join(lines),
        icon=ICONS.get(flash.kind, ICONS["info"]),
        duration="long" if flash.kind == "error" else "short",
    )
    ds.clear_flash()
