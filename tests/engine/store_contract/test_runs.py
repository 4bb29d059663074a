"""Runs and transitions: a transition writes everything or nothing; runs are read, listed, counted."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest

from engine.records import (
    AuditEvent,
    CheckpointClose,
    CheckpointQuery,
    ConflictError,
    RunFilter,
    RunRecord,
    RunScope,
    RunUpdate,
    StepRecord,
    Transition,
    now,
)
from engine.store.base import Store
from tests.engine.store_contract.builders import checkpoint, new_run, run_at


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
    assert [c.id for c in store.list_checkpoints(CheckpointQuery(assignees=["jamie"]))] == [cp.id]
    assert store.list_checkpoints(CheckpointQuery(assignees=["sam"])) == []


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


def test_a_run_reads_back_exactly_as_written(store: Store) -> None:
    """`get_run` returns every field as the transition wrote it; an unknown id is None."""
    run = replace(new_run(), values={"topic": "x", "n": 3, "tags": ["a", "é"], "nested": {"ok": True}})
    store.apply(Transition(new_run=run))
    assert store.get_run(run.id) == run
    assert store.get_run("run_nowhere") is None


def test_an_update_writes_the_runs_new_state_and_keeps_its_start(store: Store) -> None:
    """A run update sets status, position, values, outcome and error; creation and starter stay."""
    run = new_run()
    store.apply(Transition(new_run=run))
    update = RunUpdate(
        run.id, ("running",), "failed", None, {"topic": "y"}, "Review", 2,
        outcome="Stopped", error="the model timed out", failed_node="draft",
    )  # fmt: skip
    store.apply(Transition(run_update=update))
    got = store.get_run(run.id)
    assert got is not None
    assert (got.status, got.current_node, got.section, got.values, got.revisions) == (
        "failed", None, "Review", {"topic": "y"}, 2,
    )  # fmt: skip
    assert (got.outcome, got.error, got.failed_node) == ("Stopped", "the model timed out", "draft")
    assert (got.created_at, got.started_by, got.title) == (run.created_at, run.started_by, run.title)
    assert got.updated_at >= run.updated_at


def test_a_transition_on_something_that_does_not_exist_conflicts(store: Store) -> None:
    """Updating an unknown run or closing an unknown checkpoint raises ConflictError, writing nothing."""
    with pytest.raises(ConflictError):
        store.apply(
            Transition(
                run_update=RunUpdate("run_nowhere", ("running",), "completed", None, {}, None, 0),
                audit=[AuditEvent("run_nowhere", "u", "completed")],
            )
        )
    with pytest.raises(ConflictError):
        store.apply(Transition(close_checkpoint=CheckpointClose("cp_nowhere", "decided", "jamie")))
    assert store.get_run("run_nowhere") is None
    assert store.list_audit("run_nowhere") == []


def test_runs_are_filtered_by_status_and_workflow_a_page_at_a_time(store: Store) -> None:
    """`list_runs` pages newest first through the runs of a status and workflow; `count_runs` agrees."""
    base = now() - 60
    made = [
        run_at(base + i, status="waiting" if i % 2 else "running", workflow_id="wf" if i < 6 else "other")
        for i in range(8)
    ]
    for run in made:
        store.apply(Transition(new_run=run))
    newest = [r.id for r in reversed(made)]
    assert [r.id for r in store.list_runs()] == newest
    assert [r.id for r in store.list_runs(limit=3)] == newest[:3]
    assert [r.id for r in store.list_runs(limit=3, offset=3)] == newest[3:6]
    assert [r.id for r in store.list_runs(limit=3, offset=6)] == newest[6:]
    waiting_wf = [r.id for r in reversed(made) if r.status == "waiting" and r.workflow_id == "wf"]
    assert [r.id for r in store.list_runs(status="waiting", workflow_id="wf")] == waiting_wf
    assert store.count_runs(status="waiting", workflow_id="wf") == len(waiting_wf) == 3
    assert store.count_runs() == 8 and store.count_runs(workflow_id="other") == 2
    assert store.count_runs(status="completed") == 0 and store.list_runs(status="completed") == []


def test_a_board_counts_every_section_and_shows_the_newest_of_each(store: Store) -> None:
    """`runs_by_section` counts a workflow's runs per section (None: in none) and gives the newest
    `per_section` of each, newest first within a section."""
    base = now() - 60
    sections = ["Intake", "Intake", "Review", None, "Intake", None]
    made = [run_at(base + i, section=s) for i, s in enumerate(sections)]
    made.append(run_at(base + 10, workflow_id="other"))  # another workflow's board
    for run in made:
        store.apply(Transition(new_run=run))
    counts, runs = store.runs_by_section("wf", per_section=2)
    assert counts == {"Intake": 3, "Review": 1, None: 2}
    columns: dict[str | None, list[str]] = {}
    for run in runs:
        columns.setdefault(run.section, []).append(run.id)
    assert columns == {
        "Intake": [made[4].id, made[1].id],
        "Review": [made[2].id],
        None: [made[5].id, made[3].id],
    }
    assert store.runs_by_section("nothing", per_section=2) == ({}, [])


def test_a_scope_shows_only_the_runs_someone_may_see(store: Store) -> None:
    """With a scope, runs are listed, counted and put on the board only where the person may see
    them: started by them, of a workflow they see whole, assigned to them or their group, or acted on."""
    base = now() - 60
    own = run_at(base, started_by="ana")
    asked = run_at(base + 1, started_by="bo", status="waiting", current_node="review")
    acted = run_at(base + 2, started_by="bo")
    hidden = run_at(base + 3, started_by="bo")
    open_wf = run_at(base + 4, started_by="bo", workflow_id="open")
    for run in (own, acted, hidden, open_wf):
        store.apply(Transition(new_run=run))
    store.apply(Transition(new_run=asked, open_checkpoint=checkpoint(asked.id, assignee="editors")))
    store.apply(Transition(audit=[AuditEvent(acted.id, "ana", "cancel_requested")]))
    scope = RunScope(workflow_ids=frozenset({"open"}), user="ana", assignees=("ana", "editors"))
    visible = [open_wf.id, acted.id, asked.id, own.id]
    assert [r.id for r in store.list_runs(scope=scope)] == visible
    assert store.count_runs(scope=scope) == 4
    assert [r.id for r in store.list_runs(workflow_id="wf", scope=scope)] == visible[1:]
    counts, runs = store.runs_by_section("wf", per_section=10, scope=scope)
    assert counts == {"Intake": 3} and {r.id for r in runs} == set(visible[1:])
    assert [r.id for r in store.list_runs(workflow_id="open", scope=scope)] == [open_wf.id]
    nobody = RunScope(workflow_ids=frozenset(), user="zoe", assignees=("zoe",))
    assert store.list_runs(scope=nobody) == [] and store.count_runs(scope=nobody) == 0


def test_run_versions_names_the_version_of_each_stored_run(store: Store) -> None:
    """`run_versions` maps each stored run to its workflow version, however many ids are asked."""
    one, two = new_run(), replace(new_run(), version=3)
    store.apply(Transition(new_run=one))
    store.apply(Transition(new_run=two))
    many = [f"run_missing_{i}" for i in range(600)]
    many[0], many[550] = one.id, two.id  # in the first and in a later batch of ids
    assert store.run_versions(many) == {one.id: 1, two.id: 3}
    assert store.run_versions(["run_missing"]) == {}
