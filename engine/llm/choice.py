"""Which model an AI step asks: its own, its workflow's default, else the app's default model."""

from __future__ import annotations

import os
from collections.abc import Mapping

from engine.model import AIStepNode, Workflow

BUILTIN_MODEL = "gpt-4o-mini"
"""The app's default model when neither an admin nor `LOOPDESK_MODEL` chose one."""
MODEL_ENV = "LOOPDESK_MODEL"
MODEL_SETTING = "default_model"
"""The store setting an admin changes in the app (it wins over `LOOPDESK_MODEL`)."""


def app_default_model(chosen: str = "", env: Mapping[str, str] | None = None) -> str:
    """The model of every workflow that names none: `chosen` (the admin's setting), else
    `LOOPDESK_MODEL`, else gpt-4o-mini."""
    environ = os.environ if env is None else env
    return chosen.strip() or environ.get(MODEL_ENV, "").strip() or BUILTIN_MODEL


def step_model(node: AIStepNode, wf: Workflow, app_default: str) -> tuple[str, bool | None]:
    """The model a step asks and whether it is a reasoning model (None: known by its name)."""
    if node.model:
        return node.model, node.reasoning
    reasoning = node.reasoning if node.reasoning is not None else wf.default_reasoning
    return wf.default_model or app_default, reasoning
