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
