"""The HTTP API under /api/v1: JSON in and out, a bearer token per call, the services' rules.

Handlers only translate HTTP to service calls and errors to status codes; every rule (who may
start, see or decide what) is the services' and the engine's, exactly as for pages and the CLI.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.decisions import Decision, decision_of
from engine.documents import checkpoint_document, run_document, run_documents, timeline_document
from engine.errors import (
    AlreadyDecidedError,
    EngineError,
    FormValidationError,
    InvalidDecisionError,
    InvalidStateError,
    NotAllowedError,
    NotAuthenticatedError,
    NotFoundError,
    StoreDamagedError,
    StoreLockedError,
    StoreUnavailableError,
    UnreadableRecordError,
    WorkflowValidationError,
)
from engine.json_guard import JsonTooComplexError, decode
from engine.records import RUN_STATUSES, RunFilter, RunRecord
from engine.services import Loopdesk
from server.bodies import BodyTooLarge, read_capped
from server.openapi import openapi_document
from server.process import shared_app
from server.schemas import DecisionBody, StartRun

log = logging.getLogger("loopdesk.api")

PREFIX = "/api/v1"
MAX_BODY_BYTES = 2_000_000
"""A request body larger than this is refused before it is parsed."""

STATUS: list[tuple[type[EngineError], int]] = [
    (NotAuthenticatedError, 401),
    (NotAllowedError, 403),
    (NotFoundError, 404),
    (AlreadyDecidedError, 409),
    (InvalidStateError, 409),
    (FormValidationError, 422),
    (InvalidDecisionError, 422),
    (WorkflowValidationError, 422),
    (StoreLockedError, 503),
    (StoreUnavailableError, 503),
    (BodyTooLarge, 413),
    (UnreadableRecordError, 500),
]
"""Which engine error answers with which status (anything else the engine refuses: 400)."""


class BadRequestBody(EngineError):
    """The body is not JSON or does not match the endpoint's schema."""

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = fields


def error_response(exc: EngineError) -> JSONResponse:
    """The JSON error for an engine error, with the status that fits it."""
    status = next((code for kind, code in STATUS if isinstance(exc, kind)), 400)
    body: dict[str, Any] = {"error": str(exc)}
    if isinstance(exc, BadRequestBody):
        status = 422
        if exc.fields:
            body["fields"] = exc.fields
    elif isinstance(exc, FormValidationError):
        body["fields"] = exc.errors
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


Handler = Callable[[Request], Awaitable[Response]]


def endpoint(method: str, work: Callable[[Request, bytes], Response]) -> Handler:
    """Run blocking service work off the event loop; turn engine errors into JSON errors.

    The body is read here (capped) but parsed by the work, after it has checked the token.
    """

    async def handle(request: Request) -> Response:
        if request.method != method:
            return JSONResponse(
                {"error": f"{request.url.path} answers {method} only"},
                status_code=405,
                headers={"Allow": method},
            )
        try:
            body = await read_capped(request, MAX_BODY_BYTES) if method == "POST" else b""
            return await run_in_threadpool(work, request, body)
        except EngineError as exc:
            return error_response(exc)
        except Exception:  # a bug: logged with its traceback, answered without one
            log.exception("%s %s failed", request.method, request.url.path)
            return JSONResponse({"error": "internal error; the server log has the details"}, status_code=500)

    return handle


M = TypeVar("M", bound=BaseModel)


def _parse(model: type[M], raw: bytes) -> M:
    """The body as `model`, or a 422 naming what is wrong (every field at fault)."""
    try:
        data = decode(raw) if raw.strip() else {}
    except (json.JSONDecodeError, UnicodeDecodeError, JsonTooComplexError) as exc:
        raise BadRequestBody(f"the body is not valid JSON: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = {".".join(str(p) for p in e["loc"]) or "body": e["msg"] for e in exc.errors()}
        problems = "; ".join(f"{k}: {v}" for k, v in fields.items())
        raise BadRequestBody(f"invalid body: {problems}", fields) from None


def _service() -> Loopdesk:
    return shared_app()


def _caller(request: Request, app: Loopdesk) -> str:
    """The user the request's bearer token acts as."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        token = ""
    return app.user_for_token(token)


# -- endpoints ------------------------------------------------------------------------------------
def health(request: Request, body: bytes) -> Response:
    """`{"status": "ok"}` while the server can use its database; 503 and the reason otherwise."""
    error = "the database cannot be used right now; the server log says why"
    try:
        problem = _service().health()
    except StoreDamagedError as exc:  # logged once where it was found
        return JSONResponse({"status": "unavailable", "error": exc.public}, status_code=503)
    except EngineError as exc:
        problem = str(exc)
    if problem:  # the details (paths, reasons) go to the log and the signed-in pages, not to anyone
        log.warning("health check: %s", problem)
        return JSONResponse({"status": "unavailable", "error": error}, status_code=503)
    return JSONResponse({"status": "ok"})


def list_workflows(request: Request, body: bytes) -> Response:
    """The workflows the caller may start."""
    app = _service()
    user = _caller(request, app)
    docs = [
        {"workflow_id": w.workflow_id, "name": w.name, "version": w.version}
        for w in app.workflows_for(user, "start")
    ]
    return JSONResponse(docs)


MAX_WAIT_SECONDS = 30.0
WAIT_POLL_SECONDS = 0.1


def _wait_param(request: Request) -> float:
    """`?wait=SECONDS` (0-30): how long to wait for the run to stop moving before answering."""
    raw = request.query_params.get("wait")
    if raw is None:
        return 0.0
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_WAIT_SECONDS:
        problem = f"wait must be a number of seconds from 0 to {MAX_WAIT_SECONDS:g}"
        raise BadRequestBody(problem, {"wait": raw[:50]})
    return seconds


def _settled(app: Loopdesk, run: RunRecord, seconds: float) -> RunRecord:
    """The run once it stops moving (waits or ends), or as it is after `seconds`."""
    deadline = time.monotonic() + seconds
    while run.status == "running" and time.monotonic() < deadline:
        time.sleep(WAIT_POLL_SECONDS)
        run = app.engine.get_run(run.id)
    return run


def start_run(request: Request, body: bytes) -> Response:
    """Start a run; 201 and the run as soon as it is committed (the engine drives it on in the
    background); with `?wait=SECONDS`, once it waits or ends, or after that long."""
    app = _service()
    user = _caller(request, app)
    wait = _wait_param(request)
    parsed = _parse(StartRun, body)
    run = app.start_run(request.path_params["workflow_id"], parsed.inputs, user, background=True)
    return JSONResponse(run_document(app.store, _settled(app, run, wait)), status_code=201)


def get_run(request: Request, body: bytes) -> Response:
    """One run the caller may see."""
    app = _service()
    user = _caller(request, app)
    run = app.get_run(request.path_params["run_id"], user)
    return JSONResponse(run_document(app.store, run))


RUNS_LIMIT = 100
RUNS_MAX_LIMIT = 1000


def _time_param(request: Request, name: str) -> float | None:
    """An ISO 8601 time (`2026-12-01T00:00:00Z`, or a date) or epoch seconds, or a 422 naming it."""
    raw = request.query_params.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadRequestBody(
            f"{name} must be a time such as 2026-12-01T09:00:00Z, a date, or epoch seconds", {name: raw[:50]}
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def list_runs(request: Request, body: bytes) -> Response:
    """The runs the caller may see, newest first, filtered (`workflow`, `status`, `section`,
    `started_by`, `since`, `until`), one page (`limit`, `offset`); `X-Total-Count` where counting is
    cheap (the caller sees every run of what is asked for)."""
    app = _service()
    user = _caller(request, app)
    q = request.query_params
    status = q.get("status") or None
    if status is not None and status not in RUN_STATUSES:
        raise BadRequestBody(f"status must be one of {', '.join(RUN_STATUSES)}", {"status": status[:50]})
    limit = _count_param(request, "limit", RUNS_LIMIT, 1, RUNS_MAX_LIMIT)
    offset = _count_param(request, "offset", 0, 0, 10**9)
    where = RunFilter(
        section=q.get("section"),
        started_by=q.get("started_by") or None,
        since=_time_param(request, "since"),
        until=_time_param(request, "until"),
    )
    workflow = q.get("workflow") or None
    runs = app.list_runs(user, status, workflow, limit=limit, offset=offset, where=where)
    total = app.count_runs(user, status, workflow, where=where)
    headers = {"X-Total-Count": str(total)} if total is not None else None
    return JSONResponse(run_documents(app.store, runs), headers=headers)


def run_timeline(request: Request, body: bytes) -> Response:
    """A run the caller may see, step by step: steps, checkpoints with their decisions, audit trail."""
    app = _service()
    user = _caller(request, app)
    detail = app.run_detail(request.path_params["run_id"], user)
    doc = {
        **run_document(app.store, detail.run),
        **timeline_document(detail.steps, detail.checkpoints, detail.audit),
    }
    return JSONResponse(doc)


INBOX_LIMIT = 100
INBOX_MAX_LIMIT = 1000


def _count_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter within [low, high], or a 422 naming it."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise BadRequestBody(f"{name} must be a whole number from {low} to {high}", {name: raw[:50]})
    return value


def inbox(request: Request, body: bytes) -> Response:
    """The caller's pending checkpoints, oldest first, one page (`limit`, `offset`); the header
    `X-Total-Count` says how many there are in all."""
    app = _service()
    user = _caller(request, app)
    limit = _count_param(request, "limit", INBOX_LIMIT, 1, INBOX_MAX_LIMIT)
    offset = _count_param(request, "offset", 0, 0, 10**9)
    items = app.inbox(user, limit=limit, offset=offset)
    total = app.inbox_count(user)
    return JSONResponse([checkpoint_document(cp) for cp in items], headers={"X-Total-Count": str(total)})


def decide(request: Request, body: bytes) -> Response:
    """Approve, reject, send back or reassign a checkpoint as the caller; 200 and the run as soon as
    the decision is committed (the engine drives the run on in the background); with
    `?wait=SECONDS`, once the run waits or ends again, or after that long."""
    app = _service()
    user = _caller(request, app)
    wait = _wait_param(request)
    parsed = _parse(DecisionBody, body)
    run = app.decide(request.path_params["checkpoint_id"], user, _decision(parsed), background=True)
    return JSONResponse(run_document(app.store, _settled(app, run, wait)))


def _decision(body: DecisionBody) -> Decision:
    if body.edits and body.action != "approve":
        raise BadRequestBody("edits go with approve", {"edits": "only an approval can change values"})
    if body.action == "reassign" and not body.to:
        raise BadRequestBody("reassign needs `to`: the user or group:NAME to hand it to", {"to": "required"})
    return decision_of(
        body.action, body.comment or "", body.edits, body.to, body.override_reason or "", body.replacing or ""
    )


def openapi(request: Request, body: bytes) -> Response:
    """The OpenAPI document of this API."""
    return JSONResponse(openapi_document())


def no_such_endpoint(request: Request, body: bytes) -> Response:
    """Anything else under /api/v1: a JSON 404 (not the app's HTML page)."""
    return JSONResponse({"error": f"no API endpoint {request.url.path}"}, status_code=404)


ENDPOINTS: list[tuple[str, str, Callable[[Request, bytes], Response]]] = [
    ("GET", "/health", health),
    ("GET", "/openapi.json", openapi),
    ("GET", "/workflows", list_workflows),
    ("POST", "/workflows/{workflow_id}/runs", start_run),
    ("GET", "/runs", list_runs),
    ("GET", "/runs/{run_id}", get_run),
    ("GET", "/runs/{run_id}/timeline", run_timeline),
    ("GET", "/inbox", inbox),
    ("POST", "/checkpoints/{checkpoint_id}/decision", decide),
]
_ANY = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def routes() -> list[Route]:
    """The API's routes, mounted next to the pages."""
    found = [Route(PREFIX + path, endpoint(method, work), methods=_ANY) for method, path, work in ENDPOINTS]

    async def unknown(request: Request) -> Response:
        return no_such_endpoint(request, b"")

    return [*found, Route(PREFIX + "/{rest:path}", unknown, methods=_ANY)]
