"""The one Loopdesk service of a server process, shared by the pages and the HTTP routes.

The server's lifespan opens it when the process starts (so interrupted runs continue and due
checkpoints act with no browser open); a page that finds it closed opens it the same way. A
failed open is not remembered: the next caller tries again and reports the real reason.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from engine.errors import StoreDamagedError
from engine.services import Loopdesk
from engine.store.location import default_location

log = logging.getLogger("loopdesk.server")

_lock = threading.Lock()
_app: Loopdesk | None = None
_secrets_source: Callable[[], Mapping[str, Any]] = dict


def set_secrets_source(source: Callable[[], Mapping[str, Any]]) -> None:
    """Where settings that may live in secrets (the model's key, the link key) come from."""
    global _secrets_source
    _secrets_source = source


def shared_app(db_path: str | None = None) -> Loopdesk:
    """The process's service on `db_path` (default `LOOPDESK_DB`), opened and started on first use.

    Raises the engine's error when the database cannot be opened; nothing is kept, so the next
    call tries again, except for a damaged file: that is not opened again until it is replaced
    (its size or modification time changes), and the same error is raised meanwhile.
    """
    global _app
    path = db_path or default_location()
    with _lock:
        if _app is not None and _app.store.source != path:
            _app.close()  # tests point LOOPDESK_DB at a fresh file
            _app = None
        if _app is None:
            known = _damaged.get(path)
            if known is not None and known[0] == _file_state(path):
                raise known[1]
            try:
                _app = _start(path)
            except StoreDamagedError as exc:
                log.error("%s", exc)
                _damaged[path] = (_file_state(path), exc)
                raise
            _damaged.pop(path, None)
        return _app


_damaged: dict[str, tuple[tuple[float, int] | None, StoreDamagedError]] = {}
"""Database files found damaged, with their state then: left alone until they change."""


def _file_state(path: str) -> tuple[float, int] | None:
    """A file's modification time and size (None: no such file, or not a file path)."""
    try:
        stat = os.stat(path)
    except (OSError, ValueError):
        return None
    return (stat.st_mtime, stat.st_size)


def current_app() -> Loopdesk | None:
    """The open service, if there is one (never opens it)."""
    return _app


SHUTDOWN_GRACE_SECONDS = 3.0
"""How long a stopping server lets drives in progress finish; an AI call still out after that is
left to recovery (the run continues at that step on the next start), as after a crash."""


def close_shared(grace_seconds: float = SHUTDOWN_GRACE_SECONDS) -> None:
    """Stop the background work and close the database (server shutdown; tests)."""
    global _app
    with _lock:
        if _app is not None:
            app, _app = _app, None
            app.close(grace_seconds)


def _start(path: str) -> Loopdesk:
    """Open the database, install templates, resume interrupted runs, start timers and sender."""
    app = Loopdesk.open(path, secrets=_secrets_source())
    try:
        installed = app.install_templates()
        if installed:
            log.info("installed templates: %s", ", ".join(installed))
        recovered = app.recover(background=True)
        if recovered:
            log.info("resuming %d interrupted run(s)", len(recovered))
        app.start_background()
    except BaseException:
        app.close()
        raise
    return app
