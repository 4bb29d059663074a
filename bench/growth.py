"""Costs as history grows: stores of 10k, 100k and 1M finished runs, measured page by page.

Each store is cloned from real runs of the four shipped templates, made through the
project's own services with the offline demo model: 70% approved, 10% approved with an
edit, 10% rejected, 10% sent back once and then approved; 1% of the runs are still waiting,
spread over the last week, the rest spread over the year before. The clones go in through the
store's bulk path (`Store.bulk_insert`), then each store is measured in a fresh process through
the same service calls and page scripts the app runs.

    python -m bench.growth --sizes 10000 100000 1000000 [--cache DIR]

With `--cache`, built stores are kept and reused (each measurement works on a copy).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.history import build

ROOT = Path(__file__).resolve().parents[1]


# -- measuring, in a fresh process per store ----------------------------------------------------
def rss_mb() -> float:
    """This process's resident memory in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(fn: Any, repeat: int = 3) -> float:
    """Best of `repeat` calls, in milliseconds (after one warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1000


def page(path: str, user: str, **params: str) -> float:
    """Seconds to render one page script for `user` (AppTest, as the tests do)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / path), default_timeout=300)
    at.session_state["loopdesk_user"] = user
    for k, v in params.items():
        at.query_params[k] = v
    t = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - t
    if at.exception:
        raise RuntimeError(f"{path}: {at.exception}")
    return elapsed


def measure(throughput_runs: int, pages: bool = True) -> dict[str, Any]:
    """Every figure of the table for the store at LOOPDESK_DB (run in a fresh process); with
    `pages` False, only the throughput."""
    from bench.engine_throughput import drive_runs
    from server.process import shared_app

    t = time.perf_counter()
    app = shared_app()

    def throughput() -> dict[str, float]:
        one = drive_runs(app, max(50, throughput_runs // 10), 1)
        many = drive_runs(app, throughput_runs, 32)
        return {"steps_per_s_1": one["steps_per_s"], "steps_per_s_32": many["steps_per_s"]}

    if not pages:
        return throughput()
    page("app.py", "jamie")
    out: dict[str, Any] = {"first_page_s": time.perf_counter() - t}
    out["inbox_page_s"] = min(page("pages/inbox.py", "jamie") for _ in range(2))
    out["decided_ms"] = timed(lambda: app.decided("jamie", limit=50))
    out["inbox_ms"] = timed(lambda: (app.inbox("jamie", limit=50), app.inbox_count("jamie")))
    board = {"workflow": "marketing-social-post"}
    out["board_page_s"] = min(page("pages/board.py", "dana", **board) for _ in range(2))
    out["board_ms"] = timed(lambda: app.board("marketing-social-post", "dana"))
    out["runs_page_s"] = min(page("pages/runs.py", "dana") for _ in range(2))
    latest = app.list_runs("alex", limit=1)
    out["run_page_s"] = (
        min(page("pages/runs.py", "dana", run=latest[0].id) for _ in range(2)) if latest else float("nan")
    )
    out["insights_page_s"] = min(page("pages/insights.py", "dana") for _ in range(2))
    out["workflow_stats_ms"] = timed(lambda: app.workflow_stats("dana"))
    out["checkpoint_stats_ms"] = timed(lambda: app.checkpoint_stats("dana"))
    out["due_check_ms"] = timed(app.engine.apply_timers)
    out["review_report_ms"] = timed(lambda: app.review_report("dana", "marketing-social-post"), repeat=1)
    out["memory_mb"] = rss_mb()
    return out | throughput()


ROWS = [
    ("first page, including engine start", "first_page_s", "{:.2f} s"),
    ("Inbox page render for Jamie (AppTest)", "inbox_page_s", "{:.2f} s"),
    ("`decided()` first page (50)", "decided_ms", "{:.1f} ms"),
    ("`inbox()` first page (50) + `inbox_count()`", "inbox_ms", "{:.1f} ms"),
    ("Board page", "board_page_s", "{:.2f} s"),
    ("`board()` (counts + newest 50 of each section)", "board_ms", "{:.1f} ms"),
    ("Runs page (list)", "runs_page_s", "{:.2f} s"),
    ("Runs page (one run's timeline)", "run_page_s", "{:.2f} s"),
    ("Insights page", "insights_page_s", "{:.2f} s"),
    ("`workflow_stats()`", "workflow_stats_ms", "{:.1f} ms"),
    ("`checkpoint_stats()`", "checkpoint_stats_ms", "{:.1f} ms"),
    ("due check (`apply_timers()`)", "due_check_ms", "{:.1f} ms"),
    ("review figures of one workflow (`review_report()`)", "review_report_ms", "{:.0f} ms"),
    ("process memory after visiting the pages", "memory_mb", "{:.0f} MB"),
    ("durable steps/s, 1 run at a time", "steps_per_s_1", "{:.0f}"),
    ("durable steps/s, 32 concurrent runs", "steps_per_s_32", "{:.0f}"),
]


def measure_in_child(db: str, throughput_runs: int, pages: bool = True) -> dict[str, Any]:
    """Run `measure` in a fresh Python process on `db` and return its figures."""
    env = {**os.environ, "LOOPDESK_DB": db, "LOOPDESK_WORKERS": "8"}
    only = [] if pages else ["--throughput-only"]
    out = subprocess.run(
        [sys.executable, "-m", "bench.growth", "--measure", "--throughput-runs", str(throughput_runs), *only],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-4000:])
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def built_store(cache: Path, size: int) -> Path:
    """The store of `size` runs in `cache`, built first when it is not there yet."""
    built = cache / f"growth-{size}.duckdb"
    if not built.exists():
        partial = built.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        r = build(str(partial), size)
        partial.rename(built)
        print(f"built {size:,} runs in {r['build_s']:.0f} s ({built.stat().st_size / 1e6:.0f} MB)")
    return built


def measure_copy(built: Path | None, tmp: str, runs: int, pages: bool = True) -> dict[str, Any]:
    """Measure a copy of a built store (None: an empty one) in a fresh process."""
    work = Path(tmp) / "work.duckdb"
    if built is not None:
        shutil.copyfile(built, work)
    try:
        return measure_in_child(str(work), runs, pages)
    finally:
        work.unlink(missing_ok=True)
        Path(str(work) + ".wal").unlink(missing_ok=True)


def compare_throughput(size: int, cache: str | None, runs: int, repeats: int) -> None:
    """Steps/s on an empty store and on `size` runs, measured in turn (shared machines drift)."""
    figures: dict[int, list[dict[str, Any]]] = {0: [], size: []}
    with tempfile.TemporaryDirectory() as tmp:
        built = built_store(Path(cache or tmp), size)
        for _ in range(repeats):
            for n in figures:
                figures[n].append(measure_copy(built if n else None, tmp, runs, pages=False))
                print(f"{n:,} runs: {json.dumps(figures[n][-1])}", flush=True)
    for key in ("steps_per_s_1", "steps_per_s_32"):
        empty = statistics.median(f[key] for f in figures[0])
        big = statistics.median(f[key] for f in figures[size])
        print(f"{key}: empty {empty:.0f}, {size:,} runs {big:.0f} ({100 * big / empty:.0f}%)")


def main() -> None:
    """Build (or reuse) each store, measure a copy of it, print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--cache", help="keep built stores here and reuse them")
    p.add_argument("--throughput-runs", type=int, default=1000)
    p.add_argument(
        "--throughput-only",
        type=int,
        metavar="REPEATS",
        nargs="?",
        const=1,
        help="only steps/s: the empty store and the largest size in turn, REPEATS times each (medians)",
    )
    p.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.measure:
        from server.process import close_shared

        try:
            figures = measure(a.throughput_runs, pages=a.throughput_only is None)
        finally:
            close_shared()
        print(json.dumps(figures), flush=True)
        return
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    if a.throughput_only:
        compare_throughput(max(a.sizes), a.cache, a.throughput_runs, a.throughput_only)
        return
    results: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(a.cache) if a.cache else Path(tmp)
        cache.mkdir(parents=True, exist_ok=True)
        for size in [0, *a.sizes]:
            results[size] = measure_copy(built_store(cache, size) if size else None, tmp, a.throughput_runs)
            print(f"measured {size:,}: {json.dumps(results[size])}", flush=True)
    sizes = list(results)
    print("\n| measure | " + " | ".join(f"{s:,} runs" if s else "empty" for s in sizes) + " |")
    print("|---|" + "---:|" * len(sizes))
    for label, key, fmt in ROWS:
        print(f"| {label} | " + " | ".join(fmt.format(results[s][key]) for s in sizes) + " |")


if __name__ == "__main__":
    main()
