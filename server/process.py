"""The one Loopdesk service of a server process, shared by the pages and the HTTP routes.

The server's lifespan opens it when the process starts (so interrupted runs continue and due
checkpoints act with no browser open); a page that finds it closed opens it the same way. A
failed open is not remembered: the next caller tries again and reports the real reason.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from engine.services import Loopdesk
from engine.store.factory import default_location

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
    call tries again.
    """
    global _app
    path = db_path or default_location()
    with _lock:
        if _app is not None and _app.store.source != path:
            _app.close()  # tests point LOOPDESK_DB at a fresh file
            _app = None
        if _app is None:
            _app = _start(path)
        return _app


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
