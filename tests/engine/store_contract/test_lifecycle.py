"""Lifecycle: a store is initialized (again and again), closed, says whether it can be used, and
names where its data lives."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from engine.records import CheckpointQuery, Transition
from engine.store.base import Store
from engine.store.factory import open_store
from tests.engine.helpers import linear_workflow
from tests.engine.store_contract.builders import checkpoint, new_run


def test_initialize_is_idempotent(store: Store) -> None:
    """Initializing an initialized database again changes nothing."""
    store.initialize()
    store.initialize()
    assert store.list_workflows() == []


def test_initializing_again_keeps_what_is_stored(make_store: Callable[[], Store]) -> None:
    """Every process initializes the database it opens: what is stored stays, once."""
    first = make_store()
    first.save_workflow(linear_workflow(), "dana")
    first.apply(Transition(new_run=new_run()))
    first.initialize()
    first.close()
    second = make_store()  # initialized by the fixture, as a starting process does
    second.initialize()
    assert [w.version for w in second.list_workflows()] == [1] and second.count_runs() == 1


def test_state_survives_reopen(make_store: Callable[[], Store]) -> None:
    """What one store committed, a store opened after it was closed reads."""
    first = make_store()
    run = new_run(status="waiting", node="review")
    first.apply(Transition(new_run=run, open_checkpoint=checkpoint(run.id)))
    first.close()
    second = make_store()
    got = second.get_run(run.id)
    assert got is not None and got.status == "waiting"
    assert len(second.list_checkpoints(CheckpointQuery(run_id=run.id))) == 1


def test_closing_twice_is_harmless_and_a_closed_store_takes_no_writes(
    make_store: Callable[[], Store],
) -> None:
    """`close` may be called again; a write to a closed store raises instead of being lost quietly,
    and the database opens again for the next store."""
    store = make_store()
    store.put_setting("kept", "yes")
    store.close()
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.apply(Transition(new_run=new_run()))
    with pytest.raises(RuntimeError, match="closed"):
        store.put_setting("lost", "no")
    reopened = make_store()
    assert reopened.setting("kept", "") == "yes" and reopened.count_runs() == 0


def test_a_closed_store_refuses_reads_as_it_refuses_writes(
    make_store: Callable[[], Store],
) -> None:
    """A read from a closed store raises the same error as a write (not the driver's own)."""
    store = make_store()
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.get_run("run_x")


def test_health_is_none_while_the_database_can_be_used(store: Store) -> None:
    """`health` answers None for a usable database, before and after writes, and changes nothing."""
    assert store.health() is None
    store.apply(Transition(new_run=new_run()))
    before = store.count_runs(), store.list_audit()
    assert store.health() is None
    assert store.health() is None
    assert (store.count_runs(), store.list_audit()) == before


def test_a_store_names_where_its_data_lives_without_a_password(location: str, backend: str) -> None:
    """`source` is the location exactly as opened; `path`, which messages show, is the same without
    a password."""
    opened = location if backend == "duckdb" else location.replace("postgres@", "postgres:s3cret@", 1)
    store = open_store(opened)
    try:
        store.initialize()
        assert store.source == opened
        assert "s3cret" not in store.path
        assert store.path == (opened if backend == "duckdb" else opened.replace("s3cret", "***"))
    finally:
        store.close()
