"""The server around the pages: the API routes and a lifespan that starts the engine with the process."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.routing import BaseRoute

from engine.errors import EngineError, StoreDamagedError
from server import api, link_pages
from server.page_races import guard_page_changes
from server.process import close_shared, set_secrets_source, shared_app
from server.secrets import read_secrets

log = logging.getLogger("loopdesk.server")

RETRY_SECONDS = 5.0
"""How often the server tries again to open a database it could not open at start."""


def routes() -> list[BaseRoute]:
    """Every HTTP route served next to the pages."""
    return [*api.routes(), *link_pages.routes()]


def _open_until_ready(stop: threading.Event) -> None:
    """Open the service (templates, recovery, timers); while the database cannot be opened,
    log why and try again, so a server started before its disk is ready still recovers runs."""
    told_damaged = False
    while not stop.is_set():
        try:
            shared_app()
            return
        except StoreDamagedError:  # said once (by shared_app); the file is not opened until replaced
            if not told_damaged:
                log.warning("Loopdesk waits for the damaged database file to be replaced")
                told_damaged = True
        except EngineError as exc:
            log.warning("Loopdesk cannot start yet: %s; trying again in %g s", exc, RETRY_SECONDS)
        except Exception:
            log.exception("Loopdesk failed to start; trying again in %g s", RETRY_SECONDS)
        stop.wait(RETRY_SECONDS)


@asynccontextmanager
async def lifespan(_server: Any) -> AsyncIterator[None]:
    """Start the engine, its workers and timers with the server; stop them with it."""
    set_secrets_source(read_secrets)
    guard_page_changes()
    stop = threading.Event()
    starter = threading.Thread(target=_open_until_ready, args=(stop,), name="loopdesk-start", daemon=True)
    starter.start()
    try:
        yield
    finally:
        stop.set()
        starter.join(timeout=30)
        close_shared()
