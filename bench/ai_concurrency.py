"""AI concurrency: 50 runs of a one-AI-step workflow against a local server that answers after 500 ms.

Runs go through the real `openai` client and the engine's bounded worker pool; the
wall time is compared with the ideal 500 ms x ceil(runs / pool size).

    python -m bench.ai_concurrency --runs 50 --pool 8 16 50
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import tempfile
import time
from pathlib import Path

from engine.directory import Directory
from engine.llm.openai_provider import OpenAIProvider
from engine.model import Workflow
from engine.services import Loopdesk
from tests.fakes.openai_server import FakeOpenAIServer

ONE_AI_STEP = {
    "id": "one-ai",
    "name": "One AI step",
    "sections": ["Intake", "Done"],
    "nodes": [
        {"id": "form", "type": "form_trigger", "fields": [{"name": "topic", "required": True}]},
        {
            "id": "ask",
            "type": "ai_step",
            "instruction": "Say something about {{ topic }}",
            "output_name": "answer",
        },
        {"id": "end", "type": "end", "outcome": "Done"},
    ],
    "edges": [
        {"id": "e1", "source": "form", "target": "ask"},
        {"id": "e2", "source": "ask", "target": "end"},
    ],
}


def measure(runs: int, pool: int, latency_ms: float) -> tuple[float, float]:
    """Return (wall seconds, ideal seconds) for `runs` runs on a pool of `pool` workers."""
    with FakeOpenAIServer(delay_ms=latency_ms) as server, tempfile.TemporaryDirectory() as tmp:
        provider = OpenAIProvider("sk-bench", base_url=server.base_url, timeout=30, max_retries=0)
        app = Loopdesk.open(
            str(Path(tmp) / "ai.duckdb"), provider=provider, directory=Directory.load(), workers=pool
        )
        try:
            app.save_workflow(Workflow.model_validate(ONE_AI_STEP), "bench")
            app.start_run("one-ai", {"topic": "warm-up"}, "bench")  # first call loads the client
            server_calls = len(server.chat_requests)
            started = time.perf_counter()
            ids = [
                app.start_run("one-ai", {"topic": f"t{i}"}, "bench", background=True).id for i in range(runs)
            ]
            while any(app.engine.get_run(i).status == "running" for i in ids):
                time.sleep(0.02)
            wall = time.perf_counter() - started
            statuses = {app.engine.get_run(i).status for i in ids}
            assert statuses == {"completed"}, statuses
            assert len(server.chat_requests) - server_calls == runs
        finally:
            app.close()
    return wall, latency_ms / 1000 * math.ceil(runs / pool)


def main() -> None:
    """Run the benchmark for each pool size and print wall time against the ideal."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--pool", type=int, nargs="+", default=[8, 16, 50])
    p.add_argument("--latency-ms", type=float, default=500)
    a = p.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    for pool in a.pool:
        wall, ideal = measure(a.runs, pool, a.latency_ms)
        print(
            f"runs={a.runs} pool={pool:>3}  wall={wall:.2f} s  ideal={ideal:.2f} s  ratio={wall / ideal:.2f}x"
        )


if __name__ == "__main__":
    main()
