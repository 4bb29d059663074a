"""A throwaway PostgreSQL server (Debian's package) in its own folder, for tests, benchmarks and
`scripts/cluster.sh`: `initdb` + `pg_ctl` as the `postgres` user (the server refuses root),
listening on 127.0.0.1 only, stopped at the end.

    python -m tests.postgres_server start DIR   # prints the URL; the server keeps running
    python -m tests.postgres_server stop DIR
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.servers import free_port


def bin_dir() -> Path:
    """Where Debian keeps the server programs; a clear error when PostgreSQL is not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError(
            "PostgreSQL is not installed: apt-get install -y postgresql (scripts/test.sh does this)"
        )
    return Path(found[-1]).parent


def _as_postgres(*cmd: str) -> list[str]:
    """A command run as the `postgres` user when we are root (the server refuses root)."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)


@dataclass
class PostgresServer:
    """A running throwaway server."""

    folder: Path
    port: int

    @property
    def url(self) -> str:
        """The URL of its `loopdesk` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/loopdesk"

    def admin(self, sql: str) -> None:
        """Run one statement on the server's `postgres` database (outside any transaction)."""
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as c:
            c.execute(sql)

    def create_database(self, name: str) -> str:
        """A fresh empty database on this server; its URL."""
        self.admin(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def drop_database(self, name: str) -> None:
        """Drop a database, closing whatever connections still use it."""
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server at once and delete its data."""
        stop(self.folder)


def _run(*cmd: str) -> None:
    """Run a server program as `postgres`; its own words when it fails (a folder it cannot reach…)."""
    done = subprocess.run(_as_postgres(*cmd), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(cmd[0]).name} failed: {(done.stderr or done.stdout).strip()}")


def start(folder: Path, port: int | None = None) -> PostgresServer:
    """Initialise a data directory under `folder` and start a server on 127.0.0.1 (about 2 s)."""
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    data, log = folder / "data", folder / "server.log"
    port = port or free_port()
    pg = bin_dir()
    _run(str(pg / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=200"
    _run(str(pg / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-o", options, "start")
    server = PostgresServer(folder, port)
    server.create_database("loopdesk")
    return server


def stop(folder: Path) -> None:
    """Stop the server whose data lives under `folder` (if it runs) and delete the folder."""
    folder = Path(folder).resolve()
    data = folder / "data"
    if (data / "postmaster.pid").exists():
        cmd = [str(bin_dir() / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
        subprocess.run(_as_postgres(*cmd), capture_output=True)
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("start", "stop"):
        sys.exit("usage: python -m tests.postgres_server start|stop DIR")
    if sys.argv[1] == "start":
        print(start(Path(sys.argv[2])).url)
    else:
        stop(Path(sys.argv[2]))
