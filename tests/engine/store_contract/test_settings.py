"""Settings kept with the data: the first default stays, a new value replaces it for everyone."""

from __future__ import annotations

from collections.abc import Callable

from engine.store.base import Store


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
