"""Workflows and their versions: saved, read back by version, listed."""

from __future__ import annotations

import pytest

from engine.store.base import Store
from tests.engine.helpers import linear_workflow
from tests.engine.store_contract.builders import at_once


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


def test_a_saved_version_reads_back_with_who_saved_it_and_why(store: Store) -> None:
    """`save_workflow` returns the version as stored: author, note and time come back the same."""
    saved = store.save_workflow(linear_workflow(), "dana", "first cut")
    got = store.get_workflow("wf", saved.version)
    assert got is not None and (got.created_by, got.note, got.name) == ("dana", "first cut", "Test flow")
    assert got.created_at == pytest.approx(saved.created_at)
    assert got.definition == saved.definition
    assert store.get_workflow("wf", 2) is None  # a version never saved


def test_latest_version_is_the_newest_number_or_none(store: Store) -> None:
    """`latest_version` names the newest version of that workflow only, None before the first save."""
    assert store.latest_version("wf") is None
    store.save_workflow(linear_workflow(), "dana")
    store.save_workflow(linear_workflow(name="Again"), "dana")
    store.save_workflow(linear_workflow(id="other"), "dana")
    assert store.latest_version("wf") == 2
    assert store.latest_version("other") == 1
    latest = store.get_workflow("wf")
    assert latest is not None and latest.version == store.latest_version("wf")


def test_every_workflow_is_listed_once_by_name_at_its_latest_version(store: Store) -> None:
    """`list_workflows` gives each workflow's newest version, ordered by name whatever its case."""
    store.save_workflow(linear_workflow(id="c", name="gamma"), "dana")
    store.save_workflow(linear_workflow(id="a", name="beta"), "dana")
    store.save_workflow(linear_workflow(id="b", name="Alpha"), "dana")
    store.save_workflow(linear_workflow(id="a", name="Beta"), "dana")
    listed = [(w.workflow_id, w.name, w.version) for w in store.list_workflows()]
    assert listed == [("b", "Alpha", 1), ("a", "Beta", 2), ("c", "gamma", 1)]
    assert [v.name for v in store.list_versions("a")] == ["Beta", "beta"]  # newest first
    assert store.list_versions("missing") == []


def test_saves_at_the_same_time_get_one_version_each(store: Store) -> None:
    """Concurrent saves of one workflow queue up: every save gets its own next number."""
    saved = at_once(6, lambda: store.save_workflow(linear_workflow(), "dana").version)
    assert sorted(saved) == [1, 2, 3, 4, 5, 6]
    assert [v.version for v in store.list_versions("wf")] == [6, 5, 4, 3, 2, 1]
