"""“Improve this prompt” and “Test against past runs” in the Designer's inspector of an AI step.

Improve: a revised instruction learned from reviewers' edits and notes, shown as a diff against the
current one; the designer may edit it, then use it (it fills the instruction box; nothing is saved).
Test: the AI steps changed in the working copy replayed on the last approved runs in a sandbox, with
the estimate before and, run by run, the old draft, the approved text and the new draft.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

import streamlit as st

from engine.errors import EngineError
from engine.model import AIStepNode, Workflow
from engine.prompt_advice import Suggestion
from engine.prompt_feedback import DEFAULT_RUNS
from engine.replay import LOG_LENGTH, MAX_RUNS, Estimate, Replay, ReplayCase
from engine.services import Loopdesk
from ui.format import as_text, md_escape, md_message, minute, money
from ui.runtime import want_app_rerun
from ui.timeline import node_name, word_diff_markdown

VERDICTS = {"closer": "closer", "further": "further", "same": "as close", "failed": "no draft"}
"""How a replayed run's verdict reads in the table."""


def _key(wf: Workflow, node_id: str, part: str) -> str:
    """Session keys of one step's panels (kept across edits of the step, per workflow and step)."""
    return f"designer_lab:{wf.id}:{node_id}:{part}"


def replace_key(box_key: str) -> str:
    """Where a text for a prompt box waits to replace what it holds (see `ui.inspector._prompt_box`)."""
    return f"{box_key}:replace"


def _use(instruction_key: str, text_key: str, flash_key: str) -> None:
    """Put the (possibly edited) suggestion into the step's instruction box."""
    want_app_rerun()  # batched with a canvas reply, the click would rerun only the canvas
    st.session_state[replace_key(instruction_key)] = st.session_state.get(text_key, "")
    st.session_state[flash_key] = st.session_state.get(text_key, "")


def improve_prompt(app: Loopdesk, wf: Workflow, node: AIStepNode, user: str, prefix: str) -> None:
    """The “Improve this prompt” panel; `prefix` is the inspector's key prefix of this step."""
    kept_key = _key(wf, node.id, "suggestion")
    box = st.expander(
        "Improve this prompt",
        icon=":material/auto_fix_high:",
        key=_key(wf, node.id, "improve_open"),
        on_change="rerun",
        expanded=kept_key in st.session_state,
    )
    with box:
        st.caption(
            "Learns from what reviewers changed in this step's drafts and what they said when they sent "
            "drafts back or rejected them, and suggests a revised instruction. Nothing changes until you "
            "use it, and nothing is saved until you save the workflow."
        )
        if st.button(
            "Suggest a better instruction", key=f"designer_improve_{node.id}", icon=":material/lightbulb:"
        ):
            with st.spinner("Reading the reviews and asking the model…"):
                try:
                    st.session_state[kept_key] = app.suggest_instruction(wf, node.id, user)
                except EngineError as exc:
                    st.session_state.pop(kept_key, None)
                    st.info(md_message(str(exc)), icon=":material/info:")
                    return
            st.session_state[_key(wf, node.id, "text")] = st.session_state[kept_key].new
        found: Suggestion | None = st.session_state.get(kept_key)
        if found is None:
            return
        _show_suggestion(
            found,
            f"{prefix}:instruction",
            _key(wf, node.id, "text"),
            _key(wf, node.id, "used"),
            node.instruction,
        )


def _show_suggestion(
    found: Suggestion, instruction_key: str, text_key: str, flash_key: str, current: str
) -> None:
    """A suggestion: where it comes from, the patterns it addresses, the diff, the editable text."""
    if found.demo:
        st.markdown(
            f":orange[Demo suggestion (offline demo model)] · built by rule from the most common edits "
            f"and notes of {found.learned_from} reviewed runs"
        )
    else:
        model = md_escape(found.meta.get("model", "the model"))
        cost = _cost(found.meta.get("cost_usd"))
        st.markdown(f"Suggested by **{model}** from {found.learned_from} reviewed runs · {cost}")
    patterns = found.rationale[1:] if found.demo else found.rationale  # the demo's first line: its label
    st.markdown("\n".join(f"- {md_escape(line)}" for line in patterns))
    for warning in found.warnings:
        st.warning(f"Check before using it: {md_escape(warning)}", icon=":material/warning:")
    st.markdown("**Current → suggested** (removed words struck through, added ones in green)")
    with st.container(border=True, key="designer_suggestion_diff"):
        st.markdown(word_diff_markdown(found.old, st.session_state.get(text_key, found.new)))
    st.text_area("Suggested instruction (you may edit it)", key=text_key, height=200)
    st.button(
        "Use this instruction",
        key="designer_use_suggestion",
        icon=":material/check:",
        type="primary",
        on_click=_use,
        args=(instruction_key, text_key, flash_key),
    )
    if st.session_state.get(flash_key) == current:  # said until the instruction changes again
        st.success(
            "The instruction box now holds the suggestion. Test it against past runs, then save the workflow "
            "to publish it.",
            icon=":material/check_circle:",
        )


def estimate_line(e: Estimate) -> str:
    """What a replay will take, in words, before it starts."""
    cost = (
        "free (offline demo model)"
        if e.demo
        else "cost unknown (no price for the model)"
        if e.cost_usd is None
        else f"about {money(e.cost_usd)}"
    )
    calls = f"{e.calls} model call{'s' if e.calls != 1 else ''}"
    return f"{calls} · about {e.prompt_tokens + e.completion_tokens:,} tokens · {cost}"


def test_against_past_runs(app: Loopdesk, wf: Workflow, node: AIStepNode, user: str) -> None:
    """The “Test against past runs” panel: estimate, then the replay run by run."""
    kept_key = _key(wf, "", "replay")
    box = st.expander(
        "Test against past runs",
        icon=":material/history:",
        key=_key(wf, node.id, "replay_open"),
        on_change="rerun",
        expanded=kept_key in st.session_state,
    )
    with box:
        if not box.open:  # reading the history waits until someone looks
            return
        st.caption(
            "Replays the AI steps you changed on the inputs of past runs that reviewers approved, and "
            "compares each new draft with what the reviewer finally approved. A sandbox: no run, checkpoint, "
            "notification or board move is created; only the cost is logged."
        )
        last = int(
            st.number_input(
                "Past runs",
                1,
                MAX_RUNS,
                DEFAULT_RUNS,
                key=_key(wf, "", "last"),
                help="The newest approved runs of each changed step.",
            )
        )
        plan_key = _key(wf, "", f"plan:{hashlib.sha256(wf.to_json().encode()).hexdigest()}:{last}")
        try:  # read once per working copy and number of runs, not on every rerun of the page
            plan = st.session_state.get(plan_key) or app.replay_plan(wf, user, last=last)
        except EngineError as exc:
            st.info(md_message(str(exc)), icon=":material/info:")
            return
        st.session_state[plan_key] = plan
        if not plan.cases:
            st.info(
                f"No AI step's prompt differs from the saved version {plan.saved.version}: change the "
                "instruction (or use a suggestion), then test it here.",
                icon=":material/info:",
            )
            return
        names = ", ".join(f"“{md_escape(node_name(wf, i))}”" for i, c in plan.cases.items() if c)
        idle = ", ".join(f"“{md_escape(node_name(wf, i))}”" for i, c in plan.cases.items() if not c)
        if idle:
            st.caption(
                f"Changed, with no approved draft to compare with: {idle} (no reviewer has approved one of "
                "its answers yet, or no approval shows them)."
            )
        runs = max(len(c) for c in plan.cases.values())
        if not runs:
            return
        st.markdown(f"Changed: {names} · {runs} approved run{'s' if runs != 1 else ''} to replay")
        st.caption(f"Before it starts: {estimate_line(plan.estimate)}")
        if st.button(
            "Replay on past runs", key="designer_replay", icon=":material/play_arrow:", type="primary"
        ):
            with st.spinner(f"Replaying {plan.estimate.calls} drafts…"):
                try:
                    st.session_state[kept_key] = (app.replay(wf, user, last=last, plan=plan), time.time())
                except EngineError as exc:
                    st.error(md_message(str(exc)), icon=":material/error:")
                    return
        kept = st.session_state.get(kept_key)
        if kept is not None:
            show_replay(wf, *kept)
        log_line = replay_log_line(app.replay_log(wf.id, user), app.directory.name_of)
        if log_line:
            st.caption(log_line)


def _cost(usd: float | None) -> str:
    """A cost, or that nobody knows it (a model no price table lists)."""
    return "cost unknown" if usd is None else money(usd)


def replay_log_line(log: list[dict[str, Any]], name_of: Callable[[str], str]) -> str:
    """The replays kept in a workflow's log (the newest 20), in one line: how many, what they used,
    the latest."""
    if not log:
        return ""
    usage = [e.get("usage") or {} for e in log]
    tokens = sum(int(u.get("prompt_tokens") or 0) + int(u.get("completion_tokens") or 0) for u in usage)
    costs = [u.get("cost_usd") for u in usage]
    spent = "cost unknown" if any(c is None for c in costs) else money(sum(float(c or 0.0) for c in costs))
    last = log[0]
    when, who = minute(float(last.get("at") or 0.0)), name_of(str(last.get("by", "")))
    return (
        f"Replays on record for this workflow: {len(log)} (the newest {LOG_LENGTH} are kept) · {tokens:,} "
        f"tokens · {spent} · latest {when} by {who}"
    )


def _run_label(c: ReplayCase) -> str:
    return f"{c.title} · {minute(c.decided_at)}"


def _pair(before: float, after: float | None) -> str:
    return f"{before:.2f} → {'–' if after is None else f'{after:.2f}'}"


def _rows(cases: list[ReplayCase]) -> list[dict[str, Any]]:
    """The replayed runs as table rows: the verdict, and similarity and edit size before → now."""
    return [
        {
            "Run": _run_label(c),
            "New draft": VERDICTS[c.verdict],
            "Similarity": _pair(c.old_similarity, c.new_similarity),
            "Edit size": _pair(c.old_edit_size, c.new_edit_size),
        }
        for c in cases
    ]


def show_replay(wf: Workflow, done: Replay, at: float) -> None:
    """A replay's result in the inspector: what it used, each step's totals, and a button that opens
    the comparison run by run."""
    used = done.usage()
    cost = "free (offline demo model)" if done.demo else _cost(done.cost_usd)
    st.markdown(
        f"**Replayed at {time.strftime('%H:%M:%S', time.localtime(at))}** against version "
        f"{done.against_version} · used {used['prompt_tokens'] + used['completion_tokens']:,} tokens · {cost}"
    )
    for step in done.steps:
        verdict = step.verdict()
        shown = st.success if verdict == "better" else st.error if verdict == "worse" else st.warning
        title = md_escape(node_name(wf, step.node_id))
        shown(f"“{title}”: {md_escape(step.summary())}", icon=":material/insights:")
    if st.button("Compare run by run", key="designer_replay_compare", icon=":material/compare:"):
        compare_runs(wf, done)


@st.dialog("Test against past runs: run by run", width="large")
def compare_runs(wf: Workflow, done: Replay) -> None:
    """Each replayed run: the verdict, then one run's old draft, approved text and new draft side by side."""
    for step in done.steps:
        if not step.cases:
            continue
        st.markdown(f"**{md_escape(node_name(wf, step.node_id))}** · {md_escape(step.summary())}")
        st.dataframe(
            _rows(step.cases),
            hide_index=True,
            key=f"designer_replay_table_{step.node_id}",
            column_config={
                "Similarity": st.column_config.TextColumn(
                    "Similarity",
                    help="How close each draft is to the approved text (1 = the same): old → new",
                ),
                "Edit size": st.column_config.TextColumn(
                    "Edit size",
                    help="Words to change to reach the approved text, over the draft's words: old → new",
                ),
            },
        )
        titles = {c.run_id: f"{_run_label(c)} · {VERDICTS[c.verdict]}" for c in step.cases}
        picked = st.selectbox(
            "Look at one run",
            list(titles),
            format_func=titles.__getitem__,
            key=f"designer_replay_run_{step.node_id}",
        )
        case = next(c for c in step.cases if c.run_id == picked)
        old, approved, new = st.columns(3, border=True)
        old.markdown(f"**Old draft** · similarity {case.old_similarity:.2f}")
        old.caption("What the saved prompt wrote.")
        old.text(as_text(case.old_draft))
        approved.markdown("**Approved**")
        approved.caption("What the reviewer finally approved, edits included.")
        approved.text(as_text(case.approved))
        if case.error:
            new.markdown("**New draft**")
            new.error(md_message(case.error), icon=":material/error:")
        else:
            new.markdown(f"**New draft** · similarity {case.new_similarity:.2f}")
            demo = " :orange[Demo output (offline demo model).]" if case.meta.get("demo") else ""
            new.caption(f"What the changed prompt writes for the same run.{demo}")
            new.text(as_text(case.new_draft))
