"""Engine throughput: N runs of a 6-node workflow with the demo model, approvals decided via the API.

Every completed step is committed (fdatasync) before its run moves on, so each counted
step would survive a crash. Concurrent runs share commits through the store's single
writer (group commit). Prints durable steps/second and runs/second.

    python -m bench.engine_throughput --runs 2000 --workers 16
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from engine.decisions import Approve
from engine.directory import OPERATOR, Directory
from engine.llm.demo import DemoProvider
from engine.model import Workflow
from engine.services import Loopdesk
from engine.store.duckdb import DuckDBStore

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
    assert isinstance(store, DuckDBStore)
    commits_before = store.commits

    def one(i: int) -> str:
        run = app.start_run("bench", {"topic": f"topic {i}"}, OPERATOR)
        cp = app.store.list_checkpoints(run_id=run.id)[0].id
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
        "commits": store.commits - commits_before,
    }


def main() -> None:
    """Parse arguments, run the benchmark, print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=1000)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 8, 32])
    a = p.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    for w in a.workers:
        with tempfile.TemporaryDirectory() as tmp:
            r = run_bench(a.runs, w, str(Path(tmp) / "bench.duckdb"))
        print(
            f"workers={w:>3}  runs={r['runs']}  {r['seconds']:.2f} s  "
            f"durable steps/s={r['steps_per_s']:.0f}  runs/s={r['runs_per_s']:.1f}  "
            f"commits={r['commits']:.0f} "
            f"({r['steps'] / max(r['commits'], 1):.1f} steps/commit)"
        )


if __name__ == "__main__":
    main()
