"""Values a prompt can use, named in the words a designer knows (field labels and step titles)."""

from __future__ import annotations

from engine.model import AIStepNode, ApprovalNode, FormTriggerNode, Workflow
from ui.forms import field_label

FEEDBACK_LABEL = "Reviewer's feedback (on a revision)"


def value_labels(wf: Workflow) -> dict[str, str]:
    """Every value's name → what a person calls it: the form field's label, or the AI step whose
    answer it is ("Answer of “Draft the post”")."""
    labels: dict[str, str] = {"feedback": FEEDBACK_LABEL}
    for node in wf.nodes:
        if isinstance(node, FormTriggerNode):
            labels.update({f.name: field_label(f) for f in node.fields})
        elif isinstance(node, AIStepNode):
            labels.setdefault(node.output_name, f"Answer of “{node.title or node.id}”")
    return labels


def placeholder(name: str) -> str:
    """The text that puts a value into a prompt."""
    return f"{{{{ {name} }}}}"


def with_placeholder(text: str, name: str) -> str:
    """A prompt with a value's placeholder added at its end (on the same line after a space)."""
    token = placeholder(name)
    if not text:
        return token
    gap = "" if text.endswith((" ", "\n")) else " "
    return f"{text}{gap}{token}"


def main_value(wf: Workflow) -> str | None:
    """The value a task is about, for a one-line preview: what the first review checks (its first
    editable value), else the last AI step's answer, else the first long text of the form."""
    approvals = sorted(
        (n for n in wf.nodes if isinstance(n, ApprovalNode)), key=lambda n: (n.position.y, n.position.x)
    )
    for node in approvals:
        if node.editable_values:
            return node.editable_values[0]
    answers = [n.output_name for n in wf.nodes if isinstance(n, AIStepNode)]
    if answers:
        return answers[-1]
    fields = [f for n in wf.nodes if isinstance(n, FormTriggerNode) for f in n.fields]
    return next((f.name for f in fields if f.type == "long_text"), None)


def preview(value: object, chars: int = 90) -> str:
    """A value on one short line: whitespace folded, cut at a word with "…" when longer than `chars`."""
    text = " ".join((value if isinstance(value, str) else str(value)).split())
    if len(text) <= chars:
        return text
    cut = text[:chars].rsplit(" ", 1)[0]
    return f"{cut}…"
