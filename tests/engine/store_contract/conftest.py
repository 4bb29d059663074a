"""Fixtures of the store contract: every test that takes one of them runs once on each backend."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.store.base import Store
from engine.store.factory import open_store
from tests.conftest import BACKENDS, location_for
from tests.postgres_server import PostgresServer


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend this run of the test is on."""
    return str(request.param)


@pytest.fixture
def location(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of the backend: a DuckDB file or a PostgreSQL URL."""
    return location_for(backend, request, tmp_path)


@pytest.fixture
def make_store(location: str) -> Iterator[Callable[[], Store]]:
    """Opens stores on one fresh database of the backend (a second one sees the first's data)."""
    opened: list[Store] = []

    def factory() -> Store:
        store = open_store(location)
        store.initialize()
        opened.append(store)
        return store

    yield factory
    for s in opened:
        s.close()


@pytest.fixture
def store(make_store: Callable[[], Store]) -> Store:
    """An initialized store on a fresh database of the backend."""
    return make_store()


_copies = itertools.count()


@pytest.fixture
def empty_store(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store on a second fresh database of the same backend (where a copy goes)."""
    if backend == "duckdb":
        other = open_store(str(tmp_path / "copy.duckdb"))
        other.initialize()
        yield other
        other.close()
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"test_{os.getpid()}_copy_{next(_copies)}"
    other = open_store(server.create_database(name))
    try:
        other.initialize()
        yield other
    finally:
        other.close()
        server.drop_database(name)
