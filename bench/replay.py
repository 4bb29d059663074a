"""Test against past runs: how long a replay of N approved runs takes when each model call takes
500 ms, through the real `openai` client against a local server (calls run PARALLEL_CALLS at a time).

The history is made through the services: N runs of a copy of the marketing template, each
approved by its reviewer (one in three with an edit). Then the draft step's instruction is changed
and `Loopdesk.replay` runs; the wall time is compared with N calls one after another.

    python -m bench.replay --runs 20 50 --latency-ms 500
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from engine.decisions import Approve
from engine.directory import Directory
from engine.llm.openai_provider import OpenAIProvider
from engine.model import AIStepNode
from engine.records import CheckpointQuery
from engine.replay import PARALLEL_CALLS
from engine.services import Loopdesk
from tests.fakes.openai_server import FakeOpenAIServer

INPUTS = {"topic": "Spring sale", "channel": "LinkedIn", "audience": "Shoppers", "target_language": "German"}


def measure(runs: int, latency_ms: float) -> dict[str, float]:
    """Seconds to plan (read the history, estimate) and to replay `runs` approved runs."""
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAIServer() as server:
        provider = OpenAIProvider("sk-bench", base_url=server.base_url, timeout=30, max_retries=0)
        app = Loopdesk.open(str(Path(tmp) / "bench.duckdb"), provider=provider, directory=Directory.load())
        try:
            app.install_templates()
            wf = app.use_template("marketing-social-post", "dana").definition
            for i in range(runs):
                run = app.start_run(wf.id, INPUTS, "dana")
                (cp,) = app.store.list_checkpoints(CheckpointQuery(status="pending", run_id=run.id))
                edits = {"draft": f"{cp.shown['draft']} Shop now"} if i % 3 == 0 else {}
                app.decide(cp.id, "jamie", Approve(edits=edits))
            nodes = [
                n.model_copy(update={"instruction": n.instruction + " End with “Shop now”."})
                if isinstance(n, AIStepNode) and n.id == "draft"
                else n
                for n in wf.nodes
            ]
            changed = wf.model_copy(update={"nodes": nodes})
            server.delay_ms = latency_ms
            t = time.perf_counter()
            plan = app.replay_plan(changed, "dana", last=runs)
            planned = time.perf_counter() - t
            t = time.perf_counter()
            done = app.replay(changed, "dana", last=runs)
            replayed = time.perf_counter() - t
            assert len(done.steps[0].cases) == runs == plan.estimate.calls
        finally:
            app.close()
    return {"plan_s": planned, "replay_s": replayed, "sequential_s": runs * latency_ms / 1000}


def main() -> None:
    """Measure each size and print a Markdown table."""
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, nargs="+", default=[20, 50])
    p.add_argument("--latency-ms", type=float, default=500.0)
    a = p.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"\n| approved runs | plan + estimate | replay ({PARALLEL_CALLS} at a time) | one after another |")
    print("|---:|---:|---:|---:|")
    for runs in a.runs:
        m = measure(runs, a.latency_ms)
        print(f"| {runs} | {m['plan_s'] * 1000:.0f} ms | {m['replay_s']:.1f} s | {m['sequential_s']:.1f} s |")


if __name__ == "__main__":
    main()
