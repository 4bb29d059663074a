"""The Designer's questions, asked in a dialog where the person is looking: delete a step (naming
the steps that read what only it writes), and import a checked file as a new version."""

from __future__ import annotations

import streamlit as st

from engine.dataflow import listing
from engine.kinds import node_title, step_name
from engine.model import Workflow
from engine.services import ImportPreview
from ui import designer_actions as acts
from ui import designer_state as ds
from ui.designer_intents import intend
from ui.format import md_escape
from ui.import_preview import import_button_label, import_summary


def _forget_delete() -> None:
    """The delete question was closed without an answer."""
    st.session_state.pop(ds.CONFIRM_DELETE_KEY, None)


def delete_question(
    wf: Workflow, node_id: str, key: str, close: str | None = None, *, in_dialog: bool = False
) -> None:
    """Ask before deleting a step; when other steps read what only it writes, name them and offer
    to remove those uses with it (`in_dialog`: asked in `st.dialog`, which an answer closes)."""
    doomed = md_escape(node_title(wf.node(node_id)))
    lost = acts.lost_uses(wf, node_id)
    st.markdown(
        f"Delete “{doomed}”? When it has one way in and one way on, the step before it will lead to the "
        "step after it. Undo brings it back."
    )
    nodes = wf.node_map()
    for use in lost:
        names = listing([f"‘{step_name(wf, nodes[r])}’" for r in use.readers], 6)
        verb = "uses" if len(use.readers) == 1 else "use"
        st.markdown(md_escape(f"{names} {verb} {use.label}, which only this step writes."))
    with st.container(horizontal=True):
        if lost:
            answered = st.button(
                "Delete and remove those uses",
                key=f"{key}_and_uses",
                type="primary",
                icon=":material/delete:",
                on_click=intend,
                args=("delete_node_and_uses", node_id, close),
            )
        else:
            answered = st.button(
                "Yes, delete this step",
                key=key,
                type="primary",
                icon=":material/delete:",
                on_click=intend,
                args=("delete_node", node_id, close),
            )
        kept = st.button("Cancel", key=f"{key}_cancel", on_click=intend, args=("keep_step", None, close))
    if in_dialog and (answered or kept):
        st.rerun()  # a click in a dialog reruns only the dialog: the page acts on the answer


@st.dialog("Delete a step", on_dismiss=_forget_delete)
def ask_delete(wf: Workflow, node_id: str) -> None:
    """The delete question for a step the person pressed Delete on."""
    delete_question(wf, node_id, "designer_confirm_delete", in_dialog=True)


def _forget_import() -> None:
    st.session_state.pop(ds.PENDING_IMPORT_KEY, None)


@st.dialog("Import a workflow", width="medium", on_dismiss=_forget_import)
def confirm_import(preview: ImportPreview | None) -> None:
    """What importing the checked file would do, and the buttons to do it or not."""
    if preview is not None:
        st.markdown(import_summary(preview))
    else:
        st.markdown("The file changed meanwhile; importing it again says why.")
    with st.container(horizontal=True):
        confirmed = st.button(
            import_button_label(preview),
            key="designer_confirm_import",
            type="primary",
            icon=":material/upload:",
            on_click=intend,
            args=("confirm_import",),
        )
        cancelled = st.button(
            "Cancel", key="designer_cancel_import", on_click=intend, args=("cancel_import",)
        )
    if confirmed or cancelled:
        st.rerun()  # a click in a dialog reruns only the dialog: the page acts on the answer
