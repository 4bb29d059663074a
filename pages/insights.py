"""Insights: how reviewers decide at each checkpoint, and runs, tokens and cost per workflow."""

from __future__ import annotations

import streamlit as st

from engine.durations import span
from engine.records import RUN_STATUSES
from ui.format import money
from ui.review_figures import show as show_review_figures
from ui.runtime import get_app, require_user
from ui.timeline import node_name


def percent(value: float | None) -> str:
    """A rate for the table ('—' before any decision)."""
    return "—" if value is None else f"{value:.0f}%"


app = get_app()
st.title("Insights")
user = require_user(app, "see insights")
workflows = {w.workflow_id: w for w in app.list_workflows()}


def step_title(workflow_id: str, node_id: str) -> str:
    """The approval node's title in the latest version of its workflow."""
    wfv = workflows.get(workflow_id)
    return node_name(wfv.definition, node_id) if wfv else node_id


archived = app.has_archive() and st.toggle(
    "Include archived runs",
    key="insights_archived",
    help="Runs moved to Parquet files with `python -m engine archive` still count here when this is on.",
)

st.subheader("Checkpoints", anchor=False)
st.caption(
    "Per approval step: how often reviewers approve, reject, send back or edit the AI's work, and how "
    "long a task waits for them. A high edit or changes rate says the prompt needs work. Decided counts "
    "reviews by people; auto-approvals and timeouts (approved or rejected by Loopdesk when nobody decided "
    "in time) are counted apart."
)
cp_rows = [
    {
        "Workflow": workflows[s.workflow_id].name if s.workflow_id in workflows else s.workflow_id,
        "Checkpoint": step_title(s.workflow_id, s.node_id),
        "Decided": s.decided,
        "Pending": s.pending,
        "Approved": percent(s.rate(s.approved)),
        "Rejected": percent(s.rate(s.rejected)),
        "Changes requested": percent(s.rate(s.changes_requested)),
        "Approved with edits": percent(s.rate(s.edited)),
        "Mean time in review": span(s.mean_review_seconds) if s.mean_review_seconds is not None else "—",
        "Auto-approved": s.auto_approved,
        "Timed out": s.timed_out,
    }
    for s in app.checkpoint_stats(user, include_archived=archived)
]
if cp_rows:
    st.dataframe(cp_rows, hide_index=True, width="stretch")
else:
    st.info("No checkpoint has been reached yet.")

st.subheader("Workflows", anchor=False)
wf_rows = []
workflow_totals = app.workflow_stats(user, include_archived=archived)
for s in workflow_totals:
    row: dict[str, object] = {
        "Workflow": workflows[s.workflow_id].name if s.workflow_id in workflows else s.workflow_id,
        "Runs": s.total_runs,
    }
    row.update({status.capitalize(): s.runs.get(status, 0) for status in RUN_STATUSES})
    row.update(
        {
            "AI steps": s.ai_steps,
            "Prompt tokens": s.prompt_tokens,
            "Completion tokens": s.completion_tokens,
            "AI cost": money(s.cost_usd) + (f" + {s.unpriced_steps} unpriced" if s.unpriced_steps else ""),
        }
    )
    wf_rows.append(row)
if wf_rows:
    st.dataframe(wf_rows, hide_index=True, width="stretch")
    if app.engine.provider.kind == "demo":
        st.caption("Demo output costs nothing: the offline demo model is not a paid AI.")
    if any(s.unpriced_steps for s in workflow_totals):
        st.caption(
            "Unpriced: AI calls to a model no price table knows; their cost is not in the total. "
            'Set LOOPDESK_PRICES (e.g. {"llama3.1": [0, 0]}, or {"*": [0, 0]} for a free local server).'
        )
else:
    st.info("No run yet. Start one on the Start a run page.")

st.subheader("Is the AI getting better?", anchor=False)
st.caption(
    "What reviewers' decisions say of one workflow's AI steps: how often drafts pass as they are, how much "
    "reviewers change, how long review takes — per AI step and prompt version, and per reviewer."
)
reviewed = {w.workflow_id: w for w in app.workflows_for(user, "view")}
chosen = st.selectbox(
    "Workflow",
    list(reviewed),
    index=None,
    format_func=lambda wid: reviewed[wid].name,
    placeholder="Choose a workflow",
    key="insights_review_workflow",
)
if chosen is not None:
    (figures,) = app.review_report(user, chosen)
    design = reviewed[chosen].definition
    show_review_figures(
        figures,
        step_name=lambda node_id: node_name(design, node_id),
        person_name=app.directory.name_of,
    )
