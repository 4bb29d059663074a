"""Graduated autonomy: an approval whose drafts have passed as they are often enough approves most
runs by itself, and still sends a sample to a person.

The rule, read from the checkpoint's own history (its decided checkpoints, newest first):
- it is earned when, of the latest `window` reviews by people since the last failed spot check, at
  least `threshold` were approvals as they were;
- while earned, one run in `spot_check_every` goes to a person (a spot check), and so does every
  draft less alike than `unusual_below` to all the recently approved texts, and every revision that
  answers a reviewer's note;
- a spot check that is not approved as it is switches it off: the evidence starts again from there;
- a changed prompt starts the evidence again too: only reviews of drafts the prompts in use wrote count.

Spot checks are counted, not reserved: runs reaching the step at the same moment read the same
history, so a burst may see a few more auto-approvals in a row than one in K.

Auto-approvals are decided by Loopdesk (the system user), with `auto_approved` in the decision and an
`auto_approved` audit event; they are never counted as reviews.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.decisions import decision_record, is_auto, is_review
from engine.diffs import similarity, text_of
from engine.model import AIStepNode, ApprovalNode, AutoApproval, Workflow
from engine.records import CheckpointQuery, CheckpointRecord
from engine.store.base import Store

AUTO_APPROVAL_GRACE = 60.0
"""Seconds after which the timers finish an auto-approval whose opening was committed but whose
approval was not (the process died between the two commits)."""


def draft_names(wf: Workflow, node: ApprovalNode) -> list[str]:
    """The AI answers this approval shows (the drafts its reviewers judge), in workflow order."""
    outputs = [n.output_name for n in wf.nodes if isinstance(n, AIStepNode)]
    return [o for o in outputs if not node.visible_values or o in node.visible_values]


def prompt_signature(wf: Workflow, node: ApprovalNode) -> str:
    """A short fingerprint of the prompts and models of the AI steps whose drafts this approval shows:
    it changes when any of them does."""
    names = set(draft_names(wf, node))
    prompts = [
        (n.id, n.instruction, n.system_prompt, n.model or wf.default_model or "")
        for n in wf.nodes
        if isinstance(n, AIStepNode) and n.output_name in names
    ]
    return hashlib.sha256(json.dumps(prompts).encode()).hexdigest()[:16]


def drafts_of(values: dict[str, Any], names: Sequence[str]) -> str:
    """The drafts among these values, as one text."""
    return "\n\n".join(text_of(values.get(n), sort_keys=True) for n in names if n in values)


def as_is(cp: CheckpointRecord) -> bool:
    """Approved with nothing changed."""
    record = decision_record(cp)
    return record is not None and record.as_is


def approved_text(cp: CheckpointRecord, names: Sequence[str]) -> str:
    """The drafts of an approved checkpoint as they were approved (edits included)."""
    record = decision_record(cp)
    edits = record.edits if record is not None else {}
    values = {**cp.shown, **{k: e.get("after") for k, e in edits.items() if isinstance(e, dict)}}
    return drafts_of(values, names)


def approved(cp: CheckpointRecord) -> bool:
    """Approved, with or without edits."""
    record = decision_record(cp)
    return record is not None and record.outcome == "approved"


@dataclass(frozen=True)
class Standing:
    """Where a checkpoint's auto-approval stands."""

    earned: bool
    reviews: int
    """Reviews by people counted (the newest since the last failed spot check, up to the window)."""
    as_is: int
    """Of those, approvals as they were."""
    since_person: int
    """Auto-approvals since a person last decided."""
    approved_texts: tuple[str, ...]
    """What people approved among the counted reviews, newest first (for the unusual-draft test)."""
    failed_spot_check: bool
    """The newest review by a person was a spot check that did not pass as it was."""

    @property
    def rate(self) -> float | None:
        """Share of counted reviews approved as they were."""
        return self.as_is / self.reviews if self.reviews else None

    def describe(self, rule: AutoApproval) -> str:
        """ "on: 19 of the last 20 reviews approved as is (95%, needs 90%)" and the like."""
        if self.failed_spot_check:
            return "off: the last spot check was not approved as it was; the count starts again"
        if self.reviews < rule.window:
            return f"off: {self.reviews} of the {rule.window} reviews it needs so far"
        state = "on" if self.earned else "off"
        return (
            f"{state}: {self.as_is} of the last {self.reviews} reviews approved as is "
            f"({self.rate or 0:.0%}, needs {rule.threshold:.0%})"
        )


def history_size(rule: AutoApproval) -> int:
    """Decided checkpoints to read: enough for `window` reviews with the auto-approvals between them."""
    return rule.window * rule.spot_check_every + rule.spot_check_every


def standing(
    rule: AutoApproval, history: Sequence[CheckpointRecord], names: Sequence[str], prompt: str = ""
) -> Standing:
    """Where auto-approval stands, from the step's checkpoints newest first (open ones included);
    with `prompt`, only checkpoints of drafts those prompts wrote count."""
    since_person = 0
    counted: list[CheckpointRecord] = []
    seen_person = False
    failed_last = False
    for cp in history:
        if prompt and cp.policy.prompt != prompt:
            continue  # drafts of another prompt say nothing about this one's
        if cp.status == "pending":
            if cp.policy.auto_approve is not None:
                since_person += not seen_person  # being approved by Loopdesk right now
            else:
                seen_person = True  # a person has it (a spot check waiting, say)
            continue
        if is_auto(cp):
            since_person += not seen_person
            continue
        if not is_review(cp):
            continue
        if cp.policy.spot_check and not as_is(cp):  # a failed spot check: nothing before it counts
            failed_last = not seen_person
            break
        seen_person = True
        counted.append(cp)
        if len(counted) >= rule.window:
            break
    passed = sum(as_is(cp) for cp in counted)
    texts = tuple(approved_text(cp, names) for cp in counted if approved(cp))
    earned = len(counted) >= rule.window and passed >= rule.threshold * len(counted) - 1e-9
    return Standing(earned, len(counted), passed, since_person, texts, failed_last)


def current_standing(store: Store, wf: Workflow, node: ApprovalNode, rule: AutoApproval) -> Standing:
    """Where this approval's auto-approval stands now, read from its open checkpoints and its newest
    decided ones (bounded reads: the cost does not grow with the history)."""
    decided = store.list_checkpoints(
        CheckpointQuery(status="decided", workflow_id=wf.id, node_id=node.id, newest_first=True),
        limit=history_size(rule),
    )
    pending = store.list_checkpoints(CheckpointQuery(status="pending", workflow_id=wf.id, node_id=node.id))
    history = sorted([*pending, *decided], key=lambda cp: (-cp.created_at, cp.id))
    return standing(rule, history, draft_names(wf, node), prompt_signature(wf, node))


@dataclass(frozen=True)
class Routing:
    """What happens to a checkpoint as it opens."""

    auto: bool
    """Loopdesk approves it."""
    spot_check: str = ""
    """Why a person sees it although auto-approval is on ('' when it is off, or auto-approved)."""
    detail: dict[str, Any] | None = None
    """What the audit records of the decision."""


def route(rule: AutoApproval, standing_now: Standing, draft: str, revision: bool) -> Routing:
    """Auto-approve, or send to a person — as a spot check when auto-approval is on."""
    if not standing_now.earned:
        return Routing(False)
    detail = {
        "rate": standing_now.rate,
        "reviews": standing_now.reviews,
        "threshold": rule.threshold,
        "spot_check_every": rule.spot_check_every,
    }
    if revision:
        return Routing(False, "a revision answering a reviewer's note", detail)
    if standing_now.since_person + 1 >= rule.spot_check_every:
        return Routing(False, f"one run in {rule.spot_check_every}", detail)
    closest = max((similarity(draft, t) for t in standing_now.approved_texts), default=0.0)
    detail["similarity"] = closest
    if closest < rule.unusual_below:
        return Routing(False, f"an unusual draft (similarity {closest:.2f} to approved ones)", detail)
    return Routing(True, "", detail)
