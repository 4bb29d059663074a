"""Decisions through the HTTP API: start N runs and decide them with concurrent clients against
`streamlit run app.py`, and measure how soon a webhook hears that a checkpoint opened.

    python -m bench.api_decisions --runs 500 --clients 16
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from tests.fakes.receivers import WebhookReceiver
from tests.servers import seed_database, start_server


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of the values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def timed(call: Any) -> tuple[float, Any]:
    """Seconds a call took, and its result."""
    t = time.perf_counter()
    result = call()
    return time.perf_counter() - t, result


def run_bench(runs: int, clients: int, folder: Path) -> dict[str, Any]:
    """Start the server, start and decide `runs` runs with `clients` concurrent clients."""
    db = folder / "bench.duckdb"
    tokens = seed_database(db, "dana", "jamie")
    dana, jamie = tokens["dana"], tokens["jamie"]
    with WebhookReceiver() as hook:
        env = {"LOOPDESK_WEBHOOK_URL": hook.url, "LOOPDESK_WORKERS": "8"}
        server = start_server(db, folder / "server.log", extra_env=env, ready_path="/api/v1/health")
        session = requests.Session()
        try:

            def start(i: int) -> tuple[float, Any]:
                return timed(
                    lambda: session.post(
                        f"{server.url}/api/v1/workflows/marketing-social-post/runs",
                        json={"inputs": {"topic": f"Bench {i}"}},
                        headers={"Authorization": f"Bearer {dana}"},
                        timeout=60,
                    )
                )

            def decide(cp: str) -> tuple[float, Any]:
                return timed(
                    lambda: session.post(
                        f"{server.url}/api/v1/checkpoints/{cp}/decision",
                        json={"action": "approve", "comment": "bench"},
                        headers={"Authorization": f"Bearer {jamie}"},
                        timeout=60,
                    )
                )

            with ThreadPoolExecutor(clients) as pool:
                t0 = time.perf_counter()
                started = list(pool.map(start, range(runs)))
                start_s = time.perf_counter() - t0
                assert all(r.status_code == 201 for _, r in started), started[0][1].text
                cps = [r.json()["checkpoint_id"] for _, r in started]
                t0 = time.perf_counter()
                decided = list(pool.map(decide, cps))
                decide_s = time.perf_counter() - t0
            assert all(r.status_code == 200 for _, r in decided), [r.text for _, r in decided][:3]
            opened = hook.wait_for(
                lambda d: sum(x.json["event"] == "checkpoint.opened" for x in d) >= runs, timeout=120
            )
            lags = [d.received_at - d.json["at"] for d in opened if d.json["event"] == "checkpoint.opened"]
        finally:
            server.stop()
    latencies = [s for s, _ in decided]
    return {
        "starts_per_s": runs / start_s,
        "decisions_per_s": runs / decide_s,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "lag_p50": percentile(lags, 50),
        "lag_p99": percentile(lags, 99),
        "lag_mean": statistics.mean(lags),
    }


def main() -> None:
    """Parse arguments, run the benchmark, print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=500)
    p.add_argument("--clients", type=int, default=16)
    a = p.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        r = run_bench(a.runs, a.clients, Path(tmp))
    print(
        f"{a.runs} runs, {a.clients} clients: starts {r['starts_per_s']:.0f}/s; "
        f"decisions {r['decisions_per_s']:.0f}/s, latency p50 {r['p50'] * 1000:.0f} ms, "
        f"p99 {r['p99'] * 1000:.0f} ms; webhook lag (checkpoint opened → received) "
        f"p50 {r['lag_p50'] * 1000:.0f} ms, p99 {r['lag_p99'] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
