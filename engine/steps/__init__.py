"""What a step handler receives and returns; each kind's handler is declared in its home
(`engine.kinds`)."""

from __future__ import annotations

from engine.steps.base import StepContext, StepHandler, StepOutcome

__all__ = ["StepContext", "StepHandler", "StepOutcome"]
