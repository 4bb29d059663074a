"""Every template end to end on a real (tiny) model through the real `openai` client: llama.cpp's
server refuses `json_schema`, so classification and JSON steps go through the fallback; tokens are
recorded; a tiny token limit takes the cut-off path. The model writes poor prose; these tests check
the path, not the words."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.decisions import Approve
from engine.directory import Directory
from engine.llm.factory import provider_from_settings
from engine.llm.openai_provider import OpenAIProvider
from engine.model import AIStepNode, FormField, Workflow
from engine.records import CheckpointQuery
from engine.services import Loopdesk
from tests.conftest import save_variant
from tests.engine.helpers import as_dict, linear_workflow
from tests.realmodel.conftest import ModelServer

MODEL = "smollm2-135m-instruct"
NO_COUNTS = "sends no token counts while streaming"
TEXT_LIMIT = 200
"""Token limit of text steps here: the tiny model can ramble, and the test should stay quick."""


@pytest.fixture
def app(real_model: ModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Loopdesk]:
    """Loopdesk set up as a user would for a local server: only OPENAI_BASE_URL and LOOPDESK_MODEL."""
    monkeypatch.setenv("LOOPDESK_MODEL", MODEL)
    provider = provider_from_settings(
        env={"OPENAI_BASE_URL": real_model.base_url, "LOOPDESK_AI_TIMEOUT": "120"}
    )
    assert isinstance(provider, OpenAIProvider) and provider.keyless
    service = Loopdesk.open(str(tmp_path / "real.duckdb"), provider=provider, directory=Directory.load())
    service.install_templates()
    try:
        yield service
    finally:
        service.close()


def form_values(fields: list[FormField]) -> dict[str, Any]:
    """Plausible values for a form (what a requester would type)."""
    samples = {
        "text": "Spring sale",
        "long_text": "We cut prices by 20% until Friday.",
        "email": "anna@example.com",
    }
    values: dict[str, Any] = {}
    for f in fields:
        if f.type == "number":
            values[f.name] = 42
        elif f.type == "choice":
            values[f.name] = f.options[0]
        else:
            values[f.name] = samples.get(f.type, "Spring sale")
    return values


def bounded(wf: Workflow) -> Workflow:
    """The workflow with its text steps capped, letting a capped draft go on to review."""
    nodes = [
        n.model_copy(update={"max_tokens": TEXT_LIMIT})
        if isinstance(n, AIStepNode) and n.output_kind == "text"
        else n
        for n in wf.nodes
    ]
    return wf.model_copy(update={"nodes": nodes, "allow_cut_off": True})


def approve_until_done(app: Loopdesk, run_id: str, starter: str) -> Any:
    """Approve every checkpoint the run reaches (as someone who may) until it finishes."""
    for _ in range(6):
        run = app.engine.get_run(run_id)
        if run.status != "waiting":
            return run
        (cp,) = app.store.list_checkpoints(CheckpointQuery(status="pending", run_id=run_id))
        decider = next(u for u in app.permissions.deciders(cp) if u != starter)
        app.decide(cp.id, decider, Approve(comment="fine"))
    return app.engine.get_run(run_id)


@pytest.mark.parametrize(
    "template", ["marketing-social-post", "support-reply", "refund-request", "blog-localisation"]
)
def test_every_template_runs_end_to_end_on_a_real_model(app: Loopdesk, template: str) -> None:
    wf = bounded(app.get_workflow(template).definition)
    save_variant(app, wf, "alex")
    started = time.monotonic()
    run = app.start_run(template, form_values(wf.trigger().fields), "alex")
    run = approve_until_done(app, run.id, "alex")

    assert run.status == "completed", run.error
    ai = [s for s in app.store.list_steps(run.id) if s.kind == "ai_step"]
    assert ai and all(s.status == "done" for s in ai)
    for step in ai:
        assert step.meta["model"] and step.meta["provider"] == "compatible" and not step.meta["demo"]
        if step.meta["prompt_tokens"] is None:  # streamed before the server was known to count none
            assert any(NO_COUNTS in note for note in step.meta["notes"])
        else:
            assert step.meta["prompt_tokens"] > 0 and step.meta["completion_tokens"] > 0
        assert step.meta["cost_usd"] is None  # a local model no price table knows: unpriced
        assert str(step.output).strip()
    assert time.monotonic() - started < 300


def test_classification_goes_through_the_fallback_and_answers_a_label(app: Loopdesk) -> None:
    # a model name of its own: what a server refuses is remembered per server and model
    app.set_default_model("alex", "smollm2-classifier")
    wf = bounded(app.get_workflow("support-reply").definition)
    save_variant(app, wf, "alex")
    run = app.start_run("support-reply", form_values(wf.trigger().fields), "alex")

    classify = next(s for s in app.store.list_steps(run.id) if s.node_id == "classify")
    node = wf.node("classify")
    assert isinstance(node, AIStepNode)
    assert classify.status == "done" and classify.output in node.labels
    assert classify.meta["structured"] == "json_object"  # llama.cpp has no json_schema
    assert "Input should be 'text' or 'json_object'" in classify.meta["notes"][0]
    again = app.start_run("support-reply", form_values(wf.trigger().fields), "alex")
    second = next(s for s in app.store.list_steps(again.id) if s.node_id == "classify")
    assert second.meta["structured"] == "json_object" and "notes" not in second.meta  # remembered


def test_a_json_step_answers_typed_fields(app: Loopdesk) -> None:
    data = as_dict(linear_workflow())
    draft = next(n for n in data["nodes"] if n["id"] == "draft")
    draft.update(
        instruction="Describe a product launch about {{ topic }} as JSON.",
        output_kind="json",
        json_fields=[
            {"name": "headline", "type": "string", "description": "a short headline"},
            {"name": "priority", "type": "number", "description": "1 to 5"},
            {"name": "urgent", "type": "boolean", "description": "whether it is urgent"},
        ],
    )
    review = next(n for n in data["nodes"] if n["id"] == "review")
    review["editable_values"] = []
    translate = next(n for n in data["nodes"] if n["id"] == "translate")
    translate["instruction"] = "Write one sentence about {{ topic }}."
    translate["max_tokens"] = TEXT_LIMIT
    save_variant(app, Workflow.model_validate(data))

    run = app.start_run("wf", {"topic": "spring sale"}, "riley")

    assert run.status == "waiting", run.error
    value = run.values["draft"]
    assert isinstance(value["headline"], str) and isinstance(value["priority"], float)
    assert isinstance(value["urgent"], bool)
    step = next(s for s in app.store.list_steps(run.id) if s.node_id == "draft")
    assert step.meta["structured"] == "json_object" and step.meta["completion_tokens"] > 0


def test_a_stream_without_token_counts_is_followed_by_counted_answers(app: Loopdesk) -> None:
    app.set_default_model("alex", "smollm2-stream-probe")  # a model this process has not streamed yet
    save_variant(app, bounded(app.get_workflow("marketing-social-post").definition), "alex")
    values = form_values(app.get_workflow("marketing-social-post").definition.trigger().fields)

    first = app.start_run("marketing-social-post", values, "alex")
    second = app.start_run("marketing-social-post", values, "alex")

    streamed, whole = (
        next(s for s in app.store.list_steps(r.id) if s.node_id == "draft") for r in (first, second)
    )
    assert streamed.meta["prompt_tokens"] is None and NO_COUNTS in streamed.meta["notes"][-1]
    assert (
        whole.meta["prompt_tokens"] > 0 and whole.meta["completion_tokens"] > 0 and "notes" not in whole.meta
    )


def test_a_tiny_token_limit_is_caught_as_a_cut_off(app: Loopdesk) -> None:
    app.set_default_model("alex", "smollm2-cut-off")
    wf = app.get_workflow("marketing-social-post").definition
    nodes = [n.model_copy(update={"max_tokens": 5}) if n.id == "draft" else n for n in wf.nodes]
    save_variant(app, wf.model_copy(update={"nodes": nodes}), "alex")

    for _ in range(2):  # streamed first (no counts from this server), then whole and counted
        run = app.start_run("marketing-social-post", form_values(wf.trigger().fields), "alex")
        assert run.status == "failed"
        assert "cut off at the token limit (5 tokens)" in (run.error or "")
    step = next(s for s in app.store.list_steps(run.id) if s.node_id == "draft")
    assert step.meta["finish_reason"] == "length" and step.meta["completion_tokens"] == 5


def test_improve_and_replay_a_prompt_on_a_real_model(app: Loopdesk) -> None:
    """Issue 16 on the real thing: a suggestion asked of the model (JSON through the fallback) and a
    replay of a changed prompt on past approved runs, nothing stored but the replay's cost."""
    own = app.use_template("marketing-social-post", "dana").definition
    wf = app.save_workflow(bounded(own), "dana").definition
    inputs = form_values(wf.trigger().fields)
    for edit in (False, True):
        run = app.start_run(wf.id, inputs, "dana")
        (cp,) = app.store.list_checkpoints(CheckpointQuery(status="pending", run_id=run.id))
        edits = {"draft": f"{cp.shown['draft']} Shop now"} if edit else {}
        app.decide(cp.id, "jamie", Approve(edits=edits))
    runs = len(app.store.list_runs())

    suggestion = app.suggest_instruction(wf, "draft", "dana")
    assert not suggestion.demo and suggestion.new.strip() and suggestion.learned_from == 1
    assert suggestion.meta["provider"] == "compatible" and suggestion.meta["prompt_tokens"] > 0

    node = wf.node("draft")
    assert isinstance(node, AIStepNode)
    changed = wf.model_copy(
        update={
            "nodes": [
                n.model_copy(update={"instruction": node.instruction + " End with “Shop now”."})
                if n.id == "draft"
                else n
                for n in wf.nodes
            ]
        }
    )
    done = app.replay(changed, "dana")
    (step,) = done.steps
    assert len(step.cases) == 2 and all(c.error is None and str(c.new_draft).strip() for c in step.cases)
    assert all(0.0 <= (c.new_similarity or 0.0) <= 1.0 for c in step.cases)
    assert not done.demo and done.prompt_tokens > 0 and done.cost_usd is None  # a local model: unpriced
    assert len(app.store.list_runs()) == runs
    assert app.replay_log(wf.id, "dana")[0]["usage"]["cost_usd"] is None
