"""The AI step: ask a model and keep its answer under the step's output name.

What a step is for is one of two things a designer chooses: it *revises* a text an earlier AI step
wrote (it reads that value, improves it, and writes it back, so every later step gets the better
text), or it *writes something new* (a value of its own, which a later step, the reviewer or the
run's result must then use).
"""

from __future__ import annotations

import re
from typing import Any

from engine.kinds.base import (
    NAME_RE,
    RESERVED_NAMES,
    AssigneeLabel,
    Kind,
    Look,
    dupes,
    swap_text,
    unique_title,
)
from engine.model import AIStepNode, Workflow
from engine.steps.ai import run_ai

ANSWER_KINDS = {"text": "text", "classification": "label", "json": "JSON"}
REVISE_INSTRUCTION = (
    "Improve the text below: make it clearer and tighter, and keep its meaning, facts and voice."
)
"""Where the instruction of a step that revises a text starts."""
_UNNAMED = re.compile(r"^\s*(?:AI step(?: \d+)?)?\s*$")
"""The title a new AI step gets (until someone names it)."""
NEW_ANSWER = "answer"
"""The name of a new step's answer until the designer names it."""


def summary(node: AIStepNode, assignee_label: AssigneeLabel) -> list[str]:
    """The answer's kind when it is not plain text, the model, and whether the instruction is missing."""
    parts = []
    if node.output_kind == "classification":
        parts.append(f"one of {len(node.labels)} labels")
    elif node.output_kind == "json":
        parts.append(f"JSON, {len(node.json_fields)} field{'s' if len(node.json_fields) != 1 else ''}")
    if node.model:
        parts.append(node.model)
    if not node.instruction.strip():
        parts.append("no instruction yet")
    return parts


def check(wf: Workflow, node: AIStepNode) -> list[str]:
    """An instruction, an output name later steps can use, and a complete answer shape."""
    out: list[str] = []
    if not node.instruction.strip():
        out.append("the AI step has no instruction; write what the model should do")
    if not NAME_RE.match(node.output_name):
        out.append(f"output name `{node.output_name}` must be letters, digits and _")
    if node.output_name in RESERVED_NAMES:
        out.append(f"output name `{node.output_name}` is reserved; choose another")
    if node.output_kind == "classification" and len(node.labels) < 2:
        out.append("a classification needs at least two labels")
    if node.output_kind == "json" and not node.json_fields:
        out.append("a JSON output needs at least one field")
    twins = dupes(f.name for f in node.json_fields)
    out += [f"two JSON output fields are named `{d}`" for d in sorted(twins)]
    return out


def value_names(wf: Workflow) -> set[str]:
    """Every value name a step of the workflow writes (form fields and answers)."""
    # engine.dataflow reads the registry, which the package fills from this module as it loads: the
    # flow helpers are imported when used (the dependency runs one way, dataflow never imports a kind)
    from engine.dataflow import step_flow

    return {name for n in wf.nodes for name in step_flow(n).writes}


def name_for(words: str, taken: set[str]) -> str:
    """A value name for words a person typed ("Call to action" → `call_to_action`), not in `taken`."""
    base = re.sub(r"[^a-z0-9]+", "_", words.strip().lower()).strip("_") or NEW_ANSWER
    if base[0].isdigit():
        base = f"value_{base}"
    if base in RESERVED_NAMES:
        base = f"{base}_value"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    return name


def new_settings(wf: Workflow, node_id: str) -> dict[str, Any]:
    """A new step writes a new answer of its own ("Answer", "Answer 2"…) until it is told otherwise."""
    return {"output_name": name_for(NEW_ANSWER, value_names(wf))}


def _material(value: str) -> re.Pattern[str]:
    return re.compile(r"\s*\{\{\s*" + re.escape(value) + r"\s*\}\}\s*$")


def split_material(instruction: str, value: str) -> tuple[str, bool]:
    """An instruction without the text it revises at its end (`…\\n\\n{{ draft }}`), and whether it
    had it there."""
    found = _material(value).search(instruction)
    return (instruction[: found.start()], True) if found else (instruction, False)


def with_material(text: str, value: str) -> str:
    """An instruction with the text it revises placed at its end."""
    return f"{text.rstrip()}\n\n{{{{ {value} }}}}"


def revises(wf: Workflow, node: AIStepNode) -> str | None:
    """The value the step revises (an earlier AI step's text it writes back), or None: it writes
    something new."""
    from engine.dataflow import revisable_values

    if node.output_kind != "text":
        return None
    return node.output_name if node.output_name in revisable_values(wf, node.id) else None


def revise(wf: Workflow, node_id: str, value: str) -> Workflow:
    """The step set to revise `value`: it reads it (placed after its instruction), improves it and
    writes it back; an empty instruction starts from "Improve the text below…"."""
    node = wf.node(node_id)
    assert isinstance(node, AIStepNode)
    text, _ = split_material(node.instruction, node.output_name)
    text, _ = split_material(text, value)
    changed = node.model_copy(
        update={
            "output_name": value,
            "output_label": "",
            "output_kind": "text",
            "instruction": with_material(text if text.strip() else REVISE_INSTRUCTION, value),
        }
    )
    return wf.model_copy(update={"nodes": [changed if n.id == node_id else n for n in wf.nodes]})


def write_new(wf: Workflow, node_id: str, words: str) -> Workflow:
    """The step set to write a value of its own, called `words`. When it already writes one of its
    own, that value is renamed, and every step using it follows; else (it revised a text) the new
    value starts unused."""
    from engine.dataflow import rename_value, revisable_values

    node = wf.node(node_id)
    assert isinstance(node, AIStepNode)
    own = node.output_name not in revisable_values(wf, node_id) or node.output_kind != "text"
    others = value_names(wf.model_copy(update={"nodes": [n for n in wf.nodes if n.id != node_id]}))
    name = name_for(words, others)
    label = words.strip() if words.strip() and words.strip() != _in_words(name) else ""
    if own:
        wf = rename_value(wf, node.output_name, name)
        node = wf.node(node_id)
    changed = node.model_copy(update={"output_name": name, "output_label": label})
    return wf.model_copy(update={"nodes": [changed if n.id == node_id else n for n in wf.nodes]})


def _in_words(name: str) -> str:
    from engine.dataflow import in_words

    return in_words(name)


def placed(wf: Workflow, node: AIStepNode) -> Workflow:
    """A new step wired in after an AI step whose text later steps read revises that text (the one
    written nearest before it); anywhere else it writes something new."""
    from engine.dataflow import in_sentence, read_later, revisable_values, value_label

    for value in revisable_values(wf, node.id):
        if read_later(wf, node.id, value):
            if _UNNAMED.match(node.title):  # still called what every new step is called
                title = unique_title(wf, f"Improve the {in_sentence(value_label(wf, value))}")
                changed = node.model_copy(update={"title": title})
                wf = wf.model_copy(update={"nodes": [changed if n.id == node.id else n for n in wf.nodes]})
            return revise(wf, node.id, value)
    return wf


def swap_value(node: AIStepNode, old: str, new: str | None) -> AIStepNode:
    """Its prompts with `old` renamed or removed; a rename also renames its answer."""
    changes: dict[str, Any] = {
        "instruction": swap_text(node.instruction, old, new),
        "system_prompt": swap_text(node.system_prompt, old, new),
    }
    if new is not None and node.output_name == old:
        changes["output_name"] = new
    return node.model_copy(update=changes)


KIND = Kind(
    type="ai_step",
    label="AI step",
    node_class=AIStepNode,
    look=Look("✦", "#f3e5f5", "#7b1fa2", ":material/auto_awesome:"),
    handler=run_ai,
    summary=summary,
    check=check,
    new_settings=new_settings,
    calls_out=True,
    asks_ai=True,
    produces=lambda node: [node.output_name],
    closed_values=lambda node: (
        {node.output_name: list(node.labels)} if node.output_kind == "classification" else {}
    ),
    prompts=lambda node: [("the instruction", node.instruction), ("the system prompt", node.system_prompt)],
    swap_value=swap_value,
    placed=placed,
)
