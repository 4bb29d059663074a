"""Review and usage figures for the Insights page, built from the store's aggregates."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CheckpointStats:
    """How reviewers decided at one approval node of one workflow."""

    workflow_id: str
    node_id: str
    decided: int = 0
    pending: int = 0
    approved: int = 0
    rejected: int = 0
    changes_requested: int = 0
    edited: int = 0
    median_review_seconds: float | None = None

    def rate(self, count: int) -> float | None:
        """A share of decided checkpoints in percent (None before any decision)."""
        return 100.0 * count / self.decided if self.decided else None


@dataclass
class WorkflowStats:
    """Runs by status and AI usage of one workflow."""

    workflow_id: str
    runs: Counter[str] = field(default_factory=Counter)
    ai_steps: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def total_runs(self) -> int:
        """All runs of the workflow."""
        return sum(self.runs.values())


def checkpoint_stats(rows: list[dict[str, Any]]) -> list[CheckpointStats]:
    """Turn the store's per-checkpoint aggregates into stats objects."""
    return [CheckpointStats(**row) for row in rows]


def workflow_stats(
    run_counts: dict[tuple[str, str], int], step_rows: list[dict[str, Any]]
) -> list[WorkflowStats]:
    """Per workflow: runs by status, AI steps, tokens and cost."""
    out: dict[str, WorkflowStats] = {}
    for (workflow_id, status), n in run_counts.items():
        out.setdefault(workflow_id, WorkflowStats(workflow_id)).runs[status] += n
    for row in step_rows:
        if row.get("kind") != "ai_step":
            continue
        stats = out.setdefault(str(row["workflow_id"]), WorkflowStats(str(row["workflow_id"])))
        stats.ai_steps += int(row.get("steps") or 0)
        stats.prompt_tokens += int(row.get("prompt_tokens") or 0)
        stats.completion_tokens += int(row.get("completion_tokens") or 0)
        stats.cost_usd += float(row.get("cost_usd") or 0.0)
    return sorted(out.values(), key=lambda s: s.workflow_id)
