"""What a reviewer changed, word by word: the diff people read and the edit size insights count."""

from __future__ import annotations

import difflib
import json
import re
from typing import Any, Literal

Op = Literal["same", "del", "ins"]
_TOKEN = re.compile(r"\n|[^\s]+")


def text_of(value: Any, sort_keys: bool = False) -> str:
    """A stored value as the text diffs and similarity read: text as it is, anything else as JSON
    (with `sort_keys`, objects compare alike whatever order their keys came in)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=sort_keys)


def _words(value: Any) -> list[str]:
    return _TOKEN.findall(text_of(value))


def _opcodes(a: list[str], b: list[str]) -> list[tuple[str, int, int, int, int]]:
    return list(difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes())


def word_diff(before: Any, after: Any) -> list[tuple[Op, str]]:
    """The change as runs of words: ("same" | "del" | "ins", text); line breaks are kept."""
    a, b = _words(before), _words(after)
    out: list[tuple[Op, str]] = []
    for tag, i1, i2, j1, j2 in _opcodes(a, b):
        if tag == "equal":
            out.append(("same", " ".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(("del", " ".join(a[i1:i2])))
        if j2 > j1:
            out.append(("ins", " ".join(b[j1:j2])))
    return out


def _count(tokens: list[str]) -> int:
    """Words among tokens (a line break is not a word)."""
    return sum(token != "\n" for token in tokens)


def words_changed(before: Any, after: Any) -> int:
    """How many words were replaced, removed or added (line breaks moved do not count)."""
    a, b = _words(before), _words(after)
    return sum(
        max(_count(a[i1:i2]), _count(b[j1:j2])) for tag, i1, i2, j1, j2 in _opcodes(a, b) if tag != "equal"
    )


def edit_size(edits: dict[str, dict[str, Any]]) -> float:
    """Words changed over words in the draft, across every edited value (0.0: approved as shown)."""
    changed = sum(words_changed(e.get("before"), e.get("after")) for e in edits.values())
    drafted = sum(_count(_words(e.get("before"))) for e in edits.values())
    return round(changed / max(1, drafted), 4) if changed else 0.0


def inline_diff(before: Any, after: Any) -> str:
    """The change as plain text, deletions as [-words-] and insertions as {+words+} (git's style)."""
    marks = {"same": "{}", "del": "[-{}-]", "ins": "{{+{}+}}"}
    return " ".join(marks[op].format(text) for op, text in word_diff(before, after)).replace(" \n ", "\n")


def similarity(a: Any, b: Any) -> float:
    """How alike two texts are, word by word: 1.0 the same words in the same order, 0.0 none shared
    (twice the matching words over the words of both; line breaks do not count)."""
    x = [t for t in _words(a) if t != "\n"]
    y = [t for t in _words(b) if t != "\n"]
    if not x and not y:
        return 1.0
    matched = sum(
        size for *_, size in difflib.SequenceMatcher(None, x, y, autojunk=False).get_matching_blocks()
    )
    return round(2 * matched / (len(x) + len(y)), 4)


def draft_edit_size(draft: Any, final: Any) -> float:
    """Words a reviewer would change to turn `draft` into `final`, over the words of the draft."""
    return edit_size({"text": {"before": draft, "after": final}})
