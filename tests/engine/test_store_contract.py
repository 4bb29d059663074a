"""The store contract, written once and run over every backend that exists."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from engine.insights import checkpoint_stats, workflow_stats
from engine.records import (
    AuditEvent,
    CheckpointClose,
    CheckpointQuery,
    CheckpointRecord,
    ConflictError,
    DesignDraft,
    Lease,
    LiveStep,
    RunFilter,
    RunRecord,
    RunUpdate,
    StepRecord,
    Transition,
    new_id,
    now,
)
from engine.store.base import Store
from engine.store.factory import open_store
from tests.conftest import BACKENDS, location_for
from tests.engine.helpers import linear_workflow


@pytest.fixture(params=BACKENDS)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """Opens stores on one fresh database of the backend (a second one sees the first's data)."""
    location = location_for(request.param, request, tmp_path)
    opened: list[Store] = []

    def factory() -> Store:
        store = open_store(location)
        store.initialize()
        opened.append(store)
        return store

    yield factory
    for s in opened:
        s.close()


@pytest.fixture
def store(make_store: Callable[[], Store]) -> Store:
    return make_store()


def new_run(run_id: str | None = None, status: str = "running", node: str = "form") -> RunRecord:
    ts = now()
    return RunRecord(
        id=run_id or new_id("run"), workflow_id="wf", version=1, status=status, current_node=node,
        section="Intake", title="t", values={"topic": "x"}, started_by="u", created_at=ts, updated_at=ts,
    )  # fmt: skip


def checkpoint(run_id: str, assignee: str = "jamie") -> CheckpointRecord:
    return CheckpointRecord(
        id=new_id("cp"), run_id=run_id, workflow_id="wf", node_id="review", status="pending",
        assignee=assignee, created_at=now(), due_at=None, shown={"draft": "d"}, editable=["draft"],
        instructions="check",
    )  # fmt: skip


def test_initialize_is_idempotent(store: Store) -> None:
    store.initialize()
    store.initialize()
    assert store.list_workflows() == []


def test_workflow_versions(store: Store) -> None:
    wf = linear_workflow()
    assert store.save_workflow(wf, "dana").version == 1
    renamed = wf.model_copy(update={"name": "Renamed"})
    assert store.save_workflow(renamed, "dana", "rename").version == 2
    latest = store.get_workflow("wf")
    assert latest is not None and latest.version == 2 and latest.definition.name == "Renamed"
    first = store.get_workflow("wf", 1)
    assert first is not None and first.definition == wf
    assert [v.version for v in store.list_versions("wf")] == [2, 1]
    assert [w.version for w in store.list_workflows()] == [2]
    assert store.get_workflow("missing") is None


def test_transition_writes_everything_together(store: Store) -> None:
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


def test_state_survives_reopen(make_store: Callable[[], Store]) -> None:
    first = make_store()
    run = new_run(status="waiting", node="review")
    first.apply(Transition(new_run=run, open_checkpoint=checkpoint(run.id)))
    first.close()
    second = make_store()
    got = second.get_run(run.id)
    assert got is not None and got.status == "waiting"
    assert len(second.list_checkpoints(CheckpointQuery(run_id=run.id))) == 1


def test_aggregates_for_insights(store: Store) -> None:
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


def ai_step(run_id: str, meta: dict[str, object]) -> StepRecord:
    return StepRecord(
        run_id=run_id, node_id="draft", kind="ai_step", status="done", input={}, output="x",
        started_at=now(), finished_at=now(), meta=meta,
    )  # fmt: skip


def test_ai_usage_per_step_and_version_and_run_versions(store: Store) -> None:
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


def test_the_newest_closed_checkpoints_come_a_page_at_a_time(store: Store) -> None:
    """Newest opened first, also across the recent-history windows a backend may read first."""
    opened = [now() - days * 86400 for days in (400, 40, 5, 1, 0)]
    ids = []
    for at in opened:
        run = new_run(status="waiting", node="review")
        cp = checkpoint(run.id)
        cp.created_at = at
        store.apply(Transition(new_run=run, open_checkpoint=cp))
        store.apply(
            Transition(close_checkpoint=CheckpointClose(cp.id, "decided", "jamie", {"kind": "approve"}))
        )
        ids.append(cp.id)
    newest = ids[::-1]

    def page(limit: int, offset: int = 0) -> list[str]:
        found = store.list_checkpoints(
            CheckpointQuery(status="decided", workflow_id="wf", newest_first=True), limit=limit, offset=offset
        )
        return [c.id for c in found]

    assert page(2) == newest[:2] and page(2, 2) == newest[2:4] and page(10) == newest
    assert page(3, 3) == newest[3:]


def test_runs_are_leased_to_one_driver_at_a_time(store: Store) -> None:
    running = [new_run() for _ in range(3)]
    for r in running:
        store.apply(Transition(new_run=r))
    store.apply(Transition(new_run=new_run(status="waiting", node="review")))  # not runnable
    first = store.claim_runs("a", 30, limit=2)
    assert len(first) == 2 and set(first.values()) == {None}
    rest = store.claim_runs("b", 30, limit=10)
    assert list(rest) == [r.id for r in running if r.id not in first]  # only what nobody holds
    assert store.claim_runs("b", 30, run_ids=list(first)) == {}  # a's leases are live
    assert store.claim_runs("a", 30, limit=10) == {}  # any work: not a's own again
    mine = next(iter(first))
    assert store.claim_runs("a", 30, run_ids=[mine]) == {mine: "a"}  # these runs: re-entrant
    assert set(store.renew_leases("a", [*first, *rest], 30)) == set(first)
    store.release_runs("a", [mine])
    assert store.claim_runs("b", 30, run_ids=[mine]) == {mine: None}
    other = next(r for r in first if r != mine)
    store.claim_runs("a", 0.2, run_ids=[other])  # a short lease that a then fails to renew
    time.sleep(0.3)
    assert store.claim_runs("c", 30, limit=10) == {other: "a"}  # taken over, and says from whom
    assert store.renew_leases("a", [other], 30) == []


def test_a_lease_is_taken_in_the_commit_that_makes_a_run_runnable(store: Store) -> None:
    run = new_run()
    store.apply(Transition(new_run=run, lease=Lease("a", 30)))
    assert store.claim_runs("b", 30, limit=10) == {}
    assert store.claim_runs("a", 30, run_ids=[run.id]) == {run.id: "a"}


def test_due_work_is_claimed_once(store: Store) -> None:
    run = new_run(status="waiting", node="review")
    cp = checkpoint(run.id)
    cp.due_at = cp.action_at = now() - 1
    opened = {"checkpoint": cp.id, "node": "review", "assignee": "jamie"}
    store.apply(
        Transition(
            new_run=run, open_checkpoint=cp, audit=[AuditEvent(run.id, "system", "checkpoint_opened", opened)]
        )
    )
    assert [c.id for c in store.due_checkpoints(now(), lease_seconds=30)] == [cp.id]
    assert store.due_checkpoints(now(), lease_seconds=30) == []  # claimed: nobody else gets it
    events = store.due_events(now(), lease_seconds=30)
    assert [e.event for e in events] == ["checkpoint.opened"]
    assert store.due_events(now(), lease_seconds=30) == []
    assert [e.id for e in store.due_events(now() + 31)] == [events[0].id]  # due again after the lease


def test_settings_keep_the_first_default_and_take_a_new_value(make_store: Callable[[], Store]) -> None:
    store = make_store()
    assert store.setting("default_model", "") == ""
    assert store.setting("link_key", "first") == "first"
    assert store.setting("link_key", "second") == "first"  # the first stored one stays
    store.put_setting("default_model", "llama3.1")
    store.put_setting("default_model", "qwen2.5")
    assert store.setting("default_model", "") == "qwen2.5"
    store.close()
    reopened = make_store()  # another process reads the same
    assert reopened.setting("default_model", "") == "qwen2.5"
    reopened.close()


def test_a_step_in_flight_is_recorded_replaced_and_cleared(make_store: Callable[[], Store]) -> None:
    store = make_store()
    assert store.get_live("run_x") is None
    store.put_live(LiveStep("run_x", "draft", 1, "Spring is", 10.0, 11.0))
    store.put_live(LiveStep("run_x", "draft", 2, "Spring is here", 10.0, 12.5))
    assert store.get_live("run_x") == LiveStep("run_x", "draft", 2, "Spring is here", 10.0, 12.5)
    store.clear_live("run_x")
    store.clear_live("run_x")  # clearing twice is fine
    assert store.get_live("run_x") is None


def test_a_designers_draft_is_kept_per_person_replaced_and_dropped(make_store: Callable[[], Store]) -> None:
    store = make_store()
    assert store.get_draft("dana", "wf") is None
    store.put_draft(DesignDraft("dana", "wf", '{"v": 1}', 10.0))
    store.put_draft(DesignDraft("dana", "wf", '{"v": 2}', 11.0))
    store.put_draft(DesignDraft("sam", "wf", '{"v": 9}', 12.0))
    assert store.get_draft("dana", "wf") == DesignDraft("dana", "wf", '{"v": 2}', 11.0)
    store.put_draft(DesignDraft("dana", "new-one", '{"v": 3}', 13.0))
    assert [d.workflow_id for d in store.list_drafts("dana")] == ["new-one", "wf"]  # newest first
    store.drop_draft("dana", "wf")
    assert store.get_draft("dana", "wf") is None
    assert store.get_draft("sam", "wf") is not None  # each designer's own
    assert store.list_drafts("dana") == [DesignDraft("dana", "new-one", '{"v": 3}', 13.0)]
    assert store.list_drafts("nobody") == []


def test_runs_are_listed_and_counted_by_section_starter_and_time(store: Store) -> None:
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


def test_the_open_checkpoints_of_several_runs_are_read_at_once(store: Store) -> None:
    waiting, running = new_run(status="running"), new_run()
    store.apply(Transition(new_run=waiting))
    store.apply(Transition(new_run=running))
    cp = checkpoint(waiting.id)
    update = RunUpdate(waiting.id, ("running",), "waiting", "review", waiting.values, "Review", 0)
    store.apply(Transition(run_update=update, open_checkpoint=cp))
    found = store.open_checkpoints([waiting.id, running.id, "run_nowhere"])
    assert list(found) == [waiting.id] and found[waiting.id].id == cp.id
    assert found[waiting.id].assignee == "jamie" and store.open_checkpoints([]) == {}
