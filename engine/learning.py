"""What reviewers' decisions say about the AI: per workflow, per AI step and prompt version, and per
reviewer — how often drafts pass as they are, how much reviewers change, how long review takes.

Built from decided checkpoints (their decision keeps every edit with the text before and after) and
the workflow's versions (which version of a step's prompt wrote the draft a reviewer saw).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.decisions import decision_record, is_auto, is_review
from engine.diffs import edit_size
from engine.insights import WorkflowStats
from engine.model import AIStepNode, Workflow
from engine.records import AiUsage, CheckpointQuery, CheckpointRecord, WorkflowVersion
from engine.store.base import Store

READ_WORDS_PER_SECOND = 5.0
"""How fast a careful reader gets through a draft (300 words a minute); an approval quicker than its
draft's words at this pace is flagged as a possible rubber stamp."""
DRIFT_MARGIN = 0.2
"""How far an AI step's approve-as-is rate may fall in the last week against the four weeks before
it before it is flagged (0.2: twenty percentage points)."""
DRIFT_MIN_REVIEWS = 3
"""Reviews each of the two periods needs before a fall counts (fewer say nothing)."""
WEEK = 7 * 86400.0


@dataclass(frozen=True)
class Review:
    """One decided checkpoint, as insights count it."""

    run_id: str
    workflow_id: str
    version: int
    """The workflow version the run ran."""
    checkpoint_node: str
    reviewer: str
    outcome: str
    """approved, rejected or changes_requested."""
    edited: bool
    """Approved with changes to the values shown."""
    edit_size: float | None
    """Words changed over words in the draft (approvals only; 0.0 as shown)."""
    seconds: float
    """Time in review: from the checkpoint opening to its decision."""
    overdue: bool
    """Decided after its due time."""
    drafts: tuple[tuple[str, int], ...]
    """The AI steps whose answers the reviewer saw, each with the version its prompt was written in."""
    words: int = 0
    """Words of those answers as the reviewer saw them."""
    decided_at: float = 0.0

    def rubber_stamp(self, words_per_second: float = READ_WORDS_PER_SECOND) -> bool:
        """An approval made faster than a reader could read the drafts it approved."""
        return self.outcome == "approved" and self.words > 0 and self.seconds < self.words / words_per_second


def prompt_versions(versions: Iterable[WorkflowVersion]) -> dict[tuple[str, int], int]:
    """(AI step id, workflow version) → the version in which that step's prompt (instruction, system
    prompt, model) last changed, so runs of later versions that left it alone count with it."""
    out: dict[tuple[str, int], int] = {}
    since: dict[str, tuple[int, tuple[str, str, str | None]]] = {}
    for v in sorted(versions, key=lambda v: v.version):
        for node in v.definition.nodes:
            if not isinstance(node, AIStepNode):
                continue
            prompt = (node.instruction, node.system_prompt, node.model)
            if node.id not in since or since[node.id][1] != prompt:
                since[node.id] = (v.version, prompt)
            out[(node.id, v.version)] = since[node.id][0]
    return out


def drafts_shown(
    cp: CheckpointRecord, version: int, wf: Workflow, prompts: dict[tuple[str, int], int]
) -> tuple[tuple[str, int], ...]:
    """The AI steps whose answers a checkpoint showed, each with the version its prompt was written in."""
    made = [n for n in wf.nodes if isinstance(n, AIStepNode) and n.output_name in cp.shown]
    return tuple((n.id, prompts.get((n.id, version), version)) for n in made)


def review_of(
    cp: CheckpointRecord, version: int, wf: Workflow, prompts: dict[tuple[str, int], int]
) -> Review | None:
    """A decided checkpoint as a review (None when no person decided it, or insights cannot read
    its decision)."""
    record = decision_record(cp)
    if record is None or not record.is_review or record.outcome is None or record.at is None:
        return None
    size = None
    if record.outcome == "approved":  # as recorded with it (older decisions: from their edits)
        size = record.edit_size if record.edit_size is not None else edit_size(dict(record.edits))
    made = [n for n in wf.nodes if isinstance(n, AIStepNode) and n.output_name in cp.shown]
    drafts = drafts_shown(cp, version, wf, prompts)
    words = sum(len(str(cp.shown[n.output_name] or "").split()) for n in made)
    return Review(
        run_id=cp.run_id,
        workflow_id=cp.workflow_id,
        version=version,
        checkpoint_node=cp.node_id,
        reviewer=record.by,
        outcome=record.outcome,
        edited=record.edited,
        edit_size=size,
        seconds=max(0.0, record.at - cp.created_at),
        overdue=cp.due_at is not None and record.at > cp.due_at,
        drafts=drafts,
        words=words,
        decided_at=record.at,
    )


MAX_DECISIONS = 5000
"""The review figures read a workflow's newest decisions up to this many, so their cost stays flat
as the history grows (Insights' counters still cover every decision ever made)."""


def newest_decided(
    store: Store, workflow_id: str, limit: int = MAX_DECISIONS
) -> tuple[list[CheckpointRecord], bool]:
    """A workflow's newest `limit` decided checkpoints, oldest first, and whether that is all of them."""
    found = store.list_checkpoints(
        CheckpointQuery(status="decided", workflow_id=workflow_id, newest_first=True), limit=limit + 1
    )
    return found[:limit][::-1], len(found) <= limit


def reviews(
    store: Store,
    workflow_id: str,
    autos: list[tuple[tuple[str, int], ...]] | None = None,
    decided: list[CheckpointRecord] | None = None,
) -> list[Review]:
    """The checkpoints of a workflow a person decided (of `decided`, by default its newest
    `MAX_DECISIONS`), oldest first, as reviews; for each one Loopdesk auto-approved, the drafts it
    showed (AI step, prompt version) are added to `autos`."""
    versions = store.list_versions(workflow_id)
    by_version = {v.version: v.definition for v in versions}
    prompts = prompt_versions(versions)
    out = []
    kept = [
        cp
        for cp in (decided if decided is not None else newest_decided(store, workflow_id)[0])
        if is_auto(cp) or is_review(cp)
    ]
    run_versions = store.run_versions(sorted({cp.run_id for cp in kept}))
    for cp in kept:
        version = run_versions.get(cp.run_id)
        wf = by_version.get(version) if version is not None else None
        if version is None or wf is None:
            continue
        if is_auto(cp):
            if autos is not None:
                autos.append(drafts_shown(cp, version, wf, prompts))
            continue
        review = review_of(cp, version, wf, prompts)
        if review is not None:
            out.append(review)
    return out


def percentile(values: list[float], p: float) -> float | None:
    """The p-th percentile by linear interpolation between the nearest ranks (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Figures:
    """Review figures of a group of reviews (a workflow, an AI step's prompt version, a reviewer)."""

    reviews: int = 0
    runs: int = 0
    approved_as_is: int = 0
    approved_with_edits: int = 0
    changes_requested: int = 0
    rejected: int = 0
    overdue: int = 0
    rubber_stamped: int = 0
    """Approvals faster than a reader could read the drafts (see `Review.rubber_stamp`)."""
    edit_sizes: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def rate(self, count: int) -> float | None:
        """A share of the reviews (0–1; None before any)."""
        return count / self.reviews if self.reviews else None

    @property
    def mean_edit_size(self) -> float | None:
        """Mean words changed over words in the draft, over approvals (as-is counts as 0)."""
        return sum(self.edit_sizes) / len(self.edit_sizes) if self.edit_sizes else None

    def as_dict(self) -> dict[str, Any]:
        """The figures as plain values (rates 0–1, seconds), for JSON and tables."""
        return {
            "reviews": self.reviews,
            "runs": self.runs,
            "approved_as_is_rate": self.rate(self.approved_as_is),
            "approved_with_edits_rate": self.rate(self.approved_with_edits),
            "changes_requested_rate": self.rate(self.changes_requested),
            "rejected_rate": self.rate(self.rejected),
            "mean_edit_size": self.mean_edit_size,
            "review_seconds_p50": percentile(self.seconds, 50),
            "review_seconds_p90": percentile(self.seconds, 90),
            "overdue": self.overdue,
            "rubber_stamped": self.rubber_stamped,
        }


def figures(items: Iterable[Review], words_per_second: float = READ_WORDS_PER_SECOND) -> Figures:
    """Count a group of reviews."""
    out = Figures()
    runs: set[str] = set()
    for r in items:
        out.reviews += 1
        runs.add(r.run_id)
        if r.outcome == "approved":
            out.approved_with_edits += r.edited
            out.approved_as_is += not r.edited
            out.edit_sizes.append(r.edit_size or 0.0)
        elif r.outcome == "rejected":
            out.rejected += 1
        else:
            out.changes_requested += 1
        out.overdue += r.overdue
        out.rubber_stamped += r.rubber_stamp(words_per_second)
        out.seconds.append(r.seconds)
    out.runs = len(runs)
    return out


def per_approved_task(usage: WorkflowStats | None) -> dict[str, Any]:
    """AI tokens and cost of all a workflow's runs over the tasks that finished approved (completed):
    what one approved task costs, drafts of rejected and sent-back work included."""
    approved = usage.runs.get("completed", 0) if usage is not None else 0
    if usage is None or not approved:
        return {"approved_tasks": approved, "tokens_per_approved_task": None, "cost_per_approved_task": None}
    tokens = usage.prompt_tokens + usage.completion_tokens
    return {
        "approved_tasks": approved,
        "tokens_per_approved_task": tokens / approved,
        "cost_per_approved_task": usage.cost_usd / approved,
    }


SIGNIFICANCE = 0.05
"""A before/after difference counts as real once a two-sided test puts its chance below this."""


def two_proportion_p(hits_a: int, n_a: int, hits_b: int, n_b: int) -> float | None:
    """Two-sided p-value of a two-proportion z-test (pooled); None when a side has no trials, 1.0
    when both sides are all hits or all misses."""
    if not n_a or not n_b:
        return None
    pooled = (hits_a + hits_b) / (n_a + n_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if spread == 0:
        return 1.0
    z = (hits_b / n_b - hits_a / n_a) / spread
    return math.erfc(abs(z) / math.sqrt(2))


def before_after(versions: dict[int, list[Review]]) -> dict[str, Any] | None:
    """An AI step's newest prompt version against the one before it: approve-as-is rate and edit size
    of each, and whether the difference in rate is significant yet (None with a single version)."""
    if len(versions) < 2:
        return None
    earlier, newest = sorted(versions)[-2:]
    a, b = figures(versions[earlier]), figures(versions[newest])
    p = two_proportion_p(a.approved_as_is, a.reviews, b.approved_as_is, b.reviews)
    return {
        "before_version": earlier,
        "after_version": newest,
        "before": {
            "reviews": a.reviews,
            "approved_as_is": a.approved_as_is,
            "mean_edit_size": a.mean_edit_size,
        },
        "after": {
            "reviews": b.reviews,
            "approved_as_is": b.approved_as_is,
            "mean_edit_size": b.mean_edit_size,
        },
        "p_value": p,
        "significant": p is not None and p < SIGNIFICANCE,
    }


def week_of(at: float) -> str:
    """The Monday (UTC, ISO date) of the week a moment falls in."""
    day = datetime.fromtimestamp(at, tz=UTC).date()
    return (day - timedelta(days=day.weekday())).isoformat()


def weekly(items: Iterable[Review]) -> list[dict[str, Any]]:
    """Figures per week of decision, oldest first: the trend of "is the AI getting better?"."""
    weeks: dict[str, list[Review]] = {}
    for r in items:
        weeks.setdefault(week_of(r.decided_at), []).append(r)
    return [{"week": week, **figures(found).as_dict()} for week, found in sorted(weeks.items())]


@dataclass(frozen=True)
class Drift:
    """An AI step whose drafts pass as they are less often this week than in the four weeks before."""

    node_id: str
    recent_rate: float
    earlier_rate: float
    recent_reviews: int
    earlier_reviews: int

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for JSON."""
        return {
            "ai_step": self.node_id,
            "recent_approved_as_is_rate": self.recent_rate,
            "earlier_approved_as_is_rate": self.earlier_rate,
            "recent_reviews": self.recent_reviews,
            "earlier_reviews": self.earlier_reviews,
        }


def _as_is_rate(items: list[Review]) -> float:
    counted = figures(items)
    return counted.approved_as_is / counted.reviews if counted.reviews else 0.0


def drifts(items: Iterable[Review], now: float, margin: float = DRIFT_MARGIN) -> list[Drift]:
    """AI steps whose approve-as-is rate over the last week fell by more than `margin` against the
    four weeks before it (each period needs `DRIFT_MIN_REVIEWS` reviews)."""
    periods: dict[str, tuple[list[Review], list[Review]]] = {}
    for r in items:
        age = now - r.decided_at
        for node_id, _ in r.drafts:
            recent, earlier = periods.setdefault(node_id, ([], []))
            if 0 <= age < WEEK:
                recent.append(r)
            elif WEEK <= age < 5 * WEEK:
                earlier.append(r)
    out = []
    for node_id, (recent, earlier) in sorted(periods.items()):
        if len(recent) < DRIFT_MIN_REVIEWS or len(earlier) < DRIFT_MIN_REVIEWS:
            continue
        now_rate, before_rate = (_as_is_rate(p) for p in (recent, earlier))
        if before_rate - now_rate > margin:
            out.append(Drift(node_id, now_rate, before_rate, len(recent), len(earlier)))
    return out


def usage_by_prompt(
    usage: Iterable[AiUsage], prompts: dict[tuple[str, int], int]
) -> dict[tuple[str, int], AiUsage]:
    """AI usage summed per AI step and prompt version (the workflow versions that share a prompt)."""
    out: dict[tuple[str, int], AiUsage] = {}
    for u in usage:
        key = (u.node_id, prompts.get((u.node_id, u.version), u.version))
        was = out.get(key, AiUsage(key[0], key[1], 0, 0, 0, 0.0))
        out[key] = AiUsage(
            key[0], key[1], was.calls + u.calls, was.prompt_tokens + u.prompt_tokens,
            was.completion_tokens + u.completion_tokens, was.cost_usd + u.cost_usd,
        )  # fmt: skip
    return out


def step_cost(usage: AiUsage | None, counted: Figures, auto_approved: int = 0) -> dict[str, Any]:
    """An AI step's calls, tokens and cost (with one prompt version) over the drafts approved with it,
    by people or by auto-approval: what one approved task costs, drafts that were sent back or
    rejected included."""
    approved = counted.approved_as_is + counted.approved_with_edits + auto_approved
    if usage is None:
        return {
            "auto_approved": auto_approved,
            "ai_calls": 0,
            "tokens_per_approved_task": None,
            "cost_per_approved_task": None,
        }
    tokens = usage.prompt_tokens + usage.completion_tokens
    return {
        "auto_approved": auto_approved,
        "ai_calls": usage.calls,
        "tokens_per_approved_task": tokens / approved if approved else None,
        "cost_per_approved_task": usage.cost_usd / approved if approved else None,
    }


def prompt_figures(
    items: list[Review], usage: AiUsage | None, auto_approved: int, words_per_second: float
) -> dict[str, Any]:
    """One AI step's figures with one prompt version: the reviews', its auto-approvals and what its
    calls cost."""
    counted = figures(items, words_per_second)
    return {**counted.as_dict(), **step_cost(usage, counted, auto_approved)}


def report(
    store: Store,
    workflow_id: str,
    now: float | None = None,
    words_per_second: float = READ_WORDS_PER_SECOND,
    margin: float = DRIFT_MARGIN,
) -> dict[str, Any]:
    """A workflow's figures: overall, per AI step and prompt version, and per reviewer; the approvals
    that look like rubber stamps and the AI steps whose drafts pass less often than they did. Read
    from its newest `MAX_DECISIONS` decisions (`window` says whether that was all, and since when)."""
    autos: list[tuple[tuple[str, int], ...]] = []
    decided, complete = newest_decided(store, workflow_id, MAX_DECISIONS)
    found = reviews(store, workflow_id, autos, decided)
    auto_counts = Counter(pair for shown in autos for pair in shown)
    since = None if complete or not decided else decided[0].created_at
    usage = usage_by_prompt(
        store.ai_usage(workflow_id, since), prompt_versions(store.list_versions(workflow_id))
    )
    by_step: dict[str, dict[int, list[Review]]] = {}
    by_reviewer: dict[str, list[Review]] = {}
    for r in found:
        for node_id, prompt_version in r.drafts:
            by_step.setdefault(node_id, {}).setdefault(prompt_version, []).append(r)
        by_reviewer.setdefault(r.reviewer, []).append(r)
    return {
        "workflow_id": workflow_id,
        "overall": {**figures(found, words_per_second).as_dict(), "auto_approved": len(autos)},
        "ai_steps": {
            node_id: {
                str(v): prompt_figures(
                    items, usage.get((node_id, v)), auto_counts[(node_id, v)], words_per_second
                )
                for v, items in sorted(versions.items())
            }
            for node_id, versions in sorted(by_step.items())
        },
        "reviewers": {
            who: figures(items, words_per_second).as_dict() for who, items in sorted(by_reviewer.items())
        },
        "weeks": weekly(found),
        "before_after": {
            node_id: compared
            for node_id, versions in sorted(by_step.items())
            if (compared := before_after(versions)) is not None
        },
        "rubber_stamps": [
            {"run_id": r.run_id, "reviewer": r.reviewer, "seconds": r.seconds, "words": r.words}
            for r in found
            if r.rubber_stamp(words_per_second)
        ],
        "drift": [d.as_dict() for d in drifts(found, time.time() if now is None else now, margin)],
        "window": {"decisions": len(decided), "complete": complete, "since": since},
    }
