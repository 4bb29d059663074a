"""What the Designer's buttons, pickers and canvas gestures do, as plain functions.

Each action takes the working copy (and the service, for saving and importing) and returns a
`Done`: the new working copy, what to select, how to redraw the canvas and what to tell the person.
Nothing here draws; `apply` is the one place a `Done` reaches the session, so the page only draws,
records what was asked, and dispatches (`act`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, cast

import streamlit as st

from engine.dataflow import LostUse, deliver, listing, remove_uses, show_to_reviewer, uses_lost_by_deleting
from engine.errors import EngineError, WorkflowValidationError
from engine.kinds import kind_of, node_title, step_name
from engine.kinds.ai_step import NEW_ANSWER, revise, revises, write_new
from engine.model import AIStepNode, Workflow
from engine.records import WorkflowVersion
from engine.services import Loopdesk
from ui import designer_state as ds
from ui import workflow_edits as edits
from ui.arrange import arrange
from ui.canvas import MINIMAP_FROM
from ui.canvas_bridge import CanvasEvent
from ui.designer_words import connection_name, problem_text, sentence
from ui.format import md_escape, md_message, minute
from ui.wiring import WiringError, add_after, delete_step, insert_on_edge, set_exit

Redraw = Literal["none", "push", "fit"]
"""How the canvas shows the result: as it is, redrawn where the person looks, or zoomed to fit."""


@dataclass(frozen=True)
class Done:
    """What an action did; `apply` puts it into the session."""

    wf: Workflow | None = None
    """The new working copy (None: unchanged)."""
    load: bool = False
    """`wf` replaces the working copy as a whole (opened, restored, imported): fresh widgets,
    nothing selected, zoomed to fit, based on `base`."""
    base: int | None = None
    """The saved version a loaded working copy is based on."""
    select: str | None = None
    """Select this step."""
    unselect: bool = False
    """Select nothing (the workflow's settings)."""
    redraw: Redraw = "none"
    fresh_widgets: bool = False
    """The inspector's widgets start again from the working copy (their values changed under them)."""
    flash: ds.Flash | None = None
    """What to tell the person about it."""
    ask_delete: str | None = None
    """Ask once, beside the canvas, before deleting this step."""
    saved: WorkflowVersion | None = None
    """The version a save or an import made (or found unchanged)."""
    pending_import: tuple[str, bytes] | None = None
    """A file checked and waiting for "Import as version n" (name, bytes)."""


def _say(kind: str, text: str, details: list[str] | None = None) -> ds.Flash:
    return ds.Flash(kind, text, list(details or []))


def _refused(exc: WiringError) -> Done:
    return Done(flash=_say("error", sentence(str(exc))))


def _new_step(wf: Workflow, new_id: str, redraw: Redraw) -> Done:
    """A step was just made: keep it, select it, redraw."""
    return Done(wf=wf, select=new_id, redraw=redraw)


def _fit_if_it_fits(wf: Workflow) -> Redraw:
    """Zoom to show every step after a change, when they all fit at a readable size; a larger
    workflow stays where the person is looking (fitting it would only jump to its middle)."""
    return "fit" if len(wf.nodes) <= MINIMAP_FROM else "push"


# -- edits of the working copy ---------------------------------------------------------------------


def add_step(wf: Workflow, kind: str, near: str | None) -> Done:
    """A palette button: a new step of `kind` next to the selected step (`near`)."""
    wf, new_id = edits.add_node(wf, kind, near=near)
    return _new_step(wf, new_id, _fit_if_it_fits(wf))


def add_step_after(wf: Workflow, node_id: str, kind: str) -> Done:
    """ "Add after": a new step on the step's way on."""
    try:
        wf, new_id = add_after(wf, node_id, kind)
    except WiringError as exc:
        return _refused(exc)
    return _new_step(wf, new_id, _fit_if_it_fits(wf))


def insert_step(wf: Workflow, edge_id: str, kind: str) -> Done:
    """ "Insert a step" on a connection."""
    try:
        wf, new_id = insert_on_edge(wf, edge_id, kind)
    except WiringError as exc:
        return _refused(exc)
    return _new_step(wf, new_id, _fit_if_it_fits(wf))


def drop_step(wf: Workflow, event: CanvasEvent) -> Done:
    """A palette kind dropped on the canvas: onto a connection (inserted there) or at a point."""
    kind = str(event.kind)
    try:
        if event.edge is not None and any(e.id == event.edge for e in wf.edges):
            wf, new_id = insert_on_edge(wf, event.edge, kind)
        else:
            wf, new_id = edits.add_node(wf, kind, near=None)
            wf = edits.move_node(wf, new_id, event.x, event.y)
    except WiringError as exc:
        return _refused(exc)
    return _new_step(wf, new_id, redraw="push")  # where it was dropped: the view stays put


def press_delete(wf: Workflow, event: CanvasEvent) -> Done:
    """Delete or Backspace on the canvas: a connection goes at once, a step is asked about first,
    the form stays."""
    hit = next((e for e in wf.edges if e.id == event.edge), None)
    if hit is not None:
        ends = md_escape(connection_name(wf, hit.source, hit.target))
        return Done(
            wf=edits.delete_edge(wf, hit.id),
            redraw="push",
            flash=_say("info", f"Deleted the connection {ends}. Undo brings it back."),
        )
    if event.node in wf.node_map():
        if kind_of(wf.node(str(event.node))).starts_runs:
            return Done(flash=_say("error", "The form starts every run; it cannot be deleted."))
        return Done(ask_delete=event.node)
    return Done()


def lost_uses(wf: Workflow, node_id: str) -> list[LostUse]:
    """What deleting the step would leave unwritten (values other steps read), as it would be wired."""
    try:
        after = delete_step(wf, node_id)
    except WiringError:
        return []
    return uses_lost_by_deleting(wf, node_id, after)


def remove_step(wf: Workflow, node_id: str, drop_uses: bool = False) -> Done:
    """ "Yes, delete this step": gone, with its neighbours joined when that is unambiguous; with
    `drop_uses`, the steps that read what it wrote no longer do."""
    if node_id not in wf.node_map():
        return Done()
    title = node_title(wf.node(node_id))
    try:
        after = delete_step(wf, node_id)
    except WiringError as exc:
        return _refused(exc)
    dropped = uses_lost_by_deleting(wf, node_id, after) if drop_uses else []
    for lost in dropped:
        after = remove_uses(after, lost.name, lost.readers)
    joined = len(after.edges) > len([e for e in wf.edges if node_id not in (e.source, e.target)])
    how = "; the step before it now leads to the step after it." if joined else " and its connections."
    text = f"Deleted the step “{md_escape(title)}”{how} Undo brings it back."
    if dropped:
        nodes = wf.node_map()
        gone = "; ".join(
            f"{listing([f'‘{step_name(wf, nodes[r])}’' for r in lost.readers], 6)} no longer "
            f"use{'s' if len(lost.readers) == 1 else ''} {lost.label}"
            for lost in dropped
        )
        text = f"{text} {md_escape(gone[:1].upper() + gone[1:])}."
    return Done(
        wf=after, unselect=True, redraw=_fit_if_it_fits(after), fresh_widgets=True, flash=_say("info", text)
    )


def set_purpose(wf: Workflow, node_id: str, value: str | None) -> Done:
    """ "What should this step do?": revise `value`, or (None or "") write something new."""
    node = wf.node_map().get(node_id)
    if not isinstance(node, AIStepNode):
        return Done(fresh_widgets=True)
    if value:
        return Done(wf=revise(wf, node_id, value), redraw="push", fresh_widgets=True)
    if revises(wf, node) is None:
        return Done(fresh_widgets=True)
    return Done(wf=write_new(wf, node_id, NEW_ANSWER), redraw="push", fresh_widgets=True)


def name_answer(wf: Workflow, node_id: str, words: str | None) -> Done:
    """ "What it writes": the step's own answer gets a new name (every use follows)."""
    node = wf.node_map().get(node_id)
    if not isinstance(node, AIStepNode):
        return Done(fresh_widgets=True)
    if not (words or "").strip():
        text = "Give the answer a name, e.g. Headline: later steps and the reviewer know it by that name."
        return Done(fresh_widgets=True, flash=_say("error", text))
    return Done(wf=write_new(wf, node_id, str(words)), redraw="push", fresh_widgets=True)


def show_answer(wf: Workflow, node_id: str, name: str, show: bool) -> Done:
    """ "Show it to the reviewer": the value is added to (or taken from) the next approval's view."""
    if node_id not in wf.node_map():
        return Done(fresh_widgets=True)
    return Done(wf=show_to_reviewer(wf, node_id, name, show), redraw="push", fresh_widgets=True)


def deliver_answer(wf: Workflow, node_id: str, name: str, on: bool) -> Done:
    """ "Deliver it when the run ends": the value is added to (or taken from) the Ends' result."""
    if node_id not in wf.node_map():
        return Done(fresh_widgets=True)
    return Done(wf=deliver(wf, node_id, name, on), redraw="push", fresh_widgets=True)


def remove_connection(wf: Workflow, edge_id: str) -> Done:
    """A connection's delete button in the inspector."""
    return Done(wf=edits.delete_edge(wf, edge_id), redraw="push")


def rewire(wf: Workflow, source: str, label: str | None, target: str | None) -> Done:
    """A next-step picker: one exit of `source` now leads to `target`. A picker of a step that is
    gone (an Undo took it away after the page was drawn) changes nothing."""
    if source not in wf.node_map():
        return Done(redraw="push", fresh_widgets=True)
    try:
        return Done(wf=set_exit(wf, source, label, target), redraw="push", fresh_widgets=True)
    except WiringError as exc:
        refused = _refused(exc)  # the picker shows the saved wiring again
        return Done(flash=refused.flash, redraw="push", fresh_widgets=True)


def arrange_steps(wf: Workflow) -> Done:
    """Auto-arrange: top to bottom, row by row."""
    text = "Arranged the steps top to bottom. Undo puts them back where they were."
    return Done(wf=arrange(wf), redraw="fit", flash=_say("info", text))


def select_step(node_id: str | None) -> Done:
    """A problem clicked: its step is selected and shown on the canvas."""
    return Done(select=node_id, unselect=node_id is None, redraw="push")


# -- saving, importing and restoring -----------------------------------------------------------------


def save(app: Loopdesk, wf: Workflow, user: str, latest: WorkflowVersion | None) -> Done:
    """Save the working copy as a new version (unless nothing changed); problems keep it unsaved."""
    try:
        version = app.save_if_changed(wf, user, note="saved in the designer")
    except WorkflowValidationError as exc:
        text = (
            f"Not saved: the workflow has {len(exc.problems)} problem(s). "
            "Your changes are kept; fix them and save again."
        )
        return Done(flash=_say("error", text, [problem_text(wf, p) for p in exc.problems]))
    except EngineError as exc:
        return Done(flash=_say("error", f"Not saved: {md_message(str(exc))}"))
    if latest is not None and version.version == latest.version:
        return Done(saved=version, flash=_say("info", f"Nothing changed since version {version.version}."))
    text = f"Saved version {version.version} at {minute(version.created_at)}."
    return Done(saved=version, flash=_say("success", text))


def _import_refused(name: str, exc: EngineError) -> Done:
    if isinstance(exc, WorkflowValidationError):
        text = f"Import refused: {md_escape(name)} has {len(exc.problems)} problem(s). Nothing was saved."
        return Done(flash=_say("error", text, [str(p) for p in exc.problems]))
    return Done(flash=_say("error", f"Import refused: {md_message(str(exc))}. Nothing was saved."))


def check_import(app: Loopdesk, name: str, data: bytes, user: str) -> Done:
    """A file chosen: checked as an import would be; a good one waits for confirmation."""
    try:
        app.preview_import(data, user, source=name)
    except EngineError as exc:
        return _import_refused(name, exc)
    return Done(pending_import=(name, data))


def confirm_import(app: Loopdesk, name: str, data: bytes, user: str) -> Done:
    """ "Import as version n": the file becomes a version and the working copy."""
    try:
        imported = app.import_workflow(data, user, source=name)
    except EngineError as exc:
        return _import_refused(name, exc)
    text = f"Imported {md_escape(name)} as version {imported.version} of “{md_escape(imported.name)}”."
    return Done(
        wf=imported.definition, load=True, base=imported.version, saved=imported, flash=_say("success", text)
    )


def restore_version(versions: list[WorkflowVersion], number: int, base: int | None) -> Done:
    """An earlier version into the working copy (saving makes it the newest)."""
    chosen = next((v for v in versions if v.version == number), None)
    if chosen is None:
        return Done()
    text = f"Version {chosen.version} is loaded into the working copy. Save to make it the newest version."
    return Done(wf=chosen.definition, load=True, base=base, flash=_say("info", text))


def restore_draft(app: Loopdesk, user: str, workflow_id: str, base: int | None) -> Done:
    """The unsaved changes kept from an earlier visit, back into the working copy."""
    kept = app.design_draft(user, workflow_id)
    try:
        restored = Workflow.model_validate_json(kept.definition) if kept is not None else None
    except ValueError:
        restored = None
    if kept is None or restored is None:
        return Done(
            flash=_say("error", "Your unsaved changes could not be restored; the saved version is open.")
        )
    text = f"Restored your unsaved changes from {minute(kept.saved_at)}. Save to keep them."
    return Done(wf=restored, load=True, base=base, flash=_say("info", text))


# -- unsaved work kept in the store ------------------------------------------------------------------


def keep_draft(app: Loopdesk, user: str, wf: Workflow, saved: Workflow | None) -> None:
    """Keep the working copy as the user's draft while it differs from the saved version (and drop
    the draft once it no longer does). While an earlier draft waits to be restored it is left alone,
    until the user starts editing instead: then the new work is what is kept."""
    unchanged = saved is not None and saved.model_dump() == wf.model_dump()
    if st.session_state.get(ds.offer_key(wf.id)) is not None:
        if unchanged:
            return
        st.session_state.pop(ds.offer_key(wf.id), None)
    text = wf.model_dump_json()
    if st.session_state.get(ds.kept_key(wf.id)) == text:
        return
    try:
        if unchanged:
            if st.session_state.get(ds.kept_key(wf.id)) is not None:
                app.drop_design_draft(user, wf.id)
        else:
            app.keep_design_draft(user, wf)
    except EngineError:  # the database cannot be written now; the working copy is still here
        return
    st.session_state[ds.kept_key(wf.id)] = text


# -- the one place a Done reaches the session --------------------------------------------------------


def apply(workflow_id: str, done: Done) -> None:
    """Put what an action did into the session: working copy, selection, canvas, message."""
    if done.wf is not None and done.load:
        ds.load_working_copy(done.wf, done.base)
    elif done.wf is not None:
        ds.put_wc(done.wf)
    if done.select is not None:
        ds.set_selected(workflow_id, done.select)
    elif done.unselect:
        ds.set_selected(workflow_id, None)
    if done.redraw == "fit":
        ds.request_fit(workflow_id)
    elif done.redraw == "push":
        ds.request_push(workflow_id)
    if done.fresh_widgets:
        ds.bump_rev(workflow_id)
    if done.flash is not None:
        ds.set_flash(done.flash.kind, done.flash.text, done.flash.details)
    if done.ask_delete is not None:
        st.session_state[ds.CONFIRM_DELETE_KEY] = done.ask_delete
    if done.pending_import is not None:
        st.session_state[ds.PENDING_IMPORT_KEY] = done.pending_import
    if done.saved is not None:  # saved or imported: no longer a draft, and based on that version
        saved_id = done.saved.workflow_id
        ds.drop_draft(saved_id)
        st.session_state.pop(ds.kept_key(saved_id), None)  # the store dropped the kept draft with it
        ds.set_base_version(saved_id, done.saved.version)
        st.session_state[ds.CURRENT_KEY] = saved_id


Edit = Callable[[Workflow, Any, str | None], Done]
EDITS: dict[str, Edit] = {
    "add": lambda wf, arg, selected: add_step(wf, str(arg), near=selected),
    "add_after": lambda wf, arg, selected: add_step_after(wf, *cast(tuple[str, str], arg)),
    "insert": lambda wf, arg, selected: insert_step(wf, *cast(tuple[str, str], arg)),
    "canvas_drop": lambda wf, arg, selected: drop_step(wf, cast(CanvasEvent, arg)),
    "canvas_delete": lambda wf, arg, selected: press_delete(wf, cast(CanvasEvent, arg)),
    "delete_node": lambda wf, arg, selected: remove_step(wf, str(arg)),
    "delete_node_and_uses": lambda wf, arg, selected: remove_step(wf, str(arg), drop_uses=True),
    "purpose": lambda wf, arg, selected: set_purpose(wf, *cast(tuple[str, str | None], arg)),
    "name_answer": lambda wf, arg, selected: name_answer(wf, *cast(tuple[str, str | None], arg)),
    "show_reviewer": lambda wf, arg, selected: show_answer(wf, *cast(tuple[str, str, bool], arg)),
    "deliver": lambda wf, arg, selected: deliver_answer(wf, *cast(tuple[str, str, bool], arg)),
    "delete_edge": lambda wf, arg, selected: remove_connection(wf, str(arg)),
    "set_exit": lambda wf, arg, selected: rewire(wf, *cast(tuple[str, str | None, str | None], arg)),
    "arrange": lambda wf, arg, selected: arrange_steps(wf),
    "select": lambda wf, arg, selected: select_step(None if arg is None else str(arg)),
}
"""The edits of the working copy by intent name (what a button records, with its argument and the
step selected when it was pressed); each returns a Done."""


def act(action: str, wf: Workflow, arg: Any, selected: str | None) -> Done | None:
    """The Done of an edit intent, or None when `action` is not an edit (the page handles it)."""
    edit = EDITS.get(action)
    return edit(wf, arg, selected) if edit is not None else None
