"""PostgreSQL as history grows: a database of N runs built as `bench.growth` builds its stores
(real template runs cloned through the store's bulk path), then durable steps/s on it beside an
empty database, with worker processes and in one process; and `migrate` of a DuckDB store of M runs.

    python -m bench.postgres_growth --size 1000000 --migrate-size 100000 [--cache DIR] [--runs 1000]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from bench.engine_throughput import drive_with_workers, postgres, run_bench
from bench.growth import built_store
from engine.store.migrate import copy_database
from tests.history import build


def main() -> None:
    """Build (or reuse) the history, migrate it, measure, print."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=1_000_000, help="runs in the grown database")
    p.add_argument(
        "--migrate-size", type=int, default=100_000, help="runs of the DuckDB store migrated (0: skip)"
    )
    p.add_argument("--cache", help="keep the built DuckDB store here and reuse it")
    p.add_argument("--runs", type=int, default=1000, help="runs driven per measurement")
    p.add_argument("--processes", type=int, default=2, help="worker processes (8 runs each)")
    a = p.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    cache = Path(a.cache or tempfile.mkdtemp(prefix="loopdesk-growth-"))
    cache.mkdir(parents=True, exist_ok=True)
    with postgres() as server:
        if a.migrate_size:
            built = built_store(cache, a.migrate_size)
            moved = server.create_database("moved")
            started = time.perf_counter()
            copied = copy_database(str(built), moved)
            took = time.perf_counter() - started
            rows = sum(copied.values())
            print(
                f"migrate: {copied['runs']:,} runs, {rows:,} rows in {took:.0f} s ({rows / took:,.0f} rows/s)"
            )
        empty, grown = server.create_database("empty"), server.create_database("grown")
        made = build(grown, a.size)
        print(f"built {a.size:,} runs in PostgreSQL (bulk path) in {made['build_s']:.0f} s", flush=True)
        for label, url in (("empty", empty), (f"{a.size:,} runs", grown)):
            r = drive_with_workers(url, a.runs, a.processes, 8)
            workers = f"{a.processes} worker processes × 8"
            print(f"{label:>14}: {workers}: steps/s={r['steps_per_s']:.0f}", flush=True)
            r = run_bench(a.runs, 32, url)
            print(f"{label:>14}: 1 process, 32 concurrent: steps/s={r['steps_per_s']:.0f}", flush=True)


if __name__ == "__main__":
    main()
