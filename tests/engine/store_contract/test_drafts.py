"""Designer drafts: a designer's unsaved working copy of each workflow, kept per person."""

from __future__ import annotations

from collections.abc import Callable

from engine.records import DesignDraft
from engine.store.base import Store


def test_a_designers_draft_is_kept_per_person_replaced_and_dropped(make_store: Callable[[], Store]) -> None:
    """A draft replaces that designer's earlier one of the workflow; dropping it leaves others'."""
    store = make_store()
    assert store.get_draft("dana", "wf") is None
    store.put_draft(DesignDraft("dana", "wf", '{"v": 1}', 10.0))
    store.put_draft(DesignDraft("dana", "wf", '{"v": 2}', 11.0))
    store.put_draft(DesignDraft("sam", "wf", '{"v": 9}', 12.0))
    assert store.get_draft("dana", "wf") == DesignDraft("dana", "wf", '{"v": 2}', 11.0)
    store.put_draft(DesignDraft("dana", "new-one", '{"v": 3}', 13.0))
    assert [d.workflow_id for d in store.list_drafts("dana")] == ["new-one", "wf"]  # newest first
    store.drop_draft("dana", "wf")
    assert store.get_draft("dana", "wf") is None
    assert store.get_draft("sam", "wf") is not None  # each designer's own
    assert store.list_drafts("dana") == [DesignDraft("dana", "new-one", '{"v": 3}', 13.0)]
    assert store.list_drafts("nobody") == []


def test_a_draft_reads_back_verbatim(store: Store) -> None:
    """A draft's workflow JSON and time come back exactly as kept, however long or unusual."""
    text = '{"name": "Ünïcode ✓", "nodes": [' + ", ".join(f'{{"id": "n{i}"}}' for i in range(2000)) + "]}"
    store.put_draft(DesignDraft("dana", "wf", text, 1_712_600_000.123456))
    assert store.get_draft("dana", "wf") == DesignDraft("dana", "wf", text, 1_712_600_000.123456)
    store.drop_draft("dana", "never-kept")  # dropping what is not there is fine
    assert [d.workflow_id for d in store.list_drafts("dana")] == ["wf"]
