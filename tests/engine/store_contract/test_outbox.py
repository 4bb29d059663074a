"""The outbox: announcements written in the commit of what they announce, due, claimed and
delivered once, with their delivery state kept."""

from __future__ import annotations

from dataclasses import replace

from engine.records import AuditEvent, CheckpointClose, OutboxEvent, RunUpdate, Transition, now
from engine.store.base import Store
from tests.engine.store_contract.builders import at_once, checkpoint, new_run


def opened(store: Store, at: float) -> OutboxEvent:
    """A run waiting for jamie, announced at `at`; its one announcement."""
    run = new_run(status="waiting", node="review")
    cp = checkpoint(run.id)
    detail = {"checkpoint": cp.id, "node": "review", "assignee": "jamie"}
    store.apply(
        Transition(
            new_run=run,
            open_checkpoint=cp,
            audit=[AuditEvent(run.id, "system", "checkpoint_opened", detail, at)],
        )
    )
    (event,) = store.list_events(run.id)
    return event


def test_every_announcement_of_a_run_is_listed_oldest_first(store: Store) -> None:
    """`list_events` gives what a run's audit events announced, in order, with who and what."""
    base = now() - 60
    run = new_run(status="waiting", node="review")
    cp = checkpoint(run.id)
    store.apply(
        Transition(
            new_run=run,
            open_checkpoint=cp,
            audit=[
                AuditEvent(run.id, "u", "run_started", ts=base),  # announces nothing
                AuditEvent(
                    run.id,
                    "system",
                    "checkpoint_opened",
                    {"checkpoint": cp.id, "assignee": "jamie"},
                    base + 1,
                ),
            ],
        )
    )
    store.apply(
        Transition(
            close_checkpoint=CheckpointClose(cp.id, "pending", "jamie", new_assignee="sam"),
            audit=[AuditEvent(run.id, "jamie", "reassigned", {"checkpoint": cp.id, "to": "sam"}, base + 2)],
        )
    )
    store.apply(
        Transition(
            run_update=RunUpdate(run.id, ("waiting",), "completed", None, {}, None, 0),
            close_checkpoint=CheckpointClose(cp.id, "decided", "sam", {"kind": "approve"}),
            audit=[
                AuditEvent(run.id, "sam", "decision_approve", {"checkpoint": cp.id}, base + 3),
                AuditEvent(run.id, "system", "completed", {}, base + 4),
            ],
        )
    )
    events = store.list_events(run.id)
    assert [(e.event, e.checkpoint_id, e.assignee, e.actor, e.action) for e in events] == [
        ("checkpoint.opened", cp.id, "jamie", None, None),
        ("checkpoint.reassigned", cp.id, "sam", "jamie", None),
        ("checkpoint.decided", cp.id, None, "sam", "approve"),
        ("run.completed", None, None, None, None),
    ]
    assert [e.at for e in events] == [base + 1, base + 2, base + 3, base + 4]
    assert all((e.status, e.attempts, e.done) == ("pending", 0, []) for e in events)
    assert store.list_events("run_nowhere") == []


def test_due_events_come_oldest_first_a_batch_at_a_time(store: Store) -> None:
    """`due_events(at, limit)` reads the oldest undelivered events due by `at`, at most `limit`."""
    base = now() - 60
    events = [opened(store, base + i) for i in range(3)]
    assert store.due_events(at=base - 1) == []
    assert [e.id for e in store.due_events(at=base + 1)] == [e.id for e in events[:2]]
    assert [e.id for e in store.due_events(at=now(), limit=2)] == [e.id for e in events[:2]]
    assert store.due_events(at=now()) == events  # without a lease, reading claims nothing


def test_delivery_progress_is_kept_and_only_what_is_left_stays_due(store: Store) -> None:
    """`update_events` records status, attempts, channels done, next attempt and error: a delivered or
    failed event is never due again, a retry is due at its next attempt; `list_events` shows all."""
    at = now()
    delivered, retried, failed = (opened(store, at - 60 + i) for i in range(3))
    store.update_events(
        [
            replace(
                delivered, status="delivered", attempts=1, done=["webhook:crm", "email"], delivered_at=at
            ),
            replace(
                retried, attempts=1, next_at=at + 60, done=["email"], last_error="webhook:crm: timed out"
            ),
            replace(failed, status="failed", attempts=5, last_error="HTTP 500"),
        ]
    )
    store.update_events([])
    assert store.due_events(at=at) == []
    (again,) = store.due_events(at=at + 60)
    assert (again.id, again.attempts, again.done, again.last_error) == (
        retried.id, 1, ["email"], "webhook:crm: timed out",
    )  # fmt: skip
    (kept,) = store.list_events(delivered.run_id)
    assert (kept.status, kept.attempts, kept.done, kept.delivered_at) == (
        "delivered", 1, ["webhook:crm", "email"], at,
    )  # fmt: skip
    (gave_up,) = store.list_events(failed.run_id)
    assert (gave_up.status, gave_up.attempts, gave_up.last_error) == ("failed", 5, "HTTP 500")


def test_a_claim_ends_when_the_claimers_progress_is_recorded(store: Store) -> None:
    """A claimed event is nobody else's while its lease runs, until its sender records a retry:
    then it is due at that retry's time."""
    event = opened(store, now() - 60)
    (claimed,) = store.due_events(at=now(), lease_seconds=30)
    assert store.due_events(at=now() + 5) == []
    retry = now() + 5
    store.update_events([replace(claimed, attempts=1, next_at=retry, last_error="timed out")])
    assert [e.id for e in store.due_events(at=retry)] == [event.id]


def test_each_due_event_goes_to_one_of_many_senders(
    store: Store,
) -> None:
    """Senders claiming due events at the same time never get the same one, and all are taken."""
    for _ in range(3):  # rounds: a race the claims lose shows in any of them
        due = {opened(store, now() - 60).id for _ in range(8)}
        got = at_once(6, lambda: [e.id for e in store.due_events(at=now(), lease_seconds=30)])
        taken = [eid for ids in got for eid in ids]
        assert len(taken) == len(set(taken)) and set(taken) == due


def test_the_events_listener_is_called_after_a_commit_that_announced_something(store: Store) -> None:
    """`events_listener` is called once `apply` committed announcements, and not for other commits."""
    calls: list[int] = []
    store.events_listener = lambda: calls.append(len(store.due_events(at=now())))
    run = new_run()
    store.apply(Transition(new_run=run, audit=[AuditEvent(run.id, "u", "run_started")]))
    assert calls == []
    opened(store, now())
    assert calls == [1]  # called when the announcement can already be read
