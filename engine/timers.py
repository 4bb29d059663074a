"""Due checkpoints: the steps of each one's escalation chain (reminders, reassignments, approvals and
rejections by timeout) taken once each, and auto-approvals whose approval did not land finished."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from engine.decisions import decision_of
from engine.directory import SYSTEM
from engine.errors import AlreadyDecidedError, EngineError
from engine.model import ApprovalNode, EscalationStep, Workflow
from engine.policies import Escalated, chain, next_action_at, step_time
from engine.records import (
    AuditEvent,
    CheckpointClose,
    CheckpointRecord,
    ConflictError,
    PolicyState,
    RunRecord,
    Transition,
)

if TYPE_CHECKING:
    from engine.runner import Engine

log = logging.getLogger("loopdesk.engine")


class Timers:
    """Applies what is due on an engine's checkpoints; safe to run in many processes at once."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = engine.store

    def apply(self, at: float | None = None) -> list[Escalated]:
        """Take every escalation step that is due by `at` (default: now), in order; return what was
        done. Each step is applied once however many processes or `timers` commands run at the
        same time: the checkpoints are claimed with a lease, and each step's write expects the step
        before it."""
        at = self.engine.clock.now() if at is None else at
        done: list[Escalated] = []
        idle: list[str] = []
        for cp in self.store.due_checkpoints(at, lease_seconds=self.engine.lease_seconds):
            try:
                acted, finished = self._escalate(cp, at)
            except EngineError as exc:
                log.warning("escalation of checkpoint %s not applied: %s", cp.id, exc)
                continue
            done += acted
            if finished:
                idle.append(cp.id)
        self.store.clear_actions(idle)
        return done

    def _escalate(self, cp: CheckpointRecord, at: float) -> tuple[list[Escalated], bool]:
        """Take the due steps of one checkpoint's chain; (what was done, whether it has no step
        left, so its due action can be forgotten)."""
        if cp.policy.auto_approve is not None:  # an auto-approval that did not finish: finish it
            self._finish_auto_approval(cp)
            return [], True
        run = self.engine.get_run(cp.run_id)
        wf = self.engine.workflow_of(run)
        node = wf.node(cp.node_id)
        if not isinstance(node, ApprovalNode):
            return [], True
        steps = chain(node)
        acted: list[Escalated] = []
        while cp.status == "pending" and cp.policy.stage < len(steps):
            stage = cp.policy.stage
            step = steps[stage]
            due = step_time(cp, step, wf)
            if due > at:  # claimed early (its stored time was counted differently): put it back
                self._record_step(cp, replace(cp.policy), due, [])
                return acted, False
            taken = self._take_step(cp, node, wf, run, step, stage, due)
            if taken is None:
                return acted, False  # another process took this step; it carries on from here
            acted.append(taken)
            cp = self.engine.get_checkpoint(cp.id)
        return acted, cp.status == "pending"

    def _finish_auto_approval(self, cp: CheckpointRecord) -> None:
        """An auto-approval whose opening was committed but whose approval was not: approve it now
        and drive the run on."""
        run = self.engine.get_run(cp.run_id)
        if run.status != "waiting" or run.current_node != cp.node_id:
            return
        engine = self.engine
        lease = engine.lease_for(background=not engine.drives_in_background)
        after = engine.auto_approve(engine.workflow_of(run), cp, run, lease)
        if after is not None and after.status == "running":
            engine.continue_run(after)

    def _take_step(
        self,
        cp: CheckpointRecord,
        node: ApprovalNode,
        wf: Workflow,
        run: RunRecord,
        step: EscalationStep,
        stage: int,
        due: float,
    ) -> Escalated | None:
        """Apply one escalation step exactly once; what was done (None: it was done elsewhere)."""
        legacy = stage >= len(node.escalation)
        reason = (
            f"due time passed ({step.after_hours:g} h)"
            if legacy
            else f"no decision after {step.after_hours:g} h (escalation step {stage + 1})"
        )
        taken = Escalated(cp.id, run.id, step.action, cp.assignee, step.to, stage + 1, due, reason)
        later = next_action_at(cp, node, wf, stage + 1)
        advanced = replace(cp.policy, stage=stage + 1)
        if step.action in ("approve", "reject"):
            try:  # a process that drives nothing itself leaves the run to the workers
                background = not self.engine.drives_in_background
                self.engine.decide(cp.id, SYSTEM, decision_of(step.action, reason), background=background)
            except AlreadyDecidedError:
                return None
            return taken
        if step.action == "remind":
            advanced = replace(
                advanced, reminders=cp.policy.reminders + 1, reminded_at=self.engine.clock.now()
            )
            detail = {"checkpoint": cp.id, "node": node.id, "assignee": cp.assignee, "reason": reason}
            audit = [AuditEvent(run.id, SYSTEM, "reminded", detail)]
            return taken if self._record_step(cp, advanced, later, audit) else None
        target = step.to or ""
        if target == cp.assignee or not self.engine.directory.exists(target):
            if target != cp.assignee:
                log.warning("escalation of %s skips a reassignment to unknown `%s`", cp.id, target)
            return taken if self._record_step(cp, advanced, later, []) else None
        detail = {"checkpoint": cp.id, "from": cp.assignee, "to": target, "comment": reason}
        audit = [AuditEvent(run.id, SYSTEM, "reassigned", detail)]
        return taken if self._record_step(cp, advanced, later, audit, target) else None

    def _record_step(
        self,
        cp: CheckpointRecord,
        policy: PolicyState,
        action_at: float | None,
        audit: list[AuditEvent],
        assignee: str | None = None,
    ) -> bool:
        """Write an escalation step's effect on a checkpoint that stays open, unless its policy
        moved on meanwhile; whether it was written."""
        close = CheckpointClose(
            cp.id, "pending", SYSTEM, new_assignee=assignee, expect_assignee=cp.assignee,
            policy=policy, expect_policy=cp.policy, action_at=action_at,
        )  # fmt: skip
        try:
            self.store.apply(Transition(close_checkpoint=close, audit=audit))
        except ConflictError:
            return False
        return True
