"""The AI step: render the prompt, ask the provider, check the answer's shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.errors import StepError
from engine.llm.base import LLMError, LLMRequest
from engine.llm.pricing import estimate_cost
from engine.llm.structured import build_json_schema, parse_answer
from engine.model import AIStepNode
from engine.steps.base import StepContext, StepOutcome
from engine.templating import render


def build_request(
    node: AIStepNode,
    values: dict[str, Any],
    default_model: str,
    should_stop: Callable[[], bool] = lambda: False,
) -> LLMRequest:
    """Render the node's prompts (within the render budget) into a chat request."""
    messages: list[dict[str, str]] = []
    if node.system_prompt.strip():
        what = f"the system prompt of step `{node.id}`"
        messages.append({"role": "system", "content": render(node.system_prompt, values, what, should_stop)})
    what = f"the instruction of step `{node.id}`"
    messages.append({"role": "user", "content": render(node.instruction, values, what, should_stop)})
    return LLMRequest(
        model=node.model or default_model,
        messages=messages,
        temperature=node.temperature,
        max_tokens=node.max_tokens,
        output_kind=node.output_kind,
        labels=list(node.labels),
        json_schema=build_json_schema(node.output_kind, node.labels, node.json_fields),
    )


def run_ai(ctx: StepContext) -> StepOutcome:
    """Call the model and store its (validated) answer under the output name."""
    node = ctx.node
    assert isinstance(node, AIStepNode)
    request = build_request(node, ctx.run.values, ctx.workflow.default_model, ctx.should_stop)
    try:
        response = ctx.provider.complete(request)
        answer = parse_answer(node.output_kind, node.labels, node.json_fields, response.text)
    except LLMError as exc:
        raise StepError(str(exc)) from None
    cost = (
        0.0
        if response.demo
        else estimate_cost(response.model, response.prompt_tokens, response.completion_tokens, ctx.prices)
    )
    meta = {
        "provider": response.provider,
        "demo": response.demo,
        "model": response.model,
        "messages": request.messages,
        "answer": response.text,
        "prompt_tokens": response.prompt_tokens,
        "completion_tokens": response.completion_tokens,
        "cost_usd": cost,
        "latency_ms": response.latency_ms,
    }
    return StepOutcome(
        output=answer,
        input={"messages": request.messages, "model": request.model},
        set_values={node.output_name: answer},
        meta=meta,
    )
