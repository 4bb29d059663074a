"""The form trigger: a form submission creates the task and starts a run."""

from __future__ import annotations

from engine.forms import coerce_field
from engine.kinds.base import NAME_RE, RESERVED_NAMES, AssigneeLabel, Kind, Look, dupes
from engine.model import FormTriggerNode, Workflow
from engine.steps.base import StepContext, StepOutcome


def run(ctx: StepContext) -> StepOutcome:
    """The form was submitted: record the values it carried."""
    assert isinstance(ctx.node, FormTriggerNode)
    form = {f.name: ctx.run.values.get(f.name) for f in ctx.node.fields}
    return StepOutcome(output=form, input={"form": form})


def summary(node: FormTriggerNode, assignee_label: AssigneeLabel) -> list[str]:
    """'3 fields · title: topic'."""
    n = len(node.fields)
    parts = [f"{n} field{'s' if n != 1 else ''}"]
    if node.title_field:
        parts.append(f"title: {node.title_field}")
    return parts


def check(wf: Workflow, node: FormTriggerNode) -> list[str]:
    """Fields with names, options and defaults that work; a title field that is one of them."""
    out: list[str] = []
    names = [f.name for f in node.fields]
    if not node.fields:
        out.append("the form has no fields; add at least one")
    out += [f"two form fields are named `{d}`" for d in sorted(dupes(names))]
    for f in node.fields:
        if not NAME_RE.match(f.name):
            out.append(f"form field `{f.name}` needs a name of letters, digits and _")
        if f.name in RESERVED_NAMES:
            out.append(f"form field `{f.name}` uses a reserved name; rename it")
        if f.type == "choice" and not f.options:
            out.append(f"choice field `{f.name}` has no options")
        for what, value in (("default", f.default), ("example", f.example)):
            if value not in (None, ""):
                try:
                    coerce_field(f, value)
                except ValueError as exc:
                    out.append(f"the {what} of `{f.name}` is not valid: {exc}")
    if node.title_field and node.title_field not in names:
        out.append(f"task title field `{node.title_field}` is not a form field")
    return out


def swap_value(node: FormTriggerNode, old: str, new: str | None) -> FormTriggerNode:
    """A field renamed (and the title field with it); removing uses leaves the form as it is."""
    if new is None or old not in {f.name for f in node.fields}:
        return node
    fields = [f.model_copy(update={"name": new}) if f.name == old else f for f in node.fields]
    title = new if node.title_field == old else node.title_field
    return node.model_copy(update={"fields": fields, "title_field": title})


KIND = Kind(
    type="form_trigger",
    label="Form trigger",
    node_class=FormTriggerNode,
    look=Look("☰", "#e8f5e9", "#2e7d32", ":material/list_alt:"),
    handler=run,
    summary=summary,
    check=check,
    in_palette=False,
    starts_runs=True,
    canvas_role="input",
    produces=lambda node: [f.name for f in node.fields],
    closed_values=lambda node: {f.name: list(f.options) for f in node.fields if f.type == "choice"},
    swap_value=swap_value,
    writes_word="asks for",
)
