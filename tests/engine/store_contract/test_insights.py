"""Insight counters and stats: kept in the commit of what they count, equal to a recomputation."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.insights import checkpoint_stats, workflow_stats
from engine.records import CheckpointClose, RunUpdate, Transition
from engine.store.base import Store
from engine.store.counters import DAY_SECONDS
from tests.engine.store_contract.builders import ai_step, checkpoint, new_run


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


def test_run_counters_follow_each_status_and_leave_zero_totals_out(store: Store) -> None:
    """`stat_totals` and `counters` count runs per status now; a status no run is in is left out."""
    one, two = new_run(status="waiting", node="review"), new_run(status="waiting", node="review")
    store.apply(Transition(new_run=one))
    store.apply(Transition(new_run=two))
    assert store.stat_totals() == {("wf", "", "runs:waiting"): 2}
    for run in (one, two):
        store.apply(Transition(run_update=RunUpdate(run.id, ("waiting",), "completed", None, {}, None, 0)))
    assert store.stat_totals() == {("wf", "", "runs:completed"): 2}
    assert store.counters() == {("wf", "", 0, "runs:completed"): 2}
    assert store.stat_totals(include_archived=True) == store.stat_totals()  # nothing archived
    assert store.recomputed_stats() == store.counters()


def test_ai_steps_are_counted_per_step_and_day_they_finished(store: Store) -> None:
    """An AI step adds its calls, tokens and cost to its step's counters of the day it finished; a
    paid call with no known price counts as unpriced."""
    day = 19_800  # 2024-03-19
    run = new_run()
    priced = ai_step(run.id, {"prompt_tokens": 10, "completion_tokens": 5, "cost_usd": 0.25, "model": "m"})
    unpriced = ai_step(run.id, {"prompt_tokens": 7, "model": "m"})
    for step in (priced, unpriced):
        step.started_at, step.finished_at = day * DAY_SECONDS + 60, day * DAY_SECONDS + 61
    store.apply(Transition(new_run=run, steps=[priced, unpriced]))
    kept = store.counters()
    assert {k: v for k, v in kept.items() if k[1] == "draft"} == pytest.approx(
        {
            ("wf", "draft", day, "ai_steps"): 2,
            ("wf", "draft", day, "prompt_tokens"): 17,
            ("wf", "draft", day, "completion_tokens"): 5,
            ("wf", "draft", day, "cost_usd"): 0.25,
            ("wf", "draft", day, "unpriced_steps"): 1,
        }
    )
    assert kept == pytest.approx(store.recomputed_stats()) and kept.keys() == store.recomputed_stats().keys()


def test_pending_counts_are_what_waits_at_each_step_now(store: Store) -> None:
    """`pending_counts` counts open checkpoints per workflow and step; a step nobody waits at is absent."""
    cps = []
    for wf, node in (("wf", "review"), ("wf", "review"), ("wf", "legal"), ("other", "review")):
        run = replace(new_run(status="waiting", node=node), workflow_id=wf)
        cp = replace(checkpoint(run.id), workflow_id=wf, node_id=node)
        store.apply(Transition(new_run=run, open_checkpoint=cp))
        cps.append(cp)
    assert store.pending_counts() == {("wf", "review"): 2, ("wf", "legal"): 1, ("other", "review"): 1}
    store.apply(
        Transition(close_checkpoint=CheckpointClose(cps[2].id, "decided", "jamie", {"kind": "approve"}))
    )
    store.apply(Transition(cancel_checkpoints_of=cps[0].run_id))
    assert store.pending_counts() == {("wf", "review"): 1, ("other", "review"): 1}
