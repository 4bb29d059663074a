"""“Test against past runs”: before a changed AI step is saved, replay it on the inputs of the last
reviewed runs and compare each new draft with what the reviewer finally approved.

A replay is a sandbox: each call goes through `try_ai_step` (the real provider, nothing stored), so it
creates no run, checkpoint, notification or board move. Only its cost is kept, in a short log per
workflow, so the money spent on testing prompts is on record.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from engine.diffs import draft_edit_size, similarity, text_of
from engine.errors import EngineError
from engine.llm.base import LLMProvider
from engine.llm.pricing import cost_of, price_overrides
from engine.model import AIStepNode, Workflow
from engine.prompt_feedback import ReviewedDraft
from engine.records import WorkflowVersion
from engine.steps.ai import build_request
from engine.store.base import Store
from engine.trial import try_ai_step

PARALLEL_CALLS = 4
"""Replay calls in flight at once (a replay of 20 runs takes the time of about five calls)."""
LOG_LENGTH = 20
"""Replays kept in a workflow's replay log (the newest)."""
CHARS_PER_TOKEN = 4
"""How an estimate turns text into tokens before any call (English averages about four)."""

PROMPT_FIELDS = (
    "instruction", "system_prompt", "model", "temperature", "max_tokens", "output_kind", "labels",
    "json_fields", "reasoning",
)  # fmt: skip
"""What of an AI step changes the drafts it writes."""


def changed_ai_steps(saved: Workflow, changed: Workflow) -> list[str]:
    """The AI steps of `changed` whose prompt or model differ from the same step in `saved` (steps
    new in `changed` have no past drafts to compare with, so they are not listed)."""
    before = saved.node_map()
    out = []
    for node in changed.nodes:
        old = before.get(node.id)
        if not isinstance(node, AIStepNode) or not isinstance(old, AIStepNode):
            continue
        if any(getattr(node, f, None) != getattr(old, f, None) for f in PROMPT_FIELDS):
            out.append(node.id)
    return out


def rough_tokens(text: str) -> int:
    """Tokens a text will take, estimated from its length."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


@dataclass(frozen=True)
class Estimate:
    """What a replay will call and cost, worked out before any call."""

    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    """None when the model has no known price."""
    demo: bool

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for JSON."""
        return {
            "calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": self.cost_usd,
            "demo": self.demo,
        }


def estimate(
    wf: Workflow,
    cases: Mapping[str, Sequence[ReviewedDraft]],
    provider: LLMProvider,
    app_model: str,
    prices: Any = None,
) -> Estimate:
    """Tokens and cost of replaying each step on its runs: the new prompts as rendered, and answers
    as long as the old drafts (the offline demo model costs nothing)."""
    prompt = completion = 0
    cost: float | None = 0.0
    calls = 0
    for node_id, drafts in cases.items():
        node = wf.node(node_id)
        assert isinstance(node, AIStepNode)
        for d in drafts:
            calls += 1
            try:
                request = build_request(node, d.values, wf, app_model)
            except EngineError:  # it will fail the same way when replayed, before any call
                continue
            p = sum(rough_tokens(m["content"]) for m in request.messages)
            c = rough_tokens(text_of(d.draft))
            if node.max_tokens:
                c = min(c, node.max_tokens)
            prompt, completion = prompt + p, completion + c
            if provider.kind != "demo" and cost is not None:
                one = cost_of(
                    request.model,
                    p,
                    c,
                    on_openai=provider.kind == "openai",
                    overrides=price_overrides(prices),
                )
                cost = None if one is None else cost + one
    return Estimate(calls, prompt, completion, cost, provider.kind == "demo")


@dataclass(frozen=True)
class ReplayCase:
    """One past run replayed: its old draft, what the reviewer approved, and the new draft."""

    run_id: str
    title: str
    old_draft: Any
    approved: Any
    new_draft: Any = None
    error: str | None = None
    """Why the new prompt gave no usable draft for this run."""
    meta: dict[str, Any] = field(default_factory=dict)
    decided_at: float = 0.0
    """When the run's last review was decided."""

    @cached_property
    def old_similarity(self) -> float:
        """How close the old draft was to the approved text (0–1, word by word)."""
        return similarity(self.old_draft, self.approved)

    @cached_property
    def new_similarity(self) -> float | None:
        """How close the new draft is to the approved text (None: no new draft)."""
        return None if self.error else similarity(self.new_draft, self.approved)

    @cached_property
    def old_edit_size(self) -> float:
        """Words the reviewer changed in the old draft, over its words."""
        return draft_edit_size(self.old_draft, self.approved)

    @cached_property
    def new_edit_size(self) -> float | None:
        """Words a reviewer would change in the new draft to reach the approved text, over its words."""
        return None if self.error else draft_edit_size(self.new_draft, self.approved)

    @property
    def verdict(self) -> str:
        """closer, further, same, or failed: the new draft against the old, measured to the approved text."""
        new = self.new_similarity
        if new is None:
            return "failed"
        return "closer" if new > self.old_similarity else "further" if new < self.old_similarity else "same"

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for JSON."""
        return {
            "run_id": self.run_id,
            "title": self.title,
            "old_draft": self.old_draft,
            "approved": self.approved,
            "new_draft": self.new_draft,
            "error": self.error,
            "old_similarity": self.old_similarity,
            "new_similarity": self.new_similarity,
            "old_edit_size": self.old_edit_size,
            "new_edit_size": self.new_edit_size,
            "verdict": self.verdict,
        }


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


@dataclass(frozen=True)
class StepReplay:
    """One AI step replayed on its past runs."""

    node_id: str
    cases: list[ReplayCase]

    def totals(self) -> dict[str, Any]:
        """How many new drafts came closer to what reviewers approved, and the mean edit sizes."""
        done = [c for c in self.cases if c.error is None]
        return {
            "runs": len(self.cases),
            "replayed": len(done),
            "failed": len(self.cases) - len(done),
            "closer": sum(c.verdict == "closer" for c in done),
            "further": sum(c.verdict == "further" for c in done),
            "same": sum(c.verdict == "same" for c in done),
            "old_mean_edit_size": _mean([c.old_edit_size for c in done]),
            "new_mean_edit_size": _mean([c.new_edit_size or 0.0 for c in done]),
            "old_mean_similarity": _mean([c.old_similarity for c in done]),
            "new_mean_similarity": _mean([c.new_similarity or 0.0 for c in done]),
        }

    def verdict(self) -> str:
        """`better`, `worse` or `about the same` than the saved prompt: better when more new drafts came
        closer than went further and they needed no more editing; worse when more went further or they
        needed more editing."""
        t = self.totals()
        old, new = t["old_mean_edit_size"], t["new_mean_edit_size"]
        if not t["replayed"]:
            return "no new draft"
        if t["further"] > t["closer"] or new > old + SAME_MARGIN:
            return "worse"
        if t["closer"] > t["further"] and new <= old:
            return "better"
        return "about the same"

    def summary(self) -> str:
        """ "better: 14 of 20 closer to what reviewers approved, edit size 0.22 → 0.09" (or "worse: …",
        "about the same: …")."""
        t = self.totals()
        if not t["replayed"]:
            return f"no new draft: all {t['runs']} replays failed"
        failed = f" ({t['failed']} failed)" if t["failed"] else ""
        return (
            f"{self.verdict()}: {t['closer']} of {t['replayed']} closer to what reviewers approved{failed}, "
            f"edit size {t['old_mean_edit_size']:.2f} → {t['new_mean_edit_size']:.2f}"
        )


SAME_MARGIN = 0.02
"""A mean edit size this much higher than before still counts as the same (rounding, one word)."""


@dataclass(frozen=True)
class Replay:
    """A whole replay: each changed step on its runs, with what it was expected to cost and did."""

    workflow_id: str
    against_version: int
    steps: list[StepReplay]
    estimate: Estimate
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0
    demo: bool = False
    at: float = 0.0
    by: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for JSON (`python -m engine replay --json`)."""
        return {
            "workflow_id": self.workflow_id,
            "against_version": self.against_version,
            "estimate": self.estimate.as_dict(),
            "usage": self.usage(),
            "steps": {
                s.node_id: {
                    "summary": s.summary(),
                    "totals": s.totals(),
                    "runs": [c.as_dict() for c in s.cases],
                }
                for s in self.steps
            },
        }

    def usage(self) -> dict[str, Any]:
        """What the replay's calls used and cost."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": self.cost_usd,
            "demo": self.demo,
        }


MAX_RUNS = 200
"""The most past runs one replay may take (each is a paid call per changed step)."""


@dataclass(frozen=True)
class ReplayPlan:
    """What a replay will do before it starts: the saved version it compares with, the past runs of
    each changed AI step, and the estimate."""

    saved: WorkflowVersion
    cases: dict[str, list[ReviewedDraft]]
    estimate: Estimate


def replay_step(
    wf: Workflow,
    node_id: str,
    drafts: Sequence[ReviewedDraft],
    provider: LLMProvider,
    user: str,
    app_model: str,
    prices: Any = None,
    on_case: Callable[[ReplayCase], None] | None = None,
) -> StepReplay:
    """Run the new step on each run's values (in parallel, nothing stored) and pair the answers with
    the old drafts and the approved texts, in the order of `drafts`."""

    def one(d: ReviewedDraft) -> ReplayCase:
        trial = try_ai_step(wf, node_id, d.values, provider, user, app_model, prices)
        case = ReplayCase(
            d.run_id, d.title, d.draft, d.approved, trial.output, trial.error, trial.meta, d.decided_at
        )
        if on_case is not None:
            on_case(case)
        return case

    with ThreadPoolExecutor(max_workers=PARALLEL_CALLS) as pool:
        return StepReplay(node_id, list(pool.map(one, drafts)))


def spent(steps: Sequence[StepReplay]) -> tuple[int, int, float | None, bool]:
    """Prompt and completion tokens, cost (None when some call's price is unknown) and whether all
    calls were the offline demo's."""
    metas = [c.meta for s in steps for c in s.cases if c.meta]
    prompt = sum(int(m.get("prompt_tokens") or 0) for m in metas)
    completion = sum(int(m.get("completion_tokens") or 0) for m in metas)
    costs = [m.get("cost_usd") for m in metas]
    cost = None if any(c is None for c in costs) else round(sum(float(c or 0.0) for c in costs), 6)
    return prompt, completion, cost, bool(metas) and all(m.get("demo") for m in metas)


def log_key(workflow_id: str) -> str:
    """The setting that keeps a workflow's replay log."""
    return f"replay-log:{workflow_id}"


def record(store: Store, replay: Replay) -> None:
    """Add a replay's cost to its workflow's log (the newest `LOG_LENGTH` are kept; two replays of one
    workflow finishing at the same moment may leave one entry, the log being one setting)."""
    entry = {
        "at": replay.at,
        "by": replay.by,
        "against_version": replay.against_version,
        "steps": {s.node_id: s.totals() for s in replay.steps},
        "estimate": replay.estimate.as_dict(),
        "usage": replay.usage(),
    }
    log = replay_log(store, replay.workflow_id)
    store.put_setting(log_key(replay.workflow_id), json.dumps([entry, *log][:LOG_LENGTH]))


def replay_log(store: Store, workflow_id: str) -> list[dict[str, Any]]:
    """A workflow's recorded replays, newest first."""
    try:
        log = json.loads(store.setting(log_key(workflow_id), "[]"))
    except ValueError:
        return []
    return [e for e in log if isinstance(e, dict)] if isinstance(log, list) else []
