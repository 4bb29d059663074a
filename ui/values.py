"""Values a prompt can use, named in the words a designer knows (field labels and step titles)."""

from __future__ import annotations

from engine.model import AIStepNode, FormTriggerNode, Workflow
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
