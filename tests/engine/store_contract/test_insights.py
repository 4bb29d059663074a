"""Insight counters and stats: kept in the commit of what they count, equal to a recomputation."""

from __future__ import annotations

import pytest

from engine.insights import checkpoint_stats, workflow_stats
from engine.records import CheckpointClose, Transition
from engine.store.base import Store
from tests.engine.store_contract.builders import checkpoint, new_run


def test_aggregates_for_insights(store: Store) -> None:
    """Decisions and pending reviews add up per step; the kept counters equal a recomputation."""
    runs = [new_run(status="waiting", node="review") for _ in range(3)]
    cps = [checkpoint(r.id) for r in runs]
    for r, cp in zip(runs, cps, strict=True):
        store.apply(Transition(new_run=r, open_checkpoint=cp))
    decisions = [
        {"kind": "approve", "comment": "", "edits": {"draft": {"before": "a", "after": "b"}}},
        {"kind": "reject", "comment": "no", "edits": {}},
    ]
    for cp, decision in zip(cps, decisions, strict=False):
        store.apply(Transition(close_checkpoint=CheckpointClose(cp.id, "decided", "jamie", decision)))
    (row,) = checkpoint_stats(store.stat_totals(), store.pending_counts())
    assert (row.workflow_id, row.node_id) == ("wf", "review")
    assert (row.decided, row.pending, row.approved, row.rejected, row.edited) == (2, 1, 1, 1, 1)
    assert row.changes_requested == 0
    assert row.mean_review_seconds is not None and row.mean_review_seconds >= 0
    (wf,) = workflow_stats(store.stat_totals())
    assert wf.runs == {"waiting": 3}
    assert store.counters().keys() == store.recomputed_stats().keys()
    assert store.counters() == pytest.approx(store.recomputed_stats())
