"""Connections to services outside: one per name, replaced whole, listed by name, forgotten on
request, and carried along when a database moves (their secrets as the ciphertext they are)."""

from __future__ import annotations

from engine.records import ConnectionRecord
from engine.store.base import Store

SMTP = ConnectionRecord(
    "mail", "smtp", '{"host": "smtp.example.com", "port": 587}', "gAAAAAB-ciphertext-1", 100.0, "alex"
)
"""A connection as the app stores it: settings as JSON text, secrets already encrypted."""


def test_a_connection_reads_back_as_put_and_an_unknown_name_is_none(store: Store) -> None:
    """`get_connection` returns the record `put_connection` stored, every field as given."""
    assert store.get_connection("mail") is None
    store.put_connection(SMTP)
    assert store.get_connection("mail") == SMTP
    assert store.get_connection("Mail") is None  # names are exact
    assert store.get_connection("nowhere") is None


def test_putting_a_connection_again_replaces_it_whole(store: Store) -> None:
    """A second `put_connection` of a name replaces its type, settings, secrets and who changed it
    when; other connections stay as they were."""
    store.put_connection(SMTP)
    other = ConnectionRecord("crm", "http", '{"base_url": "https://crm.example"}', "gAAAAAB-2", 101.0, "alex")
    store.put_connection(other)
    changed = ConnectionRecord(
        "mail", "http", '{"base_url": "https://mail.example/api"}', "gAAAAAB-3", 200.5, "dana"
    )
    store.put_connection(changed)
    assert store.get_connection("mail") == changed
    assert store.get_connection("crm") == other
    assert store.list_connections() == [other, changed]  # still one of each name


def test_connections_are_listed_by_name(store: Store) -> None:
    """`list_connections` gives every connection ordered by name, whatever order they were put in;
    none: an empty list."""
    assert store.list_connections() == []
    for i, name in enumerate(["slack", "crm", "mail", "billing"]):
        store.put_connection(ConnectionRecord(name, "http", "{}", f"gAAAAAB-{i}", 100.0 + i, "alex"))
    assert [c.name for c in store.list_connections()] == ["billing", "crm", "mail", "slack"]


def test_deleting_a_connection_says_whether_it_was_there(store: Store) -> None:
    """`delete_connection` is True when it removed a connection, False the second time and for a
    name never stored; the others stay."""
    store.put_connection(SMTP)
    store.put_connection(ConnectionRecord("crm", "http", "{}", "gAAAAAB-2", 101.0, "alex"))
    assert store.delete_connection("mail") is True
    assert store.get_connection("mail") is None
    assert store.delete_connection("mail") is False
    assert store.delete_connection("nowhere") is False
    assert [c.name for c in store.list_connections()] == ["crm"]
    store.put_connection(SMTP)  # a deleted name can be used again
    assert store.get_connection("mail") == SMTP


def test_connections_move_with_the_catalog_ciphertext_and_all(store: Store, empty_store: Store) -> None:
    """`export_catalog` holds every connection; `bulk_insert` of it into an empty database gives the
    same records (the encrypted secrets copied as they are) and the same count."""
    store.put_connection(SMTP)
    store.put_connection(ConnectionRecord("crm", "http", '{"base_url": "x"}', "gAAAAAB-2", 101.0, "dana"))
    catalog = store.export_catalog()
    assert catalog["connections"].column("name").to_pylist() == ["crm", "mail"]
    empty_store.bulk_insert(catalog)
    assert empty_store.list_connections() == store.list_connections()
    assert empty_store.get_connection("mail") == SMTP
    assert empty_store.table_counts()["connections"] == store.table_counts()["connections"] == 2
