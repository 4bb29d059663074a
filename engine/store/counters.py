"""Insight counters: what each committed change adds to the per-workflow, per-step, per-day totals.

The store adds these deltas in the same commit as the change they count, so Insights reads a
few hundred counter rows instead of every run, step and decision ever made. Every backend also
computes the same figures from scratch (its `recomputed_stats`), and the two must agree.
"""

from __future__ import annotations

from collections import defaultdict

from engine.decisions import AUTO_APPROVAL, OUTCOMES, REVIEW, TIMEOUT, DecisionRecord
from engine.records import CheckpointClose, CheckpointRecord, StepRecord

DAY_SECONDS = 86400.0

RUNS_PREFIX = "runs:"
"""`runs:<status>`: how many runs of a workflow are in that status now (node '', day 0)."""
COUNTED_AS = {REVIEW: "decided", AUTO_APPROVAL: "auto_approved", TIMEOUT: "timed_out"}
"""What each decision counts as (`DecisionRecord.counts_as`) → the metric that counts it: `decided` counts
reviews by people only."""
DECISION_METRICS = (*COUNTED_AS.values(), *OUTCOMES.values(), "edited", "review_seconds")
"""Per approval step and day of the decision; outcomes, edits and time in review are counted of reviews
only (an auto-approval or a timeout is neither a decision by a person nor time anyone spent)."""
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

    def decided(self, cp: CheckpointRecord, close: CheckpointClose, at: float) -> None:
        """A pending checkpoint was decided at `at` (cancelled ones are not decisions), counted as
        `decision_columns` counts it from scratch."""
        record = DecisionRecord.read(close.decision or {}, close.actor, at)
        day = day_of(at)
        if record.counts_as is not None:
            self.add(cp.workflow_id, cp.node_id, day, COUNTED_AS[record.counts_as])
        if not record.is_review or record.outcome is None:
            return
        self.add(cp.workflow_id, cp.node_id, day, record.outcome)
        if record.edited:
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


def decision_columns() -> str:
    """The decision metrics as SQL aggregates, as `CounterDeltas.decided` counts them, over decided
    checkpoints with columns `counted` (`counts_as_sql`), `kind`, `has_edits` (a non-empty edits object),
    `created_at` and `decided_at`: both backends' recounts select these (the SQL is the same in each)."""
    review = f"counted = '{REVIEW}'"
    counts = {metric: f"counted = '{what}'" for what, metric in COUNTED_AS.items()}
    counts |= {metric: f"{review} AND kind = '{kind}'" for kind, metric in OUTCOMES.items()}
    counts["edited"] = f"{review} AND kind = 'approve' AND has_edits"
    columns = [f"CAST(count(*) FILTER (WHERE {where}) AS float8) AS {m}" for m, where in counts.items()]
    columns.append(f"sum(decided_at - created_at) FILTER (WHERE {review}) AS review_seconds")
    return ", ".join(columns)
