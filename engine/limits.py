"""The stated limits of what Loopdesk accepts, in one place (the README lists them).

Anything beyond them is refused with a message naming the limit, before it can slow down or
break a page, a run or the database.
"""

from __future__ import annotations

MAX_FILE_BYTES = 1_000_000
"""Size of one workflow JSON file or document."""
MAX_NODES = 500
"""Steps in one workflow."""
MAX_EDGES = 1_500
"""Connections in one workflow."""
MAX_JSON_DEPTH = 32
"""How deeply a workflow document may nest (a real one nests about 6 levels)."""
MAX_PROMPT_CHARS = 100_000
"""Characters in one instruction, system prompt or reviewer instructions."""
MAX_TEXT_CHARS = 10_000
"""Characters in any other text of a workflow: descriptions, help texts, defaults."""
MAX_NAME_CHARS = 200
"""Characters in ids, names, titles, labels, sections, options and cases."""
MAX_ITEMS = 200
"""Entries in one list of a workflow: form fields, options, sections, labels, cases, values."""
MAX_WORKFLOW_NUMBER = 10**15
"""Largest absolute number anywhere in a workflow document."""
MAX_FORM_NUMBER = 10**15
"""Largest absolute value of a number field (form input or reviewer edit)."""
MAX_FORM_TEXT = 100_000
"""Characters in one form value (a long text included) or reviewer edit."""
MAX_COMMENT_CHARS = 10_000
"""Characters in a reviewer's comment, note or reason (pages, API, decision links and the CLI alike)."""
RENDER_SECONDS = 2.0
"""Time budget of rendering one prompt or reviewer instructions."""
RENDER_CHARS = 1_000_000
"""Output budget of rendering one prompt or reviewer instructions (characters)."""
RENDER_MEMORY_BYTES = 512 * 1024 * 1024
"""Memory a prompt with loops may use while it renders, beyond what the renderer needs itself."""


def count(n: int, noun: str) -> str:
    """'1 step', '1,500 connections'."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
