"""Durability: waiting runs survive the process; a run killed mid-step is recovered."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


def test_kill_9_between_calling_and_the_result_calls_again_with_the_same_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An HTTP request step whose process is killed after the receiver got the call and before the
    answer was saved: recovery calls again with the same Idempotency-Key, and the run finishes once."""
    from tests.engine.test_http_request import Receiver, ticket_workflow

    monkeypatch.setenv("LOOPDESK_HTTP_ALLOW_PRIVATE", "1")
    db = str(tmp_path / "h.duckdb")
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowFirstReceiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Receiver.heard, Receiver.plan = [], []
    try:
        with Loopdesk.open(db, provider=DemoProvider(), directory=Directory.load(), workers=0) as app:
            app.save_workflow(ticket_workflow(), "dana")
            base = f"http://127.0.0.1:{server.server_address[1]}"
            app.connections.set("alex", "crm", "http", {"base_url": base, "header.Authorization": "Bearer t"})
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "run", "open-ticket", "--db", db, "--user", "dana",
             "--input", "topic=Crash", "--input", "priority=1"],
            cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.time() + 60
        while not Receiver.heard and time.time() < deadline:
            time.sleep(0.05)
        assert Receiver.heard, "the call never reached the receiver"
        os.kill(proc.pid, signal.SIGKILL)  # the receiver has the call; the answer is never saved
        proc.wait(timeout=10)

        out = cli("recover", "--db", db, "--json")
        assert out.returncode == 0, out.stderr
        [recovered] = json.loads(out.stdout)["recovered"]
        assert recovered["status"] == "completed"
        assert recovered["values"]["ticket_id"] == 42
    finally:
        server.shutdown()
        server.server_close()
    keys = [c["headers"]["Idempotency-Key"] for c in Receiver.heard]
    assert keys == [f"{recovered['run_id']}:send:1"] * 2  # the same call, and the receiver can tell
    with Loopdesk.open(db, provider=DemoProvider(), directory=Directory.load(), workers=0) as app:
        steps = [(s.node_id, s.status) for s in app.store.list_steps(recovered["run_id"])]
        assert steps == [("form", "done"), ("send", "calling"), ("send", "done"), ("done", "done")]
        [sent] = [
            s for s in app.store.list_steps(recovered["run_id"]) if s.node_id == "send" and s.status == "done"
        ]
        assert sent.meta["repeated_after_interruption"] is True


class SlowFirstReceiver(BaseHTTPRequestHandler):
    """The ticket receiver, except that it never answers its first call (the process is killed)."""

    def do_POST(self) -> None:
        """Record the call; the first one waits for the kill, the next ones are answered."""
        from tests.engine.test_http_request import Receiver

        first = not Receiver.heard
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        Receiver.heard.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
        if first:
            time.sleep(30)
            return
        data = json.dumps({"id": 42}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        """Quiet."""
