"""Board: a workflow's tasks as cards in its sections; refreshes itself every few seconds."""

from __future__ import annotations

import re

import streamlit as st

from engine.errors import EngineError
from engine.model import Workflow
from engine.records import RunRecord, WorkflowVersion
from engine.services import Loopdesk
from ui.format import STATUS_COLORS, age, md_escape, status_label
from ui.runtime import get_app, require_user, show_error
from ui.timeline import link_to, node_name
from ui.values import main_value, preview

REFRESH_SECONDS = 3
MAX_CARDS = 20  # cards drawn per section (the newest); the column header counts them all


def section_key(section: str) -> str:
    """A CSS-safe key for a section's column (tests find columns by it)."""
    return "board_col_" + (re.sub(r"[^a-z0-9]+", "_", section.lower()).strip("_") or "none")


def pick_workflow(app: Loopdesk, workflows: list[WorkflowVersion], user: str) -> WorkflowVersion:
    """The chosen workflow: `?workflow=`, else the one of the newest run, else the first."""
    ids = [w.workflow_id for w in workflows]
    wanted = st.query_params.get("workflow")
    if wanted not in ids:
        recent = app.list_runs(user, limit=50)
        wanted = next((r.workflow_id for r in recent if r.workflow_id in ids), ids[0])
    names = {w.workflow_id: w.name for w in workflows}
    chosen = st.selectbox("Workflow", ids, index=ids.index(wanted), format_func=names.__getitem__)
    if st.query_params.get("workflow") != chosen:
        st.query_params["workflow"] = chosen
    return workflows[ids.index(chosen)]


def card(run: RunRecord, waiting_for: str | None, wf: Workflow | None, asker: str) -> None:
    """One task: its title, a short preview of what it is about, where it stands and who holds it,
    who asked, its age, and a link that opens the run."""
    with st.container(border=True, key=f"card_{run.id}"):
        st.markdown(f"**{md_escape(run.title or '(untitled)')}**")
        main = main_value(wf) if wf is not None else None
        if main and run.values.get(main) not in (None, ""):
            st.caption(md_escape(preview(run.values[main])))
        with st.container(horizontal=True, vertical_alignment="center", gap="small"):
            st.badge(status_label(run.status), color=STATUS_COLORS.get(run.status, "gray"))
            st.caption(age(run.created_at))
        if waiting_for:
            st.caption(f":material/person: waiting for **{md_escape(waiting_for)}**")
        elif run.status == "running" and wf is not None:
            st.caption(f":material/autorenew: at “{md_escape(node_name(wf, run.current_node))}”")
        elif run.status in ("completed", "rejected") and run.outcome:
            st.caption(f"outcome: {md_escape(run.outcome)}")
        st.caption(f"asked by {md_escape(asker)}")
        opens = f"Open “{run.title or 'run'}”"
        link_to("pages/runs.py", opens, {"run": run.id}, icon=":material/open_in_new:")


@st.fragment(run_every=REFRESH_SECONDS)
def show_board(workflow_id: str, user: str) -> None:
    """One column per section in order, a card per task in its current section (the newest
    MAX_CARDS of each; the count says how many there are in all)."""
    try:
        board = app.board(workflow_id, user, per_section=MAX_CARDS)
    except EngineError as exc:
        show_error(exc)
        return
    shown = [run.id for runs in board.columns.values() for run in runs if run.status == "waiting"]
    waiting = {rid: app.directory.label(who) for rid, who in app.waiting_for(shown).items()}
    versions: dict[int, Workflow | None] = {}  # one read per version on the board, not one per card
    for run in (r for runs in board.columns.values() for r in runs):
        if run.version not in versions:
            try:
                versions[run.version] = app.get_workflow(workflow_id, run.version).definition
            except EngineError:
                versions[run.version] = None
    total = board.total
    st.caption(f"{total:,} task{'s' if total != 1 else ''} · refreshes every {REFRESH_SECONDS} s")
    if not board.columns:
        st.info("This workflow has no sections; add them in the Designer.")
        return
    for section, col in zip(board.columns, st.columns(len(board.columns), gap="small"), strict=True):
        with col, st.container(key=section_key(section)):
            runs = board.columns[section]
            count = board.counts.get(section, len(runs))
            st.markdown(f"##### {md_escape(section)} · {count:,}")
            if not runs:
                st.caption("No tasks")
            for run in runs:
                asker = app.directory.name_of(run.started_by)
                card(run, waiting.get(run.id), versions.get(run.version), asker)
            if count > len(runs):
                link_to(
                    "pages/runs.py",
                    f"+ {count - len(runs):,} older (see Runs)",
                    {"workflow": workflow_id},
                    icon=":material/list_alt:",
                )


app = get_app()
st.title("Board")
user = require_user(app, "see the board")
workflows = app.workflows_for(user, "view")
if not workflows:
    st.info(
        "No workflow shows you its board yet: a board lists every task of a workflow, so it is open "
        "to the workflow's designers and viewers. Your own tasks are on the Runs page."
    )
    st.stop()
top = st.columns([3, 1], vertical_alignment="bottom")
with top[0]:
    wfv = pick_workflow(app, workflows, user)
if top[1].button("Refresh", icon=":material/refresh:", key="board_refresh"):
    st.rerun()
show_board(wfv.workflow_id, user)
