"""Test one AI step on sample values: the real call, nothing written (no run, no step record)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.errors import EngineError, InvalidStateError, StepError
from engine.llm.base import LLMProvider
from engine.model import AIStepNode, FormTriggerNode, Workflow
from engine.records import RunRecord
from engine.steps import StepContext
from engine.steps.ai import run_ai
from engine.templating import PlaceholderSyntaxError, placeholders

TRIAL_RUN_ID = "step-test"


@dataclass(frozen=True)
class StepTrial:
    """What one test of an AI step gave: the answer (or why there is none) and what it cost."""

    node_id: str
    output: Any = None
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    """Model, provider, tokens, cost_usd, latency_ms, demo — as a run's step record keeps them."""
    values: dict[str, Any] = field(default_factory=dict)
    """The sample values the prompts were rendered with."""

    @property
    def ok(self) -> bool:
        """Whether the step gave a usable answer."""
        return self.error is None


def prompt_values(wf: Workflow, node_id: str) -> list[str]:
    """The values an AI step's prompts use, in the order they first appear (empty for other kinds)."""
    node = wf.node_map().get(node_id)
    if not isinstance(node, AIStepNode):
        return []
    names: list[str] = []
    for text in (node.system_prompt, node.instruction):
        try:
            found = placeholders(text)
        except PlaceholderSyntaxError:
            continue
        names.extend(sorted(found, key=lambda n, t=text: (t.find(n), n)))  # type: ignore[misc]
    return list(dict.fromkeys(names))


def sample_values(wf: Workflow, node_id: str, past: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Values to test a step with: those of a past run when given, else the form's defaults or, where
    a field has none, its example (and empty text for a value nothing gives)."""
    defaults: dict[str, Any] = {}
    for trigger in (n for n in wf.nodes if isinstance(n, FormTriggerNode)):
        for f in trigger.fields:
            value = f.default if f.default is not None else f.example
            if value is not None:
                defaults[f.name] = value
    source = dict(past) if past is not None else defaults
    return {name: source.get(name, "") for name in prompt_values(wf, node_id)}


def try_ai_step(
    wf: Workflow,
    node_id: str,
    values: Mapping[str, Any],
    provider: LLMProvider,
    user: str,
    default_model: str,
    prices: Mapping[str, Any] | None = None,
) -> StepTrial:
    """Run only this AI step with these values, through the real provider; nothing is stored."""
    node = wf.node_map().get(node_id)
    if node is None:
        raise InvalidStateError(f"there is no step `{node_id}` in {wf.name}")
    if not isinstance(node, AIStepNode):
        raise InvalidStateError(
            f"only AI steps can be tested; `{node_id}` is a {node.type.replace('_', ' ')}"
        )
    stamp = time.time()
    run = RunRecord(
        id=TRIAL_RUN_ID, workflow_id=wf.id, version=0, status="running", current_node=node_id,
        section=None, title=f"Test of {node.title or node_id}", values=dict(values), started_by=user,
        created_at=stamp, updated_at=stamp,
    )  # fmt: skip
    ctx = StepContext(wf, node, run, provider, prices, default_model=default_model)
    try:
        outcome = run_ai(ctx)
    except StepError as exc:
        return StepTrial(node_id, error=str(exc), meta=dict(exc.meta or {}), values=dict(values))
    except EngineError as exc:  # a prompt that cannot be rendered, say
        return StepTrial(node_id, error=str(exc), values=dict(values))
    return StepTrial(node_id, output=outcome.output, meta=outcome.meta, values=dict(values))
