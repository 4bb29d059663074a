"""Durability: waiting runs survive the process; a run killed mid-step is recovered."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.directory import Directory
from engine.llm.demo import DemoProvider
from engine.services import Loopdesk
from tests.engine.helpers import linear_workflow
from tests.fakes.openai_server import FakeOpenAIServer, answer

pytestmark = pytest.mark.processes  # every test runs `python -m engine` in processes of its own

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args], capture_output=True, text=True, cwd=ROOT,
        env=env or dict(os.environ), timeout=120,
    )  # fmt: skip


def test_waiting_run_survives_process_exit(tmp_path: Path) -> None:
    db = str(tmp_path / "d.duckdb")
    wf = tmp_path / "wf.json"
    wf.write_text(linear_workflow().to_json())
    out = cli("run", str(wf), "--db", db, "--json", "--input", "topic=durable")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["status"] == "waiting"
    inbox = json.loads(cli("inbox", "--user", "jamie", "--db", db, "--json").stdout)
    assert [i["checkpoint_id"] for i in inbox] == [doc["checkpoint_id"]]
    assert inbox[0]["values"]["topic"] == "durable"
    done = cli("decide", doc["checkpoint_id"], "--user", "jamie", "--approve", "--db", db, "--json")
    assert json.loads(done.stdout)["status"] == "completed"


def test_kill_9_mid_ai_step_then_recover(tmp_path: Path) -> None:
    db = str(tmp_path / "k.duckdb")
    wf = tmp_path / "wf.json"
    wf.write_text(linear_workflow().to_json())
    with FakeOpenAIServer() as server:
        server.plan(answer("slow draft", delay=60))
        env = {**os.environ, "OPENAI_API_KEY": "sk-test-kill", "OPENAI_BASE_URL": server.base_url}
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "run", str(wf), "--db", db, "--input", "topic=crash"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.time() + 60
        while not server.chat_requests and time.time() < deadline:
            time.sleep(0.05)
        assert server.chat_requests, "the AI call never started"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

        app = Loopdesk.open(db, provider=DemoProvider(), directory=Directory.load())
        try:
            (run,) = app.list_runs("cli")
            assert run.status == "running" and run.current_node == "draft"
            assert [s.node_id for s in app.store.list_steps(run.id)] == ["form"]
        finally:
            app.close()

        server.plan(answer("recovered draft"))
        out = cli("recover", "--db", db, "--json", env=env)
        assert out.returncode == 0, out.stderr
        recovered = json.loads(out.stdout)["recovered"]
        assert recovered[0]["status"] == "waiting"
        assert recovered[0]["values"]["draft"] == "recovered draft"
        assert len(server.chat_requests) == 2

    app = Loopdesk.open(db, provider=DemoProvider(), directory=Directory.load())
    try:
        steps = [s.node_id for s in app.store.list_steps(recovered[0]["run_id"])]
        assert steps == ["form", "draft", "to_review"]  # the trigger ran once, nothing repeated
        assert any(a.event == "recovered" for a in app.store.list_audit(recovered[0]["run_id"]))
    finally:
        app.close()
