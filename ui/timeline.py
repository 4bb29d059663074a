"""A run's step timeline, status-coloured canvas and audit trail, plus links between pages."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitAPIException

from engine.diffs import edit_size, word_diff, words_changed
from engine.directory import Directory
from engine.durations import span
from engine.kinds import kind_label, node_title
from engine.model import Workflow
from engine.records import AuditEvent, LiveStep, OutboxEvent, StepRecord
from engine.services import RunDetail
from ui.format import (
    ai_cost,
    as_text,
    clock,
    duration_ms,
    md_escape,
    md_label,
    md_message,
    one_line,
)

STEP_ICONS: dict[str, str] = {
    "done": ":material/check_circle:",
    "failed": ":material/error:",
    "calling": ":material/outgoing_mail:",
}

EVENT_LABELS: dict[str, str] = {
    "run_started": "Run started",
    "moved": "Moved",
    "checkpoint_opened": "Checkpoint opened",
    "decision_approve": "Approved",
    "decision_reject": "Rejected",
    "decision_request_changes": "Changes requested",
    "decision_reassign": "Reassigned",
    "reassigned": "Reassigned",
    "rejected": "Run rejected",
    "completed": "Completed",
    "failed": "Step failed",
    "retried": "Retried",
    "cancelled": "Cancelled",
    "recovered": "Recovered after restart",
    "resumed": "Resumed after a database pause",
    "taken_over": "Continued by another worker (the one driving it stopped)",
    "notification_failed": "Notification not delivered",
    "reminded": "Reminder sent",
    "approval_counted": "Approval counted (more needed)",
    "self_approval_override": "Self-approval by an admin (override)",
    "ai_answer_lost": "An AI answer was paid for but could not be saved (the run went on without it)",
    "quorum_short": "Too few people may approve (waits for an admin or the escalation chain)",
    "quorum_overridden": "Approved by an admin before the approvals it needed were in (override)",
    "auto_approved": "Auto-approved by Loopdesk (auto-approval with spot checks)",
}
"""How each audit event reads."""


def link_to(page: str, label: str, params: Mapping[str, str] | None = None, icon: str | None = None) -> None:
    """A link to another page of the app (plain text when the page runs on its own, e.g. in tests)."""
    try:
        st.page_link(page, label=md_label(label), icon=icon, query_params=dict(params or {}))
    except StreamlitAPIException:
        query = "&".join(f"{k}={v}" for k, v in (params or {}).items())
        target = page.removeprefix("pages/").removesuffix(".py")
        st.markdown(f"[{md_escape(label)}]({target}{'?' + query if query else ''})")


def node_name(wf: Workflow, node_id: str | None) -> str:
    """A node's title (or kind) for messages; the id when the node is unknown."""
    if node_id is None:
        return ""
    try:
        node = wf.node(node_id)
    except KeyError:
        return node_id
    return node_title(node)


def step_tokens(step: StepRecord) -> int:
    """Prompt plus completion tokens of an AI step (0 for other steps)."""
    return int(step.meta.get("prompt_tokens") or 0) + int(step.meta.get("completion_tokens") or 0)


def step_line(step: StepRecord, wf: Workflow, who: Callable[[str], str] = str) -> str:
    """One Markdown line for a finished step: icon, title, kind, duration, AI facts (escaped)."""
    icon = STEP_ICONS.get(step.status, ":material/radio_button_checked:")
    kind = kind_label(step.kind)
    parts = [f"{icon} **{md_escape(node_name(wf, step.node_id))}**", md_escape(kind)]
    if step.kind == "approval" and isinstance(step.output, dict):
        by = who(str(step.output.get("by", "")))
        parts.append(md_escape(f"{str(step.output.get('kind', '')).replace('_', ' ')} by {by}"))
    else:
        parts.append(duration_ms(step.duration_ms))
    if step.kind == "ai_step":
        parts.append(f"{step_tokens(step)} tokens")
        if step.meta.get("demo"):
            parts.append(":orange[demo output]")
        else:
            parts.append(ai_cost(step.meta))
        if step.meta.get("cut_off"):
            parts.append(":orange[cut off at the token limit]")
    parts += _call_facts(step)
    if step.error:
        parts.append(f":red[{md_escape(one_line(step.error, 120))}]")
    return " · ".join(parts)


def _call_facts(step: StepRecord) -> list[str]:
    """What a step that acts outside did: demo delivery, the answer's status, attempts, a repeat."""
    meta = step.meta
    if "idempotency_key" not in meta:
        return []
    if step.status == "calling":
        return ["calling (the call was recorded before it was made)"]
    out = []
    if meta.get("delivery") == "demo":
        out.append(":orange[demo delivery: nothing was sent]")
    elif meta.get("status"):
        out.append(md_escape(f"answered {meta['status']}"))
    if int(meta.get("attempts") or 1) > 1:
        out.append(f"{meta['attempts']} attempts")
    if meta.get("repeated_after_interruption"):
        out.append(":orange[called again after an interruption, same key]")
    return out


def node_statuses(detail: RunDetail) -> dict[str, str]:
    """Each node's state in this run: done, running, waiting, failed (unlisted: pending)."""
    status: dict[str, str] = {}
    for s in detail.steps:
        status[s.node_id] = {"done": "done", "calling": "running"}.get(s.status, "failed")
    run = detail.run
    if run.current_node:
        if run.status == "waiting":
            status[run.current_node] = "waiting"
        elif run.status == "running":
            status[run.current_node] = "running"
        elif run.status == "failed":
            status[run.failed_node or run.current_node] = "failed"
    return status


def _show_value(label: str, value: Any) -> None:
    """A stored value as text: code for strings, a JSON viewer for objects."""
    st.caption(md_label(label))
    if isinstance(value, (dict, list)):
        st.json(value, expanded=1)
    else:
        st.code(as_text(value) or "(empty)", language=None, wrap_lines=True)


def _model_label(s: StepRecord) -> str:
    """The model an AI step used; demo output is labelled as such."""
    if s.kind != "ai_step":
        return ""
    if s.meta.get("demo"):
        return "offline demo model"
    return str(s.meta.get("model", ""))


def show_live(live: LiveStep | None, wf: Workflow, current_node: str | None) -> None:
    """The step in flight: its name, attempt and time so far, and the answer growing as it streams."""
    if live is None:
        st.markdown(f":material/progress_activity: Running **{md_escape(node_name(wf, current_node))}**…")
        return
    attempt = f" · attempt {live.attempt}" if live.attempt > 1 else ""
    st.markdown(
        f":material/progress_activity: Running **{md_escape(node_name(wf, live.node_id))}**{attempt} · "
        f"{span(time.time() - live.started_at)}"
        + (f" · {len(live.text.split())} words so far" if live.text else " · waiting for the first words")
    )
    if live.text:
        st.code(live.text, language=None, wrap_lines=True)


def show_steps(detail: RunDetail, directory: Directory) -> None:
    """The step timeline: a summary table, then each step's inputs, output, model and errors."""
    wf, steps = detail.workflow, detail.steps
    if not steps:
        st.caption("No step has finished yet.")
    rows = [
        {
            "#": i + 1,
            "Step": node_name(wf, s.node_id),
            "Kind": kind_label(s.kind),
            "Status": s.status,
            "Duration": duration_ms(s.duration_ms) if s.kind != "approval" else span(s.duration_ms / 1000),
            "Model": _model_label(s),
            "Tokens": str(step_tokens(s)) if s.kind == "ai_step" else "",
            "Cost": ai_cost(s.meta) if s.kind == "ai_step" else "",
            "Error": s.error or "",
        }
        for i, s in enumerate(steps)
    ]
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch", key=f"steps_{detail.run.id}")
    for i, s in enumerate(steps):
        with st.expander(f"{i + 1}. {step_line(s, wf, directory.label)}", expanded=s.status == "failed"):
            _step_body(s, directory)
    cp = detail.open_checkpoint
    if cp is not None:
        st.warning(
            f":material/hourglass_top: **{md_escape(node_name(wf, cp.node_id))}** is waiting for "
            f"{md_escape(directory.label(cp.assignee))} since {span(time.time() - cp.created_at)}.",
        )


def _step_body(s: StepRecord, directory: Directory) -> None:
    """Details of one step inside its expander."""
    facts = [f"started {clock(s.started_at)}", f"took {duration_ms(s.duration_ms)}"]
    if s.kind == "ai_step":
        meta = s.meta
        demo = " — **demo output** (offline demo model, not a real AI)" if meta.get("demo") else ""
        model, provider = md_escape(meta.get("model", "")), md_escape(meta.get("provider", ""))
        prompt, completion = meta.get("prompt_tokens", 0), meta.get("completion_tokens", 0)
        tokens = (
            "not reported by the server"
            if prompt is None
            else f"{prompt} prompt + {completion} completion"
            + (
                f" ({meta['cached_tokens']} prompt tokens from the cache)"
                if meta.get("cached_tokens")
                else ""
            )
        )
        attempts = int(meta.get("attempts") or 1)
        st.markdown(
            f"Model **{model}** via {provider}{demo}  \n"
            f"Tokens: {tokens} · cost {ai_cost(meta)} · model latency {duration_ms(meta.get('latency_ms'))}"
            + (f" · {attempts} attempts" if attempts > 1 else "")
        )
        if meta.get("cut_off"):
            st.warning("The answer was cut off at the step's token limit.", icon=":material/content_cut:")
        if meta.get("structured") and meta["structured"] != "json_schema":
            st.caption(
                md_escape(
                    f"Structured answer asked for with {meta['structured']} (the server has no json_schema)"
                )
            )
        for note in meta.get("notes") or []:
            st.caption(f":material/tune: {md_escape(str(note))}")
    st.caption(" · ".join(facts))
    if s.error:
        st.error(md_message(s.error), icon=":material/error:")
    if s.kind == "ai_step":
        for m in s.meta.get("messages") or s.input.get("messages") or []:
            _show_value(f"Prompt ({m.get('role', '')})", m.get("content", ""))
        _show_value("Answer", s.output)
        return
    if s.kind == "approval" and isinstance(s.output, dict):
        out = s.output
        st.markdown(
            f"**{md_escape(out.get('kind', ''))}** by {md_escape(directory.label(str(out.get('by', ''))))}"
        )
        if out.get("comment"):
            _show_value("Comment", out["comment"])
        for name, change in (out.get("edits") or {}).items():
            show_edit(name, change, f"Edited {name}")
        _show_value("Shown to the reviewer", (s.input or {}).get("shown", {}))
        return
    if "idempotency_key" in s.meta:
        _call_body(s)
        return
    if s.input:
        _show_value("Inputs", s.input)
    if s.output is not None:
        _show_value("Output", s.output)


def _call_body(s: StepRecord) -> None:
    """A step that acts outside: what it sent (or would have, in demo delivery) and the answer."""
    out = s.output if isinstance(s.output, dict) else {}
    if out.get("delivery") == "demo":
        note = str(out.get("note", "Demo delivery: nothing was sent."))
        st.info(md_message(note), icon=":material/science:")
    st.caption(f"Idempotency key: `{s.meta['idempotency_key']}` (the same for every attempt of this call)")
    if out.get("request") is not None:
        _show_value("Would have sent" if out.get("delivery") == "demo" else "Sent", out["request"])
    if "answer" in out:
        _show_value(f"Answer ({out.get('status', '')})", out["answer"])


def word_diff_markdown(before: Any, after: Any) -> str:
    """An edit as Markdown, word by word: removed words struck through on red, added ones on green
    (the text itself escaped; line breaks kept)."""
    marks = {"same": "{}", "del": ":red-background[~~{}~~]", "ins": ":green-background[{}]"}
    parts = []
    for op, text in word_diff(before, after):
        lines = [md_escape(line.strip()) for line in text.split("\n")]
        parts.append("  \n".join(marks[op].format(line) if line else "" for line in lines))
    return " ".join(parts) or "(no change)"


def show_edit(name: str, change: dict[str, Any], title: str) -> None:
    """One edited value as a readable word diff, with how much of the draft changed."""
    before, after = change.get("before"), change.get("after")
    changed = words_changed(before, after)
    size = edit_size({name: change})
    st.markdown(f"**{md_escape(title)}** · {changed} word{'s' if changed != 1 else ''} changed ({size:.0%})")
    with st.container(border=True):
        st.markdown(word_diff_markdown(before, after))


_Detail = Callable[[dict[str, Any], str, Directory, Workflow], str]
"""An audit event's details in words: (details, the step's name in quotes, directory, workflow)."""


def _reassigned(d: dict[str, Any], step: str, directory: Directory, wf: Workflow) -> str:
    """Who handed the checkpoint to whom, and why."""
    text = f"{directory.label(str(d.get('from', '')))} → {directory.label(str(d.get('to', '')))}"
    if d.get("place_of"):
        text += " (their place among the approvers)"
    return text + (f": {d['comment']}" if d.get("comment") else "")


def _decided(d: dict[str, Any], step: str, directory: Directory, wf: Workflow) -> str:
    """Where a decision was taken, what it edited and what it said."""
    parts = [f"at {step}"]
    if d.get("edits"):
        parts.append("edited " + ", ".join(d["edits"]))
    if d.get("comment"):
        parts.append(f"comment: {d['comment']}")
    return "; ".join(parts)


def _opened(d: dict[str, Any], step: str, directory: Directory, wf: Workflow) -> str:
    """Whom a new checkpoint went to (and why, when it is a spot check)."""
    spot = f" (spot check: {d['spot_check']})" if d.get("spot_check") else ""
    return f"{step} assigned to {directory.label(str(d.get('assignee', '')))}{spot}"


def _auto_approved(d: dict[str, Any], step: str, directory: Directory, wf: Workflow) -> str:
    """Why Loopdesk approved a checkpoint itself."""
    rate, reviews = float(d.get("rate") or 0.0), d.get("reviews")
    return f"{step}: {rate:.0%} of the last {reviews} reviews by people were approved as they were"


_DETAILS: dict[str, _Detail] = {
    "moved": lambda d, step, directory, wf: f"{d.get('from') or '—'} → {d.get('to')}",
    "checkpoint_opened": _opened,
    "auto_approved": _auto_approved,
    "reassigned": _reassigned,
    "decision_reassign": _reassigned,
    "quorum_short": lambda d, step, directory, wf: (
        f"{step}: needs {d.get('needed')} approvals; {d.get('reason')}"
    ),
    "quorum_overridden": lambda d, step, directory, wf: (
        f"{step}: {d.get('progress')}" + (f"; reason: {d['reason']}" if d.get("reason") else "")
    ),
    "failed": lambda d, step, directory, wf: f"{step}: {d.get('error')}",
    "completed": lambda d, step, directory, wf: f"outcome {d.get('outcome')}",
    "retried": lambda d, step, directory, wf: f"from {node_name(wf, str(d.get('node')))}",
    "cancelled": lambda d, step, directory, wf: f"at {node_name(wf, str(d.get('at')))}",
    "run_started": lambda d, step, directory, wf: f"{d.get('workflow')} v{d.get('version')}",
    "notification_failed": lambda d, step, directory, wf: (
        f"{d.get('event')}: {d.get('error')} ({'gave up' if d.get('gave_up') else 'retrying'})"
    ),
}
"""How each kind of audit event's details read; other events show their details as JSON."""


def audit_detail(e: AuditEvent, directory: Directory, wf: Workflow) -> str:
    """A short readable summary of an audit event's details."""
    d = e.detail
    step = f"“{node_name(wf, str(d['node']))}”" if d.get("node") else ""
    event = e.event
    if event.startswith("decision_") and event not in _DETAILS:
        return _decided(d, step, directory, wf)
    if event == "rejected" and "outcome" in d:
        event = "completed"  # a run that ended rejected: its outcome, as a completed one shows it
    shown = _DETAILS.get(event)
    if shown is not None:
        return shown(d, step, directory, wf)
    rest = {k: v for k, v in d.items() if k != "shown"}
    return json.dumps(rest, ensure_ascii=False) if rest else ""


def show_audit(events: list[AuditEvent], directory: Directory, wf: Workflow, key: str) -> None:
    """The audit trail as a table: time, actor, event, details."""
    if not events:
        st.caption("No events yet.")
        return
    rows = [
        {
            "Time": clock(e.ts),
            "Actor": directory.label(e.actor) if e.actor in directory.users else e.actor,
            "Event": EVENT_LABELS.get(e.event, e.event),
            "Details": audit_detail(e, directory, wf),
        }
        for e in events
    ]
    st.dataframe(rows, hide_index=True, width="stretch", key=key)


def show_canvas(detail: RunDetail, key: str) -> None:
    """The workflow drawn read-only with each node coloured by its status in this run."""
    statuses = node_statuses(detail)
    try:
        from ui.canvas import show_readonly
    except ImportError:  # the canvas module is optional: fall back to a list
        for node in detail.workflow.nodes:
            state = statuses.get(node.id, "pending")
            st.markdown(f"- **{md_escape(node_name(detail.workflow, node.id))}** — {state}")
        return
    show_readonly(detail.workflow, key=key, node_status=statuses)


NOTIFICATION_STATES = {
    "pending": "retrying",
    "delivered": "delivered",
    "failed": "gave up",
    "skipped": "not sent (no channel set up)",
}


def show_notifications(events: list[OutboxEvent], configured: bool) -> None:
    """What was announced about a run (webhooks, Slack, email) and whether it got through."""
    if not configured:
        st.caption(
            "No notification channel is set up (LOOPDESK_WEBHOOK_URL, LOOPDESK_SMTP_URL): events are "
            "recorded here but not sent; set one up and restart to announce new ones."
        )
    if not events:
        st.caption("Nothing announced yet.")
        return
    rows = [
        {
            "Time": clock(e.at),
            "Event": e.event,
            "State": NOTIFICATION_STATES.get(e.status, e.status)
            + (f" after {e.attempts} failed tries" if e.attempts and e.status != "pending" else ""),
            "Sent to": ", ".join(e.done) or "—",
            "Last problem": e.last_error or "",
        }
        for e in events
    ]
    st.dataframe(rows, hide_index=True, width="stretch")
