"""What a step handler receives and returns."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.llm.base import CallProgress, LLMProvider
from engine.llm.choice import BUILTIN_MODEL
from engine.model import Node, Workflow
from engine.records import RunRecord


@dataclass(frozen=True)
class Revision:
    """A reviewer sent the task back: their note, and what the step answered before it (None: it
    had not run yet in this run)."""

    note: str
    previous: Any = None


@dataclass(frozen=True)
class CallTicket:
    """What an acting step's call carries, recorded before the call is made: its idempotency key
    (the same for every attempt of this visit of the step, including one after a crash), and whether
    an earlier attempt may have reached the service already."""

    key: str
    repeated: bool = False
    """A "calling" record of this visit was found with no result: the process making it stopped."""


ConnectionValues = Callable[[str, str], Mapping[str, str]]
"""Reads a named connection of a type (its settings and secrets); EngineError when there is none."""


@dataclass(frozen=True)
class StepContext:
    """Everything a handler may read; handlers never write to the store."""

    workflow: Workflow
    node: Node
    run: RunRecord
    provider: LLMProvider
    prices: Mapping[str, Sequence[float]] | None = None
    """Prices that win over `LOOPDESK_PRICES` and the maintained table (see engine.llm.pricing)."""
    should_stop: Callable[[], bool] = lambda: False
    """True once the run was cancelled: long work (a prompt render) stops early."""
    default_model: str = BUILTIN_MODEL
    """The app's default model (for workflows that name none)."""
    progress: CallProgress | None = None
    """Hears an AI call's attempts and its answer growing (the pages show them live)."""
    revision: Revision | None = None
    """When the step runs again after a reviewer asked for changes: the note and its last answer."""
    call: CallTicket | None = None
    """For a step that acts outside (sends, posts, calls): its idempotency key, recorded first."""
    connection: ConnectionValues | None = None
    """Reads the named connections a step that acts sends through."""


@dataclass
class StepOutcome:
    """What a node did: its output, how the run moves on, and what it records."""

    output: Any = None
    input: dict[str, Any] = field(default_factory=dict)
    set_values: dict[str, Any] = field(default_factory=dict)
    edge_label: str | None = None
    """Which outgoing edge to follow (None: the single one)."""
    section: str | None = None
    """Board section to move the task to."""
    wait: bool = False
    """Stop here and open a checkpoint (approvals)."""
    end_outcome: str | None = None
    """Finish the run with this outcome label."""
    end_status: str = "completed"
    """The run's final status when it finishes here."""
    meta: dict[str, Any] = field(default_factory=dict)


class StepHandler(Protocol):
    """Executes one kind of node."""

    def __call__(self, ctx: StepContext) -> StepOutcome:
        """Run the node and describe what happened."""
        ...
