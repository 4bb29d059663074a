"""Fuzz the importer with a longer budget than CI: mutated templates and hostile files through
`validate` and import, each a valid workflow or a refusal naming the problem, nothing saved changed.
Also times `validate` on the largest workflow the limits allow (500 steps).

    python -m bench.fuzz_import --examples 5000
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings

from engine.directory import Directory
from engine.limits import MAX_NODES
from engine.llm.demo import DemoProvider
from engine.model import load_workflow_json
from engine.services import Loopdesk
from engine.validation import validate_workflow
from tests.engine.fuzz import check_document, documents
from tests.engine.helpers import linear_workflow
from tests.engine.test_hostile_input import chain


def fuzz(examples: int, db: str) -> collections.Counter[str]:
    """Run the importer fuzz for this many examples; an assertion error stops it with the file."""
    app = Loopdesk.open(db, provider=DemoProvider(), directory=Directory.load(), workers=1)
    outcomes: collections.Counter[str] = collections.Counter()
    try:
        app.save_workflow(linear_workflow(), "dana")
        app.install_templates()

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(documents())
        def one(content: str | bytes) -> None:
            outcomes[check_document(app, content)] += 1

        one()
    finally:
        app.close()
    return outcomes


def mixed_chain(length: int) -> dict[str, Any]:
    """form → `length` steps (AI steps reading every earlier output, approvals, moves) → end."""
    doc = chain(length)
    steps = doc["nodes"][1:-1]
    for i, node in enumerate(steps):
        if i % 3 == 0:
            node.clear()
            earlier = " ".join(f"{{{{ out{j} }}}}" for j in range(0, i, 3)[-20:])
            instruction = f"Step {i} on {{{{ topic }}}}: {earlier}"
            node.update(id=f"m{i}", type="ai_step", instruction=instruction, output_name=f"out{i}")
        elif i % 3 == 1:
            node.clear()
            node.update(id=f"m{i}", type="approval", assignee="jamie", visible_values=["topic"])
            doc["edges"][i + 1]["label"] = "approved"  # the edge leaving this step
    return doc


def time_validation(repeat: int = 5) -> tuple[float, float]:
    """Best and worst seconds to read and validate the most steps a workflow may have (mixed kinds),
    as `validate` and import do: parse the file, check its shape, then every rule."""
    text = json.dumps(mixed_chain(MAX_NODES - 2))
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        problems = validate_workflow(load_workflow_json(text))
        times.append(time.perf_counter() - t)
        assert not problems, problems
    return min(times), max(times)


def main() -> None:
    """Parse arguments, run the fuzz and the timing, print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=2000)
    a = p.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    best, worst = time_validation()
    print(f"read and validate {MAX_NODES} steps: best {best * 1000:.0f} ms, worst {worst * 1000:.0f} ms")
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        outcomes = fuzz(a.examples, str(Path(tmp) / "fuzz.duckdb"))
        elapsed = time.perf_counter() - t
    print(
        f"fuzz: {sum(outcomes.values())} files in {elapsed:.0f} s, "
        f"{outcomes['valid']} valid, {outcomes['refused']} refused by name "
        "(any other outcome stops the run and prints the file)"
    )


if __name__ == "__main__":
    main()
