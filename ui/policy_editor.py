"""The Designer's editors for checkpoint policies: an approval's escalation chain, quorum and
self-approval, and the workflow's business hours; each explained in words at the node."""

from __future__ import annotations

from typing import Any, cast
from zoneinfo import available_timezones

import pandas as pd
import streamlit as st
from pydantic import ValidationError

from engine.directory import Directory
from engine.model import ESCALATION_VERBS, ApprovalNode, AutoApproval, BusinessHours, Workflow
from engine.policies import chain_summary
from ui.format import md_escape
from ui.tables import frozen_rows, records

ACTIONS = {
    "remind": "Remind again",
    "reassign": "Hand it to…",
    "approve": "Approve it",
    "reject": "Reject it",
}
"""How each escalation action reads in the Designer (the actions are the model's)."""
QUORUM = {
    "any": "Any one member (the first approval decides)",
    "all": "Every member",
    "count": "A number of members",
}


CHAIN_COLUMNS = {"after_hours": "float64", "action": "object", "to": "object"}
"""The escalation table's columns and their types."""


def _text(value: Any) -> str | None:
    """A table cell as text (None for an empty cell)."""
    return value.strip() or None if isinstance(value, str) else None


def escalation_editor(wf: Workflow, node: ApprovalNode, directory: Directory, prefix: str) -> dict[str, Any]:
    """The chain as a table (one row per step, in time order) and, below it, what it will do."""
    st.markdown("**Reminders and escalation**")
    st.caption(
        "Steps taken while nobody decides, counted from when the checkpoint opened"
        + (" (in the workflow's business hours)" if wf.business_hours else "")
        + ". The due-time action above is the last step."
    )
    key = f"{prefix}:escalation"
    rows = frozen_rows(key, [step.model_dump() for step in node.escalation])
    # typed columns: an empty chain must still offer a number, an action and a person per new row
    table = pd.DataFrame(rows, columns=list(CHAIN_COLUMNS)).astype(CHAIN_COLUMNS)
    edited = st.data_editor(
        table,
        key=key,
        num_rows="dynamic",
        width="stretch",
        column_config={
            "after_hours": st.column_config.NumberColumn(
                "After (hours)", min_value=0.1, step=0.5, required=True,
                help="Hours after the checkpoint opened; each step later than the one before.",
            ),
            "action": st.column_config.SelectboxColumn(
                "Then", options=list(ESCALATION_VERBS), format_func=lambda a: ACTIONS[str(a)], required=True,
                default="remind",
            ),
            "to": st.column_config.SelectboxColumn(
                "To (hand it to)", options=directory.choices(),
                format_func=lambda who: directory.label(str(who)),
            ),
        },
    )  # fmt: skip
    steps: list[dict[str, Any]] = []
    for i, row in enumerate(records(edited), 1):
        action, to, hours = _text(row.get("action")), _text(row.get("to")), row.get("after_hours")
        if pd.isna(hours):
            if action or to:
                st.error(f"Escalation step {i}: say after how many hours.", icon=":material/error:")
            continue  # else an empty row just added
        steps.append({"after_hours": float(cast(float, hours)), "action": action or "remind", "to": to})
    return {"escalation": steps}


def show_chain(wf: Workflow, node: ApprovalNode, directory: Directory) -> None:
    """What the node's chain will do, step by step, in words."""
    lines = chain_summary(node, wf, directory)
    if lines:
        st.markdown("\n".join(f"- {md_escape(line)}" for line in lines))
    else:
        st.caption("No reminders or escalation: the checkpoint waits until someone decides.")


def quorum_editor(node: ApprovalNode, directory: Directory, prefix: str) -> dict[str, Any]:
    """How many members of a group assignee must approve (only asked for a group)."""
    if not directory.is_group(node.assignee) and node.quorum.mode == "any":
        return {}
    st.markdown("**Who must approve**")
    if directory.is_group(node.assignee):
        members = directory.members(node.assignee)
        st.caption(
            f"{md_escape(directory.label(node.assignee))} has {len(members)} member(s). "
            "Each decides once; one rejection or send-back decides at once."
        )
    modes = list(QUORUM)
    mode = st.radio(
        "Approvals needed",
        modes,
        index=modes.index(node.quorum.mode),
        format_func=QUORUM.__getitem__,
        key=f"{prefix}:quorum_mode",
    )
    count = None
    if mode == "count":
        count = int(
            st.number_input(
                "How many approvals",
                min_value=1,
                max_value=1000,
                value=node.quorum.count or 2,
                step=1,
                key=f"{prefix}:quorum_count",
            )
        )
        members = directory.members(node.assignee)
        if directory.is_group(node.assignee) and count >= len(members) > 0 and not node.allow_self_approval:
            st.caption(
                f"When one of them starts a run, only {len(members) - 1} may approve it (nobody approves "
                "their own request): it then waits for an admin or the escalation chain, never closing on "
                "fewer approvals."
            )
    return {"quorum": {"mode": mode, "count": count}}


def self_approval_editor(node: ApprovalNode, prefix: str) -> dict[str, Any]:
    """Whether whoever started the run may decide its checkpoint."""
    allowed = st.checkbox(
        "Let the requester decide it too",
        value=node.allow_self_approval,
        key=f"{prefix}:allow_self",
        help="The requester is whoever started the run. Off (the default): nobody decides their own "
        "request; an admin still may, by giving a reason that is recorded in the audit trail.",
    )
    return {"allow_self_approval": bool(allowed)}


def auto_approval_editor(node: ApprovalNode, prefix: str) -> dict[str, Any]:
    """Opt-in auto-approval with spot checks, and its four numbers."""
    on = st.checkbox(
        "Auto-approve with spot checks",
        value=node.auto_approval is not None,
        key=f"{prefix}:auto_on",
        help="Once enough of the latest reviews approved the AI's drafts as they were, Loopdesk approves "
        "most runs by itself and records each auto-approval in the audit trail. One run in K, every "
        "unusual draft and every revision still go to a person; a spot check that is not approved as it "
        "was switches it off until the drafts earn it again.",
    )
    if not on:
        return {"auto_approval": None}
    rule = node.auto_approval or AutoApproval()
    c1, c2 = st.columns(2)
    threshold = c1.number_input(
        "Approved as is (%)", 1, 100, max(1, round(rule.threshold * 100)), key=f"{prefix}:auto_threshold",
        help="Share of the latest reviews that must be approvals as is before it switches on.",
    )  # fmt: skip
    window = c2.number_input(
        "Of the last reviews", 1, 1000, rule.window, key=f"{prefix}:auto_window",
        help="How many of the latest reviews by people the share is measured over.",
    )  # fmt: skip
    c3, c4 = st.columns(2)
    every = c3.number_input(
        "Spot-check one run in", 2, 1000, rule.spot_check_every, key=f"{prefix}:auto_every",
        help="While it is on, this share of runs still goes to a person.",
    )  # fmt: skip
    unusual = c4.number_input(
        "Unusual below similarity", 0.0, 1.0, float(rule.unusual_below), 0.05, key=f"{prefix}:auto_unusual",
        help="A draft less alike than this (0–1, word by word) to every recently approved text goes to a "
        "person.",
    )  # fmt: skip
    chosen = AutoApproval(
        threshold=int(threshold) / 100,
        window=int(window),
        spot_check_every=int(every),
        unusual_below=float(unusual),
    )
    return {"auto_approval": chosen.model_dump()}


def business_hours_editor(wf: Workflow, prefix: str) -> BusinessHours | None:
    """Whether due times and escalations count working hours only, and which."""
    on = st.checkbox(
        "Count business hours only",
        value=wf.business_hours is not None,
        key=f"{prefix}:bh_on",
        help="Hours outside these (nights, weekends) do not count: 8 hours due on Friday at 15:00 "
        "falls on Monday at 15:00 with mon-fri, 09:00-17:00.",
    )
    if not on:
        return None
    bh = wf.business_hours or BusinessHours()
    c1, c2, c3 = st.columns(3)
    days = c1.text_input("Days", value=bh.days, key=f"{prefix}:bh_days", help="e.g. mon-fri or mon-thu,sat")
    start = c2.text_input("From (HH:MM)", value=bh.start, key=f"{prefix}:bh_start")
    end = c3.text_input("Until (HH:MM)", value=bh.end, key=f"{prefix}:bh_end")
    zones = sorted(available_timezones())
    if bh.timezone not in zones:
        zones.append(bh.timezone)  # kept, so the validator can say what is wrong with it
    timezone = st.selectbox("Time zone", zones, index=zones.index(bh.timezone), key=f"{prefix}:bh_timezone")
    try:
        return BusinessHours(days=days.strip(), start=start.strip(), end=end.strip(), timezone=str(timezone))
    except ValidationError as exc:
        for err in exc.errors():
            st.error(f"Business hours, {err['loc'][0]}: {err['msg']}", icon=":material/error:")
        return wf.business_hours
