"""The HTTP request step on a real receiver: a whole run sends the body built from values with the
connection's secret header and one idempotency key, keeps the answer's fields; 5xx and 429 are tried
again with the same key, a 4xx fails the step with the server's message; without its connection the
step shows what it would have sent and sends nothing; a call interrupted before its result was saved
is made again with the same key, and says so."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from engine.kinds import http_request
from engine.model import Workflow
from engine.outbound import Answer
from engine.outbound import call as outbound_call
from engine.services import Loopdesk
from tests.backends import db_path_on_every_backend  # noqa: F401  (`db_path`: every backend)

SECRET = "Bearer sk-canary-http-0123456789"
CREATED = {"id": 42, "links": [{"url": "/t/42"}]}


class Receiver(BaseHTTPRequestHandler):
    """Records every call; answers from a plan of (status, JSON body) in order, then 201 {"id": 42}."""

    heard: ClassVar[list[dict[str, Any]]] = []
    plan: ClassVar[list[tuple[int, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        """Record the call, answer the next planned answer."""
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        Receiver.heard.append(
            {"path": self.path, "headers": dict(self.headers), "body": json.loads(body or b"null")}
        )
        status, doc = (
            Receiver.plan.pop(0) if Receiver.plan else (201, {"id": 42, "links": [{"url": "/t/42"}]})
        )
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A receiver on 127.0.0.1 (private addresses allowed, as for any local receiver), its base URL."""
    monkeypatch.setenv("LOOPDESK_HTTP_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("LOOPDESK_HTTP_RETRY_SECONDS", "0.01")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Receiver.heard, Receiver.plan = [], []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def ticket_workflow() -> Workflow:
    """Form → HTTP request (POST /tickets through `crm`, keeps the id) → End delivering it."""
    return Workflow.model_validate(
        {
            "id": "open-ticket",
            "name": "Open a ticket",
            "nodes": [
                {"id": "form", "type": "form_trigger", "title": "Request",
                 "fields": [{"name": "topic", "label": "Topic"}, {"name": "priority", "type": "number"}]},
                {"id": "send", "type": "http_request", "title": "Open ticket", "connection": "crm",
                 "method": "POST", "url": "/tickets",
                 "body": [{"key": "title", "value": "Ticket: {{ topic }}"},
                          {"key": "priority", "value": "{{ priority }}"}],
                 "picks": [{"name": "ticket_id", "path": "id"}, {"name": "link", "path": "links.0.url"}],
                 "status_name": "status"},
                {"id": "done", "type": "end", "title": "Done", "outcome": "Opened", "result": ["ticket_id"]},
            ],
            "edges": [{"id": "e1", "source": "form", "target": "send"},
                      {"id": "e2", "source": "send", "target": "done"}],
            "access": {"editors": ["dana"]},
        }
    )  # fmt: skip


@pytest.fixture
def ticket(app: Loopdesk) -> str:
    """The workflow saved; its id."""
    app.save_workflow(ticket_workflow(), "dana")
    return "open-ticket"


def connect(app: Loopdesk, base_url: str) -> None:
    """The `crm` connection, with its secret header."""
    app.connections.set("alex", "crm", "http", {"base_url": base_url, "header.Authorization": SECRET})


def test_a_run_sends_the_body_built_from_values_and_keeps_the_answer(
    app: Loopdesk, ticket: str, receiver: str
) -> None:
    connect(app, receiver)
    run = app.start_run(ticket, {"topic": "Printer on fire", "priority": 2}, "dana")
    assert run.status == "completed", run.error
    [call] = Receiver.heard
    assert call["path"] == "/tickets"
    assert call["body"] == {"title": "Ticket: Printer on fire", "priority": 2}  # a number stays a number
    assert call["headers"]["Authorization"] == SECRET
    assert call["headers"]["Idempotency-Key"] == f"{run.id}:send:1"
    assert (run.values["ticket_id"], run.values["link"], run.values["status"]) == (42, "/t/42", 201)
    steps = [s for s in app.store.list_steps(run.id) if s.node_id == "send"]
    assert [s.status for s in steps] == ["calling", "done"]  # recorded before the call, then its result
    assert steps[0].meta["idempotency_key"] == steps[1].meta["idempotency_key"] == f"{run.id}:send:1"
    assert steps[1].output["delivery"] == "sent" and steps[1].output["attempts"] == 1
    assert SECRET not in json.dumps([[s.input, s.output, s.meta] for s in steps])  # the secret stays put


def test_server_errors_and_too_many_requests_are_tried_again_with_the_same_key(
    app: Loopdesk, ticket: str, receiver: str
) -> None:
    connect(app, receiver)
    Receiver.plan = [(500, {"error": "database busy"}), (429, {}), (503, {})]
    run = app.start_run(ticket, {"topic": "Slow", "priority": 1}, "dana")
    assert run.status == "completed", run.error
    assert len({c["headers"]["Idempotency-Key"] for c in Receiver.heard}) == 1 and len(Receiver.heard) == 4
    [done] = [s for s in app.store.list_steps(run.id) if s.status == "done" and s.node_id == "send"]
    assert done.output["attempts"] == 4


def test_a_refusal_fails_the_step_with_the_servers_message(app: Loopdesk, ticket: str, receiver: str) -> None:
    connect(app, receiver)
    Receiver.plan = [(422, {"message": "priority must be 1 to 5"})]
    run = app.start_run(ticket, {"topic": "Bad", "priority": 9}, "dana")
    assert run.status == "failed" and len(Receiver.heard) == 1  # a 4xx is not tried again
    assert "127.0.0.1 refused the request: 422 priority must be 1 to 5" in (run.error or "")


def test_no_good_answer_in_four_attempts_fails_with_the_last_problem(
    app: Loopdesk, ticket: str, receiver: str
) -> None:
    connect(app, receiver)
    Receiver.plan = [(502, {"message": "upstream down"})] * 4
    run = app.start_run(ticket, {"topic": "Down", "priority": 1}, "dana")
    assert run.status == "failed" and len(Receiver.heard) == 4
    assert "got no good answer in 4 attempts: 127.0.0.1 answered 502 upstream down" in (run.error or "")


def test_without_its_connection_the_step_shows_what_it_would_have_sent(
    app: Loopdesk, ticket: str, receiver: str
) -> None:
    run = app.start_run(ticket, {"topic": "Demo", "priority": 3}, "dana")
    assert run.status == "completed", run.error
    assert Receiver.heard == []
    [done] = [s for s in app.store.list_steps(run.id) if s.status == "done" and s.node_id == "send"]
    assert done.output["delivery"] == "demo"
    assert done.output["note"] == "Demo delivery: connection “crm” is not set up, so nothing was sent."
    assert done.output["request"] == {
        "method": "POST", "url": "/tickets", "headers": {},
        "body": {"title": "Ticket: Demo", "priority": 3},
    }  # fmt: skip


class Crash(BaseException):
    """The process dies mid-call (nothing in the engine catches it)."""


def test_a_call_interrupted_before_its_result_was_saved_is_made_again_with_the_same_key(
    app: Loopdesk, ticket: str, receiver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect(app, receiver)
    real = outbound_call

    def reached_then_crashed(*args: Any, **kwargs: Any) -> Answer:
        real(*args, **kwargs)  # the server got it…
        monkeypatch.setattr(http_request, "call", real)
        raise Crash  # …and the process died before the answer was saved

    monkeypatch.setattr(http_request, "call", reached_then_crashed)
    with pytest.raises(Crash):
        app.start_run(ticket, {"topic": "Crash", "priority": 1}, "dana")
    [run] = app.store.list_runs(limit=1)
    assert run.status == "running" and run.current_node == "send"
    run = app.engine.drive(run.id)  # recovery drives the run again
    assert run.status == "completed", run.error
    keys = [c["headers"]["Idempotency-Key"] for c in Receiver.heard]
    assert keys == [f"{run.id}:send:1"] * 2  # the receiver can tell it is the same call
    steps = [s for s in app.store.list_steps(run.id) if s.node_id == "send"]
    assert [s.status for s in steps] == ["calling", "done"]
    assert steps[-1].meta["repeated_after_interruption"] is True
    app.engine.drive(run.id)  # a finished step is never made again
    assert len(Receiver.heard) == 2


def test_the_designer_checks_what_a_request_needs(app: Loopdesk) -> None:
    wf = ticket_workflow()
    node = wf.node("send").model_copy(update={"connection": "", "url": "/tickets"})
    bad = wf.model_copy(update={"nodes": [node if n.id == "send" else n for n in wf.nodes]})
    from engine.validation import validate_workflow

    problems = [p.message for p in validate_workflow(bad)]
    assert any("must start with http:// or https://, or name a connection" in p for p in problems)
