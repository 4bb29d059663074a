"""`python -m engine archive`: old finished runs move to monthly Parquet files, nothing is lost."""

from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb
import pytest

from engine.cli import main
from engine.decisions import Approve, Reject
from engine.demo_data import load_demo_data
from engine.directory import Directory
from engine.llm.demo import DemoProvider
from engine.records import CheckpointQuery
from engine.services import Loopdesk
from tests.backends import db_path_on_every_backend  # noqa: F401  (`db_path`: every backend)


def history(db_path: str) -> tuple[list[str], list[str]]:
    """Demo runs: most decided (finished), two left waiting; (finished ids, waiting ids)."""
    app = Loopdesk.open(db_path, provider=DemoProvider(), directory=Directory.load())
    try:
        ids = load_demo_data(app, "dana")
        for i, run_id in enumerate(ids[:-2]):
            (cp,) = app.store.list_checkpoints(CheckpointQuery(status="pending", run_id=run_id))
            decision = Reject(comment="No") if i % 3 == 0 else Approve()
            app.decide(cp.id, app.permissions.deciders(cp)[0], decision)
        finished = [r for r in ids if app.engine.get_run(r).status in ("completed", "rejected")]
        waiting = [r for r in ids if r not in finished]
        return finished, waiting
    finally:
        app.close()


def table_counts(db_path: str, run_ids: list[str]) -> dict[str, int]:
    """How many rows of these runs each table holds (read through the store, whatever its backend)."""
    app = Loopdesk.open(db_path, provider=DemoProvider(), directory=Directory.load())
    try:
        rows = app.store.export_rows(run_ids)
    finally:
        app.close()
    return {t: rows[t].num_rows for t in ("runs", "steps", "checkpoints", "audit", "outbox", "outbox_log")}


def test_archiving_moves_finished_runs_to_monthly_parquet_and_loses_nothing(
    db_path: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    finished, waiting = history(db_path)
    before = table_counts(db_path, finished)
    assert before["runs"] == len(finished) >= 5 and before["steps"] and before["audit"]
    app = Loopdesk.open(db_path, provider=DemoProvider(), directory=Directory.load())
    try:
        all_time = app.store.stat_totals()
    finally:
        app.close()
    folder = tmp_path / "archive"
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
    assert main(["archive", "--before", tomorrow, "--db", db_path, "--to", str(folder), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["runs"] == len(finished) and doc["live_runs"] == len(waiting)
    (month,) = doc["months"]
    assert doc["months"][month] == {k: v for k, v in before.items() if v}  # every row, counted from the files
    # gone from the live store, waiting runs untouched
    assert table_counts(db_path, finished) == dict.fromkeys(before, 0)
    assert table_counts(db_path, waiting)["runs"] == len(waiting)
    # the files are plain Parquet that DuckDB still queries
    with duckdb.connect() as con:
        runs = con.execute(f"SELECT id, status FROM read_parquet('{folder}/*/runs-*.parquet')").fetchall()
        steps = con.execute(
            f"SELECT count(*) FROM read_parquet('{folder}/{month}/steps-*.parquet')"
        ).fetchall()
    assert sorted(r[0] for r in runs) == sorted(finished)
    assert steps[0][0] == before["steps"]
    app = Loopdesk.open(db_path, provider=DemoProvider(), directory=Directory.load())
    try:
        # live counters still equal a recomputation over the live store; the archive's over its files
        assert app.store.counters() == pytest.approx(app.store.recomputed_stats())
        assert app.store.archived_counters() == pytest.approx(app.store.recomputed_archive_stats(str(folder)))
        assert app.store.stat_totals(include_archived=True) == pytest.approx(all_time)
        assert app.has_archive()
        with_archive = {
            s.workflow_id: s.total_runs for s in app.workflow_stats("alex", include_archived=True)
        }
        live = {s.workflow_id: s.total_runs for s in app.workflow_stats("alex")}
        assert sum(with_archive.values()) == len(finished) + len(waiting)
        assert sum(live.values()) == len(waiting)
        # the waiting runs still decide and finish as before
        (cp,) = app.store.list_checkpoints(CheckpointQuery(status="pending", run_id=waiting[0]))
        assert app.decide(cp.id, app.permissions.deciders(cp)[0], Approve()).status in (
            "completed",
            "waiting",
        )
    finally:
        app.close()


def test_nothing_to_archive_and_refusals_change_nothing(
    db_path: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    finished, _ = history(db_path)
    before = table_counts(db_path, finished)
    assert main(["archive", "--before", "2020-01-01", "--db", db_path, "--to", str(tmp_path / "a")]) == 0
    assert "nothing was archived" in capsys.readouterr().out
    assert main(["archive", "--before", "2999-01-01", "--db", db_path, "--user", "jamie"]) == 1
    assert "Jamie Rivera is not an admin, so may not archive runs" in capsys.readouterr().err
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    assert main(["archive", "--before", "2999-01-01", "--db", db_path, "--to", str(blocked)]) == 1
    assert f"cannot write the archive to {blocked}" in capsys.readouterr().err
    assert table_counts(db_path, finished) == before
    assert not list(tmp_path.glob("**/*.parquet"))
    with pytest.raises(SystemExit):
        main(["archive", "--before", "last tuesday", "--db", db_path])
    assert "'last tuesday' is not a date such as 2026-01-01" in capsys.readouterr().err
