"""Designer: build a workflow on a canvas, set each step up in the inspector, validate, save.

The canvas is the page: one toolbar row, then the canvas filling the window with the inspector
beside it (its contents scroll inside it). Order of a run: take the canvas's latest reply
(positions, new connections, what was clicked), draw the inspector for what was selected *before*
this run (so text typed just before a click is never lost), list the problems, act on what was asked
(`ACTIONS`; anything that changes the working copy or the selection reruns), and finally draw the
canvas from the working copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from engine.errors import EngineError, NotFoundError
from engine.kinds import PALETTE, kind_label, kind_of, node_title
from engine.model import AIStepNode, Workflow
from engine.records import WorkflowVersion
from engine.services import ImportPreview, Loopdesk
from engine.validation import workflow_warnings
from ui import designer_actions as acts
from ui import designer_state as ds
from ui.canvas import take_browser_reply
from ui.canvas_bridge import canvas_bridge, room
from ui.canvas_reply import apply_browser_state
from ui.designer_canvas import designer_canvas, mark_full_run
from ui.designer_dialogs import ask_delete, confirm_import, delete_question
from ui.designer_intents import (
    CLICK_PENDING,
    INSPECT_PENDING,
    PICK_KEY,
    PICK_PENDING,
    intend,
    remember,
    take,
    value_key,
)
from ui.designer_readonly import show_readonly_designer
from ui.designer_status import same, show_outcome, status_line
from ui.designer_toolbar import IMPORT_NONCE_KEY, ToolbarState, focused, shares, toolbar
from ui.designer_words import problem_label, problem_target, step_name
from ui.format import md_escape, md_message, minute
from ui.inspector import FOCUS_VALUE_KEY, node_form
from ui.inspector_wiring import connection_panel, connections, next_steps
from ui.prompt_lab import improve_prompt, test_against_past_runs
from ui.runtime import get_app, require_user, show_error, want_app_rerun
from ui.step_test import step_test
from ui.timeline import link_to
from ui.workflow_settings import workflow_settings

WORKFLOW_SETTINGS = "__workflow__"
# (comments, not strings: a bare string in a page script is drawn on the page)
CANVAS_MIN_HEIGHT = 460  # never shorter (React Flow's menus need the room)
CANVAS_DEFAULT_HEIGHT = 520  # until the browser has said how tall the window is (fits 1280×800)
BOTTOM_GAP = 16  # room left under the canvas, so the page does not scroll
# Less room around the page, the toolbar in the header's place (the header stays see-through, its own
# buttons usable); problem buttons read as a list. A static style: no user text in it.
PAGE_CSS = (
    "<style>.block-container{padding-top:0.75rem;padding-bottom:0;padding-left:1.5rem;"
    "padding-right:1.5rem;max-width:none}"
    "[data-testid='stHeader'],[data-testid='stHeader'] *{background:transparent;pointer-events:none}"
    "[data-testid='stHeader'] button,[data-testid='stHeader'] a{pointer-events:auto}"
    ".st-key-designer_actions{padding-right:3rem}"
    # the bridge draws nothing: out of the palette's row, so it never wraps it onto a second line
    ".st-key-designer_canvas_bridge{position:absolute;width:0;height:0;overflow:hidden}"
    ".st-key-designer_inspector h2{font-size:1.5rem;padding-top:0.25rem}"
    ".st-key-designer_problems button, .st-key-designer_problems button *"
    "{justify-content:flex-start;text-align:left}</style>"
)
FOCUS_CSS = "<style>[data-testid='stSidebar'],[data-testid='stSidebarCollapsedControl']{display:none}</style>"

mark_full_run()
app = get_app()
user = require_user(app, "design workflows")
st.html(PAGE_CSS)
# the page's heading, for screen readers and the tab's outline (the toolbar takes its place on screen)
st.html(
    "<h1 style='position:absolute;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;"
    "clip:rect(0,0,0,0);border:0'>Designer</h1>"
)
if focused():
    st.html(FOCUS_CSS)


def _open(app: Loopdesk, workflow_id: str, user: str, unsaved: dict[str, Workflow]) -> Workflow | None:
    """The working copy of a workflow, loading the latest saved version the first time (and
    offering the user's unsaved changes kept from an earlier visit, when there are some); a new
    workflow never saved comes from `unsaved` (the user's kept drafts, by id)."""
    wf = ds.get_wc(workflow_id)
    if wf is not None:
        return wf
    try:
        draft = app.design_draft(user, workflow_id)
        latest = app.get_workflow(workflow_id)
    except NotFoundError as exc:  # never saved: the new workflow comes back as it was left
        kept = unsaved.get(workflow_id)
        if kept is None:
            show_error(exc)
            return None
        if workflow_id not in ds.drafts():
            ds.add_draft(workflow_id)
        ds.load_working_copy(kept, None)
        if draft is not None:
            ds.set_flash(
                "info",
                f"Your new workflow “{md_escape(kept.name)}” is back as you left it on "
                f"{minute(draft.saved_at)}; it is saved when you press Save.",
            )
        return kept
    except EngineError as exc:
        show_error(exc)
        return None
    ds.load_working_copy(latest.definition, latest.version)
    if draft is not None and draft.definition != latest.definition.model_dump_json():
        st.session_state[ds.offer_key(workflow_id)] = draft.saved_at
    return latest.definition


def _create(name: str, taken: list[str]) -> None:
    """Start a new, unsaved workflow (form → End) and open it."""
    fresh = app.new_workflow(name or "Untitled workflow", user)
    base_id, n = fresh.id, 2
    while fresh.id in taken:  # another unsaved draft of this session has the id
        fresh = fresh.model_copy(update={"id": f"{base_id}-{n}"})
        n += 1
    ds.add_draft(fresh.id)
    ds.load_working_copy(fresh, None)
    ds.set_flash("info", f"New workflow “{md_escape(fresh.name)}” created; it is saved when you press Save.")
    st.session_state[ds.CURRENT_KEY] = fresh.id


def _use_template(template_id: str, instructions: dict[str, str] | None = None) -> None:
    """Make the user's own copy of a template (with improved instructions, if any) and open it for
    editing."""
    want_app_rerun()
    try:
        created = app.use_template(template_id, user, instructions)
    except EngineError as exc:
        ds.set_flash("error", md_message(str(exc)))
        return
    st.query_params["workflow"] = created.workflow_id
    ds.set_flash(
        "success", f"Created “{md_escape(created.name)}”, your own copy of the template: change it and save."
    )


def _back_to_own() -> None:
    """Leave the read-only view for the workflows the user may change."""
    st.query_params.pop("workflow", None)
    st.session_state.pop("designer_seen_query", None)


def _back_button() -> None:
    """The way from a read-only view back to the user's own workflows."""
    st.button(
        "Back to your workflows",
        key="designer_back_to_own",
        icon=":material/arrow_back:",
        on_click=_back_to_own,
    )


# -- which workflow: one the user may change, or a read-only view ----------------------------------
designer_role = app.permissions.has_role(user, "designer")
saved = {w.workflow_id: w for w in app.workflows_for(user, "edit")} if designer_role else {}
unsaved = {w.id: w for w in app.unsaved_workflows(user)} if designer_role else {}
choices = list(dict.fromkeys([*saved, *ds.drafts(), *unsaved]))
requested = st.query_params.get("workflow")
if not designer_role or (requested and requested not in choices):
    st.title("Designer")
    viewable = {w.workflow_id: w for w in app.workflows_to_look_at(user)}
    reason = (
        f"{md_escape(app.directory.name_of(user))} is not a designer: designing workflows needs the designer "
        "role. Ask an admin to give it to you. You can look at the workflows you work with."
    )
    if designer_role and requested and requested in viewable and not app.is_template(requested):
        try:
            app.permissions.check_edit(user, viewable[requested].definition)
        except EngineError as exc:
            reason = f"{md_message(str(exc))}. You can look at it; ask one of its editors to change it."
    if designer_role and requested not in viewable:
        if requested:
            show_error(NotFoundError("workflow you may look at", requested))
        _back_button()
        st.stop()
    flash = ds.get_flash()
    if flash is not None:
        (st.error if flash.kind == "error" else st.success)(flash.text)
    if designer_role:
        _back_button()
    show_readonly_designer(
        app, user, list(viewable.values()), requested, reason, _use_template if designer_role else None
    )
    st.stop()
current: str | None = st.session_state.get(ds.CURRENT_KEY)
if requested and requested in choices and st.session_state.get("designer_seen_query") != requested:
    st.session_state["designer_seen_query"] = requested
    current = requested
if current not in choices:
    current = choices[0] if choices else None
st.session_state[ds.CURRENT_KEY] = current
pick_key = value_key(PICK_KEY, current)
if current is not None and PICK_PENDING not in st.session_state:
    st.session_state[pick_key] = current


def _choice_name(wid: str) -> str:
    if wid in saved:
        return saved[wid].name
    draft = ds.get_wc(wid) or unsaved.get(wid)
    return draft.name if draft else wid


def _choice_label(wid: str, twins: bool) -> str:
    """A workflow by its name (its id too when another has the same name)."""
    name = f"{_choice_name(wid)} · {wid}" if twins else _choice_name(wid)
    return name if wid in saved else f"{name} (not saved yet)"


choice_names = [_choice_name(c).casefold() for c in choices]
choice_labels = {c: _choice_label(c, choice_names.count(_choice_name(c).casefold()) > 1) for c in choices}

if current is None:
    toolbar(ToolbarState(None, choices, choice_labels, [], False, False), lambda: "")
    action, _ = take()
    if action == "create":
        _create(st.session_state.get("designer_new_name", ""), choices)
        st.rerun()
    st.info(
        "You have no workflows of your own yet. Create one with **File → New workflow**, or open a "
        "template and press **Use template** to get your own copy.",
        icon=":material/info:",
    )
    link_to("pages/templates.py", "Browse the templates", icon=":material/extension:")
    show_outcome()
    st.stop()

wf_opened = _open(app, current, user, unsaved)
if wf_opened is None:
    st.stop()
wf: Workflow = wf_opened
wid = wf.id

# -- the canvas's reply: positions and connections now, the clicked item after the inspector ---------
reply = take_browser_reply(ds.canvas_key(wid))
if reply is not None:
    wf, clicked_now, redraw = apply_browser_state(wf, reply)
    ds.put_wc(wf)
    is_edge = clicked_now is not None and clicked_now not in wf.node_map()
    if is_edge and clicked_now != ds.selected_edge(wid) and ds.inspector_untouched(wid):
        ds.set_selected_edge(wid, str(clicked_now))
    elif (
        clicked_now is not None
        and not is_edge
        and clicked_now != ds.selected(wid)
        and ds.inspector_untouched(wid)
    ):
        ds.set_selected(wid, clicked_now)  # nothing typed waits: the step's form is drawn in this run
    elif clicked_now is not None and clicked_now not in (ds.selected(wid), ds.selected_edge(wid)):
        st.session_state[CLICK_PENDING] = (wid, clicked_now)  # the form as typed first, then the click
    if redraw:
        ds.request_push(wid)

versions = app.versions(wid) if wid in saved else []
base = ds.base_version(wid)
if versions and base is not None and versions[0].version > base:
    # Saved elsewhere since this working copy was opened: take the newer version if nothing
    # was changed here (with changes, the status line says so and Save makes them newest).
    base_definition = next((v.definition for v in versions if v.version == base), None)
    if base_definition is not None and same(base_definition, wf):
        ds.load_working_copy(versions[0].definition, versions[0].version)
        wf = versions[0].definition

# -- the toolbar row, the status line, an offer to restore unsaved work ----------------------------------
export_json: dict[str, str] = {"text": ""}  # the file is made when clicked, from this run's final copy
toolbar(
    ToolbarState(wid, choices, choice_labels, versions, ds.can_undo(wid), ds.can_redo(wid)),
    lambda: export_json["text"],
)
offered = st.session_state.get(ds.offer_key(wid))
if offered is not None and versions and not same(versions[0].definition, wf):
    offered = None  # editing instead of answering: the new work is kept (see designer_actions.keep_draft)
    st.session_state.pop(ds.offer_key(wid), None)
if offered is not None:
    with st.container(border=True, key="designer_draft_offer"):
        st.markdown(
            f":material/restore: You have unsaved changes to this workflow from {minute(offered)}, "
            "kept when you last left the Designer."
        )
        with st.container(horizontal=True):
            st.button(
                f"Restore your unsaved changes from {minute(offered)}",
                key="designer_restore_draft",
                type="primary",
                on_click=intend,
                args=("restore_draft",),
            )
            st.button("Discard them", key="designer_discard_draft", on_click=intend, args=("discard_draft",))

# -- canvas beside the inspector (below it when focused) ---------------------------------------------------
seen = room()
canvas_height = CANVAS_DEFAULT_HEIGHT
if seen is not None:
    canvas_height = max(CANVAS_MIN_HEIGHT, seen["height"] - seen["top"] - BOTTOM_GAP)
focus = focused()
side_col: Any
if focus:
    canvas_col, side_col = st.container(), st.expander("Inspector and problems", icon=":material/tune:")
else:
    canvas_col, side_panel = st.columns(list(shares()), gap="medium")
    side_col = side_panel.container(height=canvas_height + 60, border=False, key="designer_inspector")

# -- inspector (for the selection made before this run) -----------------------------------------------
sel = ds.selected(wid)
if sel is not None and sel not in wf.node_map():
    sel = None
    ds.set_selected(wid, None)
sel_edge = ds.selected_edge(wid)
if sel_edge is not None and not any(e.id == sel_edge for e in wf.edges):
    sel_edge = None
    ds.set_selected(wid, sel)
inspect_key = value_key(f"designer_inspect:{wid}", sel or WORKFLOW_SETTINGS)
node_options = [WORKFLOW_SETTINGS, *[n.id for n in wf.nodes]]
if INSPECT_PENDING not in st.session_state:
    st.session_state[inspect_key] = sel or WORKFLOW_SETTINGS
with side_col:
    st.header("Inspector", anchor=False)  # (under the page's h1: a level-2 heading, drawn smaller)
    problems_box = st.container(key="designer_problems")
    nodes_by_id = wf.node_map()
    st.selectbox(
        "Selected",
        node_options,
        key=inspect_key,
        format_func={
            WORKFLOW_SETTINGS: "Workflow settings",
            **{i: f"{step_name(wf, n)} · {kind_label(n.type)}" for i, n in nodes_by_id.items()},
        }.__getitem__,
        help="Click a step or a connection on the canvas, or choose a step here.",
        on_change=remember,
        args=(inspect_key, INSPECT_PENDING, sel or WORKFLOW_SETTINGS),
    )
    prefix = ds.inspector_prefix(wid)
    node_problems_box = st.container()  # the selected step's own problems, at the top of its form
    st.session_state.pop(FOCUS_VALUE_KEY, None)  # the form drawn now says which value is looked at
    if sel_edge is not None:
        wf = connection_panel(wf, sel_edge, f"{prefix}:edge", on_choose=intend)
    elif sel is None:
        wf = workflow_settings(wf, app.directory, f"{prefix}:__wf", app.default_model())
    else:
        node = wf.node(sel)
        twins = step_name(wf, node) != node_title(node)  # its id tells it apart from a step of the same title
        st.caption(f"{kind_label(node.type)} · id {md_escape(node.id)}" if twins else kind_label(node.type))
        named: dict[str, list[str]] = {}  # the app's connections by type, for steps that send
        for c in app.connections.list(user):
            named.setdefault(c.type, []).append(c.name)
        wf = node_form(wf, node, app.directory, f"{prefix}:{node.id}", app.default_model(), intend, named)
        tested = wf.node(sel)
        if isinstance(tested, AIStepNode):
            step_test(app, wf, tested, user)
            if versions:  # learning needs a saved workflow with reviewed runs
                improve_prompt(app, wf, tested, user, f"{prefix}:{node.id}")
                test_against_past_runs(app, wf, tested, user)
        standing_now = app.auto_approval_standing(wf, sel) if versions else None
        if standing_now is not None:
            st.caption(f":material/smart_toy: Auto-approval now {md_escape(standing_now)}")
        next_steps(wf, wf.node(sel), f"{prefix}:{node.id}", on_choose=intend)
        wf = connections(
            wf,
            wf.node(sel),
            f"{prefix}:{node.id}",
            on_delete=lambda eid: intend("delete_edge", eid),
            on_insert=intend,
        )
        if not kind_of(node).starts_runs:  # every run starts at the form: it stays
            with st.popover(
                "Delete step", icon=":material/delete:", key="designer_delete_menu", on_change="rerun"
            ):
                delete_question(wf, sel, "designer_delete_node", "designer_delete_menu")
ds.put_wc(wf)
ds.remember_inspector(wid)
acts.keep_draft(app, user, wf, versions[0].definition if versions else None)

# -- problems (beside the canvas; a click selects the broken step) ------------------------------------
problems = app.problems(wf)
with node_problems_box:
    for p in problems:
        if sel is not None and p.node_id == sel:
            st.error(md_escape(p.message), icon=":material/error:")
with problems_box:
    if problems:
        st.markdown(
            f"**{len(problems)} problem{'s' if len(problems) != 1 else ''}** · click one to select its step"
        )
        problem_list = st.container(height=200 if len(problems) > 4 else "content", border=False)
        for i, p in enumerate(problems):
            problem_list.button(
                problem_label(wf, p),
                key=f"designer_problem_{i}",
                type="tertiary",
                icon=":material/error:",
                width="stretch",
                on_click=intend,
                args=("select", problem_target(wf, p)),
            )
    else:
        st.success("No problems: ready to save.", icon=":material/check_circle:")
    for warning in workflow_warnings(wf):
        st.warning(problem_label(wf, warning), icon=":material/timer:")

# -- palette ----------------------------------------------------------------------------------------------
with canvas_col:
    above_canvas = st.container(horizontal=True, vertical_alignment="center", gap="small")
    palette = above_canvas.container(horizontal=True, key="designer_palette", gap="small", width="content")
    status_box = above_canvas.container(horizontal_alignment="right")  # filled last, from the final copy
    for spec in PALETTE:
        palette.button(
            spec.look.palette_label or spec.label,
            key=f"designer_add_{spec.type}",
            help=f"Add a step: {spec.label}" if spec.look.palette_label else None,
            icon=spec.look.palette_icon,
            on_click=intend,
            args=("add", spec.type),
        )
    with palette:
        canvas_event = canvas_bridge({spec.type: spec.label for spec in PALETTE}, ds.fit_number(wid))
    if room() != seen and not st.session_state.get("designer_intent"):
        st.rerun()  # the window's size just arrived or changed: the canvas is sized (and fitted) to it
    if canvas_event is not None and not st.session_state.get("designer_intent"):
        intend(f"canvas_{canvas_event.action}", canvas_event)
    canvas_box = st.container()

asked_delete = st.session_state.get(ds.CONFIRM_DELETE_KEY)
if asked_delete in wf.node_map():
    ask_delete(wf, str(asked_delete))
pending_import = st.session_state.get(ds.PENDING_IMPORT_KEY)
if pending_import is not None:
    preview: ImportPreview | None
    try:
        preview = app.preview_import(pending_import[1], user, source=pending_import[0])
    except EngineError:  # changed meanwhile: confirming says why
        preview = None
    confirm_import(preview)


# -- act on what was asked (anything that changes the selection or the working copy reruns) --------------
@dataclass(frozen=True)
class Asked:
    """What one run was asked to do, and what it acts on."""

    action: str | None
    arg: Any
    wf: Workflow
    versions: list[WorkflowVersion]


def _create_asked(a: Asked) -> None:
    _create(st.session_state.get("designer_new_name", ""), choices)


def _import_asked(a: Asked) -> None:
    upload = st.session_state.get(str(a.arg))
    st.session_state[IMPORT_NONCE_KEY] = st.session_state.get(IMPORT_NONCE_KEY, 0) + 1  # empties the uploader
    if upload is not None:
        acts.apply(wid, acts.check_import(app, upload.name, upload.getvalue(), user))


def _cancel_import_asked(a: Asked) -> None:
    st.session_state.pop(ds.PENDING_IMPORT_KEY, None)
    ds.set_flash("info", "Import cancelled. Nothing was saved.")


def _confirm_import_asked(a: Asked) -> None:
    pending = st.session_state.pop(ds.PENDING_IMPORT_KEY, None)
    if pending is not None:
        acts.apply(wid, acts.confirm_import(app, pending[0], pending[1], user))


def _restore_asked(a: Asked) -> None:
    acts.apply(
        wid, acts.restore_version(a.versions, a.arg if isinstance(a.arg, int) else -1, ds.base_version(wid))
    )


def _save_asked(a: Asked) -> None:
    acts.apply(wid, acts.save(app, a.wf, user, a.versions[0] if a.versions else None))


def _restore_draft_asked(a: Asked) -> None:
    st.session_state.pop(ds.offer_key(wid), None)
    acts.apply(wid, acts.restore_draft(app, user, wid, a.versions[0].version if a.versions else None))


def _discard_new_asked(a: Asked) -> None:
    if a.versions:
        return
    app.drop_design_draft(user, wid)
    ds.drop_draft(wid)
    for key in (ds.wc_key(wid), ds.kept_key(wid), ds.CURRENT_KEY):
        st.session_state.pop(key, None)
    ds.set_flash("info", f"Discarded the new workflow “{md_escape(a.wf.name)}”. Nothing of it was saved.")


def _discard_draft_asked(a: Asked) -> None:
    st.session_state.pop(ds.offer_key(wid), None)
    app.drop_design_draft(user, wid)
    st.session_state.pop(ds.kept_key(wid), None)
    ds.set_flash("info", "Discarded your unsaved changes; the saved version is open.")


def _history_asked(a: Asked) -> None:
    ds.step_history(wid, back=a.action == "undo")
    ds.set_flash("info", "Undone." if a.action == "undo" else "Redone.")


def _escape_asked(a: Asked) -> None:
    ds.set_selected(wid, None, show_on_canvas=True)


def _fit_asked(a: Asked) -> None:
    ds.request_fit(wid)


# The page's own actions by intent name; the edits of the working copy are `ui.designer_actions.EDITS`.
ACTIONS: dict[str, Callable[[Asked], None]] = {
    "create": _create_asked,
    "import": _import_asked,
    "cancel_import": _cancel_import_asked,
    "confirm_import": _confirm_import_asked,
    "restore": _restore_asked,
    "save": _save_asked,
    "keep_step": lambda a: None,
    "restore_draft": _restore_draft_asked,
    "discard_new": _discard_new_asked,
    "discard_draft": _discard_draft_asked,
    "undo": _history_asked,
    "redo": _history_asked,
    "canvas_escape": _escape_asked,
    "fit": _fit_asked,
}

action, arg = take()
if action is not None:
    ds.clear_flash()  # a new action's outcome replaces the last one
pick_pending = st.session_state.pop(PICK_PENDING, None)
inspect_pending = st.session_state.pop(INSPECT_PENDING, None)
click_pending = st.session_state.pop(CLICK_PENDING, None)
if action in ("keep_step", "delete_node", "delete_node_and_uses"):  # the delete question: answered
    st.session_state.pop(ds.CONFIRM_DELETE_KEY, None)

if action == "start_run" and versions:
    st.switch_page("pages/start_run.py", query_params={"workflow": wid})
if pick_pending is not None and pick_pending != current:
    st.session_state[ds.CURRENT_KEY] = pick_pending
    ds.clear_flash()
    st.rerun()
if action in ACTIONS:
    ACTIONS[action](Asked(action, arg, wf, versions))
    st.rerun()
edited = acts.act(action, wf, arg, sel) if action is not None else None
if edited is not None:
    acts.apply(wid, edited)
    st.rerun()
if inspect_pending is not None:
    chosen = None if inspect_pending == WORKFLOW_SETTINGS else str(inspect_pending)
    if chosen != sel or sel_edge is not None:
        ds.set_selected(wid, chosen, show_on_canvas=True)
        st.rerun()
if click_pending is not None and click_pending[0] == wid:
    clicked_id = str(click_pending[1])
    if clicked_id in wf.node_map() and clicked_id != sel:
        ds.set_selected(wid, clicked_id)
        st.rerun()
    if any(e.id == clicked_id for e in wf.edges) and clicked_id != sel_edge:
        ds.set_selected_edge(wid, clicked_id)
        st.rerun()

# -- canvas and status (from the final working copy) ---------------------------------------------------------
with canvas_box:
    designer_canvas(
        wid,
        broken_nodes={p.node_id for p in problems if p.node_id},
        broken_edges={p.edge_id for p in problems if p.edge_id},
        selected_id=sel_edge or sel,
        push=ds.take_push_request(wid),
        height=canvas_height,
        assignee_label=app.directory.label,
        highlight=st.session_state.get(FOCUS_VALUE_KEY),
    )
export_json["text"] = wf.to_json()
with status_box:
    status_line(app, wf, versions)
show_outcome()
