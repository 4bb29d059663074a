"""Runs and transitions: a transition writes everything or nothing; runs are read, listed, counted."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest

from engine.records import (
    AuditEvent,
    CheckpointClose,
    ConflictError,
    RunFilter,
    RunRecord,
    RunUpdate,
    StepRecord,
    Transition,
    now,
)
from engine.store.base import Store
from tests.engine.store_contract.builders import checkpoint, new_run


def test_transition_writes_everything_together(store: Store) -> None:
    """A transition's run, steps, checkpoint and audit are all there once `apply` returns."""
    run = new_run()
    store.apply(Transition(new_run=run, audit=[AuditEvent(run.id, "u", "run_started")]))
    ts = now()
    step = StepRecord(run.id, "form", "form_trigger", "done", {"a": 1}, {"b": 2}, ts, ts + 0.5)
    cp = checkpoint(run.id)
    store.apply(
        Transition(
            run_update=RunUpdate(run.id, ("running",), "waiting", "review", {"topic": "y"}, "Review", 0),
            steps=[step],
            open_checkpoint=cp,
            audit=[AuditEvent(run.id, "system", "checkpoint_opened", {"checkpoint": cp.id})],
        )
    )
    got = store.get_run(run.id)
    assert got is not None and (got.status, got.current_node, got.section) == ("waiting", "review", "Review")
    assert got.values == {"topic": "y"}
    (s,) = store.list_steps(run.id)
    assert (s.input, s.output, round(s.duration_ms)) == ({"a": 1}, {"b": 2}, 500)
    assert [e.event for e in store.list_audit(run.id)] == ["run_started", "checkpoint_opened"]
    assert [c.id for c in store.list_checkpoints(assignees=["jamie"])] == [cp.id]
    assert store.list_checkpoints(assignees=["sam"]) == []


def test_failed_precondition_writes_nothing(store: Store) -> None:
    """A transition whose precondition failed raises ConflictError and writes none of its parts."""
    run = new_run(status="waiting", node="review")
    cp = checkpoint(run.id)
    store.apply(Transition(new_run=run, open_checkpoint=cp))
    decide = Transition(
        run_update=RunUpdate(run.id, ("waiting",), "running", "next", {}, None, 0, expect_node="review"),
        close_checkpoint=CheckpointClose(cp.id, "decided", "jamie", {"kind": "approve"}),
        audit=[AuditEvent(run.id, "jamie", "decision_approve")],
    )
    store.apply(decide)
    with pytest.raises(ConflictError) as err:
        store.apply(decide)
    assert err.value.checkpoint is not None and err.value.checkpoint.decided_by == "jamie"
    assert [e.event for e in store.list_audit(run.id)] == ["decision_approve"]
    stale = Transition(
        run_update=RunUpdate(run.id, ("waiting",), "cancelled", None, {}, None, 0),
        audit=[AuditEvent(run.id, "x", "should_not_exist")],
    )
    with pytest.raises(ConflictError):
        store.apply(stale)
    got = store.get_run(run.id)
    assert got is not None and got.status == "running"
    assert [e.event for e in store.list_audit(run.id)] == ["decision_approve"]


def test_reassign_is_compare_and_set_on_assignee(store: Store) -> None:
    """A change that expects the old assignee conflicts once the checkpoint was reassigned."""
    run = new_run(status="waiting", node="review")
    cp = checkpoint(run.id)
    store.apply(Transition(new_run=run, open_checkpoint=cp))
    store.apply(
        Transition(
            close_checkpoint=CheckpointClose(
                cp.id, "pending", "jamie", new_assignee="sam", expect_assignee="jamie"
            )
        )
    )
    with pytest.raises(ConflictError):
        store.apply(
            Transition(close_checkpoint=CheckpointClose(cp.id, "decided", "jamie", expect_assignee="jamie"))
        )
    got = store.get_checkpoint(cp.id)
    assert got is not None and (got.status, got.assignee) == ("pending", "sam")


def test_concurrent_writers_never_conflict(store: Store) -> None:
    """Threads writing different runs at once all succeed, and every write is kept."""
    runs = [new_run() for _ in range(40)]
    errors: list[Exception] = []

    def work(run: RunRecord) -> None:
        try:
            store.apply(Transition(new_run=run))
            for i in range(5):
                ts = now()
                store.apply(
                    Transition(
                        run_update=RunUpdate(run.id, ("running",), "running", f"n{i}", {"i": i}, None, 0),
                        steps=[StepRecord(run.id, f"n{i}", "move_to_section", "done", {}, i, ts, ts)],
                    )
                )
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(len(store.list_steps(r.id)) == 5 for r in runs)
    assert all((got := store.get_run(r.id)) is not None and got.values == {"i": 4} for r in runs)


def test_runs_are_listed_and_counted_by_section_starter_and_time(store: Store) -> None:
    """`list_runs` filters by section, starter and creation time, newest first; `count_runs` agrees."""
    base = now()
    runs = []
    for i, (who, section) in enumerate(
        [("ana", "Intake"), ("bo", "Review"), ("ana", "Review"), ("bo", None)]
    ):
        run = replace(new_run(), started_by=who, section=section, created_at=base + i, updated_at=base + i)
        store.apply(Transition(new_run=run))
        runs.append(run.id)

    def listed(**where: Any) -> list[str]:
        found = [r.id for r in store.list_runs(where=RunFilter(**where))]
        assert store.count_runs(where=RunFilter(**where)) == len(found)  # counted as listed
        return found

    assert listed(started_by="ana") == [runs[2], runs[0]]  # newest first
    assert listed(section="Review") == [runs[2], runs[1]]
    assert listed(section="") == [runs[3]]  # in no section
    assert listed(since=base + 1, until=base + 3) == [runs[2], runs[1]]
    assert listed(started_by="bo", since=base + 2) == [runs[3]]
    assert listed(until=base) == []
