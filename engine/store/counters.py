"""Insight counters: what each committed change adds to the per-workflow, per-step, per-day totals.

The store adds these deltas in the same commit as the change they count, so Insights reads a
few hundred counter rows instead of every run, step and decision ever made. Every backend also
computes the same figures from scratch (its `recomputed_stats`), and the two must agree.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from engine.records import CheckpointRecord, StepRecord

DAY_SECONDS = 86400.0

RUNS_PREFIX = "runs:"
"""`runs:<status>`: how many runs of a workflow are in that status now (node '', day 0)."""
DECISION_METRICS = (
    "decided", "approved", "rejected", "changes_requested", "edited", "review_seconds", "auto_approved",
)  # fmt: skip
"""Per approval step and day of the decision; an auto-approval counts only as `auto_approved` (it is no
review: neither a decision by a person nor time anyone spent)."""
AI_METRICS = ("ai_steps", "prompt_tokens", "completion_tokens", "cost_usd", "unpriced_steps")
"""`unpriced_steps`: paid AI calls no price table knows (their cost is not in `cost_usd`)."""
"""Per AI step and day it finished."""

CounterKey = tuple[str, str, int, str]
"""(workflow id, node id, day number since 1970-01-01 UTC, metric)."""


def day_of(ts: float) -> int:
    """The UTC day number of an epoch time."""
    return int(ts // DAY_SECONDS)


class CounterDeltas:
    """What one batch of changes adds to the counters (zero deltas are left out)."""

    def __init__(self) -> None:
        self.values: dict[CounterKey, float] = defaultdict(float)

    def add(self, workflow_id: str, node_id: str, day: int, metric: str, value: float = 1.0) -> None:
        """Add `value` to one counter."""
        self.values[(workflow_id, node_id, day, metric)] += value

    def run_moved(self, workflow_id: str, before: str | None, after: str | None) -> None:
        """A run was created (`before` None) or changed status."""
        if before == after:
            return
        if before is not None:
            self.add(workflow_id, "", 0, RUNS_PREFIX + before, -1.0)
        if after is not None:
            self.add(workflow_id, "", 0, RUNS_PREFIX + after)

    def decided(self, cp: CheckpointRecord, decision: dict[str, Any] | None, at: float) -> None:
        """A pending checkpoint was decided at `at` (cancelled ones are not decisions)."""
        day = day_of(at)
        kind = (decision or {}).get("kind")
        if (decision or {}).get("auto_approved") is not None:
            self.add(cp.workflow_id, cp.node_id, day, "auto_approved")
            return
        self.add(cp.workflow_id, cp.node_id, day, "decided")
        named = {"approve": "approved", "reject": "rejected", "request_changes": "changes_requested"}
        if kind in named:
            self.add(cp.workflow_id, cp.node_id, day, named[kind])
        if kind == "approve" and (decision or {}).get("edits"):
            self.add(cp.workflow_id, cp.node_id, day, "edited")
        self.add(cp.workflow_id, cp.node_id, day, "review_seconds", at - cp.created_at)

    def step(self, workflow_id: str, step: StepRecord) -> None:
        """A step was recorded (only AI steps are counted)."""
        if step.kind != "ai_step":
            return
        day = day_of(step.finished_at)
        meta = step.meta or {}
        node = step.node_id
        self.add(workflow_id, node, day, "ai_steps")
        self.add(workflow_id, node, day, "prompt_tokens", float(int(meta.get("prompt_tokens") or 0)))
        self.add(workflow_id, node, day, "completion_tokens", float(int(meta.get("completion_tokens") or 0)))
        self.add(workflow_id, node, day, "cost_usd", float(meta.get("cost_usd") or 0.0))
        if meta.get("cost_usd") is None and not meta.get("demo") and "model" in meta:
            self.add(workflow_id, node, day, "unpriced_steps")

    def rows(self) -> list[tuple[str, str, int, str, float]]:
        """The non-zero deltas as rows."""
        return [(*key, value) for key, value in self.values.items() if value != 0]
