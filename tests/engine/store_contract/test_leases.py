"""Leases and work claiming: one driver at a time per run, renewed, released, taken over."""

from __future__ import annotations

import time

from engine.records import Lease, Transition
from engine.store.base import Store
from tests.engine.store_contract.builders import new_run


def test_runs_are_leased_to_one_driver_at_a_time(store: Store) -> None:
    """A run leased to one driver is nobody else's until released or its lease ran out."""
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
    """A transition with a lease leaves its run to that driver: no one else claims it meanwhile."""
    run = new_run()
    store.apply(Transition(new_run=run, lease=Lease("a", 30)))
    assert store.claim_runs("b", 30, limit=10) == {}
    assert store.claim_runs("a", 30, run_ids=[run.id]) == {run.id: "a"}
