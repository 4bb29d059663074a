"""“Test this step” in the Designer: run only one AI step on sample values and show what it gave.

The values come from the form's defaults or from a past run the designer picks, and can be edited
before the test. The call is real (the configured model, or the offline demo model, labelled), and
nothing is saved: no run, no step record, no insight."""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from engine.dataflow import value_labels
from engine.errors import EngineError
from engine.model import AIStepNode, Workflow
from engine.services import Loopdesk
from engine.trial import StepTrial, prompt_values, sample_values
from ui.format import ai_cost, as_text, duration_ms, md_escape, md_label, md_message, minute
from ui.runtime import want_app_rerun

DEFAULTS = "__defaults__"
LONG_VALUE = 80
"""Values longer than this (or with line breaks) get a text area instead of a one-line input."""


def _key(wf: Workflow, node: AIStepNode, part: str) -> str:
    """Session keys of one step's test (kept across edits of the step, per workflow and step)."""
    return f"designer_trial:{wf.id}:{node.id}:{part}"


def _fill(wf: Workflow, node: AIStepNode, runs: dict[str, dict[str, Any]]) -> None:
    """Put the chosen source's values (a past run's, or the form's defaults) into the value boxes."""
    want_app_rerun()  # batched with a canvas reply, the click would rerun only the canvas
    source = st.session_state.get(_key(wf, node, "source"), DEFAULTS)
    values = sample_values(wf, node.id, runs.get(source))
    for name, value in values.items():
        st.session_state[_key(wf, node, f"value:{name}")] = as_text(value)


def step_test(app: Loopdesk, wf: Workflow, node: AIStepNode, user: str) -> None:
    """The “Test this step” panel of an AI step (under its settings in the inspector)."""
    tested = _key(wf, node, "result") in st.session_state
    # keyed: it stays open across the reruns a test causes, wherever the inspector's layout shifts
    with st.expander(
        "Test this step",
        icon=":material/science:",
        key=_key(wf, node, "open"),
        on_change="rerun",
        expanded=tested,
    ):
        st.caption(
            "Runs only this step with the values below and shows its answer. "
            "No run is created and nothing is saved."
        )
        try:
            past = app.sample_runs(wf.id, user)
        except EngineError:  # the database cannot be read now; the form's defaults still work
            past = []
        runs = {r.id: r.values for r in past}
        titles = {r.id: f"{r.title} · {minute(r.created_at)}" for r in past}
        st.selectbox(
            "Sample values from",
            [DEFAULTS, *runs],
            format_func=lambda o: "The form's defaults" if o == DEFAULTS else f"Run “{titles[o]}”",
            key=_key(wf, node, "source"),
            on_change=_fill,
            args=(wf, node, runs),
            help="A past run of this workflow brings the values it had, answers of earlier steps included.",
        )
        labels = value_labels(wf)
        defaults = sample_values(wf, node.id)
        values: dict[str, str] = {}
        for name in prompt_values(wf, node.id):
            key = _key(wf, node, f"value:{name}")
            if key not in st.session_state:
                st.session_state[key] = as_text(defaults.get(name, ""))
            label = md_label(labels.get(name, name))
            text = str(st.session_state[key])
            long = len(text) > LONG_VALUE or "\n" in text
            values[name] = st.text_area(label, key=key, height=100) if long else st.text_input(label, key=key)
        if not values:
            st.caption("This step's prompt uses no values.")
        if st.button("Run this step only", key=f"designer_test_step_{node.id}", icon=":material/play_arrow:"):
            with st.spinner("Running this step…"):
                try:
                    trial = app.try_step(wf, node.id, values, user)
                except EngineError as exc:
                    st.error(md_message(str(exc)), icon=":material/error:")
                    return
            st.session_state[_key(wf, node, "result")] = (trial, time.time())
        kept = st.session_state.get(_key(wf, node, "result"))
        if kept is not None:
            show_trial(*kept)


def usage_line(meta: dict[str, Any]) -> str:
    """Model, tokens, cost and latency of a tested call, as one line of Markdown."""
    if not meta:
        return ""
    model = "offline demo model" if meta.get("demo") else str(meta.get("model", ""))
    prompt, completion = meta.get("prompt_tokens"), meta.get("completion_tokens")
    tokens = "tokens not reported" if prompt is None else f"{prompt} + {completion} tokens"
    return (
        f"Model **{md_escape(model)}** · {tokens} · {ai_cost(meta)} · "
        f"model latency {duration_ms(meta.get('latency_ms')) or '–'}"
    )


def show_trial(trial: StepTrial, at: float) -> None:
    """One test's result: the answer (demo output labelled) or why there is none, and its cost."""
    when = time.strftime("%H:%M:%S", time.localtime(at))
    if trial.ok:
        demo = " · :orange[demo output (offline demo model)]" if trial.meta.get("demo") else ""
        st.markdown(f"**Answer** (tested at {when}){demo}")
        with st.container(border=True, key="designer_trial_answer"):
            if isinstance(trial.output, (dict, list)):
                st.json(trial.output)
            else:
                st.text(as_text(trial.output) or "(empty)")
    else:
        st.error(
            f"The test at {when} gave no usable answer: {md_message(trial.error or '')}",
            icon=":material/error:",
        )
    line = usage_line(trial.meta)
    if line:
        st.caption(line)
