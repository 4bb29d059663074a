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
Its answers are texts a presenter could publish: what it did with a reviewer's note, or with a text it
was asked to improve, goes into the step record (`notes`), never into the text.
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
_REVISION = re.compile(
    r"^[ \t]*Your previous answer:[ \t]*\n(?P<previous>.*?)(?:\n\s*\n[ \t]*Revise your answer to address "
    r"the feedback\.[ \t]*$|\Z)|^[ \t]*Revise your answer to address the feedback\.[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
"""What the engine adds to a step run again after a send-back (beside the note): the step's previous
answer, and the request to revise it."""
_ADDITION = re.compile(r"\b(?:add|mention|include)\s+(?P<thing>[^.;\n]+)", re.IGNORECASE)
_GUIDANCE = re.compile(
    r"^[ \t]*[-*\u2022][ \t]*(?P<verb>include|leave out)[ \t]+[\"\u201c](?P<text>[^\"\u201d\n]+)[\"\u201d]",
    re.IGNORECASE | re.MULTILINE,
)
"""A guidance line of an improved instruction: `- Include “Shop now”.` or `- Leave out “Hi”.`"""
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
_REWRITE = re.compile(
    r"\b(?:revise|rewrite|re-write|edit|improve|update|shorten|tighten|polish|proofread|refine|simplify"
    r"|condense|clean up)\b",
    re.IGNORECASE,
)
"""An instruction that works on a text it is given (the material after it), rather than writing anew."""
_FILLER = re.compile(
    r"^(?:here is what it changes in practice|what this means in practice|if anything is unclear)",
    re.IGNORECASE,
)
"""Sentences a tightened text leaves out."""
_OLD_NOTE = re.compile(r"^\(Revised per reviewer note: .*\)$")
"""How older versions ended a revision (read back, it is dropped)."""


class DemoProvider:
    """Offline stand-in for a model: deterministic, instant, and plainly labelled as demo."""

    kind: ProviderKind = "demo"

    def __repr__(self) -> str:
        """Name the provider."""
        return "DemoProvider()"

    def complete(self, request: LLMRequest, progress: CallProgress | None = None) -> LLMResponse:
        """Answer from the prompt alone; the same request always gets the same answer."""
        prompt = _prompt_text(request.messages)
        notes: tuple[str, ...] = ()
        if request.output_kind == "classification":
            text = json.dumps({"label": classify(prompt, request.labels)})
        elif request.output_kind == "json":
            text = json.dumps(_fill_json(prompt, request.json_schema))
        else:
            text, did = _write(prompt)  # instant: nothing to show while it is written (`progress`)
            notes = tuple(did)
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
    """Write the demo's free-text answer: a draft, an improved text or a translation, revised if a
    reviewer asked."""
    return _write(prompt)[0]


def _write(prompt: str) -> tuple[str, list[str]]:
    """The answer and what the demo did to get it (for the step record, never in the text)."""
    revision = _REVISION.search(prompt)
    previous = ""
    if revision:
        previous = _clean_lines(strip_demo_tag((revision.group("previous") or "").strip()))
        prompt = _REVISION.sub("", prompt).strip()
    feedback = _FEEDBACK.search(prompt)
    task = _FEEDBACK.sub("", prompt).strip() if feedback else prompt
    notes: list[str] = []
    translation = _TRANSLATE.search(task)
    improving = _improving(task)
    if translation:
        body = _source_text(task)
        notes.append(translation_note(prompt))
    elif improving:
        body, did = tighten(improving)
        notes.append(f"the offline demo model {did} (a demo stand-in for a model's rewrite)")
    else:
        body = follow_guidance(task, _draft(task))
    if feedback:
        note = feedback.group("note").strip()
        base = body if improving or translation else (previous or _previous_draft(task) or body)
        body, did = _revise(base, note)
        notes.append(f"the offline demo model applied the reviewer's note “{note}”: {did}")
    return body, notes


def _improving(task: str) -> str:
    """The text an instruction asks to improve (the material after a rewrite instruction), or ""."""
    instruction, material = _split_instruction(task)
    if not material or not _REWRITE.search(instruction) or _PREVIOUS_DRAFT.search(task):
        return ""
    return _clean_lines(strip_demo_tag(material))


def tighten(text: str) -> tuple[str, str]:
    """A tighter version of a text, always visibly different, with what was done: filler sentences
    dropped, a closing call to action kept to its question, at most two sentences a paragraph."""
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    out = []
    for p in paragraphs:
        if "\n" in p or p.lstrip().startswith(("#", "- ")):
            out.append(p)  # a heading, a list or a sign-off: kept as it is
            continue
        kept = [s for s in _sentences(p) if not _FILLER.match(s)]
        if len(kept) == 2 and kept[0].endswith("?"):
            kept = kept[:1]  # "What would you like to see next? Tell us…": the question is enough
        if kept:
            out.append(" ".join(kept[:2]))
    tightened = "\n\n".join(out)
    if tightened != text.strip():
        return tightened, "tightened the text (filler left out)"
    prose = [i for i, p in enumerate(out) if "\n" not in p and not p.lstrip().startswith(("#", "- "))]
    longest = max(prose, key=lambda i: len(_sentences(out[i])), default=None)
    if longest is not None and len(_sentences(out[longest])) > 1:  # a list or a heading is never cut
        out[longest] = _sentences(out[longest])[0]
        return "\n\n".join(out), "shortened its longest paragraph to its first sentence"
    return text.strip(), "found nothing to tighten"


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
    tags = " ".join(dict.fromkeys(tag for tag in (_hashtag(topic), _hashtag(audience, head=True)) if tag))
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
    quoted = _quotable(material)
    if quoted:
        lines.append(f"You wrote: \u201c{quoted}\u201d")
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
    sentences = _sentences(text)[:3] or [text.strip()]
    return "Summary:\n" + "\n".join(f"- {sentence}" for sentence in sentences)


def _article(topic: str, audience: str, material: str) -> str:
    points = _BULLET.findall(material)[:5] or ["Why it matters", "An example", "Where to start"]
    reader = f" for {audience}" if audience else ""
    sections = [
        f"## {_capitalise(point)}\n{_SECTION_LINES[i % len(_SECTION_LINES)]}"
        for i, point in enumerate(points)
    ]
    return "\n\n".join(
        [
            f"# {_capitalise(topic)}",
            f"A practical look at {_in_sentence(topic)}{reader}.",
            *sections,
            "Next step: pick one small change and try it this week.",
        ]
    )


_SECTION_LINES = (
    "Start with one team and count the hours it saves in the first week.",
    "Keep the change small enough to try before Friday.",
    "Name one owner and one number to watch.",
    "Share what worked with the next team, and what did not.",
    "Check back after a month and keep what paid off.",
)
"""One line under each section of a demo article (each different: an article repeats no sentence)."""


def _in_sentence(phrase: str) -> str:
    """A phrase as it reads inside a sentence: "Five ways to…" → "five ways to…" (an acronym or a
    name's capital stays: only a capital followed by a small letter is lowered)."""
    words = phrase.split(" ", 1)
    first = words[0]
    if len(first) > 1 and first[0].isupper() and first[1:].islower() and first.lower() not in _NAMES_KEPT:
        return " ".join([first.lower(), *words[1:]])
    return phrase


_NAMES_KEPT = frozenset({"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"})


def _revise(body: str, note: str) -> tuple[str, str]:
    """A draft revised for a reviewer's note (a clean text), and what was done, in words."""
    done = []
    if re.search(r"short|concise|too long|trim|brief|tight", note, re.IGNORECASE):
        shorter = _shorter(body)
        if shorter == body:
            shorter = tighten(body)[0]
        body = shorter
        done.append("made it shorter")
    addition = _ADDITION.search(note)
    if addition:
        thing = addition.group("thing").strip().rstrip(".")
        paragraphs = body.split("\n\n")
        extra = f"Also worth mentioning: {thing}."
        # Before a closing paragraph (sign-off, hashtags, next step) when there is one.
        paragraphs.insert(len(paragraphs) - 1 if len(paragraphs) >= 3 else len(paragraphs), extra)
        body = "\n\n".join(paragraphs)
        done.append(f"added “{thing}”")
    if not done:  # a note the demo cannot follow: it still sends back a tighter text, not the same
        body, did = tighten(body)
        done.append(f"{did}; a real model would follow the note")
    return body, "; ".join(done)


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
    return _clean_lines(strip_demo_tag(draft.strip()))


def _clean_lines(text: str) -> str:
    """A text read back without the note line older versions put at the end of a revision."""
    return "\n".join(line for line in text.splitlines() if not _OLD_NOTE.match(line.strip())).strip()


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
    return _first_clause(fallback or instruction), audience


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
    return f"{name.replace('_', ' ').capitalize()} for: {_quotable(source) or _first_clause(source)}"


# --- small text helpers ---------------------------------------------------------------


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]


_GREETING = re.compile(r"^(?:hi|hello|hey|dear|good (?:morning|afternoon|evening))\b", re.IGNORECASE)


def _first_clause(text: str) -> str:
    """The first clause of a text (up to its first , ; : . ! ? or line break), whole: never cut."""
    first = re.split(r"[,;:.!?\n]", text.strip(), maxsplit=1)[0].strip()
    return first or text.strip()


def _quotable(material: str, most: int = 25) -> str:
    """A customer's first real sentence (no greeting) to quote whole, or "" when it is too long."""
    for sentence in _sentences(material):
        if _GREETING.match(sentence) and len(sentence.split()) <= 4:
            continue
        return sentence if len(sentence.split()) <= most else ""
    return ""


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


_PREPOSITION_TEXT = "at by for from in of on to with about into over under per via across"
_PREPOSITIONS = frozenset(_PREPOSITION_TEXT.split())


def _hashtag(phrase: str, head: bool = False) -> str:
    """A hashtag of whole words from a phrase: its last noun phrase (a topic: "the launch of our new
    analytics dashboard" → #AnalyticsDashboard), or with `head` its first ("marketing managers at
    mid-size companies" → #MarketingManagers); never a word cut off or a preposition."""
    words = re.findall(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*", phrase)
    groups: list[list[str]] = [[]]
    for w in words:
        if w.lower() in _PREPOSITIONS:
            groups.append([])
        elif w.lower() not in _STOPWORDS:
            groups[-1].append(w)
    groups = [g for g in groups if g]
    if not groups:
        return ""
    chosen = groups[0][:3] if head else groups[-1][-3:]
    return "#" + "".join("".join(p[:1].upper() + p[1:] for p in w.split("-")) for w in chosen)


def _approx_tokens(text: str) -> int:
    return round(len(text.split()) * 1.3)
