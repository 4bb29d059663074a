"""The `db_path` fixture of suites that must hold on every backend. A test module opts in with
`from tests.backends import db_path_on_every_backend`; every other module keeps conftest's plain
DuckDB file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import BACKENDS, location_for


@pytest.fixture(params=BACKENDS, name="db_path")
def db_path_on_every_backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh DuckDB file, and a fresh PostgreSQL database (the test runs once on each)."""
    return location_for(request.param, request, tmp_path)
