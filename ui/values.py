"""Values in the words a designer knows: prompts written with `[Label]` instead of `{{ name }}`, and
the value a task is about."""

from __future__ import annotations

import re

from engine.model import AIStepNode, ApprovalNode, FormTriggerNode, Workflow

_SIMPLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
"""A placeholder that only prints a value (`{{ topic }}`), the kind a label can stand for."""
_BRACKETED = re.compile(r"\[([^\[\]\n]{1,80})\]")


def friendly_labels(labels: dict[str, str]) -> dict[str, str]:
    """The values a label can stand for unambiguously in a prompt: name → label, where no other
    value has the same label (ignoring case)."""
    count: dict[str, int] = {}
    for label in labels.values():
        count[label.casefold()] = count.get(label.casefold(), 0) + 1
    return {n: label for n, label in labels.items() if count[label.casefold()] == 1 and "]" not in label}


def to_friendly(text: str, labels: dict[str, str]) -> str | None:
    """A prompt with each `{{ name }}` written as `[Label]`, or None when that would not read back
    exactly (filters, unknown names, a bracketed word that is a label): then it is edited as is."""
    known = friendly_labels(labels)
    taken = {v.casefold() for v in known.values()}
    if any(m.group(1).strip().casefold() in taken for m in _BRACKETED.finditer(text)):
        return None  # a bracketed word that is a label would read back as a value
    friendly = _SIMPLE.sub(lambda m: f"[{known[m.group(1)]}]" if m.group(1) in known else m.group(0), text)
    if "{{" in friendly or "{%" in friendly:
        return None
    same = _SIMPLE.sub(lambda m: placeholder(m.group(1)), text)  # spaces inside `{{ }}` do not matter
    return friendly if from_friendly(friendly, labels) == same else None


def from_friendly(text: str, labels: dict[str, str]) -> str:
    """A prompt written with `[Label]` as the engine reads it: each known label back to `{{ name }}`;
    brackets around anything else stay as typed."""
    by_label = {label.casefold(): n for n, label in friendly_labels(labels).items()}

    def back(m: re.Match[str]) -> str:
        name = by_label.get(m.group(1).strip().casefold())
        return placeholder(name) if name else m.group(0)

    return _BRACKETED.sub(back, text)


def with_token(text: str, token: str) -> str:
    """A prompt with a token added at its end (on the same line after a space)."""
    if not text:
        return token
    gap = "" if text.endswith((" ", "\n")) else " "
    return f"{text}{gap}{token}"


def placeholder(name: str) -> str:
    """The text that puts a value into a prompt."""
    return f"{{{{ {name} }}}}"


def with_placeholder(text: str, name: str) -> str:
    """A prompt with a value's placeholder added at its end (on the same line after a space)."""
    return with_token(text, placeholder(name))


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
