"""AI steps of different runs overlap on the bounded pool; each run's own steps stay in order."""

from __future__ import annotations

import time
from pathlib import Path

from engine.directory import Directory
from engine.llm.openai_provider import OpenAIProvider
from engine.services import Loopdesk
from tests.engine.helpers import linear_workflow
from tests.fakes.openai_server import FakeOpenAIServer
from tests.waiting import wait_until


def test_twenty_slow_runs_do_not_take_twenty_seconds(tmp_path: Path) -> None:
    with FakeOpenAIServer(delay_ms=1000) as server:
        provider = OpenAIProvider("sk-test", base_url=server.base_url, timeout=30, max_retries=0)
        app = Loopdesk.open(
            str(tmp_path / "c.duckdb"), provider=provider, directory=Directory.load(), workers=10
        )
        try:
            app.save_workflow(linear_workflow(), "dana")
            started = time.monotonic()
            ids = [app.start_run("wf", {"topic": f"t{i}"}, "riley", background=True).id for i in range(20)]
            while (
                any(app.engine.get_run(i).status == "running" for i in ids)
                and time.monotonic() - started < 60
            ):
                time.sleep(0.05)
            elapsed = time.monotonic() - started
            runs = [app.engine.get_run(i) for i in ids]
        finally:
            app.close()
    assert {r.status for r in runs} == {"waiting"}
    assert len(server.chat_requests) == 20
    # serial would be 20 s; a pool of 10 needs about 2 s — leave ample room for a busy machine
    assert elapsed < 10, elapsed


def test_each_runs_steps_stay_in_order(app: Loopdesk) -> None:
    app.save_workflow(linear_workflow(), "dana")
    ids = [app.start_run("wf", {"topic": f"t{i}"}, "riley", background=True).id for i in range(6)]
    wait_until(lambda: all(app.engine.get_run(i).status != "running" for i in ids), "every run pauses", 30)
    for rid in ids:
        assert [s.node_id for s in app.store.list_steps(rid)] == ["form", "draft", "to_review"]
