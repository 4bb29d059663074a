"""Insight counters are kept in the commit of what they count and equal a full recomputation."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from engine.decisions import Approve, Reassign, Reject, RequestChanges, is_auto, is_review
from engine.demo_data import load_demo_data
from engine.directory import SYSTEM, Directory
from engine.insights import CheckpointStats, checkpoint_stats
from engine.llm.demo import DemoProvider
from engine.model import AutoApproval, EscalationStep
from engine.records import CheckpointQuery, CheckpointRecord
from engine.services import Loopdesk
from engine.store.location import is_postgres_url
from tests.backends import db_path_on_every_backend  # noqa: F401  (`db_path`: every backend)
from tests.engine.helpers import with_auto_approval, with_rejection_path


@pytest.fixture
def duckdb_file(tmp_path: Path) -> str:
    """For how an older DuckDB file gets its counters."""
    return str(tmp_path / "older.duckdb")


def pending_of(app: Loopdesk, run_id: str) -> CheckpointRecord:
    """The run's open checkpoint."""
    (cp,) = app.store.list_checkpoints(CheckpointQuery(status="pending", run_id=run_id))
    return cp


def assert_counters_match(app: Loopdesk) -> None:
    """The counters kept equal the figures recomputed from every stored row."""
    kept, recomputed = app.store.counters(), app.store.recomputed_stats()
    assert kept.keys() == recomputed.keys()
    assert kept == pytest.approx(recomputed)


@pytest.mark.parametrize("fold_after", [20_000, 7], ids=["appended", "folded-often"])
def test_every_kind_of_change_keeps_the_counters_equal_to_a_recomputation(
    app: Loopdesk, fold_after: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("engine.store.duckdb_writer.COUNTER_DELTAS_BEFORE_COMPACTING", fold_after)
    monkeypatch.setattr("engine.store.postgres.COUNTER_DELTAS_BEFORE_COMPACTING", fold_after)
    run_ids = load_demo_data(app, "dana") + load_demo_data(app, "dana")
    assert_counters_match(app)
    for i, run_id in enumerate(run_ids):
        cp = pending_of(app, run_id)
        who = app.permissions.deciders(cp)[0]
        if i % 6 == 0:
            app.decide(cp.id, who, Reject(comment="Not for us"))
        elif i % 6 == 1:
            app.decide(cp.id, who, RequestChanges(comment="Shorter"))  # back to the AI step, waits again
        elif i % 6 == 2 and cp.editable and isinstance(cp.shown.get(cp.editable[0]), str):
            name = cp.editable[0]
            app.decide(cp.id, who, Approve(edits={name: cp.shown[name] + " Edited."}))
        elif i % 6 == 3:
            app.cancel(run_id, "alex")
        elif i % 6 == 4:
            target = next(t for t in app.reassign_targets(cp, who) if t != cp.assignee)
            app.decide(cp.id, who, Reassign(to=target))
        else:
            app.decide(cp.id, who, Approve())
    assert_counters_match(app)
    stats = {s.workflow_id: s for s in app.workflow_stats("alex")}
    assert sum(s.total_runs for s in stats.values()) == len(run_ids)
    assert stats["marketing-social-post"].ai_steps > 0
    by_step = app.checkpoint_stats("alex")
    assert sum(s.decided for s in by_step) == len(
        app.store.list_checkpoints(CheckpointQuery(status="decided"))
    )
    assert sum(s.pending for s in by_step) == len(
        app.store.list_checkpoints(CheckpointQuery(status="pending"))
    )


def test_the_counters_survive_a_restart_and_an_older_file_gets_them(duckdb_file: str) -> None:
    db_path = duckdb_file
    app = Loopdesk.open(db_path, provider=DemoProvider(), directory=Directory.load())
    try:
        for run_id in load_demo_data(app, "dana"):
            cp = pending_of(app, run_id)
            app.decide(cp.id, app.permissions.deciders(cp)[0], Approve())
        kept = app.store.counters()
        cur = app.store._cur()  # type: ignore[attr-defined]
        cur.execute("DELETE FROM stats_counters")  # as a file written before the counters
        cur.execute("DELETE FROM store_meta WHERE key = 'stats_counters'")
    finally:
        app.close()
    app = Loopdesk.open(db_path, provider=DemoProvider(), directory=Directory.load())
    try:
        assert app.store.counters() == pytest.approx(kept)
        assert_counters_match(app)
    finally:
        app.close()


def test_unpriced_and_failed_ai_calls_are_counted_alike_kept_and_recomputed(db_path: str) -> None:
    from engine.llm.openai_provider import OpenAIProvider
    from tests.engine.helpers import as_dict, linear_workflow
    from tests.fakes.openai_server import FakeOpenAIServer, answer

    with FakeOpenAIServer() as server:
        provider = OpenAIProvider("sk-test", base_url=server.base_url, timeout=10, max_retries=0)
        app = Loopdesk.open(db_path, provider=provider, directory=Directory.load())
        try:
            data = as_dict(linear_workflow())
            data["default_model"] = "house-llama"  # no price table knows it
            app.save_workflow(type(linear_workflow()).model_validate(data), "dana")
            server.plan(
                answer("a draft", usage=(10, 2)), answer("cut", finish_reason="length", usage=(10, 1))
            )
            app.start_run("wf", {"topic": "a"}, "riley")
            failed = app.start_run("wf", {"topic": "b"}, "riley")
            assert failed.status == "failed"
            assert_counters_match(app)
            stats = {s.workflow_id: s for s in app.workflow_stats("alex")}["wf"]
            assert (stats.ai_steps, stats.unpriced_steps, stats.cost_usd) == (2, 2, 0.0)
            assert (stats.prompt_tokens, stats.completion_tokens) == (20, 3)  # the failed call's too
        finally:
            app.close()


def test_auto_approvals_are_counted_apart_from_reviews_kept_and_recomputed(app: Loopdesk) -> None:
    """On every backend: an auto-approval is neither a decision by a person nor time in review."""
    rule = AutoApproval(threshold=1.0, window=2, spot_check_every=3, unusual_below=0.0)
    own = app.use_template("marketing-social-post", "dana").definition
    wid = app.save_workflow(with_auto_approval(own, rule), "dana").workflow_id
    values = {
        "topic": "Spring sale",
        "channel": "LinkedIn",
        "audience": "Shoppers",
        "target_language": "German",
    }
    for _ in range(2):
        run = app.start_run(wid, values, "dana")
        app.decide(pending_of(app, run.id).id, "jamie", Approve())
    for _ in range(2):
        assert app.start_run(wid, values, "dana").status == "completed"  # auto-approved
    assert_counters_match(app)
    (stats,) = [s for s in app.checkpoint_stats("dana") if s.workflow_id == wid]
    assert (stats.decided, stats.approved, stats.auto_approved) == (2, 2, 2)


HOUR = 3600.0
TIMERS = [
    EscalationStep(after_hours=1, action="reassign", to="morgan"),
    EscalationStep(after_hours=2, action="approve"),
]
"""Reassign to Morgan after an hour; approve as Loopdesk (a timeout) after two."""


def counted(stats: CheckpointStats) -> dict[str, int]:
    """The Insights table's figures of one approval step."""
    return {
        "reviews": stats.decided,
        "approved": stats.approved,
        "rejected": stats.rejected,
        "edited": stats.edited,
        "auto_approved": stats.auto_approved,
    }


def figured(overall: dict[str, Any]) -> dict[str, int]:
    """The same figures as the review figures give them (from their rates)."""
    n = overall["reviews"]
    as_is, edited = overall["approved_as_is_rate"] or 0, overall["approved_with_edits_rate"] or 0
    return {
        "reviews": n,
        "approved": round(n * (as_is + edited)),
        "rejected": round(n * (overall["rejected_rate"] or 0)),
        "edited": round(n * edited),
        "auto_approved": overall["auto_approved"],
    }


def recounted(app: Loopdesk, wid: str, archived: str | None = None) -> CheckpointStats:
    """The review step's Insights figures from a recount of every stored row (or of the archive)."""
    rows = app.store.recomputed_archive_stats(archived) if archived else app.store.recomputed_stats()
    totals: dict[tuple[str, str, str], float] = {}
    for (w, n, _day, metric), value in rows.items():
        totals[(w, n, metric)] = totals.get((w, n, metric), 0.0) + value
    (stats,) = [s for s in checkpoint_stats(totals, {}) if s.workflow_id == wid]
    return stats


def test_insights_and_the_review_figures_count_the_same_reviews(app: Loopdesk, tmp_path: Path) -> None:
    """On every backend: a decision by a person (also one the escalation chain handed the checkpoint
    to) is a review; a timeout and an auto-approval are not, kept, recounted and archived alike."""
    rule = AutoApproval(threshold=1.0, window=2, spot_check_every=3, unusual_below=0.0)
    wf = with_auto_approval(with_rejection_path(), rule, escalation=TIMERS)
    wid = app.save_workflow(wf, "dana").workflow_id

    def opened() -> CheckpointRecord:
        return pending_of(app, app.start_run(wid, {"topic": "Spring sale"}, "dana").id)

    app.decide(opened().id, "jamie", Approve(edits={"draft": "An edited post."}))
    app.decide(opened().id, "jamie", Reject(comment="Off brand"))
    timed_out = opened()
    app.engine.apply_timers(at=timed_out.created_at + 3 * HOUR)  # to Morgan, then approved by Loopdesk
    escalated = opened()
    assert [e.action for e in app.engine.apply_timers(at=escalated.created_at + 1.5 * HOUR)] == ["reassign"]
    app.decide(escalated.id, "morgan", Approve())  # a review by Morgan
    app.decide(opened().id, "jamie", Approve())  # the last two reviews as is: auto-approval earned
    auto = app.start_run(wid, {"topic": "Spring sale"}, "dana")
    assert auto.status == "completed"
    decided = app.store.list_checkpoints(CheckpointQuery(status="decided", workflow_id=wid))
    assert [(cp.decided_by, is_review(cp), is_auto(cp)) for cp in decided] == [
        ("jamie", True, False), ("jamie", True, False), (SYSTEM, False, False),
        ("morgan", True, False), ("jamie", True, False), (SYSTEM, False, True),
    ]  # fmt: skip

    (report,) = app.review_report("alex", wid)
    assert {who: f["reviews"] for who, f in report["reviewers"].items()} == {"jamie": 3, "morgan": 1}
    expected = {"reviews": 4, "approved": 3, "rejected": 1, "edited": 1, "auto_approved": 1}
    assert figured(report["overall"]) == expected
    (kept,) = [s for s in app.checkpoint_stats("alex") if s.workflow_id == wid]
    assert counted(kept) == expected and kept.timed_out == 1
    assert_counters_match(app)
    assert counted(recounted(app, wid)) == expected and recounted(app, wid).timed_out == 1

    folder = str(tmp_path / "archive")
    app.store.archive_runs(time.time() + 86400, folder)
    assert app.store.list_checkpoints(CheckpointQuery(workflow_id=wid)) == []
    (archived,) = [s for s in app.checkpoint_stats("alex", include_archived=True) if s.workflow_id == wid]
    assert counted(archived) == expected and archived.timed_out == 1
    assert app.store.archived_counters() == pytest.approx(app.store.recomputed_archive_stats(folder))
    assert counted(recounted(app, wid, folder)) == expected


def test_an_older_database_counts_its_decisions_again_once(db_path: str) -> None:
    """On every backend: counters kept before timeouts left `decided` (one stands in here for a timeout
    counted as a review) are counted again from the stored decisions when the database is opened."""
    app = Loopdesk.open(db_path, provider=DemoProvider(), directory=Directory.load())
    try:
        for run_id in load_demo_data(app, "dana")[:3]:
            cp = pending_of(app, run_id)
            app.decide(cp.id, app.permissions.deciders(cp)[0], Approve())
        kept = app.store.counters()
        stale = "INSERT INTO stats_counters VALUES ('wf', 'review', 0, 'decided', 1)"
        if is_postgres_url(db_path):
            with psycopg.connect(db_path, autocommit=True) as conn:
                conn.execute(stale)
                conn.execute("DELETE FROM schema_version WHERE version >= 6")  # from before the recount
                conn.execute("DROP TABLE connections")  # which had none yet either (migration 7)
        else:
            cur = app.store._cur()  # type: ignore[attr-defined]
            cur.execute(stale)
            cur.execute("DELETE FROM store_meta WHERE key = 'review_counters'")
        assert app.store.counters() != pytest.approx(kept)
    finally:
        app.close()
    app = Loopdesk.open(db_path, provider=DemoProvider(), directory=Directory.load())
    try:
        assert app.store.counters() == pytest.approx(kept)
    finally:
        app.close()
