"""CSV that a spreadsheet opens as data: a cell that would start a formula is neutralised."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What makes Excel, LibreOffice and Google Sheets read a cell as a formula (or break it up)."""


def safe_cell(value: Any) -> Any:
    """A value as a CSV cell: text starting like a formula gets a leading `'` (shown as text, never
    run: `=HYPERLINK(...)` stays inert); numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(rows: Sequence[Mapping[str, Any]]) -> str:
    """Rows (dicts with the same keys) as CSV text with a header, every cell made safe."""
    if not rows:
        return ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[str(safe_cell(k)) for k in rows[0]], lineterminator="\r\n")
    writer.writeheader()
    writer.writerows({str(safe_cell(k)): safe_cell(v) for k, v in row.items()} for row in rows)
    return out.getvalue()
