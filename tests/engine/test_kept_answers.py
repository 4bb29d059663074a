"""A paid AI answer is never thrown away because the database refused to save it: the write is tried
again through a short outage, and an answer still unsaved after that waits in memory for the
database instead of being asked for (and paid) again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urlsplit

import pytest

from engine.directory import Directory
from engine.errors import StoreUnavailableError
from engine.llm.openai_provider import OpenAIProvider
from engine.records import StepRecord, Transition, now
from engine.services import Loopdesk
from tests.engine.helpers import linear_workflow
from tests.fakes.openai_server import FakeOpenAIServer, answer
from tests.fakes.tcp_proxy import TcpProxy
from tests.waiting import wait_until


@pytest.fixture
def proxied(pg_url: str) -> Iterator[tuple[str, TcpProxy]]:
    """The test's PostgreSQL database reached through a proxy the test can cut."""
    parts = urlsplit(pg_url)
    assert parts.port is not None
    with TcpProxy(parts.port) as proxy:
        netloc = parts.netloc.replace(f":{parts.port}", f":{proxy.port}")
        yield parts._replace(netloc=netloc).geturl(), proxy


def status(app: Loopdesk, run_id: str) -> str | None:
    """The run's status, or None while the pool reconnects after the outage."""
    try:
        return app.engine.get_run(run_id).status
    except StoreUnavailableError:
        return None


@pytest.mark.parametrize("retry_seconds", ["15", "1"], ids=["write-tried-again", "answer-kept"])
def test_a_database_outage_while_the_model_answers_costs_one_call(
    proxied: tuple[str, TcpProxy], monkeypatch: pytest.MonkeyPatch, retry_seconds: str
) -> None:
    """The attack: a 5 s PostgreSQL outage refused the write of an AI answer; the answer was dropped,
    the call made again, and the first call's tokens appeared nowhere. Whether the write is tried
    again through the outage or given up and the answer kept in memory, the model is paid once."""
    url, proxy = proxied
    monkeypatch.setenv("LOOPDESK_DB_WAIT", "1")
    monkeypatch.setenv("LOOPDESK_STORE_RETRY_SECONDS", retry_seconds)
    with FakeOpenAIServer() as model:
        model.plan(answer("A draft worth keeping.", delay=1.0, usage=(120, 30)))
        provider = OpenAIProvider("sk-test", base_url=model.base_url, timeout=30, max_retries=0)
        app = Loopdesk.open(url, provider=provider, directory=Directory.load(), workers=2)
        try:
            app.engine.start_timers(resume_interval=2.0)  # as a server does: it takes up waiting runs
            app.save_workflow(linear_workflow(), "dana")
            run = app.start_run("wf", {"topic": "Outage"}, "riley", background=True)
            wait_until(lambda: model.requests, "the AI step calls the model")
            proxy.cut()  # the database goes away while the model is still answering
            time.sleep(5)
            proxy.restore()
            carried_on = lambda: status(app, run.id) not in ("running", None)  # noqa: E731
            wait_until(carried_on, "the run carries on after the outage", timeout=40)
            after = app.engine.get_run(run.id)
            assert after.status == "waiting" and after.values["draft"] == "A draft worth keeping."
            assert len(model.requests) == 1  # paid once
            (draft,) = [s for s in app.store.list_steps(run.id) if s.node_id == "draft"]
            assert (draft.meta["prompt_tokens"], draft.meta["completion_tokens"]) == (120, 30)
            assert ("saved_late_seconds" in draft.meta) == (retry_seconds == "1")
        finally:
            proxy.restore()
            app.close()


def test_a_kept_answer_its_run_no_longer_needs_is_reported_with_what_it_cost(app: Loopdesk) -> None:
    """Another driver went on (the lease ran out during a long outage) and paid again: the answer kept
    here is not silently forgotten, its tokens and cost go into the run's audit trail."""
    app.save_workflow(linear_workflow(), "dana")
    run = app.start_run("wf", {"topic": "Went on"}, "riley")  # already past its AI step, waiting
    at_draft = replace(run, status="running", current_node="draft")
    meta = {"model": "gpt-4o-mini", "prompt_tokens": 120, "completion_tokens": 30, "cost_usd": 0.0021}
    step = StepRecord(run.id, "draft", "ai_step", "done", {}, "a draft", now(), now(), meta=meta)
    app.engine._answers.keep(at_draft, "draft", Transition(steps=[step]), at_draft)
    assert app.engine.take_work() == []  # nothing to drive: the run is waiting, not at its AI step
    (lost,) = [a for a in app.store.list_audit(run.id) if a.event == "ai_answer_lost"]
    assert lost.detail == {**meta, "node": "draft", "reason": lost.detail["reason"]}
    assert "went on without it" in lost.detail["reason"] and len(app.engine._answers) == 0
