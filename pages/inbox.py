"""Inbox: my pending checkpoints with everything needed to decide, and my past decisions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from engine.decisions import Approve, Reject
from engine.errors import EngineError, NotAllowedError
from engine.model import Workflow
from engine.records import CheckpointRecord
from engine.services import Loopdesk
from ui import inbox_state
from ui.format import md_escape, md_message
from ui.inbox_keys import OPEN_ITEM_KEY, inbox_keys
from ui.live import live_seconds
from ui.review import (
    DecisionInput,
    ListFacts,
    admin_override,
    decided_message,
    decision_form,
    review_values,
    show_decided,
    show_header,
    show_list_item,
    show_values,
)
from ui.runtime import get_app, require_user, show_error
from ui.timeline import link_to, node_name

FLASH_KEY = "inbox_flash"
VIEWER_KEY = "inbox_viewer"
OPEN_KEY = "cp"
SHOWN_KEY = "inbox_shown"
PENDING_LIMIT_KEY = "inbox_pending_limit"
DECIDED_LIMIT_KEY = "inbox_decided_limit"
PICK_PREFIX = "pick_"  # session keys of the rows' "select" checkboxes (ui.review.show_list_item)
PAGE_SIZE = 50
DECIDED_PAGE_SIZE = 20  # past decisions are drawn with their diffs, so fewer come at a time


def more_button(key: str, shown: int, limit: int, count: Callable[[], int], what: str, step: int) -> None:
    """'Show 50 more' under a list that holds more than it shows (`count` is asked only when the
    list came back full)."""
    total = shown if shown < limit else count()
    if total > shown:
        st.caption(f"Showing {shown:,} of {total:,} {what}.")
        if st.button(
            f"Show {min(step, total - shown)} more", key=f"{key}_more", icon=":material/expand_more:"
        ):
            st.session_state[key] = shown + step
            st.rerun(scope="app")


def open_checkpoint_id(
    items: list[CheckpointRecord], user: str, in_view: Callable[[str], bool] = lambda _: True
) -> str | None:
    """The checkpoint to show: `?cp=`, else the one whose form I had open, else my oldest item (of the
    filtered list: an item the filters leave out is not shown beside it)."""
    if st.session_state.get(VIEWER_KEY) not in (None, user):
        # someone else signed in: don't keep the previous person's item open
        st.query_params.pop(OPEN_KEY, None)
        st.session_state.pop(SHOWN_KEY, None)
    st.session_state[VIEWER_KEY] = user
    wanted = st.query_params.get(OPEN_KEY) or st.session_state.get(SHOWN_KEY)
    if wanted and in_view(str(wanted)):
        return str(wanted)
    if wanted:  # filtered out: the list's first item opens instead
        st.query_params.pop(OPEN_KEY, None)
        st.session_state.pop(SHOWN_KEY, None)
    return items[0].id if items else None


def shown_by(app: Loopdesk, cp_id: str, user: str, view: InboxView) -> bool:
    """Whether an item belongs beside the list as filtered (one that cannot be read is left to the
    item's own message)."""
    if not (view.workflow_id or view.node_id):
        return True
    try:
        cp = app.checkpoint(cp_id, user)
    except EngineError:
        return True
    return view.workflow_id in (None, cp.workflow_id) and view.node_id in (None, cp.node_id)


def nothing_waiting(count: int, view: InboxView) -> str:
    """What the Inbox says when its list is empty: nothing at all, or nothing at these filters."""
    if count == 0:
        return "Nothing is waiting for you. New checkpoints assigned to you appear here by themselves."
    items = f"{count:,} item{'' if count == 1 else 's'}"
    waits = "waits" if count == 1 else "wait"
    return f"Nothing waits at these filters; {items} {waits} elsewhere. Clear the filters to see them."


def show_open(app: Loopdesk, cp_id: str, user: str) -> None:
    """The opened checkpoint: header, values, and (while pending) the decision form."""
    shown = st.session_state.get(SHOWN_KEY)
    try:
        cp = app.checkpoint(cp_id, user)
        detail = app.run_detail(cp.run_id, user)
    except EngineError as exc:
        show_error(exc)
        return
    refusal = None
    override = admin_override(app.permissions.override_kind(user, cp))
    try:
        app.permissions.check_decide(user, cp)
    except NotAllowedError as exc:
        refusal = None if override is not None else str(exc)
    show_header(cp, detail.workflow, app.directory, refusal)
    progress = app.progress(cp)
    if progress and cp.status == "pending":
        st.markdown(f":blue-badge[{md_escape(progress)}]")
    voted = cp.policy.vote_by(user) is not None
    values = review_values(cp, detail)
    show_values(values)
    form_slot = st.empty()
    asked = DecisionInput()
    if voted and cp.status == "pending":
        st.info("You approved this already; it waits for the other approvals.", icon=":material/how_to_vote:")
    elif cp.status == "pending" or cp.id == shown:
        # Drawn even when the checkpoint closed since my last look, so that a click that lost the
        # race still reaches the engine, whose message then says what happened.
        with form_slot.container():
            targets = app.reassign_targets(cp, user)
            places = app.places_to_hand_on(cp, user) if targets else []
            asked = decision_form(cp, values, app.directory, targets, override=override, places=places)
    if cp.status == "pending":
        st.session_state[SHOWN_KEY] = cp.id
    else:
        st.session_state.pop(SHOWN_KEY, None)
        form_slot.empty()
        who = app.directory.label(cp.decided_by) if cp.decided_by else "nobody"
        st.info(f"This checkpoint is {cp.status} (by {md_escape(who)}); there is nothing left to decide.")
    if asked.problem:
        st.error(asked.problem, icon=":material/edit_note:")
    elif asked.decision is not None:
        try:
            app.decide(cp.id, user, asked.decision, background=True)
        except EngineError as exc:
            show_error(exc)
        else:
            decided = decided_message(asked.decision, app.directory)
            counted = _counted_vote(app, cp.id, user)
            if counted:  # one approval of several: the item leaves my inbox but the run still waits
                decided = f"your approval is counted ({counted}); it waits for the other approvals."
            st.session_state[FLASH_KEY] = f"“{md_escape(cp.title)}”: {md_escape(decided)}"
            st.query_params.pop(OPEN_KEY, None)
            st.session_state.pop(SHOWN_KEY, None)
            st.rerun()
    link_to("pages/runs.py", "Open the run's timeline", {"run": cp.run_id}, icon=":material/timeline:")


def _counted_vote(app: Loopdesk, cp_id: str, user: str) -> str:
    """The quorum's progress when `user`'s approval was counted and others are still needed."""
    try:
        cp = app.checkpoint(cp_id, user)
    except EngineError:
        return ""
    return app.progress(cp) if cp.status == "pending" and cp.policy.vote_by(user) else ""


@dataclass
class InboxView:
    """How the pending list is sorted and filtered."""

    by_due: bool = False
    workflow_id: str | None = None
    node_id: str | None = None

    @property
    def one_step(self) -> bool:
        """Whether the list shows one checkpoint step only (then items can be decided together)."""
        return bool(self.workflow_id and self.node_id)


def view_controls(app: Loopdesk, names: dict[str, str]) -> InboxView:
    """Sort order and filters, in a row above the list and the open item (the list's own column is
    too narrow for them)."""
    cols = st.columns([1, 1.4, 1.4, 1.2])
    order = cols[0].selectbox("Sort", ["Oldest first", "Due soonest"], key="inbox_sort")
    wf_id = cols[1].selectbox(
        "Workflow",
        list(names),
        index=None,
        format_func=lambda w: names.get(w, w),
        placeholder="All workflows",
        key="inbox_workflow",
    )
    steps: dict[str, str] = {}
    if wf_id:
        try:
            wf = app.get_workflow(wf_id).definition
            steps = {n.id: node_name(wf, n.id) for n in wf.nodes if n.type == "approval"}
        except EngineError:
            steps = {}
    node_id = cols[2].selectbox(
        "Checkpoint",
        list(steps),
        index=None,
        format_func=lambda n: steps.get(n, n),
        # enabled even while empty: a disabled box's label is too faint to read (WCAG contrast)
        placeholder="All checkpoints" if wf_id else "Choose a workflow first",
        key="inbox_step",
    )
    return InboxView(order == "Due soonest", wf_id, node_id if wf_id else None)


def _title(app: Loopdesk, cp_id: str, user: str) -> str:
    """A checkpoint's task title for a message (its id when it cannot be read)."""
    try:
        return app.checkpoint(cp_id, user).title
    except EngineError:
        return cp_id


def bulk_bar(app: Loopdesk, user: str, items: list[CheckpointRecord]) -> None:
    """Decide the selected items of one step together: each is its own decision, made once (an item
    decided since it was selected stays selected, so the result can say so)."""
    listed = {cp.id for cp in items}
    picked = [
        str(key).removeprefix(PICK_PREFIX)
        for key, on in st.session_state.items()
        if str(key).startswith(PICK_PREFIX) and on
    ]
    picked = sorted(picked, key=lambda cp_id: (cp_id not in listed, cp_id))
    with st.container(border=True):
        st.markdown(f"**Decide several at once** · {len(picked)} selected")
        comment = st.text_input("Comment for all of them (required to reject)", key="bulk_comment")
        # one above the other: side by side, the list's column cuts their labels off
        approve = st.button(
            f"Approve {len(picked)} selected",
            key="bulk_approve",
            disabled=not picked,
            type="primary",
            icon=":material/check:",
            width="stretch",
        )
        reject = st.button(
            f"Reject {len(picked)} selected",
            key="bulk_reject",
            disabled=not picked,
            icon=":material/close:",
            width="stretch",
        )
    if not (approve or reject):
        return
    if reject and not comment.strip():
        st.error("Write the reason in the comment box, then reject.", icon=":material/edit_note:")
        return
    decision = Approve(comment=comment.strip()) if approve else Reject(comment=comment.strip())
    results = app.decide_many(picked, user, decision)
    done = [cp_id for cp_id, r in results.items() if not isinstance(r, EngineError)]
    lines = [f"{'Approved' if approve else 'Rejected'} {len(done)} of {len(picked)}."]
    for cp_id, r in results.items():
        if isinstance(r, EngineError):
            lines.append(f"“{md_escape(_title(app, cp_id, user))}” was not decided: {md_message(str(r))}")
    for cp_id in picked:
        st.session_state.pop(f"{PICK_PREFIX}{cp_id}", None)
    st.session_state[FLASH_KEY] = "  \n".join(lines)
    st.rerun()


@st.fragment(run_every=live_seconds())
def pending_list(
    app: Loopdesk, user: str, names: dict[str, str], open_id: str | None, view: InboxView
) -> None:
    """My pending items, refreshed every few seconds (the open item and its form stay put; a change
    reruns the whole page, so the tab, the sidebar and this list always show the same)."""
    inbox_state.live(app, user)
    definitions: dict[str, Workflow | None] = {}  # one read per workflow, not one per item
    limit = st.session_state.get(PENDING_LIMIT_KEY, PAGE_SIZE)
    items = app.inbox(
        user, limit=limit, workflow_id=view.workflow_id, node_id=view.node_id, by_due=view.by_due
    )
    if view.one_step and items:
        bulk_bar(app, user, items)
    for cp in items:
        if cp.workflow_id not in definitions:
            try:
                definitions[cp.workflow_id] = app.get_workflow(cp.workflow_id).definition
            except EngineError:
                definitions[cp.workflow_id] = None
        wf = definitions[cp.workflow_id]
        step = node_name(wf, cp.node_id) if wf is not None else cp.node_id
        facts = ListFacts(app.progress(cp), app.next_escalation(cp), view.one_step)
        if show_list_item(
            cp, names.get(cp.workflow_id, cp.workflow_id), step, app.directory, cp.id == open_id, facts
        ):
            st.query_params[OPEN_KEY] = cp.id
            st.session_state.pop(SHOWN_KEY, None)
            st.rerun(scope="app")
    more_button(
        PENDING_LIMIT_KEY,
        len(items),
        limit,
        lambda: app.inbox_count(user, view.workflow_id, view.node_id),
        "items",
        PAGE_SIZE,
    )


app = get_app()
st.title("Inbox")
user = require_user(app, "see your inbox")

flash = st.session_state.pop(FLASH_KEY, None)
if flash:
    st.success(flash, icon=":material/check_circle:")

state = inbox_state.current(app, user)  # the one read every count on this page and the sidebar shows
names = {w.workflow_id: w.name for w in app.list_workflows()}
me = app.directory.users[user]
pending_tab, decided_tab = st.tabs([f"Pending ({state.count:,})", "Decided"])

with pending_tab:
    top = st.columns([4, 1], vertical_alignment="center")
    top[0].caption(
        f"Checkpoints assigned to {me.display_name}"
        + (f" or {', '.join(app.directory.label(g) for g in me.groups)}" if me.groups else "")
        + "."
    )
    if top[1].button("Refresh", icon=":material/refresh:", key="inbox_refresh"):
        st.session_state.pop(SHOWN_KEY, None)
        st.rerun()
    view = view_controls(app, names)
    first = app.inbox(user, limit=1, workflow_id=view.workflow_id, node_id=view.node_id, by_due=view.by_due)
    open_id = open_checkpoint_id(first, user, lambda cp_id: shown_by(app, cp_id, user, view))
    if not first and not open_id:
        st.info(nothing_waiting(state.count, view), icon=":material/inbox:")
    inbox_keys(st.query_params.get(OPEN_KEY))
    left, right = st.columns([1.25, 2.6], gap="large")
    with left:
        pending_list(app, user, names, open_id, view)
    with right, st.container(key=OPEN_ITEM_KEY):
        if open_id:
            show_open(app, open_id, user)

with decided_tab:
    limit = st.session_state.get(DECIDED_LIMIT_KEY, DECIDED_PAGE_SIZE)
    decided = app.decided(user, limit=limit)
    show_decided(decided, names, app.directory)
    more_button(
        DECIDED_LIMIT_KEY,
        len(decided),
        limit,
        lambda: app.decided_count(user),
        "decisions",
        DECIDED_PAGE_SIZE,
    )
