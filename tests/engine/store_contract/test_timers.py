"""Timers: pending checkpoints whose timeout action is due, claimed once, or forgotten."""

from __future__ import annotations

from dataclasses import replace

from engine.records import AuditEvent, CheckpointClose, CheckpointRecord, Transition, now
from engine.store.base import Store
from tests.engine.store_contract.builders import HOUR, at_once, checkpoint, new_run


def test_due_work_is_claimed_once(store: Store) -> None:
    """A due checkpoint and a due announcement are each handed out once while their lease runs."""
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


def open_due(store: Store, action_at: float | None) -> CheckpointRecord:
    """A waiting run whose checkpoint's next timeout action is due at `action_at`."""
    run = new_run(status="waiting", node="review")
    cp = replace(checkpoint(run.id), due_at=action_at, action_at=action_at)
    store.apply(Transition(new_run=run, open_checkpoint=cp))
    return cp


def test_due_checkpoints_are_those_due_by_the_time_asked_soonest_first(store: Store) -> None:
    """`due_checkpoints(at)` reads pending checkpoints whose action is due by `at`, soonest first;
    without a lease, reading claims nothing."""
    base = now() + 10 * HOUR
    later, sooner, never = (
        open_due(store, base + 2 * HOUR),
        open_due(store, base + HOUR),
        open_due(store, None),
    )
    decided = open_due(store, base)
    store.apply(
        Transition(close_checkpoint=CheckpointClose(decided.id, "decided", "jamie", {"kind": "approve"}))
    )
    assert store.due_checkpoints(at=base) == []
    assert [c.id for c in store.due_checkpoints(at=base + 1.5 * HOUR)] == [sooner.id]
    assert [c.id for c in store.due_checkpoints(at=base + 3 * HOUR)] == [sooner.id, later.id]
    assert [c.id for c in store.due_checkpoints(at=base + 3 * HOUR)] == [sooner.id, later.id]
    assert never.id not in {c.id for c in store.due_checkpoints(at=float("inf"))}


def test_a_claimed_checkpoint_is_due_again_for_anyone_once_its_lease_ran_out(store: Store) -> None:
    """With a lease, a due checkpoint is handed out as it was, then due again after the lease."""
    cp = open_due(store, now() - HOUR)
    (claimed,) = store.due_checkpoints(at=now(), lease_seconds=30)
    assert (claimed.id, claimed.action_at) == (cp.id, cp.action_at)  # as it was before the claim
    assert store.due_checkpoints(at=now()) == []
    assert [c.id for c in store.due_checkpoints(at=now() + 31)] == [cp.id]


def test_each_due_checkpoint_goes_to_one_of_many_callers(store: Store) -> None:
    """Callers claiming due checkpoints at the same time never get the same one, and all are taken."""
    due = {open_due(store, now() - 60).id for _ in range(10)}
    got = at_once(6, lambda: [c.id for c in store.due_checkpoints(at=now(), lease_seconds=30)])
    taken = [cid for ids in got for cid in ids]
    assert len(taken) == len(set(taken)) and set(taken) == due


def test_cleared_actions_are_never_due_again(store: Store) -> None:
    """`clear_actions` forgets those checkpoints' due actions only; they stay pending as they were."""
    idle, also_idle, busy = (open_due(store, now() - 60) for _ in range(3))
    store.clear_actions([idle.id, also_idle.id])
    store.clear_actions([])
    assert [c.id for c in store.due_checkpoints(at=float("inf"))] == [busy.id]
    got = store.get_checkpoint(idle.id)
    assert got is not None and (got.status, got.action_at, got.due_at) == ("pending", None, idle.due_at)
