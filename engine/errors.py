"""Typed errors a person can act on; pages catch EngineError and show its message."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.decisions import already_decided, decision_record


class EngineError(Exception):
    """Base for every error caused by a user's input or a run's state, never by a bug."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a workflow, pointing at the node or edge to fix."""

    message: str
    node_id: str | None = None
    edge_id: str | None = None
    named: bool = False
    """The message names its step itself (“‘Tighten the post’ uses Headline…”): shown as it is."""

    def __str__(self) -> str:
        """Render the problem with the node or edge it names."""
        if self.named:
            return self.message
        if self.node_id:
            return f"node `{self.node_id}`: {self.message}"
        if self.edge_id:
            return f"edge `{self.edge_id}`: {self.message}"
        return self.message


class WorkflowValidationError(EngineError, ValueError):
    """A workflow definition is broken; `problems` lists every issue found."""

    def __init__(self, problems: list[Problem], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        where = f"{source}: " if source else ""
        lines = "; ".join(str(p) for p in problems)
        super().__init__(f"{where}{len(problems)} problem(s): {lines}")


class FormValidationError(EngineError, ValueError):
    """Submitted form values are invalid; `errors` maps field name to message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{name}: {msg}" for name, msg in errors.items()))


class NotFoundError(EngineError):
    """A workflow, run or checkpoint id does not exist."""

    def __init__(self, kind: str, ident: str) -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(f"no {kind} with id `{ident}`")


class MissingConnectionError(EngineError):
    """A step names a connection that is not set up (its steps then use demo delivery)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"there is no connection named “{name}” (admins add it on the Connections page)")


class NotAllowedError(EngineError):
    """The user may not perform this action; the message names who lacks what."""

    def __init__(self, user: str, message: str) -> None:
        self.user = user
        super().__init__(message)


class NotAuthenticatedError(EngineError):
    """A request carries no token, or one that is unknown or revoked."""


class AlreadyDecidedError(EngineError):
    """A checkpoint was decided (or closed) before this decision arrived; says who and when, by name:
    "Already approved by Jamie Rivera at 10:42 UTC on 3 Dec 2026"."""

    def __init__(
        self,
        checkpoint_id: str,
        decided_by: str | None,
        status: str,
        decided_at: float | None = None,
        action: str | None = None,
        decided_by_name: str | None = None,
    ) -> None:
        self.checkpoint_id = checkpoint_id
        self.decided_by = decided_by
        self.decided_at = decided_at
        self.action = action
        if status == "decided":
            msg = already_decided(action, decided_by_name or decided_by or "someone", decided_at)
        else:
            msg = f"This item is no longer open: it was {status}"
        super().__init__(msg)

    @classmethod
    def of(cls, cp: Any, name_of: Callable[[str], str] | None = None) -> AlreadyDecidedError:
        """The error for a checkpoint record that is no longer pending (`name_of` names the decider)."""
        decision = decision_record(cp)
        action = decision.kind if decision is not None else None
        name = name_of(cp.decided_by) if name_of and cp.decided_by else None
        return cls(cp.id, cp.decided_by, cp.status, cp.decided_at, action, name)


class InvalidDecisionError(EngineError, ValueError):
    """A decision is malformed: missing comment, unknown edit, loop cap reached."""


class InvalidStateError(EngineError):
    """The run is not in a state that allows the action (e.g. retrying a completed run)."""


class StepError(EngineError):
    """A step failed in a way the user can understand; the run is marked failed.

    `meta` is recorded with the failed step (e.g. the tokens of an AI call that was paid for
    but whose answer could not be used).
    """

    def __init__(self, message: str, meta: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.meta = meta or {}


class StoreLockedError(EngineError):
    """Another process holds the database file."""

    def __init__(self, path: str, advice: str = "") -> None:
        self.path = path
        super().__init__(
            f"the database {path} is in use by another Loopdesk process "
            f"(stop the app or the other command, then try again){advice}"
        )


class StoreUnavailableError(EngineError):
    """The database cannot be read or written right now (disk full, read-only, damaged connection)."""

    def __init__(self, path: str, reason: str) -> None:
        self.reason = reason
        super().__init__(
            f"the database {path} cannot be used right now: {reason}. Nothing saved so far is lost; "
            "Loopdesk carries on by itself once this is fixed"
        )


class StoreOpenError(StoreUnavailableError):
    """The database cannot be opened at all (a folder without rights, a server that refuses)."""

    def __init__(self, path: str, reason: str, verb: str = "open") -> None:
        self.path = path
        self.reason = reason
        EngineError.__init__(self, f"cannot {verb} the database {path}: {reason}")


class StoreDamagedError(StoreOpenError):
    """The database file is damaged: nothing more is done with it until it is replaced."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        EngineError.__init__(
            self,
            f"the database file {path} is damaged and cannot be read ({reason}). Loopdesk does nothing "
            "more with it. Restore it from a backup: stop Loopdesk, put the backup at that path and start "
            "again (or move the damaged file aside to start with an empty database)",
        )

    public = "the database file is damaged; restore it from a backup (the server log names the file)"
    """What may be said to anyone (the health check): no path."""


class UnreadableRecordError(EngineError):
    """A stored record no longer reads as valid data (damaged by hand or by an older bug)."""

    def __init__(self, what: str, cause: Exception) -> None:
        first = str(cause).splitlines()
        detail = "; ".join(line.strip() for line in first[:3])
        super().__init__(f"{what} in the database cannot be read ({detail})")


class ImportFormatError(EngineError, ValueError):
    """A file to import is not JSON or not a workflow at all."""
