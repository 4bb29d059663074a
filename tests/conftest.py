"""Shared fixtures: every test gets its own DuckDB file (or PostgreSQL database) and the offline
demo model."""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.catalog import TEMPLATES_DIR
from engine.directory import Directory
from engine.llm.demo import DemoProvider
from engine.model import Workflow, load_workflow_json
from engine.services import Loopdesk
from tests.postgres_server import PostgresServer
from tests.postgres_server import start as start_postgres
from ui.canvas import NODE_WIDTH


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees a real API key, the developer's database or their secret key."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("LOOPDESK_DB", str(tmp_path / "loopdesk.duckdb"))
    monkeypatch.setenv("LOOPDESK_DB_WAIT", "5")
    monkeypatch.delenv("LOOPDESK_SECRET_KEY", raising=False)
    monkeypatch.setenv("LOOPDESK_SECRET_KEY_FILE", str(tmp_path / "loopdesk.key"))


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    """A fresh database file for this test."""
    return str(tmp_path / "loopdesk.duckdb")


BACKENDS = ("duckdb", "postgres")
"""The backends every suite that must hold on all of them runs on."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that runs on PostgreSQL `postgres`, so `-m postgres` (and scripts/test.sh's
    tiers) select them: the tests that use the server (`pg_url`, `postgres_server`) and the
    PostgreSQL case of a test parametrised on `BACKENDS`, which asks for `pg_url` only when it runs."""
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        params = item.callspec.params.values() if hasattr(item, "callspec") else ()
        if "postgres_server" in item.fixturenames or any(
            isinstance(v, str) and v == BACKENDS[1] for v in params
        ):
            item.add_marker(pytest.mark.postgres)


def location_for(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of this backend for one test: a file path or a PostgreSQL URL."""
    if backend == "duckdb":
        return str(tmp_path / "loopdesk.duckdb")
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the whole test session (Debian's package; never skipped:
    without PostgreSQL these tests fail and say how to install it)."""
    server = start_postgres(Path(tempfile.mkdtemp(prefix="loopdesk-pg-")))
    try:
        yield server
    finally:
        server.stop()


_databases = itertools.count()


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test (dropped after it)."""
    name = f"test_{os.getpid()}_{next(_databases)}"
    url = postgres_server.create_database(name)
    try:
        yield url
    finally:
        postgres_server.drop_database(name)


@pytest.fixture
def app(db_path: str) -> Iterator[Loopdesk]:
    """A Loopdesk service on a fresh database with the demo model."""
    service = Loopdesk.open(db_path, provider=DemoProvider(), directory=Directory.load(), workers=4)
    try:
        yield service
    finally:
        service.close()


def load_template(name: str) -> Workflow:
    """A shipped template by file stem, e.g. 'marketing_social_post'."""
    return load_workflow_json((TEMPLATES_DIR / f"{name}.json").read_text(encoding="utf-8"), name)


CARD_HEIGHT = 70
"""About how tall a step's card is on the canvas, for the overlap check."""


def assert_readable_layout(wf: Workflow) -> None:
    """No two cards overlap on the canvas and no forward connection points up (it goes down, or
    sideways to a step in the same row; only a loop back, “changes requested”, may go up)."""
    nodes = wf.nodes
    for i, a in enumerate(nodes):
        for b in nodes[i + 1 :]:
            apart_x = abs(a.position.x - b.position.x) >= NODE_WIDTH + 20
            apart_y = abs(a.position.y - b.position.y) >= CARD_HEIGHT
            assert apart_x or apart_y, f"{a.id} and {b.id} overlap on the canvas"
    for e in wf.edges:
        if e.label != "changes_requested":
            assert wf.node(e.target).position.y >= wf.node(e.source).position.y, e.id


def save_variant(app: Loopdesk, wf: Workflow, user: str = "dana") -> None:
    """Test setup: a changed shipped template written straight to the store as its newest version.
    The services keep templates as shipped; this stands for a variant a test needs to run (or a
    database from before templates were read-only)."""
    app.store.save_workflow(wf, user, "test setup: a changed template")


@pytest.fixture
def marketing(app: Loopdesk) -> Workflow:
    """The marketing template, saved in the test database."""
    wf = load_template("marketing_social_post")
    app.save_workflow(wf, "dana")
    return wf


@pytest.fixture
def streamlit_app() -> Iterator[None]:
    """For AppTest: forget the per-process service before and after the test."""
    from ui.runtime import reset_app

    reset_app()
    yield
    reset_app()
