"""Shared fixtures: every test gets its own DuckDB file and the offline demo model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.catalog import TEMPLATES_DIR
from engine.directory import Directory
from engine.llm.demo import DemoProvider
from engine.model import Workflow, load_workflow_json
from engine.services import Loopdesk


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees a real API key or the developer's database."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("LOOPDESK_DB", str(tmp_path / "loopdesk.duckdb"))
    monkeypatch.setenv("LOOPDESK_DB_WAIT", "5")


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    """A fresh database file for this test."""
    return str(tmp_path / "loopdesk.duckdb")


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
