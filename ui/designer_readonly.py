"""The Designer for someone who may not change the workflow in front of them: a shipped template
(read-only for everyone; “Use template” copies it), or any workflow for a person without the designer
role. They see the canvas and every step in words, and can try the workflow; nothing can be saved."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from engine.kinds import kind_of, node_title
from engine.model import AIStepNode, Workflow
from engine.records import WorkflowVersion
from engine.services import Loopdesk
from ui.arrange import layers
from ui.canvas import show_readonly
from ui.format import md_escape
from ui.prompt_lab import improve_prompt, replace_key, test_against_past_runs
from ui.timeline import link_to

VIEW_PICK_KEY = "designer_view_pick"
READONLY_HEIGHT = 640


def steps_in_words(wf: Workflow, assignee_label: Callable[[str], str]) -> str:
    """Every step as a numbered Markdown list, top to bottom as Auto-arrange rows them: title, kind
    and settings in one line."""
    nodes = wf.node_map()
    lines = []
    for i, nid in enumerate((nid for row in layers(wf) for nid in row), start=1):
        node = nodes[nid]
        kind = kind_of(node)
        summary = " · ".join(kind.summary(node, assignee_label))
        detail = f" — {md_escape(summary)}" if summary else ""
        lines.append(f"{i}. **{md_escape(node_title(node))}** · {kind.label}{detail}")
    return "\n".join(lines)


UseTemplate = Callable[[str, dict[str, str] | None], None]
"""Make the user's copy of a template (with these AI steps' instructions replaced) and open it."""


def show_readonly_designer(
    app: Loopdesk,
    user: str,
    choices: list[WorkflowVersion],
    current: str | None,
    reason: str,
    on_use_template: UseTemplate | None,
) -> None:
    """The workflows a person may look at, one at a time, read-only, with why they cannot change it."""
    if not choices:
        st.info(reason, icon=":material/lock:")
        st.caption("There is no workflow you may look at yet.")
        return
    ids = [w.workflow_id for w in choices]
    by_id = {w.workflow_id: w for w in choices}
    if st.session_state.get(VIEW_PICK_KEY) not in ids:
        st.session_state[VIEW_PICK_KEY] = current if current in ids else ids[0]
    chosen = st.selectbox(
        "Workflow",
        ids,
        key=VIEW_PICK_KEY,
        format_func=lambda w: f"{by_id[w].name} · {w}" + (" (template)" if app.is_template(w) else ""),
    )
    shown = by_id[str(chosen)]
    wf = shown.definition
    template = app.is_template(wf.id)
    why = (
        f"“{md_escape(wf.name)}” is a shipped template: it stays as shipped. "
        "Use it to get your own copy to change, or try it as is."
        if template and on_use_template is not None
        else reason
    )
    st.info(why, icon=":material/lock:")
    with st.container(horizontal=True, vertical_alignment="center", key="designer_readonly_actions"):
        if template and on_use_template is not None:
            st.button(
                "Use template",
                key="designer_use_template",
                type="primary",
                icon=":material/content_copy:",
                on_click=on_use_template,
                args=(wf.id, None),
                help="Create your own editable copy and open it here.",
            )
        if app.permissions.can_start(user, wf):
            link_to("pages/start_run.py", "Try it as is", {"workflow": wf.id}, icon=":material/play_arrow:")
    st.caption(f"Version {shown.version} · read-only")
    show_readonly(wf, key=f"designer_readonly_{wf.id}", height=READONLY_HEIGHT)
    st.subheader("Steps", anchor=False)
    st.markdown(steps_in_words(wf, app.directory.label))
    if template and on_use_template is not None:
        template_prompt_lab(app, wf, user, on_use_template)


def template_prompt_lab(app: Loopdesk, wf: Workflow, user: str, on_use: UseTemplate) -> None:
    """Learn from how reviewers treated a template's drafts (runs started with “Try it as is”): improve an
    AI step's instruction, test it against those runs, then use the template with the improvement."""
    steps = [n for n in wf.nodes if isinstance(n, AIStepNode)]
    if not steps:
        return
    st.subheader("Improve a prompt before you use it", anchor=False)
    st.caption(
        "Runs of this template (started with “Try it as is”) teach how reviewers want its drafts: suggest a "
        "better instruction from their edits and notes, test it against the runs they approved, then use "
        "the template with it. The template itself stays as shipped."
    )
    by_id = {n.id: n for n in steps}
    picked = st.selectbox(
        "AI step", list(by_id), format_func=lambda i: node_title(by_id[i]), key=f"template_lab_step:{wf.id}"
    )
    node = by_id[str(picked)]
    prefix = f"template_lab:{wf.id}:{node.id}"
    text_key = f"{prefix}:instruction"
    st.session_state.setdefault(text_key, node.instruction)
    replacement = st.session_state.pop(replace_key(text_key), None)  # a suggestion, used
    if replacement is not None:
        st.session_state[text_key] = replacement
    st.text_area("Instruction", key=text_key, height=160)
    instruction = str(st.session_state[text_key])
    working_node = node.model_copy(update={"instruction": instruction})
    working = wf.model_copy(update={"nodes": [working_node if n.id == node.id else n for n in wf.nodes]})
    improve_prompt(app, working, working_node, user, prefix)
    test_against_past_runs(app, working, working_node, user)
    if instruction != node.instruction:
        st.button(
            "Use template with this improvement",
            key=f"template_lab_use:{wf.id}",
            type="primary",
            icon=":material/content_copy:",
            on_click=on_use,
            args=(wf.id, {node.id: instruction}),
            help="Create your own editable copy of the template with this instruction, and open it here.",
        )
