"""A checkpoint as a reviewer sees it, the decision form, and the reviewer's past decisions."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from engine.decisions import Approve, Decision, Reassign, Reject, RequestChanges, decision_record
from engine.directory import Directory
from engine.durations import span
from engine.limits import MAX_COMMENT_CHARS
from engine.model import AIStepNode, Workflow
from engine.records import CheckpointRecord, StepRecord
from engine.services import RunDetail
from ui.format import (
    DECISION_LABELS,
    age,
    as_text,
    clock,
    code_span,
    due,
    md_escape,
    md_label,
    md_message,
)
from ui.timeline import link_to, node_name, show_edit


@dataclass
class ReviewValues:
    """A checkpoint's values sorted for the reviewer: request (form) values, AI outputs, editables."""

    form: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    editable: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    """Per AI output: which step wrote it, with model and a demo note."""
    cut_off: set[str] = field(default_factory=set)
    """AI outputs the token limit cut off (the workflow lets them go to review)."""


def review_values(cp: CheckpointRecord, detail: RunDetail) -> ReviewValues:
    """Split what the checkpoint shows into form values, AI outputs and editable values."""
    wf = detail.workflow
    out = ReviewValues()
    try:
        fields = {f.name: f for f in wf.trigger().fields}
    except KeyError:
        fields = {}
    # Which AI step wrote each value: the last one that ran (several branches may write `reply`),
    # else any step that could. By kind, not isinstance: a dev-mode module reload must not hide it.
    producers: dict[str, tuple[AIStepNode, StepRecord | None]] = {
        n.output_name: (n, None) for n in wf.nodes if n.type == "ai_step"
    }
    nodes = wf.node_map()
    for s in detail.steps:
        ran = nodes.get(s.node_id)
        if s.status == "done" and ran is not None and ran.type == "ai_step":
            producers[ran.output_name] = (ran, s)
    names = list(cp.shown) + [n for n in cp.editable if n not in cp.shown]
    for name in names:
        value = cp.shown[name] if name in cp.shown else detail.run.values.get(name)
        if name in fields:
            out.labels[name] = fields[name].label or name
        elif name == "feedback":
            out.labels[name] = "Reviewer's earlier note"
        else:
            out.labels[name] = name.replace("_", " ").capitalize()
        node, step = producers.get(name, (None, None))
        if node is not None:
            source = f"AI step “{node_name(wf, node.id)}”"
            if step is not None:
                model = step.meta.get("model", "")
                source += f" · model {model}" if model else ""
                if step.meta.get("demo"):
                    source += " · demo output (offline demo model)"
                if step.meta.get("cut_off"):
                    out.cut_off.add(name)
            out.sources[name] = source
        if name in cp.editable:
            out.editable[name] = value
        elif node is not None:
            out.outputs[name] = value
        else:
            out.form[name] = value
    return out


def text_height(text: str) -> int:
    """A text area height that fits the text without wasting the page (pixels)."""
    lines = sum(max(1, len(line) // 90 + 1) for line in text.splitlines()) or 1
    return max(110, min(420, 22 * lines + 24))


def due_markdown(cp: CheckpointRecord) -> str:
    """`waiting 5 min · due in 47 h`, with an overdue due time in red."""
    text, overdue = due(cp.due_at)
    due_md = f":red[**{text}**]" if overdue else text
    return f"waiting {span(time.time() - cp.created_at)} · {due_md}"


@dataclass
class ListFacts:
    """What an inbox row says besides title and age: quorum progress, the next escalation step."""

    progress: str = ""
    next_step: str = ""
    selectable: bool = False
    """Whether the row offers a checkbox for deciding several items at once."""


def show_list_item(
    cp: CheckpointRecord,
    workflow_name: str,
    step: str,
    directory: Directory,
    selected: bool,
    facts: ListFacts | None = None,
) -> bool:
    """One inbox row (title, workflow, age, due, progress, next escalation); True when its Open
    button was clicked."""
    facts = facts or ListFacts()
    title = cp.title or "(untitled task)"
    with st.container(border=True, key=f"inbox_item_{cp.id}"):
        if facts.selectable:
            st.checkbox(f"Select “{md_label(title)}”", key=f"pick_{cp.id}")
        st.markdown(f"**{md_escape(title)}**")
        where = f"{md_escape(workflow_name)} · {md_escape(step)}"
        if directory.is_group(cp.assignee):
            where += f" · via {md_escape(directory.label(cp.assignee))}"
        st.caption(where)
        notes = []
        if cp.policy.reminders:
            times = f" {cp.policy.reminders}×" if cp.policy.reminders > 1 else ""
            notes.append(f":orange-badge[Reminded{times}]")
        if facts.progress:
            notes.append(f":blue-badge[{md_escape(facts.progress)}]")
        if cp.policy.spot_check:
            notes.append(":violet-badge[Spot check]")
        if facts.next_step:
            notes.append(f"next: {md_escape(facts.next_step)}")
        if notes:
            st.markdown(" ".join(notes))
        with st.container(horizontal=True, vertical_alignment="center"):
            st.markdown(due_markdown(cp), width="stretch")
            short = title if len(title) <= 40 else title[:39] + "…"
            return st.button(
                md_label(f"{'Opened' if selected else 'Open'} “{short}”"),
                key=f"open_{cp.id}",
                type="primary" if selected else "secondary",
                disabled=selected,
                icon=":material/visibility:",
                width="content",
            )


def show_header(cp: CheckpointRecord, wf: Workflow, directory: Directory, refusal: str | None) -> None:
    """Task title, where it comes from, who must decide and by when, and the instructions.

    `refusal` says why the viewer may not decide it (None when they may).
    """
    st.header(md_escape(cp.title or "(untitled task)"), anchor=False)  # h2 under the page's h1
    st.caption(
        f"{md_escape(wf.name)} · step “{md_escape(node_name(wf, cp.node_id))}” · "
        f"assigned to {md_escape(directory.label(cp.assignee))} · "
        + (f"requested by {md_escape(directory.label(cp.requester))} · " if cp.requester else "")
        + f"opened {clock(cp.created_at)}"
    )
    if cp.status == "pending":
        st.markdown(due_markdown(cp))
        if refusal:
            st.warning(
                f"{md_message(refusal)}. Loopdesk will refuse a decision from you.", icon=":material/lock:"
            )
    if cp.policy.spot_check:
        st.info(
            f"**Spot check.** Loopdesk approves most drafts of this step by itself; this one was picked "
            f"for a person ({md_escape(cp.policy.spot_check)}). Approve it as it is only if it needs no "
            "change: an edit, a send-back or a rejection switches auto-approval off.",
            icon=":material/shuffle:",
        )
    if cp.instructions:
        st.info(md_escape(cp.instructions), icon=":material/checklist:")


def show_values(values: ReviewValues) -> None:
    """The request's form values and the read-only AI outputs, all as plain text."""
    if values.form:
        with st.container(border=True, gap="xsmall"):
            short = {n: as_text(v) for n, v in values.form.items() if "\n" not in as_text(v).strip()}
            lines = [f"{md_escape(values.labels[n])}: {code_span(text)}" for n, text in short.items()]
            st.markdown(":gray[Request]  \n" + "  \n".join(lines))
            for name, value in values.form.items():
                if name not in short:
                    st.markdown(f"{md_escape(values.labels[name])}:")
                    st.text(as_text(value).strip())
    for name, value in values.outputs.items():
        st.markdown(f"**{md_escape(values.labels[name])}** — AI output to check")
        if name in values.sources:
            st.caption(md_escape(values.sources[name]))
        cut_off_warning(values, name)
        st.code(as_text(value) or "(empty)", language=None, wrap_lines=True)


def cut_off_warning(values: ReviewValues, name: str) -> None:
    """Say so when the AI's answer was cut off at its token limit."""
    if name in values.cut_off:
        st.warning(
            "Cut off at the token limit: the AI stopped before it finished. Check the end "
            "(complete it, or request changes) before approving.",
            icon=":material/content_cut:",
        )


@dataclass(frozen=True)
class Override:
    """An admin decides where the checkpoint's rules would not let them: the reason box asks why, and
    which buttons need it."""

    question: str
    """The reason box's label."""
    actions: tuple[str, ...] = ("approve", "request_changes", "reject")
    """Decisions that need the reason."""


OVERRIDES = {
    "self": Override("Why you decide your own request (admin override, recorded in the audit trail)"),
    "quorum": Override(
        "Why you approve it without the approvals it still waits for (admin override, recorded in the "
        "audit trail)",
        actions=("approve",),
    ),
}
"""What the reason box asks, per kind of admin override (`Permissions.override_kind`)."""


def admin_override(kind: str | None) -> Override | None:
    """The reason box for an admin deciding where the checkpoint's rules would not let them
    (`Permissions.override_kind`)."""
    return OVERRIDES[kind] if kind else None


@dataclass
class DecisionInput:
    """What the reviewer asked for on this run: a decision, or why it was refused."""

    decision: Decision | None = None
    problem: str = ""


def decision_form(
    cp: CheckpointRecord,
    values: ReviewValues,
    directory: Directory,
    targets: list[str],
    override: Override | None = None,
    places: list[str] | None = None,
) -> DecisionInput:
    """Editable values prefilled, a comment, a reassign target (of `targets`) and the four buttons;
    with `override`, the reason an admin gives for deciding where the rules would not let them; with
    `places` (an approval several people give, reassigned by an admin), whose place the new person takes."""
    edited: dict[str, str] = {}
    reason = ""
    place = ""
    with st.form(f"decide_{cp.id}", border=False):
        if override is not None:
            reason = st.text_input(override.question, key=f"override_{cp.id}", max_chars=MAX_COMMENT_CHARS)
        for name, value in values.editable.items():
            text = as_text(value)
            source = values.sources.get(name, "")
            hint = "AI output to check; edit it before approving" if source else "edit it if needed"
            st.markdown(f"**{md_escape(values.labels[name])}** — {hint}")
            if source:
                st.caption(md_escape(source))
            cut_off_warning(values, name)
            edited[name] = (
                st.text_area(
                    md_label(values.labels[name]),
                    value=text,
                    height=text_height(text),
                    key=f"edit_{cp.id}_{name}",
                    label_visibility="collapsed",
                )
                or ""
            )
        comment = st.text_area(
            "Comment",
            key=f"comment_{cp.id}",
            placeholder="Required to reject or request changes; optional otherwise.",
            height=90,
            max_chars=MAX_COMMENT_CHARS,
        )
        with st.container(horizontal=True, vertical_alignment="bottom"):
            approve = st.form_submit_button(
                "Approve", type="primary", icon=":material/check:", key=f"approve_{cp.id}"
            )
            changes = st.form_submit_button("Request changes", icon=":material/undo:", key=f"changes_{cp.id}")
            reject = st.form_submit_button("Reject", icon=":material/close:", key=f"reject_{cp.id}")
            st.space("stretch")
            target = st.selectbox(
                "Reassign to",
                targets,
                index=None,
                key=f"target_{cp.id}",
                format_func=directory.label,
                placeholder="Pick a person or group" if targets else "Nobody to hand it to",
                disabled=not targets,
                help=None
                if targets
                else "This approval lists nobody it may be reassigned to; an admin can reassign it.",
                width=240,
            )
            if places:
                place = (
                    st.selectbox(
                        "In place of",
                        places,
                        index=None,
                        key=f"place_{cp.id}",
                        format_func=directory.label,
                        placeholder="Whose place they take",
                        help="Several people must approve this: the new person replaces one who has not "
                        "approved yet, so no approval goes missing.",
                        width=200,
                    )
                    or ""
                )
            reassign = st.form_submit_button("Reassign", icon=":material/forward:", key=f"reassign_{cp.id}")
    comment = (comment or "").strip()
    reason = (reason or "").strip()
    pressed = "approve" if approve else "request_changes" if changes else "reject" if reject else ""
    if override is not None and pressed in override.actions and not reason:
        return DecisionInput(problem=f"Fill in “{override.question}” first, then decide.")
    if approve:
        changed = {n: v for n, v in edited.items() if v != as_text(values.editable[n])}
        return DecisionInput(Approve(comment=comment, edits=changed, override_reason=reason))
    if changes:
        if not comment:
            return DecisionInput(
                problem="Write a note in the Comment box saying what to change, then request changes."
            )
        return DecisionInput(RequestChanges(comment=comment, override_reason=reason))
    if reject:
        if not comment:
            return DecisionInput(problem="Write the reason in the Comment box, then reject.")
        return DecisionInput(Reject(comment=comment, override_reason=reason))
    if reassign:
        if not target:
            return DecisionInput(
                problem="Pick who should get this checkpoint in “Reassign to”, then reassign."
            )
        if places and not place:
            return DecisionInput(problem="Pick whose place they take in “In place of”, then reassign.")
        return DecisionInput(Reassign(to=target, comment=comment, replacing=place))
    return DecisionInput()


def decided_message(decision: Decision, directory: Directory) -> str:
    """What to confirm after a decision was recorded."""
    if isinstance(decision, Approve):
        n = len(decision.edits)
        edits = f" with {n} edited value{'s' if n != 1 else ''}" if n else ""
        return f"Approved{edits}. The run carries on."
    if isinstance(decision, Reject):
        return "Rejected. The run follows its rejected path."
    if isinstance(decision, RequestChanges):
        return "Changes requested. The task goes back with your note."
    return f"Reassigned to {directory.label(decision.to)}."


def review_seconds(cp: CheckpointRecord) -> float:
    """How long a checkpoint waited for its decision (so far, while pending)."""
    return (cp.decided_at or time.time()) - cp.created_at


def show_decided(cps: list[CheckpointRecord], names: dict[str, str], directory: Directory) -> None:
    """My past decisions, newest first, each with its comment and a diff of what I edited."""
    if not cps:
        st.caption("You have not decided anything yet.")
        return
    for cp in cps:
        d = decision_record(cp)
        if d is None:
            continue
        kind = DECISION_LABELS.get(d.kind, d.kind)
        edits = d.edits
        when = age(cp.decided_at) if cp.decided_at else ""
        extra = f" · edited {', '.join(edits)}" if edits else ""
        label = f"**{md_escape(kind)}** · {md_escape(cp.title or '(untitled)')} · {when}{md_escape(extra)}"
        with st.expander(label):
            st.caption(
                f"{md_escape(names.get(cp.workflow_id, cp.workflow_id))} · step {code_span(cp.node_id)} · "
                f"decided {clock(cp.decided_at)} after {span(review_seconds(cp))}"
            )
            if d.comment:
                st.markdown("**Comment**")
                st.text(d.comment)
            for name, change in edits.items():
                show_edit(name, change, f"Your edit of {name}")
            if d.as_is:
                st.caption("Approved as shown, without edits.")
            link_to("pages/runs.py", "Open the run", {"run": cp.run_id}, icon=":material/open_in_new:")
