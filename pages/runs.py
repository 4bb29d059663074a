"""Runs: every run with its status; a run's step timeline, canvas and audit trail; retry, cancel."""

from __future__ import annotations

from functools import partial

import streamlit as st

from engine.dataflow import delivered, end_reached
from engine.directory import Directory
from engine.errors import EngineError
from engine.records import RUN_STATUSES, RunRecord
from engine.services import Loopdesk
from ui.format import STATUS_COLORS, age, as_text, clock, md_escape, md_message, status_label
from ui.runtime import get_app, require_user, show_error
from ui.timeline import (
    link_to,
    node_name,
    show_audit,
    show_canvas,
    show_live,
    show_notifications,
    show_steps,
)

FLASH_KEY = "runs_flash"
PAGE_KEY = "runs_page"
PAGE_SIZE = 50
RUN_PARAM = "run"
ALL = "All"


def _open_selected(ids: list[str]) -> None:
    """Table row clicked: open that run (callback, so it fires only when the selection changes)."""
    state = st.session_state.get("runs_table")
    rows = state.selection.rows if state is not None else []
    if rows and rows[0] < len(ids):
        st.query_params[RUN_PARAM] = ids[rows[0]]


def runs_table(runs: list[RunRecord], names: dict[str, str], directory: Directory) -> None:
    """The filtered runs as a table, newest first; clicking a row opens the run."""
    rows = [
        {
            "Task": r.title,
            "Workflow": f"{names.get(r.workflow_id, r.workflow_id)} v{r.version}",
            "Status": r.status,
            "Section": r.section or "",
            "Started by": directory.label(r.started_by),
            "Started": clock(r.created_at),
            "Last change": age(r.updated_at),
            "Run id": r.id,
        }
        for r in runs
    ]
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        height=min(400, 38 + 35 * max(1, len(rows))),
        key="runs_table",
        on_select=partial(_open_selected, [r.id for r in runs]),
        selection_mode="single-row",
    )


def page_offset(total: int | None, filters: tuple[str, ...]) -> int:
    """Where the shown page starts; back to the newest page whenever the filters change."""
    stored: tuple[int, tuple[str, ...]] = st.session_state.get(PAGE_KEY, (0, filters))
    page, seen = stored
    if seen != filters:
        page = 0
    if total is not None:
        page = min(page, max(total - 1, 0) // PAGE_SIZE)
    page = max(page, 0)
    st.session_state[PAGE_KEY] = (page, filters)
    return page * PAGE_SIZE


def _turn(step: int) -> None:
    page, filters = st.session_state.get(PAGE_KEY, (0, ()))
    st.session_state[PAGE_KEY] = (page + step, filters)


def pager(offset: int, shown: int, total: int | None, more: bool) -> None:
    """'Runs 51–100 of 1,234' with buttons to the newer and older pages (without a total when
    counting would mean reading every run the person ever took part in)."""
    left, newer, older = st.columns([4, 1, 1], vertical_alignment="center")
    of = "" if total is None else f" of {total:,}"
    left.caption(f"Runs {offset + 1:,}–{offset + shown:,}{of}, newest first")
    newer.button("Newer", icon=":material/chevron_left:", key="runs_newer", disabled=offset == 0,
                 on_click=_turn, args=(-1,), width="stretch")  # fmt: skip
    older.button("Older", icon=":material/chevron_right:", key="runs_older",
                 disabled=not more, on_click=_turn, args=(1,), width="stretch")  # fmt: skip


def pick_run(runs: list[RunRecord], names: dict[str, str], app: Loopdesk, user: str) -> str | None:
    """The run to open: the picker, preselected from `?run=`; keeps the URL in sync."""
    wanted = st.query_params.get(RUN_PARAM)
    ids = [r.id for r in runs]
    labels = {
        r.id: f"{r.title} · {r.status} · {names.get(r.workflow_id, r.workflow_id)} · {r.id}" for r in runs
    }
    if wanted and wanted not in ids:
        try:
            extra = app.get_run(wanted, user)
        except EngineError as exc:
            show_error(exc)
        else:
            ids.insert(0, extra.id)
            labels[extra.id] = f"{extra.title} · {extra.status} · {extra.id}"
    if not ids:
        return None
    index = ids.index(wanted) if wanted in ids else None
    chosen = st.selectbox(
        "Open a run",
        ids,
        index=index,
        format_func=labels.__getitem__,
        placeholder="Click a row above, or pick a run here, to see its detail",
    )
    if chosen != wanted:
        if chosen:
            st.query_params[RUN_PARAM] = chosen
        else:
            st.query_params.pop(RUN_PARAM, None)
    return chosen


def clicked(key: str) -> bool:
    """Whether the button with this key was clicked (read before the button is drawn)."""
    return bool(st.session_state.get(key, False))


@st.fragment(run_every=1.0)
def live_progress(app: Loopdesk, run_id: str, user: str) -> None:
    """The step in flight, refreshed every second; the whole page reloads once the run moves on
    (not while the page itself is being drawn: its messages would be lost)."""
    ticks = f"live_ticks_{run_id}"
    refreshed = st.session_state.get(ticks, 0) > 0  # a refresh of its own, not the page's first draw
    st.session_state[ticks] = st.session_state.get(ticks, 0) + 1
    try:
        detail = app.run_detail(run_id, user)
        live = app.live_step(run_id, user)
    except EngineError as exc:
        show_error(exc)
        return
    if detail.run.status != "running":
        if refreshed:
            st.rerun(scope="app")
        return
    show_live(live, detail.workflow, detail.run.current_node)


def show_run(app: Loopdesk, run_id: str, user: str) -> None:
    """One run: facts, actions, then its timeline, canvas and audit trail."""
    try:
        detail = app.run_detail(run_id, user)
    except EngineError as exc:
        show_error(exc)
        return
    run, wf = detail.run, detail.workflow
    manage = app.permissions.can_manage_run(user, run, wf)
    head, actions = st.columns([3, 1], vertical_alignment="top")
    with head:
        st.subheader(md_escape(run.title), anchor=False)
        st.badge(status_label(run.status), color=STATUS_COLORS.get(run.status, "gray"))
        st.caption(
            f"{md_escape(wf.name)} v{run.version} · section **{md_escape(run.section or '—')}** · "
            f"started by {md_escape(app.directory.label(run.started_by))} {age(run.created_at)} · `{run.id}`"
            + (f" · outcome **{md_escape(run.outcome)}**" if run.outcome else "")
        )
    with actions:
        # A button clicked on the previous screen is drawn again even if the run changed meanwhile,
        # so the click reaches the engine and its message says what happened.
        if (
            manage
            and (run.status == "failed" or clicked("run_retry"))
            and st.button("Retry", type="primary", icon=":material/replay:", key="run_retry")
        ):
            try:
                app.retry(run.id, user, background=True)
            except EngineError as exc:
                show_error(exc)
            else:
                st.session_state[FLASH_KEY] = (
                    f"Retrying “{md_escape(run.title)}” from {md_escape(node_name(wf, run.failed_node))}."
                )
                st.rerun()
        if (
            manage
            and (run.status in ("running", "waiting") or clicked("run_cancel"))
            and st.button("Cancel run", icon=":material/cancel:", key="run_cancel")
        ):
            try:
                app.cancel(run.id, user)
            except EngineError as exc:
                show_error(exc)
            else:
                st.session_state[FLASH_KEY] = f"Cancelled “{md_escape(run.title)}”."
                st.rerun()
        if st.button("Refresh", icon=":material/refresh:", key="run_refresh"):
            st.rerun()
    if run.status == "failed":
        st.error(
            f"Step “{md_escape(node_name(wf, run.failed_node))}” failed: {md_message(run.error or '')}. "
            "Fix the cause, then Retry: "
            "finished steps are kept and paid AI steps are not repeated.",
            icon=":material/error:",
        )
    if run.status in ("completed", "rejected"):
        for item in delivered(wf, end_reached(wf, [s.node_id for s in detail.steps]), run.values):
            st.markdown(f"**{md_escape(item.label)}** — what the run delivers")
            st.code(as_text(item.value) or "(empty)", language=None, wrap_lines=True)
    cp = detail.open_checkpoint
    if cp is not None:
        link_to(
            "pages/inbox.py",
            f"Waiting for {app.directory.label(cp.assignee)} — open the checkpoint",
            {"cp": cp.id},
            icon=":material/inbox:",
        )
    timeline, canvas, audit, values, notes = st.tabs(
        ["Timeline", "Canvas", "Audit trail", "Values", "Notifications"]
    )
    with timeline:
        show_steps(detail, app.directory)
        if run.status == "running":
            st.session_state[f"live_ticks_{run.id}"] = 0
            live_progress(app, run.id, user)
    with canvas:
        show_canvas(detail, key=f"run_canvas_{run.id}")
    with audit:
        show_audit(detail.audit, app.directory, detail.workflow, key=f"audit_{run.id}")
    with values:
        st.caption("The task's current values (form fields, AI outputs, reviewer edits).")
        st.json({k: v for k, v in run.values.items() if not (k == "feedback" and not v)}, expanded=True)
    with notes:
        configured = app.notifier is not None and app.notifier.settings.any
        show_notifications(detail.notifications, configured)


app = get_app()
st.title("Runs")
user = require_user(app, "see runs")
flash = st.session_state.pop(FLASH_KEY, None)
if flash:
    st.success(flash, icon=":material/check_circle:")

if not app.permissions.privileged(user):
    st.caption(
        "You see the runs you started, the runs you were asked to review, and every run of the "
        "workflows you design or view."
    )
workflows = app.list_workflows()
names = {w.workflow_id: w.name for w in workflows}
if st.query_params.get("workflow") in names and "runs_workflow" not in st.session_state:
    st.session_state["runs_workflow"] = st.query_params["workflow"]  # from a board's "older" link
f1, f2 = st.columns(2)
status = f1.selectbox("Status", [ALL, *RUN_STATUSES], key="runs_status")
workflow = f2.selectbox("Workflow", [ALL, *names], key="runs_workflow", format_func=lambda w: names.get(w, w))
chosen_status = None if status == ALL else status
chosen_workflow = None if workflow == ALL else workflow
total = app.count_runs(user, chosen_status, chosen_workflow)
offset = page_offset(total, (status, workflow))
runs = app.list_runs(user, chosen_status, chosen_workflow, limit=PAGE_SIZE + 1, offset=offset)
older = len(runs) > PAGE_SIZE
runs = runs[:PAGE_SIZE]
if runs:
    runs_table(runs, names, app.directory)
    pager(offset, len(runs), total, older)
else:
    st.info("No run matches these filters. Start one on the Start a run page.")
run_id = pick_run(runs, names, app, user)
if run_id:
    st.divider()
    show_run(app, run_id, user)
