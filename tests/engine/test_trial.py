"""Testing one AI step on sample values: the real call through the provider, and nothing stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import InvalidStateError, NotAllowedError
from engine.model import AIStepNode
from engine.records import CheckpointQuery
from engine.services import Loopdesk
from engine.trial import TRIAL_RUN_ID, prompt_values, sample_values
from tests.conftest import load_template
from tests.engine.test_ai_servers import open_app
from tests.fakes.openai_server import FakeOpenAIServer, answer, error


def nothing_written(app: Loopdesk) -> None:
    """No run, step, checkpoint, audit entry, live step or insight counter exists."""
    assert app.store.list_runs() == []
    assert app.store.list_checkpoints(CheckpointQuery(status=None)) == []
    assert app.store.list_audit() == []
    assert app.store.get_live(TRIAL_RUN_ID) is None
    assert app.store.counters() == {}


def test_sample_values_are_the_form_defaults_of_what_the_prompt_uses() -> None:
    wf = load_template("marketing_social_post")
    # `feedback` is the reviewer's comment on a revision (empty on a first draft)
    assert prompt_values(wf, "draft") == ["channel", "topic", "audience", "key_message", "feedback"]
    assert sample_values(wf, "draft") == {
        "channel": "LinkedIn",
        "topic": "the launch of our new analytics dashboard",
        "audience": "marketing managers at mid-size companies",
        "key_message": "Teams see campaign results in one place, updated every hour.",
        "feedback": "",
    }
    # a past run's values win; what it lacks is empty, never a default of another run
    past = {"channel": "X", "topic": "Spring sale", "post": "…"}
    assert sample_values(wf, "draft", past) == {
        "channel": "X", "topic": "Spring sale", "audience": "", "key_message": "", "feedback": ""
    }  # fmt: skip
    assert prompt_values(wf, "review") == []  # not an AI step


def test_the_demo_model_answers_a_step_test_and_nothing_is_stored(app: Loopdesk) -> None:
    app.install_templates()
    wf = load_template("marketing_social_post")
    values = sample_values(wf, "draft") | {"topic": "our spring webinar"}

    trial = app.try_step(wf, "draft", values, "dana")

    assert trial.ok, trial.error
    assert "spring webinar" in trial.output.lower()
    assert trial.meta["demo"] is True and trial.meta["provider"] == "demo"
    assert trial.meta["completion_tokens"] > 0
    assert "our spring webinar" in trial.meta["messages"][-1]["content"]
    nothing_written(app)


def test_a_real_server_reports_model_tokens_cost_and_latency(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        app = open_app(tmp_path / "trial.duckdb", server)
        try:
            server.plan(answer("Hello from the test", usage=(120, 30)))
            wf = load_template("marketing_social_post")
            trial = app.try_step(wf, "draft", sample_values(wf, "draft"), "dana")
            assert trial.ok and trial.output == "Hello from the test"
            assert trial.meta["model"] == "gpt-4o-mini" and trial.meta["demo"] is False
            assert (trial.meta["prompt_tokens"], trial.meta["completion_tokens"]) == (120, 30)
            assert trial.meta["cost_usd"] == pytest.approx(120 * 0.15e-6 + 30 * 0.6e-6)
            assert trial.meta["latency_ms"] >= 0
            sent = server.chat_requests[-1].json["messages"][-1]["content"]
            assert "LinkedIn post about the launch of our new analytics dashboard" in sent
            # a refusal is the server's words, not a traceback, and still nothing is stored
            server.plan(error(400, "model 'nope' does not exist"))
            failed = app.try_step(wf, "draft", sample_values(wf, "draft"), "dana")
            assert not failed.ok and "does not exist" in str(failed.error)
            nothing_written(app)
        finally:
            app.close()


def test_a_classification_step_gives_its_label(app: Loopdesk) -> None:
    wf = load_template("support_reply")
    values = {
        "subject": "Charged twice",
        "message": "My invoice shows two payments.",
        "customer_name": "Anna",
    }
    trial = app.try_step(wf, "classify", values, "dana")
    classify = wf.node("classify")
    assert isinstance(classify, AIStepNode)
    assert trial.ok and trial.output in classify.labels


def test_only_people_who_may_change_the_workflow_test_its_steps(app: Loopdesk) -> None:
    app.install_templates()
    wf = load_template("marketing_social_post")
    with pytest.raises(NotAllowedError, match="not a designer"):
        app.try_step(wf, "draft", sample_values(wf, "draft"), "jamie")
    with pytest.raises(InvalidStateError, match="only AI steps can be tested"):
        app.try_step(wf, "review", {}, "dana")
    nothing_written(app)


def test_a_later_step_is_tested_on_an_earlier_steps_output_and_a_missing_value_is_named(
    tmp_path: Path,
) -> None:
    with FakeOpenAIServer() as server:
        app = open_app(tmp_path / "later.duckdb", server)
        try:
            server.plan(answer("Hallo", usage=(10, 2)))
            wf = load_template("marketing_social_post")
            values = {"channel": "LinkedIn", "target_language": "German", "draft": "Hello spring"}
            trial = app.try_step(wf, "translate", values, "dana")
            assert trial.ok and trial.output == "Hallo"
            assert len(server.chat_requests) == 1  # one call per test, no retries of a good answer
            assert "Hello spring" in server.chat_requests[0].json["messages"][-1]["content"]

            missing = app.try_step(
                wf, "translate", {"channel": "LinkedIn", "target_language": "German"}, "dana"
            )
            assert not missing.ok and "draft" in str(missing.error)
            assert len(server.chat_requests) == 1  # nothing was sent for a prompt that cannot be written
            nothing_written(app)
        finally:
            app.close()
