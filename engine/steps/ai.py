"""The AI step: render the prompt, ask the provider, check the answer's shape, and record what the
call cost (a paid call is recorded even when its answer cannot be used)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from engine.errors import StepError
from engine.llm.base import LLMError, LLMRequest, LLMResponse
from engine.llm.choice import BUILTIN_MODEL, step_model
from engine.llm.pricing import cost_of, price_overrides
from engine.llm.structured import build_json_schema, parse_answer
from engine.model import AIStepNode, Workflow
from engine.prompts import render
from engine.steps.base import Revision, StepContext, StepOutcome
from engine.templating import PlaceholderSyntaxError, placeholders

FEEDBACK_LINE = "Reviewer feedback:"
PREVIOUS_LINE = "Your previous answer:"
REVISE_LINE = "Revise your answer to address the feedback."


def places_feedback(node: AIStepNode) -> bool:
    """Whether the step's own prompts place the reviewer's note (`{{ feedback }}`)."""
    try:
        return any("feedback" in placeholders(t) for t in (node.instruction, node.system_prompt))
    except PlaceholderSyntaxError:
        return False


def revision_message(revision: Revision, with_note: bool = True) -> dict[str, str] | None:
    """The message that gives a step, run again after a send-back, the reviewer's note (unless its
    prompt places it: not `with_note`) and the answer it gave before (marked, after its own
    prompt); None when there is nothing to add."""
    parts = [f"{FEEDBACK_LINE} {revision.note.strip()}"] if with_note else []
    previous = revision.previous
    if previous not in (None, ""):
        text = previous if isinstance(previous, str) else json.dumps(previous, ensure_ascii=False)
        parts.append(f"{PREVIOUS_LINE}\n{text.strip()}")
    if not parts:
        return None
    parts.append(REVISE_LINE)
    return {"role": "user", "content": "\n\n".join(parts)}


def build_request(
    node: AIStepNode,
    values: dict[str, Any],
    wf: Workflow,
    app_default: str = BUILTIN_MODEL,
    should_stop: Callable[[], bool] = lambda: False,
    revision: Revision | None = None,
) -> LLMRequest:
    """Render the node's prompts (within the render budget) into a chat request; on a revision the
    reviewer's note (unless its prompt places the note itself) and the step's last answer follow."""
    messages: list[dict[str, str]] = []
    if node.system_prompt.strip():
        what = f"the system prompt of step `{node.id}`"
        messages.append({"role": "system", "content": render(node.system_prompt, values, what, should_stop)})
    what = f"the instruction of step `{node.id}`"
    messages.append({"role": "user", "content": render(node.instruction, values, what, should_stop)})
    added = None
    if revision is not None and revision.note.strip():
        added = revision_message(revision, with_note=not places_feedback(node))
    if added is not None:
        messages.append(added)
    model, reasoning = step_model(node, wf, app_default)
    return LLMRequest(
        model=model,
        messages=messages,
        temperature=node.temperature,
        max_tokens=node.max_tokens,
        output_kind=node.output_kind,
        labels=list(node.labels),
        json_schema=build_json_schema(node.output_kind, node.labels, node.json_fields),
        reasoning=reasoning,
    )


def usage_meta(response: LLMResponse, prices: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Model, tokens, cost (at the app's `prices`) and what the provider adjusted, as the step
    record keeps them."""
    cost = (
        0.0
        if response.demo
        else cost_of(
            response.model,
            response.prompt_tokens,
            response.completion_tokens,
            response.cached_tokens,
            on_openai=response.provider == "openai",
            overrides=price_overrides(prices),
        )
    )
    meta: dict[str, Any] = {
        "provider": response.provider,
        "demo": response.demo,
        "model": response.model,
        "prompt_tokens": response.prompt_tokens,
        "completion_tokens": response.completion_tokens,
        "cached_tokens": response.cached_tokens,
        "cost_usd": cost,
        "latency_ms": response.latency_ms,
        "finish_reason": response.finish_reason,
        "attempts": response.attempts,
    }
    if response.notes:
        meta["notes"] = list(response.notes)
    if response.structured:
        meta["structured"] = response.structured
    return meta


def run_ai(ctx: StepContext) -> StepOutcome:
    """Call the model and store its (validated) answer under the output name."""
    node = ctx.node
    assert isinstance(node, AIStepNode)
    request = build_request(
        node, ctx.run.values, ctx.workflow, ctx.default_model, ctx.should_stop, ctx.revision
    )
    try:
        response = ctx.provider.complete(request, ctx.progress)
    except LLMError as exc:
        paid = usage_meta(exc.response, ctx.prices) if exc.response is not None else {}
        raise StepError(str(exc), {**paid, "messages": request.messages}) from None
    meta = usage_meta(response, ctx.prices)
    meta.update({"messages": request.messages, "answer": response.text})
    if response.cut_off:
        limit = f" ({request.max_tokens} tokens)" if request.max_tokens else ""
        if node.output_kind != "text":
            raise StepError(
                f"The AI's answer was cut off at the token limit{limit} before its JSON was complete; "
                "raise the step's max tokens.",
                meta,
            )
        if not ctx.workflow.allow_cut_off:
            raise StepError(
                f"The AI's answer was cut off at the token limit{limit}: “…{response.text[-60:].strip()}”. "
                "Raise the step's max tokens, or let this workflow send cut-off drafts to review "
                "with a warning.",
                meta,
            )
        meta["cut_off"] = True
    try:
        answer = parse_answer(node.output_kind, node.labels, node.json_fields, response.text)
    except LLMError as exc:
        raise StepError(str(exc), meta) from None
    return StepOutcome(
        output=answer,
        input={"messages": request.messages, "model": request.model},
        set_values={node.output_name: answer},
        meta=meta,
    )
