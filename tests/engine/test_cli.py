"""The CLI contract: names, --json documents, exit codes, one-line errors; on every backend.

Commands run in this process (`engine.cli.main`), as a shell would see them: exit code, stdout and
stderr. One test runs the real `python -m engine` as a subprocess."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from engine.cli import main
from engine.directory import Directory
from engine.llm.demo import DemoProvider
from engine.services import Loopdesk
from tests.conftest import BACKENDS, location_for
from tests.engine.helpers import as_dict, linear_workflow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh DuckDB file, and a fresh PostgreSQL database, for each test."""
    return location_for(request.param, request, tmp_path)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run one CLI command in this process; what a shell would see."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 2
    return subprocess.CompletedProcess(["engine", *args], code, out.getvalue(), err.getvalue())


def cli_process(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m engine` for real, in its own process."""
    return subprocess.run(
        [sys.executable, "-m", "engine", *args], capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, **(env or {})}, timeout=120,
    )  # fmt: skip


@pytest.mark.processes
def test_validate_ok_and_broken(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(linear_workflow().to_json())
    data = as_dict(linear_workflow())
    data["edges"].append({"id": "dangling", "source": "publish", "target": "ghost"})
    next(n for n in data["nodes"] if n["id"] == "publish")["section"] = "Unknown"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    notjson = tmp_path / "notjson.json"
    notjson.write_text("{ nope")
    assert cli_process("validate", str(good)).returncode == 0  # the real command, once
    out = cli("validate", str(good), str(bad), str(notjson))
    assert out.returncode == 2
    lines = out.stdout.splitlines()
    assert f"{good}: ok" in lines
    assert f"{bad}: edge `dangling`: points to `ghost`, which is not a step" in lines
    assert any(line.startswith(f"{bad}: node `publish`: section `Unknown`") for line in lines)
    assert any(line.startswith(f"{notjson}: ") and "not valid JSON" in line for line in lines)
    doc = json.loads(cli("validate", str(bad), "--json").stdout)
    assert doc["valid"] is False and {p["node"] for p in doc["files"][0]["problems"]} >= {"publish"}


def test_run_decide_show_json(tmp_path: Path, db: str) -> None:
    wf = tmp_path / "wf.json"
    wf.write_text(linear_workflow().to_json())
    run = json.loads(cli("run", str(wf), "--db", db, "--json", "--input", "topic=CLI launch").stdout)
    assert {"run_id", "workflow_id", "status", "section", "values", "checkpoint_id", "assignee"} <= set(run)
    assert (run["status"], run["assignee"], run["section"]) == ("waiting", "jamie", "Review")
    # running the same unchanged file again reuses version 1
    again = json.loads(cli("run", "wf", "--db", db, "--json", "--input", "topic=again").stdout)
    assert again["version"] == 1
    inbox = json.loads(cli("inbox", "--user", "jamie", "--db", db, "--json").stdout)
    assert {i["run_id"] for i in inbox} == {run["run_id"], again["run_id"]}
    assert set(inbox[0]) >= {"checkpoint_id", "run_id", "workflow_id", "node_id", "assignee", "values"}
    done = cli(
        "decide", run["checkpoint_id"], "--user", "jamie", "--approve", "--edit", "draft=Edited by CLI",
        "--comment", "tidy", "--db", db, "--json",
    )  # fmt: skip
    doc = json.loads(done.stdout)
    assert doc["status"] == "completed" and doc["values"]["draft"] == "Edited by CLI"
    shown = json.loads(cli("show", run["run_id"], "--db", db, "--json").stdout)
    assert [s["node_id"] for s in shown["steps"]] == [
        "form", "draft", "to_review", "review", "translate", "publish", "end",
    ]  # fmt: skip
    assert all(isinstance(s["duration_ms"], float) for s in shown["steps"])
    events = [a["event"] for a in shown["audit"]]
    assert events[0] == "run_started" and "decision_approve" in events and events[-1] == "completed"
    human = cli("show", run["run_id"], "--db", db)
    assert "translate" in human.stdout and human.returncode == 0


def test_user_mistakes_exit_nonzero_with_one_line(tmp_path: Path, db: str) -> None:
    wf = tmp_path / "wf.json"
    wf.write_text(linear_workflow().to_json())
    run = json.loads(cli("run", str(wf), "--db", db, "--json", "--input", "topic=x").stdout)
    cases = [
        (["show", "run_nope", "--db", db], "no run with id `run_nope`"),
        (
            ["decide", run["checkpoint_id"], "--user", "sam", "--approve", "--db", db],
            "Sam Okafor may not decide",
        ),
        (
            ["decide", run["checkpoint_id"], "--user", "ghost", "--approve", "--db", db],
            "unknown user `ghost`",
        ),
        (["run", "wf", "--db", db, "--input", "topic="], "Topic is required"),
        (["run", "wf", "--db", db, "--input", "topic"], "--input expects NAME=VALUE"),
        (["retry", run["run_id"], "--db", db], "only failed runs can be retried"),
    ]
    for args, message in cases:
        out = cli(*args)
        assert out.returncode == 1, (args, out.stdout, out.stderr)
        assert message in out.stderr, (args, out.stderr)
        assert "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
    notjson = tmp_path / "x.json"
    notjson.write_text("not json")
    out = cli("run", str(notjson), "--db", db, "--json")
    assert out.returncode != 0 and "not valid JSON" in json.loads(out.stdout)["error"]
    decided = cli("decide", run["checkpoint_id"], "--user", "jamie", "--approve", "--db", db)
    assert decided.returncode == 0
    out = cli("decide", run["checkpoint_id"], "--user", "jamie", "--reject", "--comment", "x", "--db", db)
    assert out.returncode == 1 and "Already approved by Jamie Rivera at " in out.stderr


@pytest.mark.processes
def test_locked_database_is_a_clear_message(tmp_path: Path) -> None:
    db = str(tmp_path / "locked.duckdb")
    holder = Loopdesk.open(db, provider=DemoProvider(), directory=Directory.load())
    try:
        out = cli_process("inbox", "--user", "jamie", "--db", db, env={"LOOPDESK_DB_WAIT": "0.5"})
    finally:
        holder.close()
    assert out.returncode == 1
    assert "is in use by another Loopdesk process" in out.stderr
    # while the app runs, the way in is its API, with a token from My account
    assert "use its HTTP API instead (http://localhost:8501/api/v1" in out.stderr
    assert "a token made on “My account” in the app" in out.stderr
    assert "Traceback" not in out.stderr
