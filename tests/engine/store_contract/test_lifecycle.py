"""Lifecycle: a store is initialized (again and again), closed, and says whether it can be used."""

from __future__ import annotations

from collections.abc import Callable

from engine.records import Transition
from engine.store.base import Store
from tests.engine.store_contract.builders import checkpoint, new_run


def test_initialize_is_idempotent(store: Store) -> None:
    """Initializing an initialized database again changes nothing."""
    store.initialize()
    store.initialize()
    assert store.list_workflows() == []


def test_state_survives_reopen(make_store: Callable[[], Store]) -> None:
    """What one store committed, a store opened after it was closed reads."""
    first = make_store()
    run = new_run(status="waiting", node="review")
    first.apply(Transition(new_run=run, open_checkpoint=checkpoint(run.id)))
    first.close()
    second = make_store()
    got = second.get_run(run.id)
    assert got is not None and got.status == "waiting"
    assert len(second.list_checkpoints(run_id=run.id)) == 1
