"""Every test here talks HTTP to the real app server (`streamlit run app.py`) started in its own process."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder `processes`, so `-m processes` (and scripts/test.sh's tiers)
    select them."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.processes)
