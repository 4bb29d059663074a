"""Where the data lives: a DuckDB file path or a PostgreSQL URL, and how messages show it."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

DEFAULT_LOCATION = "data/loopdesk.duckdb"


def default_location() -> str:
    """Where the data lives: `LOOPDESK_DB` (a file path or a PostgreSQL URL), else data/loopdesk.duckdb."""
    return os.environ.get("LOOPDESK_DB", "").strip() or DEFAULT_LOCATION


def is_postgres_url(location: str) -> bool:
    """Whether a `LOOPDESK_DB` / `--db` value names a PostgreSQL database (else a DuckDB file)."""
    return location.startswith(("postgresql://", "postgres://"))


def redacted(location: str) -> str:
    """A database location as messages show it: a URL without its password."""
    parts = urlsplit(location)
    if not is_postgres_url(location) or parts.password is None:
        return location
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
