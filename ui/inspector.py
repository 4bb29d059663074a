"""Inspector forms of the Designer: one per node kind (`FORMS`). The workflow's own form is in
`ui.workflow_settings`, where a step leads in `ui.inspector_wiring`, shared inputs in
`ui.inspector_fields`.

Each form reads its widgets and returns the workflow with the edits applied (or unchanged). Widget
keys start with a prefix that includes the working copy's generation, so a restored or imported
working copy gets fresh widgets instead of stale ones.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import streamlit as st
from pydantic import ValidationError

from engine.dataflow import (
    FEEDBACK,
    delivered_at_end,
    ends_after,
    in_words,
    listing,
    next_approval,
    readers,
    rename_value,
    revisable_values,
    step_flow,
    value_label,
    value_labels,
    writers,
)
from engine.directory import GROUP_PREFIX, Directory
from engine.kinds import step_name
from engine.kinds.ai_step import revises, split_material, with_material
from engine.model import (
    AIStepNode,
    ApprovalNode,
    BranchNode,
    EndNode,
    FieldType,
    FormField,
    FormTriggerNode,
    HttpRequestNode,
    JsonOutputField,
    KeyValue,
    MoveToSectionNode,
    Node,
    ResponsePick,
    Workflow,
)
from engine.validation import available_values
from ui.format import md_escape, md_label
from ui.inspector_fields import people_picker, pick_one, reasoning_choice, text_lines
from ui.policy_editor import (
    auto_approval_editor,
    escalation_editor,
    quorum_editor,
    self_approval_editor,
    show_chain,
)
from ui.prompt_lab import replace_key
from ui.runtime import want_app_rerun
from ui.tables import frozen_rows, records
from ui.values import friendly_labels, from_friendly, placeholder, to_friendly, with_token
from ui.workflow_edits import replace_node

FIELD_TYPES = ["text", "long_text", "choice", "number", "email"]
OUTPUT_KINDS = {"text": "Text", "classification": "One label of a list", "json": "JSON fields"}
ADVANCED_KEY = "designer_advanced"
"""The inspector shows prompts as written for the engine (`{{ name }}`) and every AI setting."""
FOCUS_VALUE_KEY = "designer_value_focus"
"""The value the designer selected in the inspector: the canvas shows who writes and reads it."""
ON_TIMEOUT = {
    "none": "Nothing",
    "approve": "Approve it",
    "reject": "Reject it",
    "reassign": "Hand it on",
}


def _insert_value(pills_key: str, text_key: str, tokens: dict[str, str]) -> None:
    """Add the clicked value to the end of the text box (and let go of the pill)."""
    want_app_rerun()  # batched with a canvas reply, the click would rerun only the canvas
    name = st.session_state.get(pills_key)
    if name:
        text = str(st.session_state.get(text_key) or "")
        st.session_state[text_key] = with_token(text, tokens.get(str(name), placeholder(str(name))))
    st.session_state[pills_key] = None


def _value_chips(ctx: FormContext, text_key: str, in_words: bool) -> None:
    """The values a prompt may use here, by their labels: clicking one adds it to the text (as
    `[Label]`, or as `{{ name }}` when the box shows the engine's form)."""
    if not ctx.avail:
        st.caption("No values reach this step yet; connect it after the form.")
        return
    labels = ctx.labels
    ordered = sorted(ctx.avail, key=lambda n: (n == FEEDBACK, str(labels.get(n, n)).lower(), n))
    words = friendly_labels(labels) if in_words else {}
    tokens = {n: f"[{words[n]}]" if n in words else placeholder(n) for n in ordered}
    st.pills(
        "Insert a value (click: it is added to the end of the text)",
        ordered,
        format_func=lambda n: md_label(labels.get(n, n)),  # pills draw Markdown: typed labels show as typed
        key=f"{text_key}:insert",
        on_change=_insert_value,
        args=(f"{text_key}:insert", text_key, tokens),
        help="The run puts in what the value holds at that point. These are the values every path to "
        "this step has written.",
    )


def _prompt_box(
    ctx: FormContext,
    label: str,
    text: str,
    key: str,
    *,
    height: int,
    example: str = "",
    material: str | None = None,
) -> str:
    """A prompt in a text box with the available values as chips below it. Values read as
    `[Label]`; under Advanced (or where a label cannot stand for a value) as `{{ name }}`. With
    `material`, the text the step revises stays placed after what is typed. Returns the prompt as
    the engine reads it (unchanged when nothing was typed)."""
    replacement = st.session_state.pop(replace_key(key), None)  # e.g. an improved instruction, used
    if replacement is not None:
        text = str(replacement)
    body, placed = split_material(text, material) if material else (text, False)
    friendly = None if ctx.advanced else to_friendly(body, ctx.labels)
    shown = body if friendly is None else friendly
    box_key = f"{key}:{'raw' if friendly is None else 'words'}"
    if replacement is not None:
        st.session_state[box_key] = shown
    if friendly is not None and example:
        example = _example_in_words(example, ctx.labels)
    typed = st.text_area(label, value=shown, key=box_key, height=height, placeholder=example)
    _value_chips(ctx, box_key, in_words=friendly is not None)
    if typed == shown:
        return text
    new = typed if friendly is None else from_friendly(typed, ctx.labels)
    return with_material(new, str(material)) if placed and new.strip() else new


def _example_in_words(example: str, labels: dict[str, str]) -> str:
    """A placeholder text with its `{{ name }}` shown as `[Label]`."""
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: f"[{value_label_of(m.group(1), labels)}]", example)


def value_label_of(name: str, labels: dict[str, str]) -> str:
    """What people call a value (its name in words when nothing names it)."""
    return labels.get(name) or in_words(name)


def _apply(wf: Workflow, node: Node, changes: dict[str, Any]) -> Workflow:
    """The workflow with `changes` applied to `node`; a refused value is shown, not raised."""
    data = {**node.model_dump(), **changes}
    if data == node.model_dump():
        return wf
    try:
        updated = type(node).model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            st.error(f"{where}: {err['msg']}", icon=":material/error:")
        return wf
    return replace_node(wf, updated)


@dataclass(frozen=True)
class FormContext:
    """What a kind's inspector form may use besides the node."""

    wf: Workflow
    avail: set[str]
    """Values set on every path to the step (what its prompts and pickers may use)."""
    directory: Directory
    prefix: str
    """Start of every widget key (includes the working copy's generation)."""
    app_model: str
    """The app's default model, shown where a step uses it."""
    labels: dict[str, str] = field(default_factory=dict)
    """What people call each value."""
    advanced: bool = False
    """Prompts as the engine reads them (`{{ name }}`) and every setting."""
    intend: Callable[[str, Any], None] | None = None
    """Records an edit that reaches beyond the step (the page applies it after the form)."""
    renames: list[tuple[str, str]] = field(default_factory=list)
    """Values the form renamed (old, new): every step using them follows."""
    connections: dict[str, list[str]] = field(default_factory=dict)
    """The names of the app's connections by type (`http`: ["crm"]), for steps that send through one."""


def node_form(
    wf: Workflow,
    node: Node,
    directory: Directory,
    prefix: str,
    app_model: str = "",
    intend: Callable[[str, Any], None] | None = None,
    connections: dict[str, list[str]] | None = None,
) -> Workflow:
    """The settings form of the selected node (its title, what it uses and writes, then its kind's
    form from `FORMS`); returns the workflow with its edits. `intend(action, arg)` records edits
    the page applies after the form (a step's purpose, a value shown to the reviewer)."""
    advanced = st.toggle(
        "Advanced",
        key=ADVANCED_KEY,
        help="Show prompts as the engine reads them ({{ name }}) and every setting of an AI step: "
        "system prompt, model, temperature, the answer's name.",
    )
    ctx = FormContext(
        wf,
        available_values(wf).get(node.id, set()),
        directory,
        prefix,
        app_model,
        labels=value_labels(wf),
        advanced=advanced,
        intend=intend,
        connections=connections or {},
    )
    changes: dict[str, Any] = {
        "title": st.text_input("Title", value=node.title, key=f"{prefix}:title"),
    }
    flow = step_flow(node)
    focus_values(ctx, [*flow.reads, *flow.writes], f"{prefix}:focus")
    changes.update(FORMS[node.type](ctx, node))
    wf = _apply(wf, node, changes)
    for old, new in ctx.renames:
        wf = rename_value(wf, old, new)
    return wf


def focus_values(ctx: FormContext, names: list[str], key: str) -> None:
    """The values a step uses and writes (or the workflow's values) as chips: selecting one makes
    the steps that write it (green) and read it (blue) glow on the canvas."""
    shown = [n for n in dict.fromkeys(names) if n != FEEDBACK]
    if not shown:
        return
    chosen = st.pills(
        "Values · select one to see where it is written (green) and used (blue)",
        shown,
        format_func=lambda n: md_label(value_label(ctx.wf, n, ctx.labels)),
        key=key,
    )
    st.session_state[FOCUS_VALUE_KEY] = chosen
    if chosen:
        nodes = ctx.wf.node_map()
        made = [f"‘{step_name(ctx.wf, nodes[n])}’" for n in writers(ctx.wf, chosen)]
        used = [f"‘{step_name(ctx.wf, nodes[n])}’" for n in readers(ctx.wf, chosen)]
        label = value_label(ctx.wf, chosen, ctx.labels)
        parts = [f"written by {listing(made, 8)}" if made else "written by no step"]
        parts.append(f"used by {listing(used, 8)}" if used else "used by no step")
        st.caption(md_escape(f"{label}: {' · '.join(parts)}"))


def _move_to_section(ctx: FormContext, node: MoveToSectionNode) -> dict[str, Any]:
    if not ctx.wf.sections and not node.section:
        st.warning("The workflow has no board sections; add them in the workflow settings.")
        return {}
    chosen = pick_one("Section", ctx.wf.sections, node.section, f"{ctx.prefix}:section", "Choose a section")
    return {"section": chosen or ""}


def _branch(ctx: FormContext, node: BranchNode) -> dict[str, Any]:
    prefix = ctx.prefix
    value = pick_one(
        "Route on the value", sorted(ctx.avail - {FEEDBACK}), node.value, f"{prefix}:value", "Choose a value",
        format_func=lambda n: value_label(ctx.wf, n, ctx.labels),
    )  # fmt: skip
    cases = st.text_area(
        "Cases (one per line)",
        value="\n".join(node.cases),
        key=f"{prefix}:cases",
        help="Each case gets its own connection; `default` catches everything else.",
    )
    return {"value": value or "", "cases": text_lines(cases)}


def _end(ctx: FormContext, node: EndNode) -> dict[str, Any]:
    prefix = ctx.prefix
    return {
        "outcome": st.text_input("Outcome label", value=node.outcome, key=f"{prefix}:outcome"),
        "status": st.radio(
            "The run finishes as",
            ["completed", "rejected"],
            index=0 if node.status == "completed" else 1,
            key=f"{prefix}:status",
            horizontal=True,
            help="Choose rejected for the end of a rejection path, so boards and insights count it so.",
        ),
        "result": st.multiselect(
            "What the run delivers",
            sorted((ctx.avail - {FEEDBACK}) | set(node.result)),
            default=node.result,
            key=f"{prefix}:result",
            format_func=lambda n: value_label(ctx.wf, n, ctx.labels),
            help="Shown as the run's result on its page, in the email to the person who started it and "
            "in the run.completed webhook.",
        ),
    }


def _http_request(ctx: FormContext, node: HttpRequestNode) -> dict[str, Any]:
    prefix = ctx.prefix
    names = sorted(set(ctx.connections.get("http", [])) | ({node.connection} - {""}))
    connection = pick_one(
        "Connection", names, node.connection or None, f"{prefix}:connection", "None: a whole URL",
        help="Where it sends, with its secret headers (admins add connections on the Connections page). "
        "Without one set up, runs use demo delivery: nothing is sent, the run shows what would have been.",
    )  # fmt: skip
    left, right = st.columns([1, 3])
    methods: list[str] = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    method = left.selectbox("Method", methods, index=methods.index(node.method), key=f"{prefix}:method")
    url = right.text_input(
        "Path" if connection else "URL",
        value=node.url,
        key=f"{prefix}:url",
        placeholder="/posts" if connection else "https://api.example.com/posts",
        help="May use values, e.g. /tickets/{{ ticket_id }}.",
    )
    _value_chips(ctx, f"{prefix}:url", in_words=False)
    st.caption("The JSON body: one row per field; a value is text, or a value picked as {{ name }}.")
    body = _rows(node.body, f"{prefix}:body", "Field", "Value")
    picks = _rows(
        [KeyValue(key=p.path, value=p.name) for p in node.picks], f"{prefix}:picks", "Answer field", "Keep as"
    )
    status_name = node.status_name
    raw_body, headers = node.raw_body, node.headers
    if ctx.advanced:
        headers = _rows(node.headers, f"{prefix}:headers", "Header", "Value")
        raw_body = st.text_area(
            "Body as text (instead of the fields above)", value=node.raw_body, key=f"{prefix}:raw_body"
        )
        status_name = st.text_input("Keep the status code as", value=node.status_name, key=f"{prefix}:status")
    return {
        "connection": connection or "",
        "method": method,
        "url": url,
        "body": body,
        "headers": headers,
        "raw_body": raw_body,
        "picks": [ResponsePick(name=r.value, path=r.key) for r in picks if r.key or r.value],
        "status_name": status_name.strip(),
    }


def _rows(rows: list[KeyValue], key: str, left: str, right: str) -> list[KeyValue]:
    """A table of name → value rows people add to and remove from."""
    edited = st.data_editor(
        [{left: r.key, right: r.value} for r in rows] or [{left: "", right: ""}],
        key=key,
        num_rows="dynamic",
        use_container_width=True,
        hide_index=True,
    )
    out = [KeyValue(key=str(r.get(left) or "").strip(), value=str(r.get(right) or "")) for r in edited]
    return [r for r in out if r.key or r.value]


def _intend_value(intend: Callable[[str, Any], None] | None, action: str, node_id: str, key: str) -> None:
    """A widget changed: record `action` with the step and the widget's new value."""
    if intend is not None:
        intend(action, (node_id, st.session_state.get(key)))


REVISE_CAPTION = "It improves that text and writes it back: every later step gets the better version."
NEW_CHOICE = "Write something new"
NEW_CAPTION = "A new value of its own, which a later step or the reviewer then uses."


def _purpose(ctx: FormContext, node: AIStepNode) -> str | None:
    """ "What should this step do?": revise a text an earlier AI step wrote, or write something new
    (asked where an earlier text exists). Returns the value it revises, if it does."""
    options = revisable_values(ctx.wf, node.id)
    current = revises(ctx.wf, node)
    if not options:
        return None
    choices = [*options, ""]
    key = f"{ctx.prefix}:purpose"
    st.radio(
        "What should this step do?",
        choices,
        index=choices.index(current or ""),
        format_func=lambda v: (
            f"Revise “{value_label(ctx.wf, v, ctx.labels)}”" if v else "Write something new"
        ),
        captions=[*[REVISE_CAPTION] * len(options), NEW_CAPTION],
        key=key,
        on_change=_intend_value,
        args=(ctx.intend, "purpose", node.id, key),
        disabled=ctx.intend is None,
    )
    return current


def _own_answer(ctx: FormContext, node: AIStepNode) -> None:
    """What a step writing something new calls its answer, who uses it, and whether the reviewer
    sees it."""
    key = f"{ctx.prefix}:answer_words"
    st.text_input(
        "What it writes",
        value=value_label(ctx.wf, node.output_name, ctx.labels),
        key=key,
        on_change=_intend_value,
        args=(ctx.intend, "name_answer", node.id, key),
        disabled=ctx.intend is None,
        help="A name for the answer, in words (e.g. Headline): later steps and the reviewer see it by "
        "this name. Renaming it renames every use.",
    )
    nodes = ctx.wf.node_map()
    users = [f"‘{step_name(ctx.wf, nodes[n])}’" for n in readers(ctx.wf, node.output_name) if n != node.id]
    if users:
        st.caption(md_escape(f"Used by {listing(users, 6)}."))
    approval = next_approval(ctx.wf, node.id)
    if approval is None:
        if ends_after(ctx.wf, node.id):
            end_key = f"{ctx.prefix}:deliver"
            st.checkbox(
                "Deliver it when the run ends",
                value=delivered_at_end(ctx.wf, node.id, node.output_name),
                key=end_key,
                on_change=lambda: (
                    ctx.intend
                    and ctx.intend(
                        "deliver", (node.id, node.output_name, bool(st.session_state.get(end_key)))
                    )
                ),
                disabled=ctx.intend is None,
                help="The run's result: shown on its page, in the email to the person who started it and in "
                "the run.completed webhook.",
            )
        return
    where = md_escape(step_name(ctx.wf, approval))
    if not approval.visible_values:
        st.caption(f"‘{where}’ shows the reviewer every value, this one included.")
        return
    show_key = f"{ctx.prefix}:show_reviewer"
    st.checkbox(
        f"Show it to the reviewer (in ‘{where}’)",
        value=node.output_name in approval.visible_values,
        key=show_key,
        on_change=lambda: (
            ctx.intend
            and ctx.intend("show_reviewer", (node.id, node.output_name, bool(st.session_state.get(show_key))))
        ),
        disabled=ctx.intend is None,
    )


def _ai_step(ctx: FormContext, node: AIStepNode) -> dict[str, Any]:
    wf, prefix, app_model = ctx.wf, ctx.prefix, ctx.app_model
    out: dict[str, Any] = {}
    revised = _purpose(ctx, node)
    out["instruction"] = _prompt_box(
        ctx,
        "Instruction",
        node.instruction,
        f"{prefix}:instruction",
        height=160,
        example="e.g. Write a short post about {{ topic }}",
        material=revised,
    )
    if revised is not None and split_material(node.instruction, revised)[1]:
        label = value_label(wf, revised, ctx.labels)
        st.caption(md_escape(f"The {label} to revise is placed after your instruction."))
    if revised is None:
        _own_answer(ctx, node)
        kinds = list(OUTPUT_KINDS)
        out["output_kind"] = st.selectbox(
            "The answer is",
            kinds,
            index=kinds.index(node.output_kind),
            format_func=OUTPUT_KINDS.__getitem__,
            key=f"{prefix}:output_kind",
        )
        if out["output_kind"] == "classification":
            out["labels"] = text_lines(
                st.text_area("Labels (one per line)", value="\n".join(node.labels), key=f"{prefix}:labels")
            )
        elif out["output_kind"] == "json":
            out["json_fields"] = _json_fields(node, prefix)
    if not ctx.advanced:
        return out
    out["system_prompt"] = _prompt_box(
        ctx, "System prompt (optional)", node.system_prompt, f"{prefix}:system_prompt", height=80
    )
    c1, c2 = st.columns(2)
    out["model"] = (
        c1.text_input(
            "Model",
            value=node.model or "",
            key=f"{prefix}:model",
            placeholder=f"default: {wf.default_model or app_model or 'the app default'}",
        ).strip()
        or None
    )
    out["reasoning"] = reasoning_choice("Reasoning model", node.reasoning, f"{prefix}:reasoning")
    out["temperature"] = c2.slider(
        "Temperature", 0.0, 2.0, value=float(node.temperature), step=0.1, key=f"{prefix}:temperature"
    )
    name = c2.text_input(
        "Output name",
        value=node.output_name,
        key=f"{prefix}:output_name",
        help="The answer's name as prompts use it ({{ name }}); renaming it renames every use.",
    ).strip()
    if name != node.output_name and name:
        ctx.renames.append((node.output_name, name))
    return out


def _json_fields(node: AIStepNode, prefix: str) -> list[dict[str, Any]]:
    """The fields of a JSON answer, as a table."""
    rows = frozen_rows(f"{prefix}:json_fields", [f.model_dump() for f in node.json_fields])
    edited = st.data_editor(
        rows,
        key=f"{prefix}:json_fields",
        num_rows="dynamic",
        use_container_width=True,
        column_config={
            "name": st.column_config.TextColumn("Name", required=True),
            "type": st.column_config.SelectboxColumn(
                "Type", options=["string", "number", "boolean"], default="string", required=True
            ),
            "description": st.column_config.TextColumn("Description"),
        },
    )
    return [
        JsonOutputField(
            name=str(r.get("name") or "").strip(),
            type=r.get("type") or "string",
            description=str(r.get("description") or ""),
        ).model_dump()
        for r in records(edited)
        if str(r.get("name") or "").strip()
    ]


def _approval(ctx: FormContext, node: ApprovalNode) -> dict[str, Any]:
    avail, directory, prefix = ctx.avail, ctx.directory, ctx.prefix
    wf = ctx.wf
    out: dict[str, Any] = {}
    people = sorted(directory.users)
    groups = [f"{GROUP_PREFIX}{g}" for g in sorted(directory.groups)]
    assignee = pick_one(
        "Assignee", people + groups, node.assignee, f"{prefix}:assignee",
        "Choose a person or a group", format_func=directory.label,
    )  # fmt: skip
    out["assignee"] = assignee or ""
    out["instructions"] = _prompt_box(
        ctx, "Instructions for the reviewer", node.instructions, f"{prefix}:instructions", height=100
    )
    value_options = sorted((avail - {FEEDBACK}) | set(node.visible_values) | set(node.editable_values))
    labels = ctx.labels
    out["visible_values"] = st.multiselect(
        "Values the reviewer sees (none chosen: all)",
        value_options,
        default=node.visible_values,
        key=f"{prefix}:visible",
        format_func=lambda n: labels.get(n, n),
    )
    out["editable_values"] = st.multiselect(
        "Values the reviewer may edit",
        value_options,
        default=node.editable_values,
        key=f"{prefix}:editable",
        format_func=lambda n: labels.get(n, n),
    )
    c1, c2 = st.columns(2)
    due = c1.number_input(
        "Due in hours (0: no due time)",
        min_value=0.0,
        value=float(node.due_hours or 0.0),
        step=1.0,
        key=f"{prefix}:due",
    )
    out["due_hours"] = float(due) if due else None
    modes = list(ON_TIMEOUT)
    out["on_timeout"] = c2.selectbox(
        "When the due time passes",
        modes,
        index=modes.index(node.on_timeout),
        format_func=ON_TIMEOUT.__getitem__,
        key=f"{prefix}:on_timeout",
    )
    if out["on_timeout"] == "reassign":
        out["timeout_assignee"] = pick_one(
            "Hand it to", people + groups, node.timeout_assignee, f"{prefix}:timeout_assignee",
            "Choose a person or a group", format_func=directory.label,
        )  # fmt: skip
    else:
        out["timeout_assignee"] = None
    out["reassign_to"] = people_picker(
        "May be reassigned to",
        node.reassign_to,
        directory,
        f"{prefix}:reassign_to",
        "Who a reviewer may hand this checkpoint to (never to themselves). None chosen: only admins and "
        "the escalation chain reassign it. Where several must approve, the new person takes the place of "
        "the one who hands it on.",
    )
    out.update(escalation_editor(wf, node, directory, prefix))
    # what the chain will do, as edited (a value the model refuses is reported by node_form)
    with contextlib.suppress(ValidationError):
        show_chain(wf, ApprovalNode.model_validate({**node.model_dump(), **out}), directory)
    out.update(quorum_editor(node.model_copy(update={"assignee": out["assignee"]}), directory, prefix))
    out.update(self_approval_editor(node, prefix))
    out.update(auto_approval_editor(node, prefix))
    return out


def _cell_value(row: dict[str, Any], column: str, ftype: str, name: str) -> str | float | None:
    """A default or example typed into the fields table: a number for a number field."""
    raw = str(row.get(column) or "").strip()
    if ftype != "number" or not raw:
        return raw or None
    try:
        return float(raw)
    except ValueError:
        st.error(f"The {column} of {md_escape(name)} is not a number.", icon=":material/error:")
        return None


def _form_trigger(ctx: FormContext, node: FormTriggerNode) -> dict[str, Any]:
    prefix = ctx.prefix
    st.caption("Form fields (add rows at the bottom; choice options are separated by commas)")
    rows = frozen_rows(
        f"{prefix}:fields",
        [
            {
                "name": f.name,
                "label": f.label,
                "type": f.type,
                "required": f.required,
                "options": ", ".join(f.options),
                "default": "" if f.default is None else str(f.default),
                "example": "" if f.example is None else str(f.example),
                "help": f.help,
            }
            for f in node.fields
        ],
    )
    edited = st.data_editor(
        rows,
        key=f"{prefix}:fields",
        num_rows="dynamic",
        use_container_width=True,
        column_config={
            "name": st.column_config.TextColumn(
                "Name", required=True, help="How prompts name it ({{ name }}); renaming it renames every use"
            ),
            "label": st.column_config.TextColumn("Label"),
            "type": st.column_config.SelectboxColumn(
                "Type", options=FIELD_TYPES, default="text", required=True
            ),
            "required": st.column_config.CheckboxColumn("Required", default=False),
            "options": st.column_config.TextColumn("Options"),
            "default": st.column_config.TextColumn(
                "Default", help="Fills the field when it is left blank (by the form, the API and the CLI)"
            ),
            "example": st.column_config.TextColumn(
                "Example", help="Sample data shown as the placeholder (prefilled in a demo); never a fill-in"
            ),
            "help": st.column_config.TextColumn("Help"),
        },
    )
    fields: list[dict[str, Any]] = []
    for r in records(edited):
        name = str(r.get("name") or "").strip()
        if not name:
            continue
        ftype = cast(FieldType, r.get("type") if r.get("type") in FIELD_TYPES else "text")
        default = _cell_value(r, "default", ftype, name)
        example = _cell_value(r, "example", ftype, name)
        field = FormField(
            name=name,
            label=str(r.get("label") or ""),
            type=ftype,
            required=bool(r.get("required")),
            options=[o.strip() for o in str(r.get("options") or "").split(",") if o.strip()],
            default=default,
            example=example,
            help=str(r.get("help") or ""),
        )
        fields.append(field.model_dump())
    names = [f["name"] for f in fields]
    before = [f.name for f in node.fields]
    if len(before) == len(names):  # a field renamed in place: every step using it follows
        ctx.renames.extend((a, b) for a, b in zip(before, names, strict=True) if a != b and b not in before)
    options = [None, *names]
    if node.title_field and node.title_field not in options:
        options.append(node.title_field)
    title_field = st.selectbox(
        "Task title field",
        options,
        index=options.index(node.title_field) if node.title_field in options else 0,
        format_func=lambda n: "(none)" if n is None else str(n),
        key=f"{prefix}:title_field",
        help="Its value names the task on the board.",
    )
    return {"fields": fields, "title_field": title_field}


FORMS: dict[str, Callable[[FormContext, Any], dict[str, Any]]] = {
    "form_trigger": _form_trigger,
    "ai_step": _ai_step,
    "move_to_section": _move_to_section,
    "approval": _approval,
    "branch": _branch,
    "http_request": _http_request,
    "end": _end,
}
"""The inspector form of each node kind (the rest of a kind lives in its home, `engine.kinds`):
reads its widgets and returns the settings as edited."""
