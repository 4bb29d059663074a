"""The engine starts with the server, not with the first browser: interrupted runs continue and
the API answers with no page ever opened."""

from __future__ import annotations

import time
from pathlib import Path

import requests

from engine.directory import SYSTEM, Directory
from engine.llm.demo import DemoProvider
from engine.records import AuditEvent, RunRecord, Transition, new_id, now
from engine.services import Loopdesk
from tests.servers import start_server


def test_a_run_cut_off_by_a_crash_continues_after_a_restart_with_no_browser_open(tmp_path: Path) -> None:
    db = tmp_path / "life.duckdb"
    app = Loopdesk.open(str(db), provider=DemoProvider(), directory=Directory.load())
    try:
        app.install_templates()
        token = app.create_token("dana", "dana")[1]
        # exactly what a crash right after "run started" leaves behind: a run `running` at its form
        ts = now()
        run = RunRecord(
            id=new_id("run"), workflow_id="marketing-social-post", version=1, status="running",
            current_node="form", section="Intake", title="Cut off", started_by="dana",
            values={"topic": "Cut off", "channel": "LinkedIn", "audience": "teams",
                    "key_message": "", "target_language": "German", "feedback": ""},
            created_at=ts, updated_at=ts,
        )  # fmt: skip
        app.store.apply(Transition(new_run=run, audit=[AuditEvent(run.id, SYSTEM, "run_started", {})]))
    finally:
        app.close()

    server = start_server(db, tmp_path / "server.log", ready_path="/api/v1/health")
    try:
        deadline = time.monotonic() + 20
        status = "running"
        while time.monotonic() < deadline and status == "running":
            r = requests.get(
                f"{server.url}/api/v1/runs/{run.id}", headers={"Authorization": f"Bearer {token}"}, timeout=10
            )
            status = r.json()["status"]
            time.sleep(0.2)
        assert status == "waiting", r.text
        assert r.json()["assignee"] == "jamie" and r.json()["values"]["draft"]
        log = (tmp_path / "server.log").read_text()
        assert "Traceback" not in log
    finally:
        server.stop()


def test_a_damaged_database_gets_one_plain_page_a_503_health_and_is_left_alone(tmp_path: Path) -> None:
    """The attack: a damaged DuckDB file made every page show a traceback with server paths, /health
    answered 500, and API calls 400. Now: one plain page, 503 everywhere saying why, no reopening."""
    db = tmp_path / "damaged.duckdb"
    app = Loopdesk.open(str(db), provider=DemoProvider(), directory=Directory.load())
    try:
        app.install_templates()
        token = app.create_token("dana", "dana")[1]
    finally:
        app.close()
    good = db.read_bytes()
    db.write_bytes(good[: len(good) // 3])
    server = start_server(db, tmp_path / "server.log", ready_path="/_stcore/health")
    try:
        health = requests.get(f"{server.url}/api/v1/health", timeout=10)
        assert health.status_code == 503
        assert health.json() == {
            "status": "unavailable",
            "error": "the database file is damaged; restore it from a backup (the server log names the file)",
        }
        auth = {"Authorization": f"Bearer {token}"}
        r = requests.get(f"{server.url}/api/v1/workflows", headers=auth, timeout=10)
        assert r.status_code == 503 and "is damaged" in r.json()["error"]
        opened_at = db.stat().st_mtime_ns
        time.sleep(6)  # the server's start-up retries (every 5 s) do not touch the file again
        assert db.stat().st_mtime_ns == opened_at
        db.write_bytes(good)  # an admin restores the backup: the next request simply works
        deadline = time.monotonic() + 20
        while requests.get(f"{server.url}/api/v1/health", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "the restored database was never opened"
            time.sleep(0.5)
        assert requests.get(f"{server.url}/api/v1/workflows", headers=auth, timeout=10).status_code == 200
        log = (tmp_path / "server.log").read_text()
        assert "Traceback" not in log and log.count("is damaged and cannot be read") == 1
    finally:
        server.stop()
