"""The sample values the shipped templates carry as form `example`s.

Before `example` existed, templates shipped their sample data as `default`, which also filled a
blank field: a run started through the API with an empty customer message went out about the sample
customer. A workflow saved in that format (schema version 1, a copy of a template, say) is read with
every `default` equal to a sample a template ships for a field of that name moved to `example`.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


@cache
def shipped_examples(directory: Path = TEMPLATES_DIR) -> dict[str, frozenset[str]]:
    """Field name → the example values shipped templates give it (as text), read once per process."""
    found: dict[str, set[str]] = {}
    for path in sorted(directory.glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a broken template is reported where templates are loaded
        for node in doc.get("nodes", []) if isinstance(doc, dict) else []:
            for f in node.get("fields", []) if isinstance(node, dict) else []:
                if isinstance(f, dict) and f.get("example") is not None:
                    found.setdefault(str(f.get("name")), set()).add(str(f["example"]))
    return {name: frozenset(values) for name, values in found.items()}


def examples_from_defaults(doc: dict[str, Any]) -> dict[str, Any]:
    """A workflow document of schema version 1 with its template sample defaults as examples (a copy;
    anything that is not shaped like a workflow is left for validation to name)."""
    samples = shipped_examples()
    nodes = []
    for node in doc.get("nodes", []):
        if isinstance(node, dict) and isinstance(node.get("fields"), list):
            fields = []
            for f in node["fields"]:
                if (
                    isinstance(f, dict)
                    and f.get("default") is not None
                    and f.get("example") is None
                    and str(f["default"]) in samples.get(str(f.get("name")), frozenset())
                ):
                    f = {**f, "example": f["default"], "default": None}
                fields.append(f)
            node = {**node, "fields": fields}
        nodes.append(node)
    return {**doc, "nodes": nodes}
