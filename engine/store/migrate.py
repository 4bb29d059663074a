"""Move a whole database to another backend (`python -m engine migrate --from PATH --to URL`):
workflows, runs, steps, checkpoints, decisions, audit, notifications, API tokens, connections
(their secrets as the ciphertext they are), settings and counters, copied through the stores' own
bulk path and verified by counting both sides."""

from __future__ import annotations

import os
from pathlib import Path

from engine.errors import EngineError
from engine.store.base import Store
from engine.store.factory import open_store
from engine.store.location import is_postgres_url, redacted

MIGRATE_MEMORY = "2GB"
"""DuckDB's memory limit while a file is copied out (unless `LOOPDESK_DB_MEMORY` says otherwise):
looking up each batch's rows by run id keeps index pages in memory (measured: the default 256 MB
ran out after about 500,000 runs of a 1M-run file)."""


def copy_database(source: str, target: str, batch: int = 5000) -> dict[str, int]:
    """Copy everything in `source` into the empty database `target`, oldest runs first, `batch`
    runs per transaction; rows copied per table. Raises when the target is not empty or when
    any count (or insight counter) differs afterwards."""
    if not is_postgres_url(source) and not Path(source).is_file():
        raise EngineError(f"there is no database file {source} to migrate from")
    if source == target:
        raise EngineError("--from and --to name the same database")
    src = open_store(source, memory=os.environ.get("LOOPDESK_DB_MEMORY", "").strip() or MIGRATE_MEMORY)
    try:
        src.initialize()  # an older file is brought up to date first, as the app would
        dst = open_store(target)
        try:
            dst.initialize()
            return _copy(src, dst, batch)
        finally:
            dst.close()
    finally:
        src.close()


def _copy(src: Store, dst: Store, batch: int) -> dict[str, int]:
    held = {t: n for t, n in dst.table_counts().items() if n}
    if held:
        what = ", ".join(f"{n} {t}" for t, n in held.items())
        raise EngineError(
            f"{redacted(dst.source)} is not empty ({what}); migrate copies into an empty database"
        )
    dst.bulk_insert(src.export_catalog())
    # oldest first: steps and audit events are numbered afresh in the order copied
    last: tuple[float, str] | None = None
    while keys := src.run_keys(last, limit=batch):
        dst.bulk_insert(src.export_rows([rid for _, rid in keys]))
        last = keys[-1]
    before, after = src.table_counts(), dst.table_counts()
    wrong = [f"{t}: {before[t]} → {after.get(t)}" for t in before if before[t] != after.get(t)]
    if wrong:
        raise EngineError(f"the copy does not match the original ({'; '.join(wrong)})")
    for what, mine, theirs in (
        ("insight counters", src.counters(), dst.counters()),
        ("archived runs' counters", src.archived_counters(), dst.archived_counters()),
    ):
        if mine.keys() != theirs.keys() or any(abs(mine[k] - theirs[k]) > 1e-6 for k in mine):
            raise EngineError(f"the copy's {what} do not match the original's")
    return after
