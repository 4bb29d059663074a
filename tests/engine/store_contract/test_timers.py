"""Timers: pending checkpoints whose timeout action is due, claimed once, or forgotten."""

from __future__ import annotations

from engine.records import AuditEvent, Transition, now
from engine.store.base import Store
from tests.engine.store_contract.builders import checkpoint, new_run


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
