"""Pure aggregations for the Insights page, from records the service already returns.

Stand-in until the store aggregates in SQL (see `checkpoint_stats` / `workflow_stats` docstrings).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.store.base import RUN_STATUSES, CheckpointRecord, RunRecord


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
    review_seconds: list[float] = field(default_factory=list)

    def rate(self, count: int) -> float | None:
        """A share of decided checkpoints in percent (None before any decision)."""
        return 100.0 * count / self.decided if self.decided else None

    @property
    def median_review_seconds(self) -> float | None:
        """Median time from opening to decision."""
        return statistics.median(self.review_seconds) if self.review_seconds else None


def checkpoint_stats(checkpoints: Iterable[CheckpointRecord]) -> list[CheckpointStats]:
    """Per (workflow, approval node): decisions by kind, edit rate, median time in review.

    Should become `Store.checkpoint_stats(workflow_id: str | None = None) -> list[dict[str, Any]]`
    (one GROUP BY over the checkpoints table) once there are many checkpoints.
    """
    out: dict[tuple[str, str], CheckpointStats] = {}
    for cp in checkpoints:
        key = (cp.workflow_id, cp.node_id)
        stats = out.setdefault(key, CheckpointStats(cp.workflow_id, cp.node_id))
        if cp.status == "pending":
            stats.pending += 1
            continue
        if cp.status != "decided" or not cp.decision:
            continue
        stats.decided += 1
        kind = cp.decision.get("kind")
        if kind == "approve":
            stats.approved += 1
            if cp.decision.get("edits"):
                stats.edited += 1
        elif kind == "reject":
            stats.rejected += 1
        elif kind == "request_changes":
            stats.changes_requested += 1
        if cp.decided_at is not None:
            stats.review_seconds.append(max(0.0, cp.decided_at - cp.created_at))
    return sorted(out.values(), key=lambda s: (s.workflow_id, s.node_id))


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


def workflow_stats(runs: Iterable[RunRecord], step_stats: Iterable[Mapping[str, Any]]) -> list[WorkflowStats]:
    """Per workflow: run counts by status, AI steps, tokens and cost (from `Store.step_stats()`).

    Should become `Loopdesk.workflow_stats() -> list[WorkflowStats]` backed by
    `Store.run_counts() -> dict[tuple[str, str], int]` (runs GROUP BY workflow_id, status) so the
    page no longer loads every run.
    """
    out: dict[str, WorkflowStats] = defaultdict(lambda: WorkflowStats(""))
    for run in runs:
        stats = out[run.workflow_id]
        stats.workflow_id = run.workflow_id
        stats.runs[run.status] += 1
    for row in step_stats:
        if row.get("kind") != "ai_step":
            continue
        stats = out[str(row["workflow_id"])]
        stats.workflow_id = str(row["workflow_id"])
        stats.ai_steps += int(row.get("steps") or 0)
        stats.prompt_tokens += int(row.get("prompt_tokens") or 0)
        stats.completion_tokens += int(row.get("completion_tokens") or 0)
        stats.cost_usd += float(row.get("cost_usd") or 0.0)
    return sorted(out.values(), key=lambda s: s.workflow_id)


def status_columns() -> tuple[str, ...]:
    """Run statuses in display order."""
    return RUN_STATUSES
