"""Templates: a gallery of ready workflows with a read-only preview, "Use template", and demo data."""

from __future__ import annotations

import streamlit as st

from engine.catalog import Template, list_templates
from engine.demo_data import DEMO_RUNS, load_demo_data
from engine.errors import EngineError
from engine.model import ApprovalNode, Workflow
from engine.services import Loopdesk
from ui.canvas import show_readonly
from ui.format import md_escape, md_label
from ui.runtime import current_user, get_app, show_error
from ui.timeline import link_to

# Session keys: template id → id of the workflow this user created from it on this page; and a
# message to show once after a rerun (the demo data summary).
CREATED_KEY = "templates_created"
FLASH_KEY = "templates_flash"
PREVIEW_HEIGHT = 400
# Templates shown first, in this order; the rest follow by name.
FEATURED: tuple[str, ...] = ("marketing-social-post", "support-reply")
TEAM_LABELS: dict[str, str] = {"marketing": "Marketing", "support": "Support", "managers": "Managers"}
TEAM_COLORS: dict[str, str] = {"Marketing": "violet", "Support": "blue", "Managers": "orange"}


def plural(n: int, word: str) -> str:
    """'1 checkpoint', '3 AI steps'."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def gallery_order(template: Template) -> tuple[int, str]:
    """Sort key: featured templates first, then by name."""
    wid = template.workflow.id
    return (FEATURED.index(wid) if wid in FEATURED else len(FEATURED), template.workflow.name)


def approvals(wf: Workflow) -> list[ApprovalNode]:
    """The workflow's approval checkpoints from top to bottom of the canvas."""
    nodes = [n for n in wf.nodes if isinstance(n, ApprovalNode)]
    return sorted(nodes, key=lambda n: (n.position.y, n.position.x))


def teams(app: Loopdesk, wf: Workflow) -> list[str]:
    """Teams whose people review this workflow, from the checkpoints' assignees."""
    found: list[str] = []
    for node in approvals(wf):
        if app.directory.is_group(node.assignee):
            groups = [app.directory.group_name(node.assignee)]
        else:
            user = app.directory.users.get(node.assignee)
            groups = list(user.groups[:1]) if user else []
        for group in groups:
            label = TEAM_LABELS.get(group, group.capitalize())
            if label not in found:
                found.append(label)
    return found


def show_preview(wf: Workflow, key: str) -> None:
    """The workflow on a read-only canvas."""
    show_readonly(wf, key=key, height=PREVIEW_HEIGHT)


def use_template(app: Loopdesk, template_id: str, user: str) -> None:
    """Create the user's own copy and remember it so the card can link to it."""
    try:
        created = app.use_template(template_id, user)
    except EngineError as exc:
        show_error(exc)
        return
    st.session_state.setdefault(CREATED_KEY, {})[template_id] = created.workflow_id


def show_created(app: Loopdesk, template_id: str) -> None:
    """After "Use template": the new workflow's name and where to go next."""
    workflow_id = st.session_state.get(CREATED_KEY, {}).get(template_id)
    if not workflow_id:
        return
    try:
        created = app.get_workflow(workflow_id)
    except EngineError:
        return  # the database was reset under this session; nothing to link to
    st.success(f"Created **{md_escape(created.name)}**, your own editable copy.", icon=":material/check:")
    with st.container(horizontal=True):
        link_to("pages/designer.py", "Open in Designer", {"workflow": workflow_id}, icon=":material/edit:")
        link_to("pages/start_run.py", "Start a run", {"workflow": workflow_id}, icon=":material/play_arrow:")


def show_card(app: Loopdesk, template: Template, user: str) -> None:
    """One template: what it does, what it contains, its canvas, and the actions."""
    wf = template.workflow
    with st.container(border=True):
        st.subheader(md_escape(wf.name), anchor=False)
        with st.container(horizontal=True, gap="small"):
            for team in teams(app, wf):
                st.badge(md_label(team), color=TEAM_COLORS.get(team, "gray"))  # type: ignore[arg-type]
            st.badge(plural(template.ai_steps, "AI step"), icon=":material/auto_awesome:", color="gray")
            st.badge(plural(template.checkpoints, "checkpoint"), icon=":material/how_to_reg:", color="gray")
        show_preview(wf, key=f"template_preview_{wf.id}")
        st.markdown(md_escape(wf.description))
        approvers = ", ".join(md_escape(app.directory.label(n.assignee)) for n in approvals(wf))
        if approvers:
            st.caption(f":material/how_to_reg: Approvers: {approvers}")
        st.caption(f":material/view_column: Sections: {' → '.join(md_escape(s) for s in wf.sections)}")
        with st.container(horizontal=True, vertical_alignment="center"):
            if st.button(
                "Use template",
                key=f"use_{wf.id}",
                type="primary",
                icon=":material/content_copy:",
                disabled=not (user and app.permissions.has_role(user, "designer")),
                help="Create your own editable workflow from this template."
                if user and app.permissions.has_role(user, "designer")
                else "Creating a workflow needs the designer role.",
            ):
                use_template(app, wf.id, user)
            link_to("pages/start_run.py", "Try it as is", {"workflow": wf.id}, icon=":material/play_arrow:")
        show_created(app, wf.id)


def inbox_summary(app: Loopdesk) -> str:
    """Who has how many items waiting, e.g. 'Jamie Rivera 3 · Sam Okafor 5'."""
    counts = [(app.directory.users[name].display_name, app.inbox_count(name)) for name in app.directory.users]
    return " · ".join(f"{md_escape(label)} {n}" for label, n in counts if n)


def show_demo_data(app: Loopdesk, user: str) -> None:
    """The "Load demo data" action: start example runs that wait in reviewers' inboxes."""
    with st.container(border=True):
        left, right = st.columns([4, 1], vertical_alignment="center")
        left.markdown(
            "**Presenting Loopdesk?** Load demo data to start "
            f"{len(DEMO_RUNS)} example tasks (social posts, support replies, refunds and a blog "
            "article) that wait in Jamie's, Sam's and the managers' inboxes."
        )
        allowed = bool(user) and app.permissions.has_role(user, "designer")
        if right.button(
            "Load demo data",
            icon=":material/playlist_add:",
            disabled=not allowed,
            help=None if allowed else "Loading demo data needs the designer role.",
            width="stretch",
        ):
            try:
                with st.spinner("Starting demo tasks…"):
                    run_ids = load_demo_data(app, user)
            except EngineError as exc:
                show_error(exc)
                return
            st.session_state[FLASH_KEY] = (
                f"Started {len(run_ids)} demo tasks. Waiting in inboxes now: {inbox_summary(app)}."
            )
            st.rerun()  # so the sidebar's inbox count includes the new items
    flash = st.session_state.pop(FLASH_KEY, None)
    if flash:
        st.success(flash, icon=":material/inbox:")


def main() -> None:
    """Render the Templates page."""
    app = get_app()
    user = current_user(app)
    st.title("Templates", anchor=False)
    st.caption(
        "Workflows marketing and support teams run every day, with a person signing off "
        "before anything is published or sent. Pick one to get your own copy to change in "
        "the Designer, or try it as is."
    )
    if not user:
        st.info("Log in (in the sidebar) to use templates.", icon=":material/login:")
    try:
        templates = list_templates()
    except EngineError as exc:
        show_error(exc)
        st.stop()
    show_demo_data(app, user)
    templates.sort(key=gallery_order)
    for start in range(0, len(templates), 2):
        row = st.columns(2, gap="medium")
        for column, template in zip(row, templates[start : start + 2], strict=False):
            with column:
                show_card(app, template, user)


main()
