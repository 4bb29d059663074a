"""Several processes on one PostgreSQL database: exactly-once decisions, workers that claim runs
under a lease and take over from a worker killed mid-step, due timeouts applied once, detached
runs, and moving a DuckDB database over."""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main
from engine.decisions import Approve, Reject
from engine.directory import Directory
from engine.errors import AlreadyDecidedError
from engine.llm.demo import DemoProvider
from engine.model import Workflow
from engine.records import ConnectionRecord
from engine.services import Loopdesk
from tests.engine.helpers import as_dict, linear_workflow
from tests.fakes.openai_server import FakeOpenAIServer, answer
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def open_app(location: str, workers: int = 2) -> Loopdesk:
    return Loopdesk.open(location, provider=DemoProvider(), directory=Directory.load(), workers=workers)


@pytest.fixture
def pg_app(pg_url: str) -> Iterator[Loopdesk]:
    app = open_app(pg_url)
    try:
        yield app
    finally:
        app.close()


class Workers:
    """`python -m engine worker` processes on one database, stopped (SIGTERM, then kill) at the end."""

    def __init__(self, url: str, tmp: Path, env: dict[str, str] | None = None) -> None:
        self.url, self.tmp, self.env = url, tmp, env or {}
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"worker-{len(self.procs)}.log").open("wb")
        env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "worker", "--db", self.url, "--poll", "0.3", *args],
            cwd=ROOT, env={**env, **self.env}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.procs.append(proc)
        return proc

    def log(self, i: int) -> str:
        return (self.tmp / f"worker-{i}.log").read_text(errors="replace")

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.fixture
def workers(pg_url: str, tmp_path: Path) -> Iterator[Workers]:
    w = Workers(pg_url, tmp_path)
    try:
        yield w
    finally:
        w.stop()


# -- exactly once across processes --------------------------------------------------------------
def _decide_in_process(url: str, checkpoint_id: str, user: str, barrier: Any, results: Any) -> None:
    """One process's attempt: open the store, wait for the others, decide."""
    app = open_app(url, workers=1)
    try:
        barrier.wait(timeout=60)
        try:
            app.decide(checkpoint_id, user, Approve(comment=f"by {os.getpid()}"))
            results.put(("won", user))
        except AlreadyDecidedError as exc:
            results.put(("lost", str(exc)))
        except Exception as exc:  # reported to the test, which fails on it
            results.put(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        app.close()


@pytest.mark.processes
def test_six_processes_deciding_one_checkpoint_one_wins(pg_app: Loopdesk, pg_url: str) -> None:
    pg_app.save_workflow(linear_workflow(), "dana")
    run = pg_app.start_run("wf", {"topic": "race"}, "riley")
    (cp,) = pg_app.inbox("jamie")
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(6), ctx.Queue()
    args = (pg_url, cp.id, "jamie", barrier, results)
    procs = [ctx.Process(target=_decide_in_process, args=args) for _ in range(6)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert [kind for kind, _ in outcomes].count("won") == 1, outcomes
    lost = [text for kind, text in outcomes if kind == "lost"]
    assert len(lost) == 5, outcomes
    assert all(" by Jamie Rivera at " in text and text.count("Already ") == 1 for text in lost), lost
    decisions = [a for a in pg_app.store.list_audit(run.id) if a.event.startswith("decision_")]
    assert len(decisions) == 1
    reviews = [s for s in pg_app.store.list_steps(run.id) if s.node_id == "review"]
    assert len(reviews) == 1
    assert pg_app.engine.get_run(run.id).status == "completed"
    assert pg_app.store.counters() == pytest.approx(pg_app.store.recomputed_stats())


# -- workers -------------------------------------------------------------------------------------
@pytest.mark.processes
def test_detached_runs_are_driven_by_a_worker(pg_url: str, workers: Workers, tmp_path: Path) -> None:
    wf = tmp_path / "wf.json"
    wf.write_text(linear_workflow().to_json())
    out, err = _cli("run", str(wf), "--db", pg_url, "--detach", "--json", "--input", "topic=later")
    doc = json.loads(out)
    assert doc["status"] == "running" and not err
    app = open_app(pg_url, workers=0)  # like an app server with LOOPDESK_WORKERS=0
    try:
        assert app.engine.get_run(doc["run_id"]).status == "running"  # nobody drove it in the CLI
        workers.start("--concurrency", "2")
        wait_until(lambda: app.engine.get_run(doc["run_id"]).status == "waiting", "the worker drove the run")
        started = app.start_run("wf", {"topic": "from a server without workers"}, "riley", background=True)
        assert started.status == "running"
        wait_until(lambda: app.engine.get_run(started.id).status == "waiting", "the worker took the new run")
        (cp, *_) = [c for c in app.inbox("jamie") if c.run_id == started.id]
        after = app.decide(cp.id, "jamie", Approve(), background=True)
        assert after.status == "running"  # left to the worker, woken by the database
        wait_until(lambda: app.engine.get_run(started.id).status == "completed", "the worker finished it")
    finally:
        app.close()
    workers.stop()
    assert "worker stopped: took up" in workers.log(0)


@pytest.mark.processes
def test_a_worker_is_woken_by_the_database_not_by_its_poll(pg_url: str, workers: Workers) -> None:
    app = open_app(pg_url, workers=0)
    try:
        app.save_workflow(linear_workflow(), "dana")
        proc = workers.start("--concurrency", "2", "--poll", "60")  # the last --poll wins: once a minute
        time.sleep(3)  # connected and listening, past its first look for work
        assert proc.poll() is None
        started = time.monotonic()
        run = app.start_run("wf", {"topic": "notify"}, "riley", detach=True)
        wait_until(lambda: app.engine.get_run(run.id).status == "waiting", "the worker was woken", 20)
        assert time.monotonic() - started < 10  # NOTIFY, not the 60-second poll
        stopping = time.monotonic()
        proc.send_signal(signal.SIGTERM)  # told to stop while it waits for a notification: it stops now
        proc.wait(timeout=20)
        assert time.monotonic() - stopping < 5 and "worker stopped" in workers.log(0)
    finally:
        app.close()


@pytest.mark.processes
def test_a_worker_killed_mid_ai_step_is_taken_over_after_its_lease(pg_url: str, tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        server.plan(answer("slow draft", delay=60), answer("second draft"), answer("Auf Deutsch"))
        env = {"OPENAI_API_KEY": "sk-test-lease", "OPENAI_BASE_URL": server.base_url,
               "LOOPDESK_LEASE_SECONDS": "2"}  # fmt: skip
        pool = Workers(pg_url, tmp_path, env)
        try:
            app = open_app(pg_url, workers=0)
            try:
                app.save_workflow(linear_workflow(), "dana")
                run = app.start_run("wf", {"topic": "crash"}, "riley", detach=True)
                first = pool.start("--concurrency", "1")
                wait_until(lambda: len(server.chat_requests) == 1, "the first worker called the model", 60)
                os.kill(first.pid, signal.SIGKILL)  # mid-step: the answer never comes back to it
                first.wait(timeout=10)
                killed_at = time.monotonic()
                pool.start("--concurrency", "1")
                waiting = lambda: app.engine.get_run(run.id).status == "waiting"  # noqa: E731
                wait_until(waiting, "the second worker took over")
                assert time.monotonic() - killed_at >= 1.0  # not before the first worker's lease ran out
                assert len(server.chat_requests) == 2  # the step in flight was made once more, no more
                drafts = [s for s in app.store.list_steps(run.id) if s.node_id == "draft"]
                assert len(drafts) == 1 and drafts[0].output == "second draft"
                events = [a for a in app.store.list_audit(run.id) if a.event == "taken_over"]
                assert len(events) == 1 and events[0].detail["previous_driver"] != events[0].detail["driver"]
                # a finished AI step is never paid for twice: deciding goes on from the review
                (cp,) = app.inbox("jamie")
                app.decide(cp.id, "jamie", Approve(), background=True)
                wait_until(lambda: app.engine.get_run(run.id).status == "completed", "the run finished")
                assert len(server.chat_requests) == 3  # + the translation, and the draft not again
            finally:
                app.close()
        finally:
            pool.stop()


@pytest.mark.processes
def test_a_due_timeout_is_applied_once_with_three_workers(pg_url: str, workers: Workers) -> None:
    data = as_dict(linear_workflow())
    review = next(n for n in data["nodes"] if n["id"] == "review")
    review.update(due_hours=0.0005, on_timeout="reject")  # due after 1.8 s
    app = open_app(pg_url, workers=0)
    try:
        app.save_workflow(Workflow.model_validate(data), "dana")
        runs = [app.start_run("wf", {"topic": f"t{i}"}, "riley") for i in range(5)]
        assert all(r.status == "waiting" for r in runs)
        for _ in range(3):
            workers.start("--concurrency", "2")
        wait_until(
            lambda: all(app.engine.get_run(r.id).status == "rejected" for r in runs),
            "the timeout rejected every run",
        )
        time.sleep(1.0)  # the workers keep looking: nothing more may happen
        for r in runs:
            decided = [a for a in app.store.list_audit(r.id) if a.event == "decision_reject"]
            assert len(decided) == 1 and decided[0].actor == "system"
            assert len([s for s in app.store.list_steps(r.id) if s.node_id == "review"]) == 1
        assert app.store.counters() == pytest.approx(app.store.recomputed_stats())
    finally:
        app.close()


@pytest.mark.processes
def test_a_stopped_worker_releases_what_it_holds(pg_url: str, workers: Workers) -> None:
    with FakeOpenAIServer() as server:
        server.plan(answer("slow", delay=30), answer("quick draft"))
        workers.env = {"OPENAI_API_KEY": "sk-test-stop", "OPENAI_BASE_URL": server.base_url}
        app = open_app(pg_url, workers=0)
        try:
            app.save_workflow(linear_workflow(), "dana")
            run = app.start_run("wf", {"topic": "stop"}, "riley", detach=True)
            first = workers.start("--concurrency", "1", "--grace", "1")
            wait_until(lambda: len(server.chat_requests) == 1, "the worker called the model")
            first.send_signal(signal.SIGTERM)
            first.wait(timeout=30)  # its drive cannot finish in the grace period: released, not held
            assert "released 1 run(s)" in workers.log(0)
            workers.start("--concurrency", "1")  # (the default lease is 30 s: this is no takeover)
            wait_until(lambda: app.engine.get_run(run.id).status == "waiting", "another worker continued", 20)
            drafts = [s for s in app.store.list_steps(run.id) if s.node_id == "draft"]
            assert len(drafts) == 1 and drafts[0].output == "quick draft"
        finally:
            app.close()


# -- moving a database ---------------------------------------------------------------------------
def _cli(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    assert code == 0, err.getvalue()
    return out.getvalue(), err.getvalue()


def test_a_duckdb_database_moves_to_postgres_without_loss(tmp_path: Path, pg_url: str) -> None:
    source = str(tmp_path / "old.duckdb")
    app = open_app(source)
    try:
        app.install_templates()
        app.save_workflow(linear_workflow(), "dana")
        done = app.start_run("wf", {"topic": "finished"}, "riley")
        app.decide(app.inbox("jamie")[0].id, "jamie", Approve(edits={"draft": "Edited"}))
        rejected = app.start_run("wf", {"topic": "no"}, "riley")
        (cp,) = [c for c in app.inbox("jamie") if c.run_id == rejected.id]
        app.decide(cp.id, "jamie", Reject(comment="off brand"))
        waiting = app.start_run("wf", {"topic": "still waiting"}, "riley")
        _, token = app.create_token("jamie", "alex", "CRM")
        link_key = app.store.setting("link_key", "unused")
        mail = ConnectionRecord("mail", "smtp", '{"port": 587}', "gAAAAAB-ciphertext", 100.0, "alex")
        app.store.put_connection(mail)
        before = app.store.table_counts()
        counters = app.store.counters()
    finally:
        app.close()
    out, _ = _cli("migrate", "--from", source, "--to", pg_url, "--json")
    copied = json.loads(out)["copied"]
    assert copied == before and copied["runs"] == 3 and copied["steps"] > 10
    moved = open_app(pg_url)
    try:
        assert moved.store.table_counts() == before
        assert moved.store.counters() == pytest.approx(counters)
        assert moved.store.setting("link_key", "new") == link_key  # emailed links stay valid
        assert moved.user_for_token(token) == "jamie"
        assert moved.store.list_connections() == [mail]  # secrets as the same ciphertext
        assert moved.engine.get_run(done.id).values["draft"] == "Edited"
        assert [s.node_id for s in moved.store.list_steps(done.id)][:3] == ["form", "draft", "to_review"]
        (cp,) = moved.inbox("jamie")
        assert cp.run_id == waiting.id
        assert moved.decide(cp.id, "jamie", Approve()).status == "completed"  # it continues after the move
    finally:
        moved.close()
    with pytest.raises(AssertionError, match="is not empty"):  # a second copy would double everything
        _cli("migrate", "--from", source, "--to", pg_url)
