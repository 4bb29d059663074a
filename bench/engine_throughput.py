"""Engine throughput: N runs of a 6-node workflow with the demo model, approvals decided through
the engine. Prints durable steps/second and runs/second.

Every completed step is committed (fdatasync) before its run moves on, so each counted step would
survive a crash. In one process (`--workers`: concurrent runs driven by threads), on DuckDB and on
PostgreSQL side by side; with `--processes`, on PostgreSQL driven by that many
`python -m engine worker` processes while this process starts runs (detached) and decides their
approvals as they arrive.

    python -m bench.engine_throughput --runs 2000 --workers 1 32 --processes 1 2 4
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.decisions import Approve
from engine.directory import OPERATOR, Directory
from engine.llm.demo import DemoProvider
from engine.model import Workflow
from engine.records import CheckpointQuery
from engine.services import Loopdesk

ROOT = Path(__file__).resolve().parents[1]

SIX_NODES = {
    "id": "bench",
    "name": "Bench flow",
    "sections": ["Intake", "Review", "Done"],
    "nodes": [
        {"id": "form", "type": "form_trigger", "fields": [{"name": "topic", "required": True}]},
        {
            "id": "draft",
            "type": "ai_step",
            "instruction": "Write a post about {{ topic }}",
            "output_name": "draft",
        },
        {"id": "to_review", "type": "move_to_section", "section": "Review"},
        {"id": "review", "type": "approval", "assignee": "jamie", "editable_values": ["draft"]},
        {"id": "to_done", "type": "move_to_section", "section": "Done"},
        {"id": "end", "type": "end", "outcome": "Done"},
    ],
    "edges": [
        {"id": "e1", "source": "form", "target": "draft"},
        {"id": "e2", "source": "draft", "target": "to_review"},
        {"id": "e3", "source": "to_review", "target": "review"},
        {"id": "e4", "source": "review", "target": "to_done", "label": "approved"},
        {"id": "e5", "source": "to_done", "target": "end"},
    ],
}


def run_bench(runs: int, workers: int, db: str) -> dict[str, float]:
    """Drive `runs` runs end to end with `workers` threads on a fresh database; return the rates."""
    app = Loopdesk.open(db, provider=DemoProvider(), directory=Directory.load(), workers=workers)
    try:
        return drive_runs(app, runs, workers)
    finally:
        app.close()


def drive_runs(app: Loopdesk, runs: int, workers: int) -> dict[str, float]:
    """Drive `runs` runs of the six-node flow with `workers` threads on an open service."""
    if app.store.latest_version("bench") is None:
        app.save_workflow(Workflow.model_validate(SIX_NODES), OPERATOR)
    store = app.store
    commits_before = getattr(store, "commits", 0)

    def one(i: int) -> str:
        run = app.start_run("bench", {"topic": f"topic {i}"}, OPERATOR)
        cp = app.store.list_checkpoints(CheckpointQuery(run_id=run.id))[0].id
        done = app.decide(cp, "jamie", Approve())
        assert done.status == "completed", done
        return run.id

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        ids = list(pool.map(one, range(runs)))
    elapsed = time.perf_counter() - started
    steps = sum(len(app.store.list_steps(r)) for r in ids[:50]) / min(50, len(ids)) * runs
    return {
        "runs": runs,
        "workers": workers,
        "seconds": elapsed,
        "steps": steps,
        "steps_per_s": steps / elapsed,
        "runs_per_s": runs / elapsed,
        "commits": getattr(store, "commits", 0) - commits_before,
    }


def _steps_per_run(app: Loopdesk, ids: list[str]) -> float:
    sample = ids[:50]
    return sum(len(app.store.list_steps(r)) for r in sample) / max(1, len(sample))


def drive_with_workers(url: str, runs: int, processes: int, concurrency: int) -> dict[str, float]:
    """Start `processes` worker processes on `url`; start `runs` runs detached from here and decide
    each approval as it arrives (8 threads), until every run completed; return the rates."""
    app = Loopdesk.open(url, provider=DemoProvider(), directory=Directory.load(), workers=0)
    try:
        if app.store.latest_version("bench") is None:
            app.save_workflow(Workflow.model_validate(SIX_NODES), OPERATOR)
        # counted through the workflow's index: a count of every completed run would read all history
        done_before = app.store.count_runs(status="completed", workflow_id="bench")
        with _workers(url, processes, concurrency):
            time.sleep(2.0)  # let the workers connect before the clock starts
            started = time.perf_counter()
            ids = [app.start_run("bench", {"topic": f"t{i}"}, OPERATOR, detach=True).id for i in range(runs)]
            decided: set[str] = set()
            with ThreadPoolExecutor(8) as pool:
                while app.store.count_runs(status="completed", workflow_id="bench") - done_before < runs:
                    # newest first, and only this benchmark's: a grown database has its own waiting items
                    newest = app.store.list_checkpoints(
                        CheckpointQuery(assignees=["jamie"], newest_first=True), limit=1000
                    )
                    waiting = [c.id for c in newest if c.workflow_id == "bench" and c.id not in decided]
                    decided.update(waiting)
                    list(pool.map(lambda cp: app.decide(cp, "jamie", Approve(), background=True), waiting))
                    if not waiting:
                        time.sleep(0.02)
            elapsed = time.perf_counter() - started
        steps = _steps_per_run(app, ids) * runs
    finally:
        app.close()
    return {
        "runs": runs,
        "workers": processes * concurrency,
        "seconds": elapsed,
        "steps": steps,
        "steps_per_s": steps / elapsed,
        "runs_per_s": runs / elapsed,
        "commits": 0,
    }


@contextmanager
def _workers(url: str, processes: int, concurrency: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    cmd = [sys.executable, "-m", "engine", "worker", "--db", url, "--concurrency", str(concurrency)]
    out = subprocess.DEVNULL
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=out) for _ in range(processes)]
    try:
        yield procs
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=60)


@contextmanager
def postgres() -> Iterator[Any]:
    """A throwaway PostgreSQL server (as the tests start one) for the length of the benchmark."""
    from tests.postgres_server import start

    server = start(Path(tempfile.mkdtemp(prefix="loopdesk-bench-pg-")))
    try:
        yield server
    finally:
        server.stop()


def _line(label: str, r: dict[str, float]) -> str:
    commits = (
        f"  commits={r['commits']:.0f} ({r['steps'] / r['commits']:.1f} steps/commit)" if r["commits"] else ""
    )
    return (
        f"{label:<34} runs={r['runs']:<5} {r['seconds']:7.2f} s  "
        f"durable steps/s={r['steps_per_s']:5.0f}  runs/s={r['runs_per_s']:6.1f}{commits}"
    )


def main() -> None:
    """Parse arguments, run the benchmark, print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=1000)
    p.add_argument(
        "--workers", type=int, nargs="*", default=[1, 8, 32], help="concurrent runs in one process"
    )
    p.add_argument("--processes", type=int, nargs="*", default=[], help="PostgreSQL worker processes")
    p.add_argument("--concurrency", type=int, default=8, help="runs each worker process drives at once")
    p.add_argument("--backends", nargs="+", default=["duckdb", "postgres"], choices=["duckdb", "postgres"])
    a = p.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with postgres() as server:
        for n, w in enumerate(a.workers):
            for backend in a.backends:
                with tempfile.TemporaryDirectory() as tmp:
                    db = str(Path(tmp) / "bench.duckdb")
                    if backend == "postgres":
                        db = server.create_database(f"inproc_{n}")
                    r = run_bench(a.runs, w, db)
                print(_line(f"{backend}, 1 process, {w} concurrent", r), flush=True)
        for n, procs in enumerate(a.processes):
            url = server.create_database(f"workers_{n}")
            r = drive_with_workers(url, a.runs, procs, a.concurrency)
            print(_line(f"postgres, {procs} worker process(es) × {a.concurrency}", r), flush=True)


if __name__ == "__main__":
    main()
