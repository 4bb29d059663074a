"""Steps and audit: what each run did, in order, and what its AI steps used."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.records import AuditEvent, RunRecord, StepRecord, Transition, now
from engine.store.base import Store
from tests.engine.store_contract.builders import ai_step, new_run


def test_ai_usage_per_step_and_version_and_run_versions(store: Store) -> None:
    """AI usage is summed per step and workflow version; `run_versions` names each run's version."""
    one, two = new_run(), new_run()
    two = RunRecord(**{**two.__dict__, "version": 2})
    other = RunRecord(**{**new_run().__dict__, "workflow_id": "elsewhere"})
    priced = {"prompt_tokens": 100, "completion_tokens": 20, "cost_usd": 0.5, "model": "m"}
    store.apply(Transition(new_run=one, steps=[ai_step(one.id, priced), ai_step(one.id, priced)]))
    store.apply(Transition(new_run=two, steps=[ai_step(two.id, {"prompt_tokens": 7, "demo": True})]))
    store.apply(Transition(new_run=other, steps=[ai_step(other.id, priced)]))
    usage = store.ai_usage("wf")
    assert [(u.node_id, u.version, u.calls, u.prompt_tokens, u.completion_tokens) for u in usage] == [
        ("draft", 1, 2, 200, 40),
        ("draft", 2, 1, 7, 0),
    ]
    assert [u.cost_usd for u in usage] == pytest.approx([1.0, 0.0])
    assert store.ai_usage("nothing") == []
    assert store.ai_usage("wf", since=now() + 60) == []  # no call finished since then
    assert store.run_versions([one.id, two.id, "run_missing"]) == {one.id: 1, two.id: 2}
    assert store.run_versions([]) == {}


def test_a_runs_steps_come_back_in_the_order_they_ran_as_written(store: Store) -> None:
    """`list_steps` gives one run's steps in execution order, each field as written."""
    run, other = new_run(), new_run()
    store.apply(Transition(new_run=run))
    store.apply(Transition(new_run=other))
    ts = now()
    first = StepRecord(run.id, "form", "form_trigger", "done", {"topic": "x"}, {"topic": "x"}, ts, ts + 1)
    second = StepRecord(
        run.id, "draft", "ai_step", "failed", {"prompt": "é"}, None, ts + 1, ts + 2,
        error="the model timed out", meta={"model": "m", "attempts": 2},
    )  # fmt: skip
    third = StepRecord(run.id, "to_review", "move_to_section", "done", {}, ["a", 1, None], ts + 2, ts + 2)
    store.apply(Transition(steps=[first, second]))
    store.apply(Transition(steps=[StepRecord(other.id, "form", "form_trigger", "done", {}, {}, ts, ts)]))
    store.apply(Transition(steps=[third]))
    got = store.list_steps(run.id)
    assert [replace(s, seq=0) for s in got] == [first, second, third]
    assert got[0].seq < got[1].seq < got[2].seq
    assert [s.node_id for s in store.list_steps(other.id)] == ["form"]
    assert store.list_steps("run_nowhere") == []


def test_the_audit_log_is_kept_in_order_per_run_and_newest_first_overall(store: Store) -> None:
    """`list_audit(run)` gives a run's events oldest first with who, what and detail; without a run,
    the newest `limit` events of all runs, newest first."""
    run, other = new_run(), new_run()
    store.apply(Transition(new_run=run, audit=[AuditEvent(run.id, "u", "run_started", {"n": 1}, ts=100.0)]))
    store.apply(Transition(new_run=other, audit=[AuditEvent(other.id, "v", "run_started", ts=101.0)]))
    store.apply(Transition(audit=[AuditEvent(run.id, "jamie", "comment", {"text": "ok"}, ts=102.0)]))
    mine = store.list_audit(run.id)
    assert [(e.actor, e.event, e.detail, e.ts) for e in mine] == [
        ("u", "run_started", {"n": 1}, 100.0),
        ("jamie", "comment", {"text": "ok"}, 102.0),
    ]
    assert mine[0].id < mine[1].id and all(e.run_id == run.id for e in mine)
    latest = store.list_audit(limit=2)
    assert [(e.run_id, e.event) for e in latest] == [(run.id, "comment"), (other.id, "run_started")]
    assert len(store.list_audit()) == 3 and store.list_audit("run_nowhere") == []
