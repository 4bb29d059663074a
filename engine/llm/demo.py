"""Offline demo model: deterministic, instant answers built only from the rendered prompt.

It lets the app and its templates run end to end without an API key. It is not a language
model; it recognises a few common tasks (social post, email or reply, summary, translation,
revision after reviewer feedback, classification, JSON extraction) and fills a template
with phrases taken from the prompt. It follows the guidance lines "Improve this prompt" adds to an
instruction (`- Include “…”`, `- Leave out “…”`), so an improved prompt can be demonstrated offline.

Labelling: every response carries `demo=True`; the step record keeps it and every page and
email that shows the answer says "demo output". The text itself carries no label, so a later step
that quotes it (a translation, a post built on a draft) never nests one inside its own text and
nothing a workflow publishes carries a tag. Drafts saved by older versions began with a
`[Demo output]` line; the demo still strips it when it reads one back (`strip_demo_tag`).
A revision ends with `(Revised per reviewer note: "…")`.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

from engine.llm.base import CallProgress, LLMRequest, LLMResponse, ProviderKind

LEGACY_TAG = "[Demo"
"""How the first line of a demo draft saved by an older version began."""

_STOPWORD_TEXT = "a an the our your my their its new of for and or to in on with about this that"
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_SYNONYM_TEXT: dict[str, str] = {
    "billing": "invoice, charge, charged, refund, payment, pay, paid, card, bill, billed, "
    "subscription, receipt, price, money",
    "bug": "error, crash, crashes, crashed, broken, doesn't work, does not work, not working, "
    "fails, failed, exception, freezes, glitch",
    "howto": "how do i, how to, how can i, setup, set up, configure, where can i, "
    "is it possible, tutorial, guide, instructions",
    "featurerequest": "feature, would be great, please add, could you add, wish, suggestion, "
    "it would be nice",
    "account": "login, log in, password, sign in, locked out, 2fa, username",
    "shipping": "shipping, delivery, delivered, package, tracking, parcel",
    "cancellation": "cancel, cancellation, unsubscribe, close my account",
    "urgent": "urgent, asap, immediately, critical, outage, down, emergency",
    "positive": "great, love, thanks, thank you, excellent, happy, awesome",
    "negative": "bad, terrible, angry, disappointed, worst, hate, annoyed",
    "spam": "unsubscribe, winner, free money, click here, lottery",
}
_SYNONYM_TEXT |= {
    "feature": _SYNONYM_TEXT["featurerequest"],
    "login": _SYNONYM_TEXT["account"],
    "delivery": _SYNONYM_TEXT["shipping"],
}
_SYNONYMS: dict[str, tuple[str, ...]] = {
    label: tuple(text.split(", ")) for label, text in _SYNONYM_TEXT.items()
}
"""Phrases that count as evidence for a common label, keyed by the label without punctuation."""

_FEEDBACK = re.compile(
    r"^[ \t]*(?:reviewer(?:'s)?[ \t]+(?:feedback|notes?|comments?)|requested[ \t]+changes"
    r"|changes[ \t]+requested|feedback[ \t]+from[ \t]+(?:the[ \t]+)?reviewer)"
    r"[^:\n]{0,40}:[ \t]*(?P<note>\S.*)",
    re.IGNORECASE | re.MULTILINE,
)
"""A reviewer's note on its own line, e.g. `Reviewer feedback: make it shorter`."""
_PREVIOUS_DRAFT = re.compile(
    r"^[ \t]*(?:previous|current|original|first|last)?[ \t]*draft[ \t]*:\s*(?P<draft>.+?)"
    r"(?=^[ \t]*(?:reviewer|feedback|requested|changes)\b|\Z)",
    re.IGNORECASE | re.MULTILINE | re.DOTALL,
)
_ADDITION = re.compile(r"\b(?:add|mention|include)\s+(?P<thing>[^.;\n]+)", re.IGNORECASE)
_GUIDANCE = re.compile(
    r"^[ \t]*[-*\u2022][ \t]*(?P<verb>include|leave out)[ \t]+[\"\u201c](?P<text>[^\"\u201d\n]+)[\"\u201d]",
    re.IGNORECASE | re.MULTILINE,
)
"""A guidance line of an improved instruction: `- Include “Shop now”.` or `- Leave out “Hi”.`"""
_NOTE_PREFIX = "(Revised per reviewer note: "
_TRANSLATE = re.compile(r"\btranslate\b.*?\b(?:in)?to\s+(?P<language>[a-z][\w-]*)", re.IGNORECASE)
_TOPIC = re.compile(
    r"\b(?:about|regarding|announcing|introducing|promoting)\s+(?P<topic>[^\n.!?;:]+?)"
    r"(?:\s+for\s+(?P<audience>[^\n.!?;:]+?))?\s*(?:[\n.!?;:]|$)",
    re.IGNORECASE,
)
_AUDIENCE = re.compile(r"\bfor\s+(?P<audience>[^\n.!?;:,]+?)\s*(?:[\n.!?;:,]|$)")
_IMPERATIVE = re.compile(
    r"^(?:please\s+)?(?:write|draft|create|compose|explain|describe|give|make|prepare)"
    r"(?:\s+(?:me|us))?(?:\s+(?:a|an|the|some)\b)?(?:\s+(?:short|brief|quick))?"
    r"(?:\s+(?:text|draft|piece|article|paragraph|note|blog post|overview))?(?:\s+(?:on|of))?\s+",
    re.IGNORECASE,
)
_SIGN_OFF_NAME = re.compile(
    r"^(?:(?i:many thanks|thanks|thank you|best regards|kind regards|best|regards|cheers)"
    r"[,!]?\s+)?(?P<name>[A-Z][a-z]+)(?: [A-Z][a-z]+)?[.!]?$"
)
_RECIPIENT = re.compile(r"\bto\s+(?P<name>[A-Z][a-z]+)\b")
_QUOTED = re.compile(r"[\"\u201c](?P<text>[^\"\u201d\n]{3,80})[\"\u201d]")
_CONFIRMING = re.compile(r"\bconfirming\s+(?P<what>[^.\n]+)", re.IGNORECASE)
_KEY_MESSAGE = re.compile(r"^[ \t]*key message[ \t]*:[ \t]*(?P<message>\S.*)$", re.I | re.M)
_BULLET = re.compile(r"^[ \t]*(?:[-*\u2022]|\d+[.)])[ \t]+(?P<point>\S.*)$", re.MULTILINE)
_REWRITE = re.compile(r"\b(?:revise|rewrite|edit|improve|update|shorten)\b", re.IGNORECASE)


class DemoProvider:
    """Offline stand-in for a model: deterministic, instant, and plainly labelled as demo."""

    kind: ProviderKind = "demo"

    def __repr__(self) -> str:
        """Name the provider."""
        return "DemoProvider()"

    def complete(self, request: LLMRequest, progress: CallProgress | None = None) -> LLMResponse:
        """Answer from the prompt alone; the same request always gets the same answer."""
        prompt = _prompt_text(request.messages)
        if request.output_kind == "classification":
            text = json.dumps({"label": classify(prompt, request.labels)})
        elif request.output_kind == "json":
            text = json.dumps(_fill_json(prompt, request.json_schema))
        else:
            text = write_text(prompt)  # instant: nothing to show while it is written (`progress`)
        notes = (
            (translation_note(prompt),) if request.output_kind == "text" and translation_note(prompt) else ()
        )
        return LLMResponse(
            text=text,
            provider="demo",
            model="demo",
            prompt_tokens=_approx_tokens(" ".join(m.get("content", "") for m in request.messages)),
            completion_tokens=_approx_tokens(text),
            latency_ms=0.0,
            demo=True,
            notes=notes,
        )


def strip_demo_tag(text: str) -> str:
    """The text without the `[Demo …]` first line older versions put on demo drafts."""
    first, _, rest = text.lstrip().partition("\n")
    return rest.strip() if first.startswith(LEGACY_TAG) and first.rstrip().endswith("]") else text


def translation_note(prompt: str) -> str:
    """What the step record says when the demo was asked to translate (it cannot)."""
    task = _FEEDBACK.sub("", prompt)
    found = _TRANSLATE.search(task)
    if not found:
        return ""
    language = found.group("language").capitalize()
    return (
        f"the offline demo model does not translate: this is the text to translate to {language}, unchanged"
    )


def write_text(prompt: str) -> str:
    """Write the demo's free-text answer: a draft or a translation, revised if a reviewer asked."""
    feedback = _FEEDBACK.search(prompt)
    task = _FEEDBACK.sub("", prompt).strip() if feedback else prompt
    translation = _TRANSLATE.search(task)
    body = _source_text(task) if translation else follow_guidance(task, _draft(task))
    if feedback:
        body = _revise(task, body, feedback.group("note"))
    return body


def follow_guidance(prompt: str, body: str) -> str:
    """Apply the prompt's guidance lines to a draft: what to leave out is removed, what to include
    and is missing is added as a closing line."""
    for found in _GUIDANCE.finditer(prompt):
        text = found.group("text").strip()
        if found.group("verb").lower() == "leave out":
            body = re.sub(rf"[ \t]*{re.escape(text)}", "", body, flags=re.IGNORECASE).strip()
        elif text.lower() not in body.lower():
            body = f"{body}\n\n{text}"
    return body


def classify(prompt: str, labels: Sequence[str]) -> str:
    """Pick the label whose name or synonyms occur most in the prompt; else the last label."""
    if not labels:
        return ""
    text = _strip_label_list(_normalise_quotes(prompt.lower()), labels)
    # A label named once per line in the instruction is evidence for none of them.
    name_hits = [_count(text, [label.lower()]) for label in labels]
    baseline = min(name_hits)
    scores = [
        hits - baseline + _count(text, _synonyms(label))
        for hits, label in zip(name_hits, labels, strict=True)
    ]
    best = max(scores)
    return labels[scores.index(best)] if best > 0 else labels[-1]


# --- drafting -------------------------------------------------------------------------


def _draft(prompt: str) -> str:
    instruction, material = _split_instruction(prompt)
    lowered = instruction.lower()
    topic, audience = _topic_and_audience(instruction, material)
    if re.search(r"\bblog\b|\barticle\b|\bnewsletter\b", lowered):
        return _article(topic, audience, material)
    if re.search(r"linkedin|tweet|twitter|\bx post|instagram|facebook|social|\bpost\b", lowered):
        short = "tweet" in lowered or "twitter" in lowered
        return _social_post(topic, audience, _first(_KEY_MESSAGE, prompt), short)
    if re.search(r"e-?mail|\brepl(?:y|ies)\b|\brespon(?:d|se)\b|\bletter\b", lowered):
        return _email(instruction, topic, audience, material)
    if re.search(r"summari[sz]e|summary|tl;?dr", lowered):
        return _summary(material or instruction)
    return _article(topic, audience, material)


def _social_post(topic: str, audience: str, key_message: str, short: bool) -> str:
    opener = f"{_capitalise(audience)}, let's talk about {topic}."
    lines = [opener if audience else f"Let's talk about {topic}."]
    if key_message:
        lines.append(key_message.rstrip(".") + ".")
    elif not short:
        lines.append(
            "Here is what it changes in practice: less busywork, clearer decisions "
            "and more time for what matters."
        )
    lines.append("What would you like to see next? Tell us in the comments.")
    tags = " ".join(tag for tag in (_hashtag(topic), _hashtag(audience)) if tag)
    return "\n\n".join(lines + ([tags] if tags else []))


def _email(instruction: str, topic: str, audience: str, material: str) -> str:
    name = _first(_RECIPIENT, instruction, "name") or _sender_name(material)
    subject = _first(_QUOTED, instruction, "text")
    confirming = _first(_CONFIRMING, instruction, "what")
    lines = []
    if subject:
        lines.append(f"Thank you for your message about \u201c{subject}\u201d.")
    elif material:
        lines.append("Thank you for reaching out.")
    if material:
        lines.append(f"You wrote: \u201c{_snippet(material, 14)}\u201d")
    if confirming:
        lines.append(f"This is to confirm {confirming.strip()}.")
    elif material or subject:
        lines.append("We have looked into it and will follow up with the details shortly.")
    else:
        reader = f" It is written with {audience} in mind." if audience else ""
        lines.append(f"I wanted to share a quick update on {topic}.{reader}")
    return (
        f"Hi {name or 'there'},\n\n{' '.join(lines)}\n\n"
        "If anything is unclear, just reply to this message.\n\n"
        "Best regards,\nThe team"
    )


def _summary(text: str) -> str:
    sentences = _sentences(text)[:3] or [_snippet(text, 20)]
    return "Summary:\n" + "\n".join(f"- {_snippet(sentence, 20)}" for sentence in sentences)


def _article(topic: str, audience: str, material: str) -> str:
    points = _BULLET.findall(material)[:5] or ["Why it matters", "An example", "Where to start"]
    reader = f" for {audience}" if audience else ""
    sections = [
        f"## {_capitalise(point)}\nWhat this means in practice, with one concrete example."
        for point in points
    ]
    return "\n\n".join(
        [
            f"# {_capitalise(topic)}",
            f"A practical look at {topic}{reader}.",
            *sections,
            "Next step: pick one small change and try it this week.",
        ]
    )


def _revise(task: str, draft: str, note: str) -> str:
    body = _previous_draft(task) or draft
    if re.search(r"short|concise|too long|trim|brief", note, re.IGNORECASE):
        body = _shorter(body)
    addition = _ADDITION.search(note)
    if addition:
        paragraphs = body.split("\n\n")
        extra = f"Also worth mentioning: {addition.group('thing').strip().rstrip('.')}."
        # Before a closing paragraph (sign-off, hashtags, next step) when there is one.
        paragraphs.insert(len(paragraphs) - 1 if len(paragraphs) >= 3 else len(paragraphs), extra)
        body = "\n\n".join(paragraphs)
    return f"{body}\n\n{_NOTE_PREFIX}\u201c{note.strip()}\u201d)"


def _shorter(body: str) -> str:
    """Keep the first two paragraphs and the last (sign-off, hashtags), two sentences each."""
    paragraphs = body.split("\n\n")
    if len(paragraphs) > 3:
        paragraphs = paragraphs[:2] + paragraphs[-1:]
    return "\n\n".join(p if "\n" in p else " ".join(_sentences(p)[:2]) for p in paragraphs)


def _previous_draft(prompt: str) -> str:
    """The draft a revision works on: a `Draft:` section, or the material of a rewrite."""
    labelled = _PREVIOUS_DRAFT.search(prompt)
    if labelled:
        draft = labelled.group("draft")
    else:
        instruction, material = _split_instruction(prompt)
        draft = material if _REWRITE.search(instruction) else ""
    lines = strip_demo_tag(draft.strip()).splitlines()
    return "\n".join(line for line in lines if not line.startswith(_NOTE_PREFIX)).strip()


# --- reading the prompt ---------------------------------------------------------------


def _prompt_text(messages: Sequence[dict[str, str]]) -> str:
    user = [m.get("content", "") for m in messages if m.get("role") == "user"]
    return "\n\n".join(user or [m.get("content", "") for m in messages]).strip()


def _split_instruction(prompt: str) -> tuple[str, str]:
    """Split a prompt into its instruction and the material it works on (may be empty)."""
    paragraphs = re.split(r"\n\s*\n", prompt.strip(), maxsplit=1)
    if len(paragraphs) == 2:
        return paragraphs[0].strip(), paragraphs[1].strip()
    first, _, rest = prompt.strip().partition("\n")
    if rest.strip():
        return first.strip(), rest.strip()
    head, colon, tail = first.partition(":")
    if colon and tail.strip():
        return head.strip(), tail.strip()
    return first.strip(), ""


def _topic_and_audience(instruction: str, material: str) -> tuple[str, str]:
    match = _TOPIC.search(instruction)
    if match:
        return match.group("topic").strip(), (match.group("audience") or "").strip()
    audience_match = _AUDIENCE.search(instruction)
    audience = audience_match.group("audience").strip() if audience_match else ""
    fallback = _IMPERATIVE.sub("", material or instruction).strip().rstrip(".!?")
    return _snippet(fallback or instruction, 10), audience


def _source_text(prompt: str) -> str:
    """The text a translation works on, without an earlier demo answer's tag."""
    _, material = _split_instruction(prompt)
    return strip_demo_tag(material) if material else prompt


def _sender_name(material: str) -> str:
    lines = [line.strip().rstrip(",") for line in material.splitlines() if line.strip()]
    if len(lines) < 2:
        return ""
    match = _SIGN_OFF_NAME.match(lines[-1])
    return match.group("name") if match else ""


def _first(pattern: re.Pattern[str], text: str, group: str = "message") -> str:
    match = pattern.search(text)
    return match.group(group).strip() if match else ""


# --- classification -------------------------------------------------------------------


def _strip_label_list(text: str, labels: Sequence[str]) -> str:
    """Drop the label words from lines that list two or more labels (the instruction)."""
    patterns = [re.compile(rf"(?<!\w){re.escape(label.lower())}(?!\w)") for label in labels]
    kept = []
    for line in text.splitlines():
        if sum(1 for pattern in patterns if pattern.search(line)) >= 2:
            for pattern in patterns:
                line = pattern.sub(" ", line)
        kept.append(line)
    return "\n".join(kept)


def _synonyms(label: str) -> set[str]:
    key = re.sub(r"[^0-9a-z]+", "", label.lower())
    words = {w for w in re.split(r"[^0-9a-z']+", label.lower()) if len(w) > 2}
    return (set(_SYNONYMS.get(key, ())) | words) - {label.lower()}


def _count(text: str, phrases: Iterable[str]) -> int:
    return sum(len(re.findall(rf"(?<!\w){re.escape(p)}(?!\w)", text)) for p in phrases)


def _normalise_quotes(text: str) -> str:
    return text.replace("\u2019", "'").replace("\u2018", "'")


# --- JSON -----------------------------------------------------------------------------


def _fill_json(prompt: str, schema: dict[str, Any] | None) -> dict[str, Any]:
    properties: dict[str, Any] = (schema or {}).get("properties") or {"answer": {}}
    _, material = _split_instruction(prompt)
    source = material or prompt
    kinds = {name: str(spec.get("type", "string")) for name, spec in properties.items()}
    return {name: _demo_value(name, kind, source) for name, kind in kinds.items()}


def _demo_value(name: str, json_type: str, source: str) -> Any:
    if json_type in ("number", "integer"):
        return zlib.crc32(f"{name}\n{source}".encode()) % 10 + 1
    if json_type == "boolean":
        words = [w for w in re.split(r"[^a-z]+", name.lower()) if len(w) > 2]
        return any(re.search(rf"\b{w}", source.lower()) for w in words)
    return f"{name.replace('_', ' ').capitalize()} for: {_snippet(source, 8)}"


# --- small text helpers ---------------------------------------------------------------


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]


def _snippet(text: str, words: int) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + ("…" if len(parts) > words else "")


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _hashtag(phrase: str) -> str:
    words = [w for w in re.findall(r"[A-Za-z0-9]+", phrase) if w.lower() not in _STOPWORDS]
    return "#" + "".join(w[:1].upper() + w[1:] for w in words[:3]) if words else ""


def _approx_tokens(text: str) -> int:
    return round(len(text.split()) * 1.3)
