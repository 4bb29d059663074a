"""The Designer's form for the workflow itself: name, description, sections, revision cap, default
model, business hours and who may change, start and see it."""

from __future__ import annotations

import streamlit as st

from engine.directory import Directory
from engine.model import Access, Workflow
from ui.format import md_escape
from ui.inspector_fields import people_picker, reasoning_choice, text_lines
from ui.policy_editor import business_hours_editor


def workflow_settings(wf: Workflow, directory: Directory, prefix: str, app_model: str = "") -> Workflow:
    """Name, description, sections, revision cap, default model, business hours and access."""
    st.caption(f"Workflow id: {md_escape(wf.id)} (stays the same across versions)")
    name = st.text_input("Workflow name", value=wf.name, key=f"{prefix}:name")
    description = st.text_area("Description", value=wf.description, key=f"{prefix}:description", height=80)
    sections = st.text_area(
        "Board sections (one per line, in order)",
        value="\n".join(wf.sections),
        key=f"{prefix}:sections",
        height=130,
    )
    c1, c2 = st.columns(2)
    max_revisions = c1.number_input(
        "Max revisions",
        min_value=1,
        max_value=50,
        value=wf.max_revisions,
        step=1,
        key=f"{prefix}:max_revisions",
        help="How often a checkpoint may send the task back before it must be decided.",
    )
    default_model = c2.text_input(
        "Default model",
        value=wf.default_model,
        key=f"{prefix}:default_model",
        placeholder=f"app default: {app_model}" if app_model else "the app's default",
        help="The model of AI steps that name none. Empty: the app's default model "
        "(LOOPDESK_MODEL, or what an admin chose on My account).",
    )
    c3, c4 = st.columns(2, vertical_alignment="bottom")
    with c3:
        default_reasoning = reasoning_choice(
            "Reasoning model", wf.default_reasoning, f"{prefix}:default_reasoning"
        )
    allow_cut_off = c4.checkbox(
        "Review cut-off drafts",
        value=wf.allow_cut_off,
        key=f"{prefix}:allow_cut_off",
        help="A draft cut off at its step's token limit goes to review with a warning instead of "
        "failing the step. Classification and JSON answers that were cut off always fail.",
    )
    business_hours = business_hours_editor(wf, prefix)
    st.markdown("**Access** · admins may always do everything")
    access = Access(
        editors=people_picker(
            "Who may change it", wf.access.editors, directory, f"{prefix}:editors",
            "People and groups with the designer role who may edit this workflow. "
            "None chosen: every designer.",
        ),
        starters=people_picker(
            "Who may start it", wf.access.starters, directory, f"{prefix}:starters",
            "People and groups who may submit its form. None chosen: every requester.",
        ),
        viewers=people_picker(
            "Who sees all its runs", wf.access.viewers, directory, f"{prefix}:viewers",
            "Besides its designers: who sees every run on Runs, Board and Insights. Everyone always "
            "sees the runs they started or were asked to review.",
        ),
    )  # fmt: skip
    changes = {
        "name": name,
        "description": description,
        "sections": text_lines(sections),
        "max_revisions": int(max_revisions),
        "default_model": default_model.strip(),
        "default_reasoning": default_reasoning,
        "allow_cut_off": bool(allow_cut_off),
        "access": access,
        "business_hours": business_hours,
    }
    if all(getattr(wf, k) == v for k, v in changes.items()):
        return wf
    return wf.model_copy(update=changes)
