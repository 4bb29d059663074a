"""What only the PostgreSQL store has: a versioned schema created once however many processes start
together, a clear message when the server cannot be reached, and URLs shown without passwords."""

from __future__ import annotations

import multiprocessing
import time

import psycopg
import pytest

from engine.cli import main
from engine.errors import EngineError
from engine.store.factory import open_store
from engine.store.location import redacted
from engine.store.postgres import MIGRATIONS, PostgresStore
from tests.servers import free_port


def _initialize(url: str, barrier: object, results: object) -> None:
    store = open_store(url)
    try:
        barrier.wait(timeout=60)  # type: ignore[attr-defined]
        store.initialize()
        results.put("ok")  # type: ignore[attr-defined]
    except Exception as exc:  # reported to the test
        results.put(f"{type(exc).__name__}: {exc}")  # type: ignore[attr-defined]
    finally:
        store.close()


@pytest.mark.processes
def test_the_schema_is_created_once_by_processes_starting_together(pg_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_initialize, args=(pg_url, barrier, results)) for _ in range(4)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert outcomes == ["ok"] * 4
    with psycopg.connect(pg_url) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_version ORDER BY version")]
    assert versions == list(range(1, len(MIGRATIONS) + 1))


def test_a_database_newer_than_this_loopdesk_is_refused(pg_url: str) -> None:
    store = open_store(pg_url)
    try:
        store.initialize()
        assert isinstance(store, PostgresStore) and store.schema_version() == len(MIGRATIONS)
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("INSERT INTO schema_version VALUES (%s)", [len(MIGRATIONS) + 1])
        with pytest.raises(EngineError, match="newer than this Loopdesk knows"):
            store.initialize()
    finally:
        store.close()


def test_an_unreachable_server_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOOPDESK_DB_WAIT", "1")
    url = f"postgresql://loopdesk:s3cret@127.0.0.1:{free_port()}/loopdesk"
    started = time.monotonic()
    assert main(["inbox", "--user", "jamie", "--db", url]) == 1
    err = capsys.readouterr().err
    assert time.monotonic() - started < 15
    assert err.startswith("error: cannot connect to the database postgresql://loopdesk:***@127.0.0.1")
    assert "s3cret" not in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_urls_are_shown_without_their_password() -> None:
    assert redacted("postgresql://me:pw@db:5432/x") == "postgresql://me:***@db:5432/x"
    assert redacted("postgresql://me@db/x") == "postgresql://me@db/x"
    assert redacted("data/loopdesk.duckdb") == "data/loopdesk.duckdb"


def test_a_lost_statement_is_not_taken_for_a_lost_server() -> None:
    from psycopg import OperationalError
    from psycopg import errors as pg_errors
    from psycopg_pool import PoolTimeout

    from engine.store.postgres import _unavailable

    assert not _unavailable(pg_errors.DeadlockDetected("deadlock"))  # retried by the store
    assert not _unavailable(pg_errors.SerializationFailure("conflict"))
    assert _unavailable(pg_errors.AdminShutdown("terminating connection"))
    assert _unavailable(OperationalError("connection refused"))
    assert _unavailable(PoolTimeout("no connection in 10 s"))
