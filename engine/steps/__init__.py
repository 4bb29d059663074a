"""Step handlers, registered by node kind."""

from __future__ import annotations

from engine.steps.ai import run_ai
from engine.steps.base import StepContext, StepHandler, StepOutcome
from engine.steps.simple import run_approval, run_branch, run_end, run_move, run_trigger

HANDLERS: dict[str, StepHandler] = {
    "form_trigger": run_trigger,
    "ai_step": run_ai,
    "move_to_section": run_move,
    "approval": run_approval,
    "branch": run_branch,
    "end": run_end,
}

__all__ = ["HANDLERS", "StepContext", "StepHandler", "StepOutcome"]
