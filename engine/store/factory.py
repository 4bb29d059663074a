"""Choose the backend from where the data lives: a file path (DuckDB, the embedded default) or a
`postgresql://` URL (PostgreSQL, for several processes and machines). Nothing above the store
knows which one it has."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

from engine.store.base import Store

DEFAULT_LOCATION = "data/loopdesk.duckdb"


def default_location() -> str:
    """Where the data lives: `LOOPDESK_DB` (a file path or a PostgreSQL URL), else data/loopdesk.duckdb."""
    return os.environ.get("LOOPDESK_DB", "").strip() or DEFAULT_LOCATION


def is_postgres_url(location: str) -> bool:
    """Whether a `LOOPDESK_DB` / `--db` value names a PostgreSQL database (else a DuckDB file)."""
    return location.startswith(("postgresql://", "postgres://"))


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


def redacted(location: str) -> str:
    """A database location as messages show it: a URL without its password."""
    parts = urlsplit(location)
    if not is_postgres_url(location) or parts.password is None:
        return location
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
