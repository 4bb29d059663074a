"""Review and usage figures for the Insights page, built from the store's insight counters."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from engine.store.counters import AI_METRICS, DECISION_METRICS, RUNS_PREFIX


@dataclass
class CheckpointStats:
    """How reviewers decided at one approval node of one workflow."""

    workflow_id: str
    node_id: str
    decided: int = 0
    """Checkpoints decided by people (reviews; see `engine.decisions`): the rates below are shares of it."""
    pending: int = 0
    approved: int = 0
    rejected: int = 0
    changes_requested: int = 0
    edited: int = 0
    review_seconds: float = 0.0
    """Time in review of every decided checkpoint, added up."""
    auto_approved: int = 0
    """Checkpoints Loopdesk approved under auto-approval (not in `decided`: they are no reviews)."""
    timed_out: int = 0
    """Checkpoints Loopdesk approved or rejected because nobody decided in time (not in `decided`)."""

    def rate(self, count: int) -> float | None:
        """A share of decided checkpoints in percent (None before any decision)."""
        return 100.0 * count / self.decided if self.decided else None

    @property
    def mean_review_seconds(self) -> float | None:
        """How long a decided checkpoint waited for its decision, on average."""
        return self.review_seconds / self.decided if self.decided else None


@dataclass
class WorkflowStats:
    """Runs by status and AI usage of one workflow."""

    workflow_id: str
    runs: Counter[str] = field(default_factory=Counter)
    ai_steps: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_steps: int = 0
    """AI calls whose model no price table knows (not in `cost_usd`)."""

    @property
    def total_runs(self) -> int:
        """All runs of the workflow."""
        return sum(self.runs.values())


def checkpoint_stats(
    totals: dict[tuple[str, str, str], float], pending: dict[tuple[str, str], int]
) -> list[CheckpointStats]:
    """Per approval step: decisions by kind, edits and time in review (counters), and what waits now."""
    out: dict[tuple[str, str], CheckpointStats] = {}
    for (workflow_id, node_id, metric), value in totals.items():
        if metric in DECISION_METRICS:
            stats = out.setdefault((workflow_id, node_id), CheckpointStats(workflow_id, node_id))
            if metric == "review_seconds":
                stats.review_seconds = value
            else:
                setattr(stats, metric, round(value))
    for (workflow_id, node_id), n in pending.items():
        out.setdefault((workflow_id, node_id), CheckpointStats(workflow_id, node_id)).pending = n
    return [out[key] for key in sorted(out)]


def workflow_stats(totals: dict[tuple[str, str, str], float]) -> list[WorkflowStats]:
    """Per workflow: runs by status, AI steps, tokens and cost."""
    out: dict[str, WorkflowStats] = {}
    for (workflow_id, _node, metric), value in totals.items():
        if metric.startswith(RUNS_PREFIX):
            stats = out.setdefault(workflow_id, WorkflowStats(workflow_id))
            stats.runs[metric.removeprefix(RUNS_PREFIX)] += round(value)
        elif metric in AI_METRICS:
            stats = out.setdefault(workflow_id, WorkflowStats(workflow_id))
            if metric == "cost_usd":
                stats.cost_usd += value
            else:
                setattr(stats, metric, getattr(stats, metric) + round(value))
    return sorted(out.values(), key=lambda s: s.workflow_id)
