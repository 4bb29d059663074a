"""Start a run: the workflow's form, then the run's live progress until it waits or ends."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any, Literal

import streamlit as st

from engine.errors import EngineError, FormValidationError
from engine.notify.settings import from_env as notify_settings
from engine.records import WorkflowVersion
from engine.services import Loopdesk, RunDetail
from ui.format import md_escape, md_message
from ui.forms import fill_examples, missing_required, render_trigger_form
from ui.runtime import get_app, require_user, show_error
from ui.timeline import link_to, node_name, show_live, step_line

StatusState = Literal["running", "complete", "error"]
LAST_RUN_KEY = "start_run_last"
POLL_SECONDS = 0.3
SUBMITTED_KEY = "start_run_submitted"
REPEAT_SECONDS = 30.0  # the same form submitted again this soon is the same request, not a new task
WATCH_TIMEOUT_SECONDS = 30 * 60.0  # stop following a run here after this long (Runs keeps following it)


def _fingerprint(workflow_id: str, values: dict[str, Any]) -> str:
    """What identifies one submission of a form: the workflow and every value typed."""
    text = json.dumps([workflow_id, values], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def same_submission(workflow_id: str, values: dict[str, Any]) -> str | None:
    """The run started by this very submission within the last REPEAT_SECONDS (a double click,
    a resubmitted page), or None."""
    last = st.session_state.get(SUBMITTED_KEY)
    if not isinstance(last, dict) or time.time() - float(last.get("at", 0)) > REPEAT_SECONDS:
        return None
    return str(last["run"]) if last.get("fingerprint") == _fingerprint(workflow_id, values) else None


def remember_submission(workflow_id: str, values: dict[str, Any], run_id: str) -> None:
    """Remember which run this submission started (and when)."""
    st.session_state[SUBMITTED_KEY] = {
        "fingerprint": _fingerprint(workflow_id, values),
        "run": run_id,
        "at": time.time(),
    }


def pick_workflow(workflows: list[WorkflowVersion]) -> WorkflowVersion:
    """The workflow chosen in the picker (preselected from `?workflow=`); keeps the URL in sync."""
    ids = [w.workflow_id for w in workflows]
    wanted = st.query_params.get("workflow")
    index = ids.index(wanted) if wanted in ids else 0
    names = {w.workflow_id: f"{w.name}  (v{w.version})" for w in workflows}
    chosen = st.selectbox("Workflow", ids, index=index, format_func=names.__getitem__)
    if chosen != wanted:
        st.query_params["workflow"] = chosen
    return workflows[ids.index(chosen)]


def watch(app: Loopdesk, run_id: str, user: str) -> None:
    """Show the run's steps as they finish and the step in flight as it goes (its attempt, the
    draft growing as tokens arrive) until the run stops running, then a link to it."""
    detail = app.run_detail(run_id, user)
    wf = detail.workflow
    title = md_escape(detail.run.title)
    shown = 0
    deadline = time.monotonic() + WATCH_TIMEOUT_SECONDS
    with st.status(f"Running **{title}**…", expanded=True) as status:
        finished = st.container()
        in_flight = st.empty()
        while True:
            for step in detail.steps[shown:]:
                finished.markdown(step_line(step, wf))
            shown = len(detail.steps)
            if detail.run.status != "running" or time.monotonic() > deadline:
                break
            with in_flight.container():
                show_live(app.live_step(run_id, user), wf, detail.run.current_node)
            time.sleep(POLL_SECONDS)
            detail = app.run_detail(run_id, user)
        in_flight.empty()
        label, state = outcome_label(app, detail)
        status.update(label=label, state=state, expanded=True)
    cp = detail.open_checkpoint
    if cp is not None:
        st.info(
            f"Waiting for **{md_escape(app.directory.label(cp.assignee))}** to review "
            f"“{md_escape(node_name(wf, cp.node_id))}”. It is in their Inbox.",
            icon=":material/hourglass_top:",
        )
        link_to("pages/inbox.py", "Open the item in the Inbox", {"cp": cp.id}, icon=":material/inbox:")
        st.caption("Link to send to the reviewer:")
        st.code(f"{notify_settings().base_url}/inbox?cp={cp.id}", language=None)
    elif detail.run.status == "failed":
        st.error(f"The run failed: {md_message(detail.run.error or '')}", icon=":material/error:")
    link_to("pages/runs.py", "Open the run", {"run": run_id}, icon=":material/open_in_new:")


def outcome_label(app: Loopdesk, detail: RunDetail) -> tuple[str, StatusState]:
    """The status box's final label and state for a run that stopped (or still runs)."""
    run, title = detail.run, md_escape(detail.run.title)
    cp = detail.open_checkpoint
    if run.status == "waiting" and cp is not None:
        who = md_escape(app.directory.label(cp.assignee))
        return f"**{title}** is waiting for {who}", "complete"
    if run.status == "completed":
        return f"**{title}** completed: {md_escape(run.outcome or '')}", "complete"
    if run.status == "running":
        return f"**{title}** is still running — open the run to follow it", "running"
    if run.status in ("failed", "rejected", "cancelled"):
        return f"**{title}** {run.status}", "error"
    return f"**{title}** is {run.status}", "complete"


app = get_app()
st.title("Start a run")
user = require_user(app, "start a run")
workflows = app.workflows_for(user, "start")
if not workflows:
    st.info(
        "There is no workflow you may start. A workflow's designer decides who may start it; "
        "pick one on the Templates page or build one in the Designer."
    )
    link_to("pages/templates.py", "Open Templates", icon=":material/extension:")
    st.stop()

wfv = pick_workflow(workflows)
wf = wfv.definition
if wf.description:
    st.caption(md_escape(wf.description))
try:
    trigger = wf.trigger()
except KeyError:
    st.error(f"“{md_escape(wf.name)}” has no form trigger; open it in the Designer and add one.")
    st.stop()

left, right = st.columns([3, 2], gap="large")
with left:
    form_key = f"form_{wf.id}_v{wfv.version}"
    template = app.is_template(wf.id)
    if template:
        st.caption("A template, tried as it is: its form starts filled in with example values.")
    elif any(f.example is not None for f in trigger.fields):
        st.button(
            "Fill in the examples",
            icon=":material/edit_note:",
            on_click=fill_examples,
            args=(trigger, form_key),
            help="Put each field's example value into the form (examples never fill a field left blank).",
        )
    form = render_trigger_form(trigger, key=form_key, examples=template)
    if form.submitted:
        errors = missing_required(trigger, form.values)
        if errors:
            for message in form.show_errors(errors):
                st.error(md_message(message))
            st.error("Fix the fields marked above; no run was started.", icon=":material/error:")
        else:
            repeat = same_submission(wf.id, form.values)
            try:
                run = (
                    app.get_run(repeat, user)
                    if repeat
                    else app.start_run(wf.id, form.values, user, background=True)
                )
            except FormValidationError as exc:
                for message in form.show_errors(exc.errors):
                    st.error(md_message(message))
                st.error("Fix the fields marked above; no run was started.", icon=":material/error:")
            except EngineError as exc:
                show_error(exc)
            else:
                if repeat:
                    st.info(
                        f"You submitted the same form a moment ago: “{md_escape(run.title)}” was started "
                        "once, not twice. Change a value to start another run.",
                        icon=":material/content_copy:",
                    )
                remember_submission(wf.id, form.values, run.id)
                st.session_state[LAST_RUN_KEY] = {**st.session_state.get(LAST_RUN_KEY, {}), wf.id: run.id}
with right:
    last = st.session_state.get(LAST_RUN_KEY, {}).get(wf.id)  # the last run of this workflow
    if last:
        try:
            watch(app, str(last), user)
        except EngineError as exc:
            show_error(exc)
    else:
        st.caption("Submit the form to start a run; its progress shows here.")
