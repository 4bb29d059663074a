"""Steps and audit: what each run did, in order, and what its AI steps used."""

from __future__ import annotations

import pytest

from engine.records import RunRecord, Transition, now
from engine.store.base import Store
from tests.engine.store_contract.builders import ai_step, new_run


def test_ai_usage_per_step_and_version_and_run_versions(store: Store) -> None:
    """AI usage is summed per step and workflow version; `run_versions` names each run's version."""
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
