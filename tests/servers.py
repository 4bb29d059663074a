"""Start the real app server (`streamlit run app.py`) on a free loopback port, for browser and HTTP tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running Loopdesk app."""

    url: str
    db_path: Path | str
    """The database file, or a PostgreSQL URL."""
    process: subprocess.Popen[bytes]
    log_path: Path

    def kill(self) -> None:
        """Kill the app at once (`kill -9`): nothing gets to clean up."""
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Stop the app (the database survives)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_server(
    db_path: Path | str,
    log_path: Path,
    extra_env: dict[str, str] | None = None,
    ready_path: str = "/_stcore/health",
    port: int | None = None,
    extra_args: list[str] | None = None,
    root: Path = ROOT,
) -> Server:
    """Start `streamlit run app.py` (of the checkout at `root`) on a free loopback port and wait
    until `ready_path` answers 200 (`/api/v1/health`: the engine has opened its database too).

    The app gets no API key (the offline demo model) unless `extra_env` supplies one.
    """
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    env.update(extra_env or {})
    env["LOOPDESK_DB"] = str(db_path)
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "streamlit", "run", str(root / "app.py"),
            "--server.headless", "true", "--server.address", "127.0.0.1",
            "--server.port", str(port), "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", *(extra_args or []),
        ],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited: {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}{ready_path}", timeout=2) as r:
                if r.status == 200:
                    return Server(url, db_path, proc, log_path)
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("streamlit did not become healthy within 60 s")


def seed_database(db_path: Path | str, *token_owners: str) -> dict[str, str]:
    """A database with the shipped templates installed and an API token for each named user
    (returned by user), made before the server that will own the file starts."""
    from engine.directory import Directory
    from engine.llm.demo import DemoProvider
    from engine.services import Loopdesk

    app = Loopdesk.open(str(db_path), provider=DemoProvider(), directory=Directory.load())
    try:
        app.install_templates()
        return {user: app.create_token(user, user, "tests")[1] for user in token_owners}
    finally:
        app.close()
