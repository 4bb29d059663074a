"""What an HTTP request step adds over its receiver's latency: runs of form → HTTP request → End
against a local receiver that answers after a fixed delay, one at a time. The step's own duration
covers building the request, the call and reading the answer; the run's wall time adds the form
step, the "calling" record committed before the call (its own fdatasync) and the final commit.

    python -m bench.action_overhead --runs 200 --latency-ms 50
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from engine.directory import Directory
from engine.llm.demo import DemoProvider
from engine.model import Workflow
from engine.services import Loopdesk

LATENCY = 0.05


class Slow(BaseHTTPRequestHandler):
    """Answers 201 {"id": 1} after LATENCY seconds."""

    def do_POST(self) -> None:
        """Read the body, wait, answer."""
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        time.sleep(LATENCY)
        data = b'{"id": 1}'
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        """Quiet."""


def workflow() -> Workflow:
    """Form → HTTP request through `api` → End."""
    return Workflow.model_validate(
        {
            "id": "act", "name": "Act",
            "nodes": [
                {"id": "form", "type": "form_trigger", "fields": [{"name": "topic"}]},
                {"id": "send", "type": "http_request", "connection": "api", "url": "/things",
                 "body": [{"key": "topic", "value": "{{ topic }}"}],
                 "picks": [{"name": "thing", "path": "id"}]},
                {"id": "end", "type": "end", "result": ["thing"]},
            ],
            "edges": [{"id": "a", "source": "form", "target": "send"},
                      {"id": "b", "source": "send", "target": "end"}],
            "access": {"editors": ["dana"]},
        }
    )  # fmt: skip


def main() -> None:
    """Run the benchmark and print one JSON line."""
    global LATENCY
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--latency-ms", type=float, default=50.0)
    p.add_argument("--db", help="database (default: a fresh DuckDB file)")
    args = p.parse_args()
    LATENCY = args.latency_ms / 1000
    os.environ["LOOPDESK_HTTP_ALLOW_PRIVATE"] = "1"
    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    folder = Path(tempfile.mkdtemp(prefix="loopdesk-act-"))
    os.environ.setdefault("LOOPDESK_SECRET_KEY_FILE", str(folder / "loopdesk.key"))
    app = Loopdesk.open(args.db or str(folder / "act.duckdb"), DemoProvider(), Directory.load(), workers=0)
    try:
        app.save_workflow(workflow(), "dana")
        app.connections.set(
            "alex", "api", "http", {"base_url": f"http://127.0.0.1:{server.server_address[1]}"}
        )
        step_ms, run_ms = [], []
        for i in range(args.runs):
            started = time.perf_counter()
            run = app.start_run("act", {"topic": f"t{i}"}, "dana")
            run_ms.append((time.perf_counter() - started) * 1000)
            assert run.status == "completed", run.error
            [done] = [s for s in app.store.list_steps(run.id) if s.node_id == "send" and s.status == "done"]
            step_ms.append(done.duration_ms)
    finally:
        app.close()
        server.shutdown()
    over = [s - args.latency_ms for s in step_ms]
    print(
        json.dumps(
            {
                "bench": "action_overhead",
                "runs": args.runs,
                "latency_ms": args.latency_ms,
                "step_over_latency_ms_p50": round(statistics.median(over), 2),
                "step_over_latency_ms_p90": round(statistics.quantiles(over, n=10)[8], 2),
                "run_wall_ms_p50": round(statistics.median(run_ms), 2),
                "run_over_latency_ms_p50": round(statistics.median(run_ms) - args.latency_ms, 2),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                f"Python {platform.python_version()}",
            }
        )
    )


if __name__ == "__main__":
    main()
