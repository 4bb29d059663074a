"""“Improve this prompt”: from what reviewers changed in an AI step's drafts and what they said when
they sent drafts back or rejected them, a revised instruction that would have needed less of it,
with the patterns it addresses.

The model writes it. The offline demo model cannot, so with it the suggestion is built by rule from
the most common edits and notes — deterministic, and labelled as a demo suggestion.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.diffs import inline_diff, word_diff
from engine.errors import InvalidStateError, StepError
from engine.llm.base import LLMError, LLMProvider, LLMRequest
from engine.llm.choice import step_model
from engine.llm.structured import build_json_schema, parse_answer
from engine.model import AIStepNode, JsonOutputField, Workflow
from engine.prompt_feedback import ReviewedDraft
from engine.steps.ai import usage_meta
from engine.templating import PlaceholderSyntaxError, placeholders

MAX_EXAMPLES = 10
"""Reviewed drafts (those changed, sent back or rejected) put in the model's request."""
MAX_DRAFT_WORDS = 300
"""Longer drafts are cut to this many words in the request."""
MAX_PHRASE_WORDS = 12
"""Longer added or removed runs of words are rewrites, not patterns; the demo leaves them out."""
TOP = 3
"""Patterns of each sort (added, removed, asked for) the demo suggestion names."""
MIN_SHARE = 0.5
"""An added or removed phrase is a pattern for the demo when at least this share of the edited drafts,
and two of them, had it (one reviewer's taste is not a pattern; a single edited draft is all there is);
a note is one when at least this share of the drafts sent back or rejected, and two, were given it."""
DEMO_LABEL = "Demo suggestion (offline demo model): built by rule from the most common edits and notes."

ANSWER_FIELDS = [
    JsonOutputField(name="instruction", description="The revised instruction, complete."),
    JsonOutputField(
        name="rationale", description="The patterns in the reviewers' changes it addresses, one per line."
    ),
]
SYSTEM = (
    "You improve the instruction of an AI step in an approval workflow. People reviewed the step's "
    "drafts: they edited some before approving them, and sent others back or rejected them with a note. "
    "Write a revised instruction that would have produced drafts needing none of those changes. Keep "
    "the task and every {{ placeholder }} and {% ... %} block of the current instruction exactly as "
    "they are; add or change only the guidance. Answer with JSON: `instruction` (the revised "
    "instruction, complete) and `rationale` (the patterns you addressed, one per line)."
)


@dataclass(frozen=True)
class Suggestion:
    """A revised instruction for one AI step and why."""

    node_id: str
    old: str
    new: str
    rationale: list[str]
    learned_from: int
    """Reviewed runs it learned from."""
    demo: bool = False
    """Built by rule by the offline demo model, not written by a model."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Model, tokens and cost of the call (empty for the demo)."""
    warnings: list[str] = field(default_factory=list)
    """What the designer should check before using it (a placeholder dropped, say)."""

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for JSON."""
        return {
            "ai_step": self.node_id,
            "old_instruction": self.old,
            "new_instruction": self.new,
            "rationale": self.rationale,
            "learned_from_runs": self.learned_from,
            "demo": self.demo,
            "usage": {
                k: self.meta.get(k) for k in ("model", "prompt_tokens", "completion_tokens", "cost_usd")
            },
            "warnings": self.warnings,
            "diff": inline_diff(self.old, self.new),
        }


def telling(drafts: Sequence[ReviewedDraft]) -> list[ReviewedDraft]:
    """The drafts reviewers did something about: edited, sent back or rejected."""
    return [d for d in drafts if d.edits or d.notes]


def _phrase(text: str) -> str:
    """A changed run of words as a pattern: trimmed, without template braces."""
    return re.sub(r"[{}%]", "", text).strip(" \n\t.,;:!?\"'“”").strip()


def _changes(drafts: Sequence[ReviewedDraft]) -> tuple[Counter[str], Counter[str]]:
    """How many drafts had each phrase added, and removed, by an edit (once per draft)."""
    added: Counter[str] = Counter()
    removed: Counter[str] = Counter()
    for d in drafts:
        ins: set[str] = set()
        dels: set[str] = set()
        for before, after in d.edits:
            for op, text in word_diff(before, after):
                phrase = _phrase(text)
                if len(phrase.split()) > MAX_PHRASE_WORDS:
                    continue
                if phrase and op == "ins":
                    ins.add(phrase)
                elif phrase and op == "del":
                    dels.add(phrase)
        added.update(ins)
        removed.update(dels)
    return added, removed


def _asked(drafts: Sequence[ReviewedDraft]) -> Counter[str]:
    """How often each note was given (compared without case and punctuation; shown as first given)."""
    notes: Counter[str] = Counter()
    shown: dict[str, str] = {}
    for d in drafts:
        for _, comment in d.notes:
            key = " ".join(re.sub(r"[^\w\s]", " ", comment.casefold()).split())
            shown.setdefault(key, _phrase(comment))
            notes[key] += 1
    return Counter({shown[k]: n for k, n in notes.items()})


def _times(n: int) -> str:
    return "once" if n == 1 else "twice" if n == 2 else f"{n} times"


def demo_suggestion(node: AIStepNode, drafts: Sequence[ReviewedDraft]) -> Suggestion:
    """The offline demo's suggestion: the current instruction with the phrases at least half the edited
    drafts had added or removed, and the most common notes, turned into guidance (deterministic: ties
    go alphabetically)."""
    changed = telling(drafts)
    added, removed = _changes(changed)
    asked = _asked(changed)
    edited = sum(1 for d in changed if d.edits)

    def top(counts: Counter[str], least: float = 1) -> list[tuple[str, int]]:
        return sorted(((k, n) for k, n in counts.items() if n >= least), key=lambda kv: (-kv[1], kv[0]))[:TOP]

    guidance: list[str] = []
    rationale = [DEMO_LABEL]
    least = 1.0 if edited <= 1 else max(2.0, edited * MIN_SHARE)
    for phrase, n in top(added, least):
        guidance.append(f"- Include “{phrase}”.")
        rationale.append(f"Reviewers added “{phrase}” to {n} of {edited} edited drafts.")
    for phrase, n in top(removed, least):
        guidance.append(f"- Leave out “{phrase}”.")
        rationale.append(f"Reviewers removed “{phrase}” from {n} of {edited} edited drafts.")
    noted = sum(1 for d in changed if d.notes)
    enough = max(2.0, noted * MIN_SHARE)  # a note given once is one reviewer's wish, not a rule
    for note, n in top(asked, enough):
        guidance.append(f"- Heed this reviewer note: “{note}”.")
        rationale.append(f"Reviewers asked “{note}” {_times(n)} when sending drafts back or rejecting them.")
    rare = sorted(note for note, n in asked.items() if n < enough)
    if rare:
        listed = ", ".join(f"“{note}”" for note in rare[:TOP])
        rationale.append(f"Notes not given often enough to become a rule yet: {listed}.")
    if not guidance:
        raise InvalidStateError(
            f"no common pattern yet: each of the {edited} edited drafts was changed differently; "
            "let reviewers decide more runs first"
        )
    new = node.instruction.rstrip() + "\n\nReviewers' guidance:\n" + "\n".join(guidance)
    return Suggestion(node.id, node.instruction, new, rationale, len(changed), demo=True)


def _evidence(d: ReviewedDraft, number: int) -> str:
    """One reviewed draft as the request shows it: the draft, the edit as a diff, the notes."""
    words = str(d.draft if d.draft is not None else "").split()
    draft = " ".join(words[:MAX_DRAFT_WORDS]) + (" …" if len(words) > MAX_DRAFT_WORDS else "")
    lines = [f"Example {number}", f"Draft: {draft}"]
    lines += [f"Reviewer's edit ([-removed-] {{+added+}}): {inline_diff(b, a)}" for b, a in d.edits]
    labels = {"request_changes": "Sent back with the note", "reject": "Rejected with the note"}
    lines += [f"{labels[kind]}: {comment}" for kind, comment in d.notes]
    return "\n".join(lines)


def advice_request(
    node: AIStepNode, wf: Workflow, drafts: Sequence[ReviewedDraft], app_model: str
) -> LLMRequest:
    """The chat request asking the model for a revised instruction."""
    changed = telling(drafts)[:MAX_EXAMPLES]
    as_is = sum(1 for d in drafts if d.approved_as_is)
    body = "\n\n".join(_evidence(d, i) for i, d in enumerate(changed, 1))
    user = (
        f"Current instruction:\n<<<\n{node.instruction}\n>>>\n\n"
        f"Of the last {len(drafts)} reviewed drafts, {as_is} were approved as they were. "
        f"These are the ones reviewers changed, sent back or rejected:\n\n{body}"
    )
    model, reasoning = step_model(node, wf, app_model)
    return LLMRequest(
        model=model,
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}],
        temperature=0.2,
        output_kind="json",
        json_schema=build_json_schema("json", [], ANSWER_FIELDS),
        reasoning=reasoning,
    )


def placeholder_warnings(old: str, new: str) -> list[str]:
    """What a suggested instruction lost or broke of the current one's placeholders."""
    try:
        kept = placeholders(new)
    except PlaceholderSyntaxError as exc:
        return [f"the suggested instruction cannot be rendered: {exc}"]
    try:
        had = placeholders(old)
    except PlaceholderSyntaxError:
        return []
    return [f"the suggestion no longer uses {{{{ {name} }}}}" for name in sorted(had - kept)]


def suggest(
    node: AIStepNode,
    wf: Workflow,
    drafts: Sequence[ReviewedDraft],
    provider: LLMProvider,
    app_model: str,
    prices: Any = None,
) -> Suggestion:
    """A revised instruction learned from these reviewed drafts, by the model (or by rule with the
    offline demo model); refused when no reviewer changed, sent back or rejected a draft yet."""
    changed = telling(drafts)
    if not changed:
        raise InvalidStateError(
            f"nothing to learn from yet: no reviewer edited, sent back or rejected a draft of "
            f"“{node.title or node.id}” in its last {len(drafts)} reviewed runs"
        )
    if provider.kind == "demo":
        return demo_suggestion(node, drafts)
    request = advice_request(node, wf, drafts, app_model)
    try:
        response = provider.complete(request)
    except LLMError as exc:
        raise StepError(f"The model could not suggest an instruction: {exc}") from None
    meta = usage_meta(response, prices)
    try:
        answer = parse_answer("json", [], ANSWER_FIELDS, response.text)
    except LLMError as exc:
        raise StepError(f"The model's suggestion could not be read: {exc}", meta) from None
    new = str(answer["instruction"]).strip()
    if not new:
        raise StepError("The model suggested an empty instruction; try again.", meta)
    rationale = [line.strip(" -•*") for line in str(answer["rationale"]).splitlines() if line.strip(" -•*")]
    return Suggestion(
        node.id, node.instruction, new, rationale, len(changed), meta=meta,
        warnings=placeholder_warnings(node.instruction, new),
    )  # fmt: skip
