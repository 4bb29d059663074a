"""Leases and work claiming: one driver at a time per run, renewed, released, taken over."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from engine.records import Lease, RunUpdate, Transition, new_id
from engine.store.base import Store
from tests.engine.store_contract.builders import at_once, new_run
from tests.fakes.clock import MovableClock


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
    store.claim_runs("a", 0, run_ids=[other])  # a lease that ran out at once: a failed to renew it
    assert store.claim_runs("c", 30, limit=10) == {other: "a"}  # taken over, and says from whom
    assert store.renew_leases("a", [other], 30) == []


def test_leases_run_out_on_the_store_s_clock(store: Store) -> None:
    """Leases, claims and their ends are read on `store.clock`: moving it past a lease frees the run
    for another driver (no test waits for a lease to run out), and a live lease stays live."""
    store.clock = clock = MovableClock()
    run, other = new_run(), new_run()
    store.apply(Transition(new_run=run, lease=Lease("a", 30)))
    store.apply(Transition(new_run=other))
    assert store.claim_runs("b", 30, run_ids=[run.id]) == {}
    assert store.claim_runs("a", 30, run_ids=[other.id]) == {other.id: None}
    clock.advance(20)
    assert store.renew_leases("a", [other.id], 30) == [other.id]  # now held until 50 s from the start
    clock.advance(11)  # 31 s on: the first lease ran out, the renewed one has not
    assert store.claim_runs("b", 30, limit=10) == {run.id: "a"}
    assert store.claim_runs("b", 30, run_ids=[other.id]) == {}


def test_a_lease_is_taken_in_the_commit_that_makes_a_run_runnable(store: Store) -> None:
    """A transition with a lease leaves its run to that driver: no one else claims it meanwhile."""
    run = new_run()
    store.apply(Transition(new_run=run, lease=Lease("a", 30)))
    assert store.claim_runs("b", 30, limit=10) == {}
    assert store.claim_runs("a", 30, run_ids=[run.id]) == {run.id: "a"}


def test_renewing_keeps_only_the_runs_the_owner_still_holds(store: Store) -> None:
    """`renew_leases` extends and returns the owner's runs it still holds: not one it released, not
    one taken over after its lease ran out; a run out lease nobody took is still its own."""
    kept, released, taken, lapsed = (new_run() for _ in range(4))
    for run in (kept, released, taken, lapsed):
        store.apply(Transition(new_run=run))
    store.claim_runs("a", 30, run_ids=[kept.id, released.id])
    store.claim_runs("a", 0, run_ids=[taken.id, lapsed.id])  # leases that run out at once
    store.release_runs("a", [released.id])
    assert store.claim_runs("b", 30, run_ids=[taken.id]) == {taken.id: "a"}
    renewed = store.renew_leases("a", [kept.id, released.id, taken.id, lapsed.id, "run_nowhere"], 30)
    assert sorted(renewed) == sorted([kept.id, lapsed.id])
    assert store.claim_runs("c", 30, limit=10) == {released.id: None}  # the renewed ones stay a's
    assert store.renew_leases("b", [taken.id], 30) == [taken.id]
    assert store.renew_leases("a", [], 30) == []


def test_a_released_run_is_free_at_once_but_only_its_owner_releases_it(store: Store) -> None:
    """`release_runs` frees the owner's own leases for anyone now; another owner's leases stay."""
    mine, theirs = new_run(), new_run()
    store.apply(Transition(new_run=mine))
    store.apply(Transition(new_run=theirs))
    store.claim_runs("a", 30, run_ids=[mine.id])
    store.claim_runs("b", 30, run_ids=[theirs.id])
    store.release_runs("a", [mine.id, theirs.id])  # a cannot give up b's lease
    store.release_runs("a", [])
    assert store.claim_runs("c", 30, limit=10) == {mine.id: None}
    assert store.claim_runs("c", 30, run_ids=[theirs.id]) == {}


def test_only_running_runs_are_claimed(store: Store) -> None:
    """Waiting and finished runs are never leased, even when asked for by id."""
    running = new_run()
    waiting = new_run(status="waiting", node="review")
    done = replace(new_run(), status="completed", current_node=None)
    for run in (running, waiting, done):
        store.apply(Transition(new_run=run))
    assert store.claim_runs("a", 30, run_ids=[running.id, waiting.id, done.id, "run_nowhere"]) == {
        running.id: None
    }
    assert store.claim_runs("b", 30, run_ids=[]) == {}


def test_drivers_claiming_at_the_same_time_never_share_a_run(store: Store) -> None:
    """Many drivers asking for any work at once each get different runs, and none is left out."""
    runs = [new_run() for _ in range(20)]
    for run in runs:
        store.apply(Transition(new_run=run))
    got = at_once(8, lambda: list(store.claim_runs(new_id("driver"), 30, limit=4)))
    claimed = [rid for ids in got for rid in ids]
    assert len(claimed) == len(set(claimed))  # nobody shares a run
    rest = store.claim_runs("late", 30, limit=100)
    assert sorted([*claimed, *rest]) == sorted(r.id for r in runs)


def test_waiting_for_work_ends_by_its_timeout_when_nothing_happens(store: Store) -> None:
    """`wait_for_work` returns False once its timeout passed and nothing was announced."""
    store.wait_for_work(0)  # a worker's first look (PostgreSQL starts listening here)
    started = time.monotonic()
    assert store.wait_for_work(0.2) is False
    assert 0.15 <= time.monotonic() - started < 5


def test_a_commit_that_makes_a_run_runnable_wakes_a_waiting_worker(store: Store) -> None:
    """A new running run, or a run back to running, wakes `wait_for_work` (also in another thread);
    a run leased in its own commit does not (its driver has it)."""
    store.wait_for_work(0)  # a worker's first look (PostgreSQL starts listening here)
    woke: list[bool] = []
    waiter = threading.Thread(target=lambda: woke.append(store.wait_for_work(30)))
    started = time.monotonic()
    waiter.start()
    run = new_run()
    store.apply(Transition(new_run=run))
    waiter.join(timeout=30)
    assert woke == [True] and time.monotonic() - started < 10
    waiting = new_run(status="waiting", node="review")
    store.apply(Transition(new_run=waiting))
    back = RunUpdate(waiting.id, ("waiting",), "running", "next", {}, "Intake", 0)
    store.apply(Transition(run_update=back))
    assert store.wait_for_work(10) is True
    store.apply(Transition(new_run=new_run(), lease=Lease("a", 30)))
    assert store.wait_for_work(0.2) is False
