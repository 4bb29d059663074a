"""Workflows and their versions: saved, read back by version, listed."""

from __future__ import annotations

from engine.store.base import Store
from tests.engine.helpers import linear_workflow


def test_workflow_versions(store: Store) -> None:
    """Each save is the next version; the latest is the default, every version stays readable."""
    wf = linear_workflow()
    assert store.save_workflow(wf, "dana").version == 1
    renamed = wf.model_copy(update={"name": "Renamed"})
    assert store.save_workflow(renamed, "dana", "rename").version == 2
    latest = store.get_workflow("wf")
    assert latest is not None and latest.version == 2 and latest.definition.name == "Renamed"
    first = store.get_workflow("wf", 1)
    assert first is not None and first.definition == wf
    assert [v.version for v in store.list_versions("wf")] == [2, 1]
    assert [w.version for w in store.list_workflows()] == [2]
    assert store.get_workflow("missing") is None
