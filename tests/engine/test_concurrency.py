"""Exactly once: many threads or processes deciding one checkpoint, one decision applies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from engine.decisions import Approve, Reject
from engine.errors import AlreadyDecidedError
from engine.records import CheckpointQuery
from engine.services import Loopdesk
from tests.engine.helpers import linear_workflow

ROOT = Path(__file__).resolve().parents[2]
NAMES = {"jamie": "Jamie Rivera", "alex": "Alex Admin"}


def test_threads_racing_one_checkpoint(app: Loopdesk) -> None:
    app.save_workflow(linear_workflow(), "dana")
    run = app.start_run("wf", {"topic": "race"}, "riley")
    cp = app.store.list_checkpoints(CheckpointQuery(run_id=run.id))[0].id
    barrier = threading.Barrier(12)
    wins: list[str] = []
    losses: list[str] = []

    def decide(i: int) -> None:
        user = "jamie" if i % 2 else "alex"
        decision = Approve(comment=f"t{i}") if i % 3 else Reject(comment=f"t{i}")
        barrier.wait()
        try:
            app.decide(cp, user, decision)
            wins.append(f"{user}:{i}")
        except AlreadyDecidedError as exc:
            losses.append(str(exc))

    threads = [threading.Thread(target=decide, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1, wins
    assert len(losses) == 11
    winner = wins[0].split(":")[0]
    assert all(f"by {NAMES[winner]} at " in m and "Already " in m for m in losses)
    decisions = [a for a in app.store.list_audit(run.id) if a.event.startswith("decision_")]
    assert len(decisions) == 1
    assert len([s for s in app.store.list_steps(run.id) if s.node_id == "review"]) == 1


@pytest.mark.processes
def test_processes_racing_one_checkpoint(tmp_path: Path) -> None:
    db = tmp_path / "race.duckdb"
    wf_file = tmp_path / "wf.json"
    wf_file.write_text(linear_workflow().to_json())
    cmd = [
        sys.executable,
        "-m",
        "engine",
        "run",
        str(wf_file),
        "--db",
        str(db),
        "--json",
        "--input",
        "topic=x",
    ]
    started = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True)
    cp = json.loads(started.stdout)["checkpoint_id"]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "engine",
                "decide",
                cp,
                "--db",
                str(db),
                "--json",
                "--user",
                "jamie" if i % 2 else "alex",
                "--approve",
                "--comment",
                f"p{i}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "LOOPDESK_DB_WAIT": "60"},
        )
        for i in range(4)
    ]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    winners = [r for r in results if r[0] == 0]
    losers = [r for r in results if r[0] != 0]
    assert len(winners) == 1, results
    assert json.loads(winners[0][1])["status"] == "completed"
    for code, _out, err in losers:
        assert code == 1
        assert "Already " in err and " UTC on " in err
        assert "Traceback" not in err
