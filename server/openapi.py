"""The OpenAPI 3.1 document of the HTTP API, built from the pydantic models of its bodies."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel

from engine.records import RUN_STATUSES
from server.schemas import (
    Checkpoint,
    DecisionBody,
    Error,
    Health,
    Run,
    StartRun,
    Timeline,
    WorkflowSummary,
)

_MODELS: list[type[BaseModel]] = [
    StartRun, DecisionBody, Health, WorkflowSummary, Run, Checkpoint, Timeline, Error,
]  # fmt: skip
_REF = "#/components/schemas/{model}"


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    meaning = {
        401: "No token, or an unknown or revoked one",
        403: "The token's owner may not do this",
        404: "No such id, or one the token's owner may not see",
        409: "Already decided (the message says by whom and when), or the run changed state",
        422: "The body or the form values are invalid (`fields` names each one)",
        503: "The database cannot be used right now",
    }
    return {str(c): _json(_ref(Error), meaning[c]) for c in codes}


def _body(model: type[BaseModel]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(model)}}}


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


_WAIT = _query(
    "wait",
    "Seconds (0-30) to wait for the run to stop moving (to wait at a checkpoint or end) before answering; "
    "default 0: answer as soon as the change is committed (the engine drives the run on in the background)",
    {"type": "number", "minimum": 0, "maximum": 30, "default": 0},
)
_TIME = {"type": "string", "description": "ISO 8601 time or date, or epoch seconds"}


def _query_int(name: str, description: str, low: int, high: int | None, default: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "minimum": low, "default": default}
    if high is not None:
        schema["maximum"] = high
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


@cache
def openapi_document() -> dict[str, Any]:
    """The whole document (computed once per process)."""
    schemas: dict[str, Any] = {}
    for model in _MODELS:
        schema = model.model_json_schema(ref_template=_REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    auth: list[dict[str, list[str]]] = [{"bearer": []}]
    paths: dict[str, Any] = {
        "/api/v1/health": {
            "get": {
                "summary": "Whether the server can use its database (no token needed)",
                "security": [],
                "responses": {"200": _json(_ref(Health), "OK"), "503": _json(_ref(Health), "Unavailable")},
            }
        },
        "/api/v1/workflows": {
            "get": {
                "summary": "The workflows the token's owner may start",
                "responses": {
                    "200": _json({"type": "array", "items": _ref(WorkflowSummary)}, "Workflows"),
                    **_errors(401, 503),
                },
            }
        },
        "/api/v1/workflows/{workflow_id}/runs": {
            "post": {
                "summary": "Start a run; answers once it is committed, or (`wait`) once it waits or ends",
                "parameters": [_path_param("workflow_id"), _WAIT],
                "requestBody": _body(StartRun),
                "responses": {"201": _json(_ref(Run), "The new run"), **_errors(401, 403, 404, 422, 503)},
            }
        },
        "/api/v1/runs": {
            "get": {
                "summary": "The runs the token's owner may see, newest first, one page at a time",
                "parameters": [
                    _query("workflow", "Only runs of this workflow id", {"type": "string"}),
                    _query("status", "Only runs in this status", {"enum": list(RUN_STATUSES)}),
                    _query("section", "Only runs in this board section", {"type": "string"}),
                    _query("started_by", "Only runs this user started", {"type": "string"}),
                    _query("since", "Only runs started at or after this time", _TIME),
                    _query("until", "Only runs started before this time", _TIME),
                    _query_int("limit", "How many to return (1-1000, default 100)", 1, 1000, 100),
                    _query_int("offset", "How many of the newest to skip (default 0)", 0, None, 0),
                ],
                "responses": {
                    "200": {
                        **_json({"type": "array", "items": _ref(Run)}, "Runs"),
                        "headers": {
                            "X-Total-Count": {
                                "description": "How many runs match in all (sent when the owner sees every "
                                "run of what was asked for: their own list is paged without a total)",
                                "schema": {"type": "integer"},
                            }
                        },
                    },
                    **_errors(401, 422, 503),
                },
            }
        },
        "/api/v1/runs/{run_id}": {
            "get": {
                "summary": "One run",
                "parameters": [_path_param("run_id")],
                "responses": {"200": _json(_ref(Run), "The run"), **_errors(401, 404, 503)},
            }
        },
        "/api/v1/runs/{run_id}/timeline": {
            "get": {
                "summary": "One run with its steps, checkpoints and decisions, and audit trail",
                "parameters": [_path_param("run_id")],
                "responses": {
                    "200": _json(_ref(Timeline), "The run, step by step"),
                    **_errors(401, 404, 503),
                },
            }
        },
        "/api/v1/inbox": {
            "get": {
                "summary": "The token owner's pending checkpoints, oldest first, one page at a time",
                "parameters": [
                    _query_int("limit", "How many to return (1-1000, default 100)", 1, 1000, 100),
                    _query_int("offset", "How many of the oldest to skip (default 0)", 0, None, 0),
                ],
                "responses": {
                    "200": {
                        **_json({"type": "array", "items": _ref(Checkpoint)}, "Pending checkpoints"),
                        "headers": {
                            "X-Total-Count": {
                                "description": "How many checkpoints wait in all",
                                "schema": {"type": "integer"},
                            }
                        },
                    },
                    **_errors(401, 422, 503),
                },
            }
        },
        "/api/v1/checkpoints/{checkpoint_id}/decision": {
            "post": {
                "summary": "Approve, reject, request changes or reassign, exactly once",
                "parameters": [_path_param("checkpoint_id"), _WAIT],
                "requestBody": _body(DecisionBody),
                "responses": {
                    "200": _json(_ref(Run), "The run after the decision"),
                    **_errors(401, 403, 404, 409, 422, 503),
                },
            }
        },
    }
    for path, item in paths.items():
        for op in item.values():
            op.setdefault("security", auth)
            words = path.removeprefix("/api/v1/").replace("{", "").replace("}", "")
            op["operationId"] = words.replace("/", "_")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Loopdesk API",
            "version": "1",
            "description": "Start runs and decide checkpoints from other systems. Every call but "
            "`/health` carries `Authorization: Bearer <token>` and acts with that user's rights.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
