"""The API key never reaches the database, the workflow JSON or error messages."""

from __future__ import annotations

from pathlib import Path

from engine.decisions import Approve
from engine.directory import Directory
from engine.llm.openai_provider import OpenAIProvider
from engine.records import CheckpointQuery
from engine.services import Loopdesk
from tests.engine.helpers import linear_workflow
from tests.fakes.openai_server import FakeOpenAIServer, error

KEY = "sk-loopdesk-secret-4242-do-not-store"


def test_key_is_used_but_never_stored(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    with FakeOpenAIServer() as server:
        provider = OpenAIProvider(KEY, base_url=server.base_url, timeout=5, max_retries=0)
        app = Loopdesk.open(str(db), provider=provider, directory=Directory.load())
        try:
            app.save_workflow(linear_workflow(), "dana")
            run = app.start_run("wf", {"topic": "secret test"}, "riley")
            assert server.chat_requests[0].headers["authorization"] == f"Bearer {KEY}"
            server.plan(error(401, f"Incorrect API key provided: {KEY}"))
            cp = app.store.list_checkpoints(CheckpointQuery(run_id=run.id))[0].id
            failed = app.decide(cp, "jamie", Approve())
            assert failed.status == "failed"
            assert KEY not in (failed.error or "")
            exported = app.export_workflow("wf")
        finally:
            app.close()
    assert KEY not in exported
    raw = db.read_bytes()
    wal = db.with_suffix(".duckdb.wal")
    if wal.exists():
        raw += wal.read_bytes()
    assert b"secret test" in raw  # the file really holds the run's data
    assert KEY.encode() not in raw
