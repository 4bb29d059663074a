"""AI steps as users meet them on servers nobody here wrote: runs of the shipped templates through the
real `openai` client against a local server that refuses what real ones refuse, cuts answers off,
filters content, reports no usage, or serves a model no price table knows."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.directory import Directory
from engine.errors import NotAllowedError
from engine.llm.factory import provider_from_settings
from engine.llm.openai_provider import OpenAIProvider
from engine.services import Loopdesk
from tests.conftest import save_variant
from tests.engine.helpers import as_dict, linear_workflow
from tests.fakes.openai_server import FakeOpenAIServer, answer
from tests.servers import ROOT

TICKET = {
    "customer_name": "Anna",
    "email": "anna@example.com",
    "subject": "Charged twice",
    "message": "My card was charged twice.",
}


def open_app(path: Path, server: FakeOpenAIServer, **env: str) -> Loopdesk:
    """A Loopdesk on its own DuckDB file whose AI steps go to `server`."""
    provider = OpenAIProvider(
        "sk-test-servers", base_url=server.base_url, timeout=10, max_retries=1, backoff=0.01
    )
    app = Loopdesk.open(str(path), provider=provider, directory=Directory.load())
    app.install_templates()
    return app


@pytest.fixture
def llama(tmp_path: Path) -> Iterator[tuple[FakeOpenAIServer, Loopdesk]]:
    """A server that refuses `json_schema` with HTTP 500, as llama.cpp's does."""
    with FakeOpenAIServer(refuse_formats={"json_schema": 500}) as server:
        app = open_app(tmp_path / "llama.duckdb", server)
        try:
            yield server, app
        finally:
            app.close()


def ai_steps(app: Loopdesk, run_id: str) -> dict[str, Any]:
    """The AI steps of a run by node id (the last record of each)."""
    return {s.node_id: s for s in app.store.list_steps(run_id) if s.kind == "ai_step"}


def test_a_classification_template_runs_on_a_server_without_json_schema(
    llama: tuple[FakeOpenAIServer, Loopdesk],
) -> None:
    server, app = llama
    server.plan(
        answer('{"label": "billing"}', usage=(120, 6)), answer("Hi Anna, sorry about that.", usage=(80, 9))
    )

    run = app.start_run("support-reply", TICKET, "sam")

    assert run.status == "waiting", run.error
    steps = ai_steps(app, run.id)
    classify = steps["classify"]
    assert classify.status == "done" and classify.output == "billing"
    assert classify.meta["structured"] == "json_object"
    assert "Input should be 'text' or 'json_object'" in classify.meta["notes"][0]
    assert classify.meta["prompt_tokens"] == 120
    # the refusal was not retried: one json_schema request, then the json_object one
    kinds = [(r.json.get("response_format") or {}).get("type") for r in server.chat_requests]
    assert kinds[:2] == ["json_schema", "json_object"]


def test_a_cut_off_draft_fails_the_step_and_its_tokens_are_still_counted(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        app = open_app(tmp_path / "cut.duckdb", server)
        try:
            server.plan(answer("Use the code SPRING at the", finish_reason="length", usage=(200, 40)))
            run = app.start_run("marketing-social-post", {"topic": "Spring sale"}, "dana")
            failed = ai_steps(app, run.id)["draft"]
        finally:
            app.close()
    assert run.status == "failed"
    assert "cut off at the token limit" in (run.error or "") and "SPRING at the" in (run.error or "")
    assert failed.status == "failed"
    assert (failed.meta["prompt_tokens"], failed.meta["completion_tokens"]) == (200, 40)
    assert failed.meta["cost_usd"] is not None and failed.meta["cost_usd"] > 0  # gpt-4o-mini is priced


def test_a_workflow_that_allows_it_sends_a_cut_off_draft_to_review_marked(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        app = open_app(tmp_path / "allow.duckdb", server)
        try:
            wf = app.get_workflow("marketing-social-post").definition
            save_variant(app, wf.model_copy(update={"allow_cut_off": True}))
            server.plan(answer("Use the code SPRING at the", finish_reason="length"))
            run = app.start_run("marketing-social-post", {"topic": "Spring sale"}, "dana")
            draft = ai_steps(app, run.id)["draft"]
        finally:
            app.close()
    assert run.status == "waiting"
    assert draft.meta["cut_off"] is True and draft.output == "Use the code SPRING at the"


def test_a_cut_off_json_answer_says_raise_max_tokens(llama: tuple[FakeOpenAIServer, Loopdesk]) -> None:
    server, app = llama
    server.plan(answer('{"label": "bil', finish_reason="length", usage=(100, 4)))

    run = app.start_run("support-reply", TICKET, "sam")

    assert run.status == "failed"
    assert "raise the step's max tokens" in (run.error or "") and "not valid JSON" not in (run.error or "")
    assert ai_steps(app, run.id)["classify"].meta["completion_tokens"] == 4


def test_an_answer_that_does_not_parse_still_records_what_the_call_cost(
    llama: tuple[FakeOpenAIServer, Loopdesk],
) -> None:
    server, app = llama
    server.plan(answer("I think it is about money", usage=(90, 7)))

    run = app.start_run("support-reply", TICKET, "sam")

    assert run.status == "failed" and "not one of" in (run.error or "")
    classify = ai_steps(app, run.id)["classify"]
    assert (classify.meta["prompt_tokens"], classify.meta["completion_tokens"]) == (90, 7)
    stats = {s.workflow_id: s for s in app.workflow_stats("cli")}["support-reply"]
    assert stats.prompt_tokens == 90 and stats.completion_tokens == 7


def test_a_content_filter_stop_is_not_a_retry_matter(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        app = open_app(tmp_path / "filter.duckdb", server)
        try:
            server.plan(answer("", finish_reason="content_filter", usage=(50, 0)))
            run = app.start_run("marketing-social-post", {"topic": "Spring sale"}, "dana")
        finally:
            app.close()
    assert run.status == "failed" and "content filter" in (run.error or "")
    assert "will not help" in (run.error or "") and len(server.chat_requests) == 1


def test_an_unknown_model_is_unpriced_and_a_local_server_can_be_declared_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeOpenAIServer() as server:
        app = open_app(tmp_path / "price.duckdb", server)
        try:
            data = as_dict(linear_workflow())
            data["default_model"] = "smollm2-135m-instruct"
            app.save_workflow(type(linear_workflow()).model_validate(data), "dana")
            run = app.start_run("wf", {"topic": "t"}, "riley")
            assert ai_steps(app, run.id)["draft"].meta["cost_usd"] is None  # unpriced, not $0.00

            monkeypatch.setenv("LOOPDESK_PRICES", '{"*": [0, 0]}')
            free = app.start_run("wf", {"topic": "t"}, "riley")
            assert ai_steps(app, free.id)["draft"].meta["cost_usd"] == 0.0
        finally:
            app.close()


def test_one_place_chooses_the_model_of_every_workflow_that_names_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPDESK_MODEL", "llama3.1:8b")
    with FakeOpenAIServer() as server:
        app = open_app(tmp_path / "model.duckdb", server)
        try:
            assert app.default_model() == "llama3.1:8b"
            app.start_run("marketing-social-post", {"topic": "a"}, "dana")
            with pytest.raises(NotAllowedError, match="only an admin"):
                app.set_default_model("dana", "qwen2.5")
            assert app.set_default_model("alex", "qwen2.5") == "qwen2.5"
            app.start_run("marketing-social-post", {"topic": "b"}, "dana")
            assert app.set_default_model("alex", "") == "llama3.1:8b"  # back to LOOPDESK_MODEL
        finally:
            app.close()
    assert [r.json["model"] for r in server.chat_requests] == ["llama3.1:8b", "qwen2.5"]


def test_templates_name_no_model() -> None:
    for path in (ROOT / "templates").glob("*.json"):
        text = path.read_text()
        assert "gpt-4o-mini" not in text and '"default_model"' not in text, path.name


def test_a_base_url_without_a_key_uses_that_server() -> None:
    with FakeOpenAIServer() as server:
        provider = provider_from_settings(env={"OPENAI_BASE_URL": server.base_url})
        assert isinstance(provider, OpenAIProvider) and provider.keyless
        from engine.llm.base import LLMRequest

        provider.complete(LLMRequest(model="llama3.1", messages=[{"role": "user", "content": "hi"}]))
    assert server.chat_requests[0].headers["authorization"] == "Bearer not-needed"


@pytest.mark.processes
def test_commands_that_call_no_ai_do_not_import_openai(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from engine import cli\n"
        "from engine.llm.factory import provider_from_settings\n"
        "provider_from_settings(env={'OPENAI_API_KEY': 'sk-x'})\n"
        "cli.main(['validate', sys.argv[1]])\n"
        "assert 'openai' not in sys.modules, 'openai was imported'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", probe, str(ROOT / "templates" / "support_reply.json")],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_a_draft_is_seen_growing_while_it_streams_and_gone_once_done(tmp_path: Path) -> None:
    draft = " ".join(f"word{i}" for i in range(60))
    with FakeOpenAIServer() as server:
        app = open_app(tmp_path / "live.duckdb", server)
        try:
            server.plan(answer(draft, chunk_delay=0.1))
            run = app.start_run("marketing-social-post", {"topic": "Spring sale"}, "dana", background=True)
            seen: list[str] = []
            deadline = time.monotonic() + 30
            while app.engine.get_run(run.id).status == "running" and time.monotonic() < deadline:
                live = app.live_step(run.id, "dana")
                if live is not None and live.text and (not seen or live.text != seen[-1]):
                    assert live.node_id == "draft" and live.attempt == 1
                    seen.append(live.text)
                time.sleep(0.05)
            assert app.engine.get_run(run.id).status == "waiting"
            assert app.live_step(run.id, "dana") is None  # nothing in flight any more
        finally:
            app.close()
    assert len(seen) >= 3, seen  # several partial drafts, each longer than the last
    assert all(len(a) < len(b) for a, b in itertools.pairwise(seen)) and draft.startswith(seen[-1])
