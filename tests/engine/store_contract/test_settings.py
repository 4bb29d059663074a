"""Settings kept with the data: the first default stays, a new value replaces it for everyone."""

from __future__ import annotations

from collections.abc import Callable

from engine.records import new_id
from engine.store.base import Store
from tests.engine.store_contract.builders import at_once


def test_settings_keep_the_first_default_and_take_a_new_value(make_store: Callable[[], Store]) -> None:
    """`setting` stores its first default; `put_setting` replaces it, and a reopened store reads it."""
    store = make_store()
    assert store.setting("default_model", "") == ""
    assert store.setting("link_key", "first") == "first"
    assert store.setting("link_key", "second") == "first"  # the first stored one stays
    store.put_setting("default_model", "llama3.1")
    store.put_setting("default_model", "qwen2.5")
    assert store.setting("default_model", "") == "qwen2.5"
    store.close()
    reopened = make_store()  # another process reads the same
    assert reopened.setting("default_model", "") == "qwen2.5"
    reopened.close()


def test_processes_asking_for_a_new_setting_at_once_all_read_one_value(store: Store) -> None:
    """When several callers store a first default at the same time, one wins and all read it."""
    seen = at_once(6, lambda: store.setting("link_key", new_id("key")))
    assert len(set(seen)) == 1 and store.setting("link_key", "later") == seen[0]


def test_each_setting_is_its_own(store: Store) -> None:
    """Putting one setting leaves the others as they were; values are kept verbatim."""
    store.put_setting("a", "1")
    store.put_setting("b", '{"json": ["é", 2]}')
    store.put_setting("a", "")
    assert (store.setting("a", "x"), store.setting("b", "x")) == ("", '{"json": ["é", 2]}')
