"""Choose the backend from where the data lives: a file path (DuckDB, the embedded default) or a
`postgresql://` URL (PostgreSQL, for several processes and machines). Nothing above the store
knows which one it has."""

from __future__ import annotations

from engine.store.base import Store
from engine.store.location import default_location, is_postgres_url


def open_store(
    location: str | None = None, lock_wait_seconds: float | None = None, memory: str | None = None
) -> Store:
    """The store for `location` (default: `default_location()`), opened but not yet initialized;
    `memory` overrides DuckDB's memory limit (`LOOPDESK_DB_MEMORY`) for this store."""
    location = location or default_location()
    if is_postgres_url(location):
        from engine.store.postgres import PostgresStore  # psycopg is only loaded when it is used

        return PostgresStore(location)
    from engine.store.duckdb import DuckDBStore

    return DuckDBStore(location, lock_wait_seconds=lock_wait_seconds, memory=memory)
