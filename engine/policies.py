"""Checkpoint policies: the escalation chain of an approval, when each step is due, and quorum.

The engine applies them (`Engine.apply_timers`, `Engine.decide`); pages and the CLI describe them
with the same functions, so what the Inbox promises is what the timer does.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.business_hours import add_hours
from engine.directory import Directory
from engine.durations import span
from engine.model import ESCALATION_VERBS, ApprovalNode, EscalationStep, Workflow
from engine.records import CheckpointRecord, PolicyState


def chain(node: ApprovalNode) -> list[EscalationStep]:
    """The node's escalation steps in order; the due-time action (`due_hours` / `on_timeout`, as
    saved before chains existed) is the last one."""
    steps = list(node.escalation)
    if node.on_timeout != "none" and node.due_hours is not None:
        to = node.timeout_assignee if node.on_timeout == "reassign" else None
        steps.append(EscalationStep(after_hours=node.due_hours, action=node.on_timeout, to=to))
    return steps


def chain_problems(node: ApprovalNode) -> list[str]:
    """What makes a node's escalation chain unusable, in words (empty when it is fine)."""
    out: list[str] = []
    steps = chain(node)
    for i, step in enumerate(steps, 1):
        where = f"escalation step {i} ({step.action} after {step.after_hours:g} h)"
        if i > len(node.escalation):
            where = f"the due-time action ({step.action} after {step.after_hours:g} h)"
        if step.action == "reassign" and not (step.to or "").strip():
            out.append(f"{where}: choose who receives the checkpoint")
        if step.action != "reassign" and step.to:
            out.append(f"{where}: only a reassign step hands it to someone; clear `to`")
        if i > 1 and step.after_hours <= steps[i - 2].after_hours:
            out.append(f"{where} must come later than the step before ({steps[i - 2].after_hours:g} h)")
        if step.action in ("approve", "reject") and i < len(steps):
            out.append(f"{where} decides it; the steps after it would never run")
    return out


def step_time(cp: CheckpointRecord, step: EscalationStep, wf: Workflow) -> float:
    """When a step of the chain is due for this checkpoint (counted from when it opened)."""
    return add_hours(cp.created_at, step.after_hours, wf.business_hours)


def due_time(opened: float, node: ApprovalNode, wf: Workflow) -> float | None:
    """When a checkpoint opened at `opened` is overdue (None: it has no due time)."""
    return None if node.due_hours is None else add_hours(opened, node.due_hours, wf.business_hours)


def next_action_at(cp: CheckpointRecord, node: ApprovalNode, wf: Workflow, stage: int) -> float | None:
    """When the chain's step number `stage` (0-based) is due; None when the chain is done."""
    steps = chain(node)
    return step_time(cp, steps[stage], wf) if stage < len(steps) else None


@dataclass(frozen=True)
class NextStep:
    """The chain step a pending checkpoint waits for."""

    step: EscalationStep
    at: float

    def describe(self, directory: Directory, assignee: str, at: float) -> str:
        """How the step reads in a list: "reminds Jamie Rivera in 3 h", "approves it in 2 d"."""
        verb = ESCALATION_VERBS[self.step.action]
        if self.step.action == "remind":
            verb = f"{verb} {directory.label(assignee)}"
        elif self.step.action == "reassign":
            verb = f"{verb} {directory.label(self.step.to or '')}"
        left = self.at - at
        return f"{verb} {'now' if left <= 0 else 'in ' + span(left)}"


def chain_summary(node: ApprovalNode, wf: Workflow, directory: Directory) -> list[str]:
    """The chain in words, one line per step, as the Designer explains it at the node:
    "after 4 working hours: reminds whoever may decide it"."""
    hours = "working hours" if wf.business_hours is not None else "h"
    lines = []
    for i, step in enumerate(chain(node), 1):
        verb = ESCALATION_VERBS[step.action]
        if step.action == "remind":
            verb = f"{verb} {directory.label(node.assignee) if node.assignee else 'the assignee'} again"
        elif step.action == "reassign":
            verb = f"{verb} {directory.label(step.to) if step.to else '(nobody chosen yet)'}"
        else:
            verb = f"{verb} as Loopdesk, with the reason in the audit trail"
        due = " (the due time)" if i > len(node.escalation) else ""
        lines.append(f"after {step.after_hours:g} {hours}{due}: {verb}")
    return lines


def next_step(cp: CheckpointRecord, node: ApprovalNode, wf: Workflow) -> NextStep | None:
    """The chain step this checkpoint waits for, with when it is due (None: none left)."""
    steps = chain(node)
    stage = cp.policy.stage
    if stage >= len(steps):
        return None
    return NextStep(steps[stage], step_time(cp, steps[stage], wf))


# -- quorum -----------------------------------------------------------------------------------
def opening_policy(node: ApprovalNode, revisions: int) -> PolicyState:
    """The policy state a new checkpoint of this node starts with."""
    return PolicyState(
        quorum=node.quorum.mode,
        quorum_count=node.quorum.count,
        allow_self=node.allow_self_approval,
        revisions=revisions,
    )


@dataclass(frozen=True)
class QuorumState:
    """Where a checkpoint's approvals stand: how many close it, who may give one now, who has."""

    needed: int
    """Approvals that close it (1 where one approval decides)."""
    deciders: tuple[str, ...]
    """The people who may approve it now (its requester and anyone without the reviewer role left out)."""
    approved: tuple[str, ...]
    """Who has approved so far, among `deciders`."""
    quorum: bool
    """Whether several approvals may be needed (a group with quorum `all` or `count`)."""
    excluded: tuple[str, ...] = ()
    """Members asked who may not approve it (the person who started the run, say)."""

    @property
    def short(self) -> bool:
        """Whether fewer people may approve it than approvals it needs: it then waits for an admin's
        override or its escalation chain, and never closes on fewer approvals than asked."""
        return self.quorum and self.needed > len(self.deciders)

    @property
    def several(self) -> bool:
        """Whether approvals are counted one by one (more than one needed, or too few people to give
        them): an approval by someone not asked then overrides the count."""
        return self.quorum and (self.needed > 1 or self.short)


def quorum_state(
    policy: PolicyState, deciders: list[str], group: bool, excluded: list[str] | None = None
) -> QuorumState:
    """How many approvals close a checkpoint with this policy, asking `deciders` (its assignee a
    group or not): `all` means every one of them; `count` is never lowered below its number, not
    even when the requester is one of the group."""
    quorum = group and policy.quorum in ("all", "count")
    if not quorum:
        needed = 1
    elif policy.quorum == "all":
        needed = max(1, len(deciders))
    else:
        needed = max(1, policy.quorum_count or 1)
    approved = tuple(v for v in policy.voters if v in deciders)
    return QuorumState(needed, tuple(deciders), approved, quorum, tuple(excluded or ()))


def progress(state: QuorumState, directory: Directory) -> str | None:
    """ "2 of 3 approved: Jamie Rivera, Morgan Lee" for a checkpoint that needs several approvals
    (None when one approval decides), saying so when its people cannot reach the number."""
    if not state.quorum or (state.needed <= 1 and not state.short):
        return None
    names = [directory.name_of(v) for v in state.approved]
    who = f": {', '.join(names)}" if names else ""
    text = f"{len(names)} of {state.needed} approved{who}"
    if state.short:
        text += f"; {short_reason(state, directory)}"
    return text


def short_reason(state: QuorumState, directory: Directory) -> str:
    """Why a quorum cannot be reached by its people, and what happens instead: "only 1 person may
    approve it (Jamie Rivera may not: they started the run), so it waits for …"."""
    can = len(state.deciders)
    people = "nobody" if can == 0 else f"only {can} {'person' if can == 1 else 'people'}"
    why = ""
    if state.excluded:
        names = ", ".join(directory.name_of(u) for u in state.excluded)
        why = f" ({names} may not: they started the run)"
    return f"{people} may approve it{why}, so it waits for an admin to decide or for its escalation chain"


@dataclass(frozen=True)
class Escalated:
    """One escalation step the timer took."""

    checkpoint_id: str
    run_id: str
    action: str
    """remind, reassign, approve or reject."""
    assignee: str
    """Who the checkpoint was assigned to when the step was taken."""
    to: str | None
    """Who received it (reassign)."""
    step: int
    """Its number in the chain (1-based)."""
    due_at: float
    """When it was due."""
    reason: str
    """Why, as recorded in the audit trail."""

    def as_dict(self) -> dict[str, object]:
        """As one JSON object (`python -m engine timers --json`)."""
        return {
            "checkpoint": self.checkpoint_id,
            "run": self.run_id,
            "action": self.action,
            "assignee": self.assignee,
            "to": self.to,
            "step": self.step,
            "due_at": self.due_at,
            "reason": self.reason,
        }
