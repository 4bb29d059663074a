"""Render a prompt against a run's values: in this thread when it is plain and small, else in a
sandboxed process with limits on time, memory and output (`engine.render_sandbox`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.render_sandbox import render_isolated
from engine.templating import RenderBudget, is_plain, output_bound, render_here


def _never() -> bool:
    """A stop check that never asks to stop."""
    return False


def render(
    text: str,
    values: dict[str, Any],
    what: str = "the prompt",
    should_stop: Callable[[], bool] = _never,
    budget: RenderBudget | None = None,
) -> str:
    """Render a template against the run's values within the budget; every failure is a StepError
    whose message starts with `what` (e.g. "the instruction of step `draft`")."""
    budget = budget or RenderBudget.from_env()
    if is_plain(text) and output_bound(text, values) <= budget.chars:
        return render_here(text, values, what, budget)
    return render_isolated(text, values, what, should_stop, budget)
