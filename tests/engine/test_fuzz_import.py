"""Fuzzing the importer: every hostile or mangled workflow file is either a valid workflow or
refused with a message naming the problem, and nothing saved before changes.

The budget here is small so CI stays fast; `python -m bench.fuzz_import` runs a longer one."""

from __future__ import annotations

import contextlib
import io
import json
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings

from engine.cli import main
from engine.services import Loopdesk
from tests.engine.fuzz import check_document, documents, templates
from tests.engine.helpers import linear_workflow
from tests.engine.test_hostile_input import CASES

FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI is reproducible
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


def test_mutated_templates_are_imported_or_refused_by_name(app: Loopdesk) -> None:
    app.save_workflow(linear_workflow(), "dana")
    app.install_templates()
    outcomes: list[str] = []
    reasons: list[str] = []

    @FUZZ
    @given(documents())
    def one(content: str | bytes) -> None:
        outcomes.append(check_document(app, content, reasons=reasons))

    one()
    # the generator is worth its budget only if it produces both kinds of outcome
    assert "refused" in outcomes and "valid" in outcomes, Counter(r[:80] for r in reasons).most_common(8)


def test_every_known_hostile_case_is_refused_by_name(app: Loopdesk) -> None:
    app.save_workflow(linear_workflow(), "dana")
    for _case, content, _message in CASES:
        assert check_document(app, content) == "refused"


def test_validate_never_reports_an_unexpected_error(tmp_path: Path) -> None:
    paths: list[str] = []

    @settings(FUZZ, max_examples=40)
    @given(documents())
    def collect(content: str | bytes) -> None:
        path = tmp_path / f"doc{len(paths)}.json"
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
        paths.append(str(path))

    collect()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["validate", *paths])
    lines = out.getvalue().splitlines()
    for path in paths:  # every file is reported, with "ok" or its problems
        assert any(line.startswith(f"{path}: ") for line in lines), path
    assert not [line for line in lines if "unexpected" in line]


def test_the_shipped_templates_themselves_import_unchanged(app: Loopdesk) -> None:
    app.install_templates()
    for doc in templates():
        assert check_document(app, json.dumps(doc)) == "valid"
