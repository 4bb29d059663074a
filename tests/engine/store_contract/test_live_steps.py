"""AI steps in flight: how far a running step is, recorded, replaced and cleared per run."""

from __future__ import annotations

from collections.abc import Callable

from engine.records import LiveStep
from engine.store.base import Store


def test_a_step_in_flight_is_recorded_replaced_and_cleared(make_store: Callable[[], Store]) -> None:
    """The latest `put_live` of a run is what `get_live` reads, until `clear_live` (idempotent)."""
    store = make_store()
    assert store.get_live("run_x") is None
    store.put_live(LiveStep("run_x", "draft", 1, "Spring is", 10.0, 11.0))
    store.put_live(LiveStep("run_x", "draft", 2, "Spring is here", 10.0, 12.5))
    assert store.get_live("run_x") == LiveStep("run_x", "draft", 2, "Spring is here", 10.0, 12.5)
    store.clear_live("run_x")
    store.clear_live("run_x")  # clearing twice is fine
    assert store.get_live("run_x") is None


def test_each_runs_step_in_flight_is_its_own(store: Store) -> None:
    """Each run has its own record: reading, replacing or clearing one leaves the others."""
    one, two = (
        LiveStep("run_1", "draft", 1, "", 10.0, 10.0),
        LiveStep("run_2", "translate", 3, "Hallo", 5.0, 9.5),
    )
    store.put_live(one)
    store.put_live(two)
    store.put_live(LiveStep("run_1", "translate", 1, "é…", 20.0, 21.0))  # the run moved on to another step
    assert store.get_live("run_1") == LiveStep("run_1", "translate", 1, "é…", 20.0, 21.0)
    store.clear_live("run_1")
    assert store.get_live("run_1") is None and store.get_live("run_2") == two
