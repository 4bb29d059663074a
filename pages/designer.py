"""Designer: build a workflow on a canvas, set each step up in the inspector, validate, save.

Order of a run: take the canvas's latest reply (positions, new connections), draw the inspector
for the node selected *before* this run (so text typed just before a click is never lost), list
the problems, then handle the clicked action (switch, add, delete, select, save, restore, import;
anything that changes the selection reruns) and finally draw the canvas from the working copy.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from engine.dataflow import listing
from engine.errors import EngineError, NotFoundError
from engine.kinds import PALETTE, kind_label, kind_of, node_title
from engine.model import AIStepNode, Workflow
from engine.services import ImportPreview, Loopdesk
from engine.validation import workflow_warnings
from ui import designer_actions as acts
from ui import designer_state as ds
from ui.canvas import take_browser_reply
from ui.canvas_bridge import canvas_bridge
from ui.designer_canvas import designer_canvas, mark_full_run
from ui.designer_readonly import show_readonly_designer
from ui.designer_words import problem_label, problem_target, step_name
from ui.format import md_escape, md_message, minute
from ui.import_preview import import_button_label, import_summary
from ui.inspector import FOCUS_VALUE_KEY, connections, next_steps, node_form, workflow_settings
from ui.prompt_lab import improve_prompt, test_against_past_runs
from ui.runtime import get_app, require_user, show_error
from ui.step_test import step_test
from ui.timeline import link_to

WORKFLOW_SETTINGS = "__workflow__"
PICK_KEY = "designer_pick"
INTENT_KEY = "designer_intent"
PICK_PENDING = "designer_pick_pending"
INSPECT_PENDING = "designer_inspect_pending"
CLICK_PENDING = "designer_canvas_click"
IMPORT_NONCE_KEY = "designer_import_nonce"
FOCUS_KEY = "designer_focus"
CANVAS_HEIGHT = 760
FOCUS_CANVAS_HEIGHT = 860
# Problem buttons read as a list: left-aligned text (a static style, no user text in it).
PROBLEM_CSS = (
    "<style>.st-key-designer_problems button, .st-key-designer_problems button *"
    "{justify-content:flex-start;text-align:left}</style>"
)
NEW_POPOVER = "designer_new_popover"
IMPORT_POPOVER = "designer_import_popover"
VERSIONS_POPOVER = "designer_versions_popover"

mark_full_run()
app = get_app()
user = require_user(app, "design workflows")
st.title("Designer")


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


def _same(a: Workflow, b: Workflow) -> bool:
    """Whether two definitions are equal by value (not by class: a reloaded module makes new ones)."""
    return a.model_dump() == b.model_dump()


# -- intents: buttons record what was asked in a callback (kept even if a canvas reply interrupts
# the run); the page acts on them after the inspector has stored any text typed just before.


def _intend(action: str, arg: Any = None, close: str | None = None) -> None:
    """Record a button's action for this run (and close the popover it sits in)."""
    st.session_state[INTENT_KEY] = (action, arg)
    if close:
        st.session_state[close] = False


def _remember(widget_key: str, pending_key: str) -> None:
    """Record a choice made in a selectbox for this run."""
    st.session_state[pending_key] = st.session_state[widget_key]


def _create(app: Loopdesk, name: str, taken: list[str]) -> None:
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
    try:
        created = app.use_template(template_id, user, instructions)
    except EngineError as exc:
        ds.set_flash("error", md_message(str(exc)))
        return
    st.query_params["workflow"] = created.workflow_id
    ds.set_flash(
        "success", f"Created “{md_escape(created.name)}”, your own copy of the template: change it and save."
    )


def _delete_question(wf: Workflow, node_id: str, key: str, close: str | None = None) -> None:
    """Ask before deleting a step; when other steps read what only it writes, name them and offer
    to remove those uses with it."""
    doomed = md_escape(node_title(wf.node(node_id)))
    lost = acts.lost_uses(wf, node_id)
    st.markdown(
        f":material/delete: Delete “{doomed}”? When it has one way in and one way on, the step before "
        "it will lead to the step after it. Undo brings it back."
    )
    nodes = wf.node_map()
    for use in lost:
        names = listing([f"‘{step_name(wf, nodes[r])}’" for r in use.readers], 6)
        verb = "uses" if len(use.readers) == 1 else "use"
        st.markdown(md_escape(f"{names} {verb} {use.label}, which only this step writes."))
    with st.container(horizontal=True):
        if lost:
            st.button(
                "Delete and remove those uses",
                key=f"{key}_and_uses",
                type="primary",
                icon=":material/delete:",
                on_click=_intend,
                args=("delete_node_and_uses", node_id, close),
            )
        else:
            st.button(
                "Yes, delete this step",
                key=key,
                type="primary",
                icon=":material/delete:",
                on_click=_intend,
                args=("delete_node", node_id, close),
            )
        st.button("Cancel", key=f"{key}_cancel", on_click=_intend, args=("keep_step", None, close))


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
if current is not None and PICK_PENDING not in st.session_state:
    st.session_state[PICK_KEY] = current


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
top_left, top_right = st.columns([3, 1], vertical_alignment="bottom")
top_left.selectbox(
    "Workflow",
    choices,
    format_func=choice_labels.__getitem__,
    key=PICK_KEY,
    placeholder="No workflows yet: create one",
    on_change=_remember,
    args=(PICK_KEY, PICK_PENDING),
)
with top_right.popover(
    "New workflow", icon=":material/add:", width="stretch", key=NEW_POPOVER, on_change="rerun"
):
    st.text_input("Name of the new workflow", key="designer_new_name")
    st.button(
        "Create", type="primary", key="designer_create", on_click=_intend, args=("create", None, NEW_POPOVER)
    )

if current is None:
    if st.session_state.get(INTENT_KEY, (None,))[0] == "create":
        st.session_state.pop(INTENT_KEY)
        _create(app, st.session_state.get("designer_new_name", ""), choices)
        st.rerun()
    st.info(
        "You have no workflows of your own yet. Create one with **New workflow**, or open a template "
        "and press **Use template** to get your own copy.",
        icon=":material/info:",
    )
    link_to("pages/templates.py", "Browse the templates", icon=":material/extension:")
    st.stop()

wf_opened = _open(app, current, user, unsaved)
if wf_opened is None:
    st.stop()
wf: Workflow = wf_opened
wid = wf.id

# -- the canvas's reply: positions and connections now, the clicked node after the inspector ---------
ckey = ds.canvas_key(wid)
reply = take_browser_reply(ckey)
if reply is not None:
    wf, clicked_now, redraw = ds.apply_browser_state(wf, reply)
    ds.put_wc(wf)
    if clicked_now is not None and clicked_now != ds.selected(wid) and ds.inspector_untouched(wid):
        ds.set_selected(wid, clicked_now)  # nothing typed waits: the step's form is drawn in this run
    elif clicked_now is not None:  # the form as typed is applied first, then the click (next run)
        st.session_state[CLICK_PENDING] = (wid, clicked_now)
    if redraw:
        ds.request_push(wid)

versions = app.versions(wid) if wid in saved else []
base = ds.base_version(wid)
if versions and base is not None and versions[0].version > base:
    # Saved elsewhere since this working copy was opened: take the newer version if nothing
    # was changed here (with changes, the status line says so and Save makes them newest).
    base_definition = next((v.definition for v in versions if v.version == base), None)
    if base_definition is not None and _same(base_definition, wf):
        ds.load_working_copy(versions[0].definition, versions[0].version)
        wf = versions[0].definition

# -- layout -------------------------------------------------------------------------------------------
status_box = st.container()
offered = st.session_state.get(ds.offer_key(wid))
if offered is not None and versions and not _same(versions[0].definition, wf):
    offered = (
        None  # editing instead of answering: the new work is what is kept (see designer_actions.keep_draft)
    )
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
                on_click=_intend,
                args=("restore_draft",),
            )
            st.button("Discard them", key="designer_discard_draft", on_click=_intend, args=("discard_draft",))
actions = st.container(horizontal=True, vertical_alignment="center", key="designer_actions")
actions.button(
    "Save", type="primary", icon=":material/save:", key="designer_save", on_click=_intend, args=("save",)
)
actions.button(
    "Undo", icon=":material/undo:", key="designer_undo", on_click=_intend, args=("undo",),
    disabled=not ds.can_undo(wid), shortcut="Ctrl+Z", help="Take back the last edit",
)  # fmt: skip
actions.button(
    "Redo", icon=":material/redo:", key="designer_redo", on_click=_intend, args=("redo",),
    disabled=not ds.can_redo(wid), shortcut="Ctrl+Shift+Z", help="Bring back the edit you took back",
)  # fmt: skip
actions.button(
    "Start a run",
    icon=":material/play_arrow:",
    key="designer_start_run",
    on_click=_intend,
    args=("start_run",),
    disabled=not versions,
    help="Open Start a run with this workflow chosen (a run uses the saved version)"
    if versions
    else "Save the workflow first: a run uses its saved version",
)
actions.button(
    "Auto-arrange",
    icon=":material/account_tree:",
    key="designer_arrange",
    on_click=_intend,
    args=("arrange",),
    help="Lay the steps out top to bottom, row by row (Undo puts them back)",
)
actions.toggle(
    "Focus on the canvas",
    key=FOCUS_KEY,
    help="Use the whole width for the canvas; the inspector folds below it",
)
# drawn in place (a slot filled at the end would change the row's width during every rerun, and the
# canvas below would jump); the file is made when clicked, from the final working copy of this run
export_json: dict[str, str] = {"text": ""}
actions.download_button(
    "Export JSON",
    data=lambda: export_json["text"],
    file_name=f"{wid}.json",
    mime="application/json",
    icon=":material/download:",
    on_click="ignore",
    key="designer_export",
)
with actions.popover("Import JSON", icon=":material/upload:", key=IMPORT_POPOVER, on_change="rerun"):
    st.file_uploader(
        "Import JSON",
        type=["json"],
        key=f"designer_import_{st.session_state.get(IMPORT_NONCE_KEY, 0)}",
        help="A workflow exported from Loopdesk. It is checked first; a broken file changes nothing.",
        on_change=_intend,
        args=("import", f"designer_import_{st.session_state.get(IMPORT_NONCE_KEY, 0)}", IMPORT_POPOVER),
    )
with actions.popover("Versions", icon=":material/history:", key=VERSIONS_POPOVER, on_change="rerun"):
    if not versions:
        st.caption("Not saved yet.")
    for v in versions:
        c1, c2 = st.columns([4, 1], vertical_alignment="center")
        note = f" · {v.note}" if v.note else ""
        c1.text(f"Version {v.version} · {minute(v.created_at)} · {v.created_by}{note}")
        c2.button(
            "Restore",
            key=f"designer_restore_{v.version}",
            help="Load this version into the working copy",
            on_click=_intend,
            args=("restore", v.version, VERSIONS_POPOVER),
        )
flash_box = st.container()
pending_import = st.session_state.get(ds.PENDING_IMPORT_KEY)
if pending_import is not None:
    preview: ImportPreview | None
    try:
        preview = app.preview_import(pending_import[1], user, source=pending_import[0])
    except EngineError:  # changed meanwhile: confirming says why
        preview = None
    with st.container(border=True, key="designer_import_preview"):
        if preview is not None:
            st.markdown(import_summary(preview))
        with st.container(horizontal=True):
            st.button(
                import_button_label(preview),
                key="designer_confirm_import",
                type="primary",
                icon=":material/upload:",
                on_click=_intend,
                args=("confirm_import",),
            )
            st.button("Cancel", key="designer_cancel_import", on_click=_intend, args=("cancel_import",))

focus = bool(st.session_state.get(FOCUS_KEY))
canvas_col, side_col = (
    (st.container(), st.expander("Inspector and problems", icon=":material/tune:"))
    if focus
    else st.columns([2, 1], gap="medium")
)

# -- inspector (for the selection made before this run) -----------------------------------------------
sel = ds.selected(wid)
if sel is not None and sel not in wf.node_map():
    sel = None
    ds.set_selected(wid, None)
inspect_key = f"designer_inspect:{wid}"
node_options = [WORKFLOW_SETTINGS, *[n.id for n in wf.nodes]]
if INSPECT_PENDING not in st.session_state:
    st.session_state[inspect_key] = sel or WORKFLOW_SETTINGS
with side_col:
    problems_box = st.container(key="designer_problems")
    st.subheader("Inspector")
    nodes_by_id = wf.node_map()
    st.selectbox(
        "Selected",
        node_options,
        key=inspect_key,
        format_func={
            WORKFLOW_SETTINGS: "Workflow settings",
            **{i: f"{step_name(wf, n)} · {kind_label(n.type)}" for i, n in nodes_by_id.items()},
        }.__getitem__,
        help="Click a step on the canvas, or choose it here.",
        on_change=_remember,
        args=(inspect_key, INSPECT_PENDING),
    )
    prefix = ds.inspector_prefix(wid)
    node_problems_box = st.container()  # the selected step's own problems, at the top of its form
    st.session_state.pop(FOCUS_VALUE_KEY, None)  # the form drawn now says which value is looked at
    if sel is None:
        wf = workflow_settings(wf, app.directory, f"{prefix}:__wf", app.default_model())
    else:
        node = wf.node(sel)
        twins = step_name(wf, node) != node_title(node)  # its id tells it apart from a step of the same title
        st.caption(f"{kind_label(node.type)} · id {md_escape(node.id)}" if twins else kind_label(node.type))
        wf = node_form(wf, node, app.directory, f"{prefix}:{node.id}", app.default_model(), intend=_intend)
        tested = wf.node(sel)
        if isinstance(tested, AIStepNode):
            step_test(app, wf, tested, user)
            if versions:  # learning needs a saved workflow with reviewed runs
                improve_prompt(app, wf, tested, user, f"{prefix}:{node.id}")
                test_against_past_runs(app, wf, tested, user)
        standing_now = app.auto_approval_standing(wf, sel) if versions else None
        if standing_now is not None:
            st.caption(f":material/smart_toy: Auto-approval now {md_escape(standing_now)}")
        next_steps(wf, wf.node(sel), f"{prefix}:{node.id}", on_choose=_intend)
        wf = connections(
            wf,
            wf.node(sel),
            f"{prefix}:{node.id}",
            on_delete=lambda eid: _intend("delete_edge", eid),
            on_insert=_intend,
        )
        if not kind_of(node).starts_runs:  # every run starts at the form: it stays
            with st.popover(
                "Delete step", icon=":material/delete:", key="designer_delete_menu", on_change="rerun"
            ):
                _delete_question(wf, sel, "designer_delete_node", "designer_delete_menu")
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
    st.html(PROBLEM_CSS)
    if problems:
        st.markdown(
            f"**{len(problems)} problem{'s' if len(problems) != 1 else ''}** · click one to select its step"
        )
        problem_list = st.container(height=300 if len(problems) > 5 else "content", border=False)
        for i, p in enumerate(problems):
            problem_list.button(
                problem_label(wf, p),
                key=f"designer_problem_{i}",
                type="tertiary",
                icon=":material/error:",
                width="stretch",
                on_click=_intend,
                args=("select", problem_target(wf, p)),
            )
    else:
        st.success("No problems: ready to save.", icon=":material/check_circle:")
    for warning in workflow_warnings(wf):
        st.warning(problem_label(wf, warning), icon=":material/timer:")

# -- palette ----------------------------------------------------------------------------------------------
with canvas_col:
    st.caption(
        "Drag a step onto the canvas (onto a connection to insert it there), or click it to add it next "
        "to the selected step. Select a step or connection and press Delete to remove it."
    )
    palette = st.container(horizontal=True, key="designer_palette")
    for spec in PALETTE:
        palette.button(
            spec.label,
            key=f"designer_add_{spec.type}",
            icon=spec.look.palette_icon,
            on_click=_intend,
            args=("add", spec.type),
        )
    with palette:
        canvas_event = canvas_bridge({spec.type: spec.label for spec in PALETTE})
    if canvas_event is not None and INTENT_KEY not in st.session_state:
        st.session_state[INTENT_KEY] = (f"canvas_{canvas_event.action}", canvas_event)
    confirm_box = st.container()
    canvas_box = st.container()

asked_delete = st.session_state.get(ds.CONFIRM_DELETE_KEY)
if asked_delete in wf.node_map():
    with confirm_box.container(border=True, key="designer_confirm_delete_box"):
        _delete_question(wf, str(asked_delete), "designer_confirm_delete")

# -- act on what was asked (anything that changes the selection or the working copy reruns) --------------
intent = st.session_state.pop(INTENT_KEY, None)
action, arg = intent if intent is not None else (None, None)
if action is not None:
    ds.clear_flash()  # a new action's outcome replaces the last one
pick_pending = st.session_state.pop(PICK_PENDING, None)
inspect_pending = st.session_state.pop(INSPECT_PENDING, None)
click_pending = st.session_state.pop(CLICK_PENDING, None)

if action == "create":
    _create(app, st.session_state.get("designer_new_name", ""), choices)
    st.rerun()

if pick_pending is not None and pick_pending != current:
    st.session_state[ds.CURRENT_KEY] = pick_pending
    ds.clear_flash()
    st.rerun()

if action == "import":
    upload = st.session_state.get(str(arg))
    st.session_state[IMPORT_NONCE_KEY] = st.session_state.get(IMPORT_NONCE_KEY, 0) + 1  # empties the uploader
    if upload is not None:
        acts.apply(wid, acts.check_import(app, upload.name, upload.getvalue(), user))
    st.rerun()

if action == "cancel_import":
    st.session_state.pop(ds.PENDING_IMPORT_KEY, None)
    ds.set_flash("info", "Import cancelled. Nothing was saved.")
    st.rerun()

if action == "confirm_import":
    pending = st.session_state.pop(ds.PENDING_IMPORT_KEY, None)
    if pending is not None:
        pending_name, pending_data = pending
        acts.apply(wid, acts.confirm_import(app, pending_name, pending_data, user))
    st.rerun()

if action == "restore":
    acts.apply(wid, acts.restore_version(versions, arg if isinstance(arg, int) else -1, ds.base_version(wid)))
    st.rerun()

if action == "save":
    acts.apply(wid, acts.save(app, wf, user, versions[0] if versions else None))
    st.rerun()

if action in (
    "keep_step",
    "delete_node",
    "delete_node_and_uses",
):  # the question beside the canvas is answered
    st.session_state.pop(ds.CONFIRM_DELETE_KEY, None)
if action == "keep_step":
    st.rerun()

if action == "restore_draft":
    st.session_state.pop(ds.offer_key(wid), None)
    acts.apply(wid, acts.restore_draft(app, user, wid, versions[0].version if versions else None))
    st.rerun()

if action == "discard_new" and not versions:
    app.drop_design_draft(user, wid)
    ds.drop_draft(wid)
    st.session_state.pop(ds.wc_key(wid), None)
    st.session_state.pop(ds.kept_key(wid), None)
    st.session_state.pop(ds.CURRENT_KEY, None)
    ds.set_flash("info", f"Discarded the new workflow “{md_escape(wf.name)}”. Nothing of it was saved.")
    st.rerun()

if action == "discard_draft":
    st.session_state.pop(ds.offer_key(wid), None)
    app.drop_design_draft(user, wid)
    st.session_state.pop(ds.kept_key(wid), None)
    ds.set_flash("info", "Discarded your unsaved changes; the saved version is open.")
    st.rerun()

if action == "start_run" and versions:
    st.switch_page("pages/start_run.py", query_params={"workflow": wid})

if action in ("undo", "redo"):
    ds.step_history(wid, back=action == "undo")
    st.rerun()

edited = acts.act(action, wf, arg, sel) if action is not None else None
if edited is not None:
    acts.apply(wid, edited)
    st.rerun()

if inspect_pending is not None:
    chosen = None if inspect_pending == WORKFLOW_SETTINGS else str(inspect_pending)
    if chosen != sel:
        ds.set_selected(wid, chosen, show_on_canvas=True)
        st.rerun()

if click_pending is not None and click_pending[0] == wid and click_pending[1] != sel:
    ds.set_selected(wid, click_pending[1])
    st.rerun()

# -- canvas, status, flash, export (from the final working copy) ------------------------------------------
with canvas_box:
    designer_canvas(
        wid,
        broken_nodes={p.node_id for p in problems if p.node_id},
        broken_edges={p.edge_id for p in problems if p.edge_id},
        selected_id=sel,
        push=ds.take_push_request(wid),
        fit=ds.take_fit_request(wid),
        height=FOCUS_CANVAS_HEIGHT if focus else CANVAS_HEIGHT,
        assignee_label=app.directory.label,
        highlight=st.session_state.get(FOCUS_VALUE_KEY),
    )

export_json["text"] = wf.to_json()

with status_box:
    latest = versions[0] if versions else None
    if latest is None:
        with st.container(horizontal=True, vertical_alignment="center"):
            st.warning(
                "New workflow: not saved yet (kept for you until you save or discard it).",
                icon=":material/edit_note:",
            )
            st.button(
                "Discard this new workflow",
                key="designer_discard_new",
                icon=":material/delete:",
                on_click=_intend,
                args=("discard_new",),
            )
    elif not _same(latest.definition, wf):
        base = ds.base_version(wid)
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

flash = ds.get_flash()
if flash is not None:
    with flash_box:
        show = {"error": st.error, "success": st.success}.get(flash.kind, st.info)
        show(flash.text)
        for line in flash.details:
            st.text(f"• {line}")
