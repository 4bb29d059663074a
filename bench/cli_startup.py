"""How long a CLI command that calls no AI takes to start and finish, and what importing the
`openai` package would add to it (Loopdesk imports it only when an AI call is made).

    python -m bench.cli_startup --repeat 7
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wall(args: list[str], repeat: int, env: dict[str, str]) -> float:
    """Median wall time of `python ARGS` in seconds (after one warm-up run)."""
    times = []
    for i in range(repeat + 1):
        started = time.perf_counter()
        subprocess.run([sys.executable, *args], cwd=ROOT, env=env, check=True, capture_output=True)
        if i:  # the first run warms the file cache
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    """Time `validate`, `schema` and a bare `import openai`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    env = {**os.environ, "OPENAI_API_KEY": "sk-bench-not-used"}  # a key set: the provider is built
    template = str(ROOT / "templates" / "support_reply.json")
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores")
    cases = {
        "python -m engine validate support_reply.json": ["-m", "engine", "validate", template],
        "python -m engine schema": ["-m", "engine", "schema"],
        "python -c 'import openai' (what it would add)": ["-c", "import openai"],
        "python -c 'pass' (the interpreter alone)": ["-c", "pass"],
    }
    for label, command in cases.items():
        print(f"{label:<50} {wall(command, args.repeat, env) * 1000:8.0f} ms (median of {args.repeat})")


if __name__ == "__main__":
    main()
