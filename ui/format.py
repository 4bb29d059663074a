"""Small text helpers for pages: ages, due times, money, durations, statuses, escaping."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from typing import Any, Literal

from engine.durations import span

STATUS_ICONS: dict[str, str] = {
    "running": ":material/progress_activity:",
    "waiting": ":material/hourglass_top:",
    "completed": ":material/check_circle:",
    "rejected": ":material/block:",
    "failed": ":material/error:",
    "cancelled": ":material/cancel:",
    "pending": ":material/hourglass_top:",
    "decided": ":material/how_to_reg:",
    "done": ":material/check_circle:",
}
"""Material icon per run, step or checkpoint status."""

BadgeColor = Literal["red", "orange", "yellow", "blue", "green", "violet", "gray", "primary"]

STATUS_COLORS: dict[str, BadgeColor] = {
    "running": "blue",
    "waiting": "orange",
    "completed": "green",
    "rejected": "red",
    "failed": "red",
    "cancelled": "gray",
    "pending": "orange",
    "decided": "green",
    "done": "green",
}
"""st.badge colour per status."""

DECISION_LABELS: dict[str, str] = {
    "approve": "Approved",
    "reject": "Rejected",
    "request_changes": "Changes requested",
    "reassign": "Reassigned",
}
"""How a decision kind reads in the UI."""

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>$:])")


def md_escape(text: Any) -> str:
    """Escape Markdown so user or AI text shows literally inside st.markdown-like calls."""
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", "  \n")


def md_label(text: Any) -> str:
    """User text as a widget label, tab, button or tooltip: one line, shown literally."""
    return md_escape(" ".join(str(text).split()))


_CODE_SPAN = re.compile(r"(`[^`\n]*`)")


def md_message(text: Any) -> str:
    """A message that names things in `code spans` (engine errors): spans kept, the rest escaped.

    Whatever is inside a code span shows literally, so user text can neither add markup outside
    the spans nor inside them."""
    parts = _CODE_SPAN.split(str(text))
    return "".join(part if i % 2 else md_escape(part) for i, part in enumerate(parts))


def code_span(text: str) -> str:
    """One line of user or AI text as a Markdown code span: shown literally (no links, no markup)."""
    text = " ".join(text.split())
    if not text:
        return "—"
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def age(ts: float, at: float | None = None) -> str:
    """How long ago an epoch timestamp was, e.g. `12 min ago`."""
    at = time.time() if at is None else at
    return "just now" if at - ts < 10 else f"{span(at - ts)} ago"


def due(due_at: float | None, at: float | None = None) -> tuple[str, bool]:
    """A due time as text and whether it has passed: (`due in 47 h`, False)."""
    if due_at is None:
        return "no due time", False
    at = time.time() if at is None else at
    if due_at <= at:
        return f"overdue by {span(at - due_at)}", True
    return f"due in {span(due_at - at)}", False


def minute(ts: float) -> str:
    """An epoch timestamp as local `YYYY-MM-DD HH:MM` (when something was saved or started)."""
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def clock(ts: float | None) -> str:
    """An epoch timestamp as local `YYYY-MM-DD HH:MM:SS` (empty for None)."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def money(usd: float | None) -> str:
    """A cost in US dollars with enough digits for tiny token costs."""
    if not usd:
        return "$0.00"
    if usd < 0.01:
        return f"${usd:.4f}"
    return f"${usd:,.2f}"


def ai_cost(meta: dict[str, Any]) -> str:
    """What an AI call cost, as recorded: `$0.0012`, `free (demo)`, or `unpriced` for a model no
    price table knows (never a made-up $0.00)."""
    if meta.get("demo"):
        return "free (demo)"
    if meta.get("cost_usd") is None:
        return "unpriced" if meta.get("prompt_tokens") is not None else "unpriced (no usage reported)"
    return money(float(meta["cost_usd"]))


def duration_ms(ms: float | None) -> str:
    """A step duration: `12 ms`, `1.4 s`, `2 min 5 s`."""
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    return span(seconds) if seconds >= 3600 else f"{int(seconds // 60)} min {int(seconds % 60)} s"


def status_label(status: str) -> str:
    """A status with its icon, for st.badge or markdown."""
    return f"{STATUS_ICONS.get(status, '')} {status}".strip()


def as_text(value: Any) -> str:
    """A stored value as plain text (JSON for objects and lists)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, indent=2, ensure_ascii=False)
    return str(value)


def one_line(value: Any, limit: int = 80) -> str:
    """A value squeezed into one short line for tables."""
    text = " ".join(as_text(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
