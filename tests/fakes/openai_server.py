"""A local HTTP server speaking OpenAI Chat Completions, so tests can use the real client.

Only the network edge is fake: point `openai.OpenAI(base_url=server.base_url)` (or an
`OpenAIProvider`) at it. Script it per test with `server.plan(...)`: each planned
response answers one request, in order; once the plan is used up every request gets the
default answer. Every request is recorded (path, headers, JSON body) in `server.requests`.

    with FakeOpenAIServer() as server:
        server.plan(error(429), error(429), answer("Hello"))
        ...
        assert len(server.requests) == 3

`FakeOpenAIServer(delay_ms=200)` answers every default request after 200 ms, many at once
(one thread per connection), which makes it a latency server for benchmarks.

Servers seen in the wild refuse things; the fake can too, before any planned answer is used:
`refuse_formats={"json_schema": 500}` answers a `json_schema` request as llama.cpp does (HTTP 500,
"response_format.type: Input should be 'text' or 'json_object'"), and `refuse_params={"temperature":
"..."}` answers any request carrying that parameter with HTTP 400 and that message, as reasoning
models do. A request with `"stream": true` is answered as server-sent events.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

DEFAULT_CONTENT = "Hello from the fake OpenAI server."


@dataclass(frozen=True)
class Planned:
    """One scripted response: a status and body, sent after `delay` seconds."""

    status: int = 200
    content: str | None = None
    """Assistant message of a 200 answer (the server's default content when None)."""
    body: Any = None
    """Whole JSON body to send instead of a generated one."""
    delay: float = 0.0
    """Seconds to wait before answering."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Extra response headers."""
    usage: tuple[int, int] | None = None
    """(prompt_tokens, completion_tokens) to report; counted from words when None."""
    finish_reason: str = "stop"
    """Why the answer ended: stop, length (token limit) or content_filter."""
    no_usage: bool = False
    """Report no `usage` at all, as some servers do."""
    cached_tokens: int = 0
    """Input tokens reported as read from the prompt cache."""
    chunk_delay: float = 0.0
    """Seconds between the pieces of a streamed answer."""


@dataclass(frozen=True)
class RecordedRequest:
    """What one request to the server carried."""

    method: str
    path: str
    headers: dict[str, str]
    """Header names in lower case."""
    json: Any
    """Decoded JSON body, or None when the body was not JSON."""


def answer(
    content: str | None = None,
    *,
    delay: float = 0.0,
    usage: tuple[int, int] | None = None,
    finish_reason: str = "stop",
    no_usage: bool = False,
    cached_tokens: int = 0,
    chunk_delay: float = 0.0,
) -> Planned:
    """Plan a successful chat completion (the default content when `content` is None)."""
    return Planned(
        status=200, content=content, delay=delay, usage=usage, finish_reason=finish_reason,
        no_usage=no_usage, cached_tokens=cached_tokens, chunk_delay=chunk_delay,
    )  # fmt: skip


LLAMA_CPP_FORMAT_ERROR = "response_format.type: Input should be 'text' or 'json_object'"
"""What llama.cpp's server answers (HTTP 500) to a `json_schema` response format."""


def error(
    status: int,
    message: str | None = None,
    *,
    code: str | None = None,
    delay: float = 0.0,
    headers: Mapping[str, str] | None = None,
) -> Planned:
    """Plan an OpenAI-style error response with the given HTTP status."""
    body = {
        "error": {
            "message": message or f"Fake server error {status}",
            "type": "rate_limit_error" if status == 429 else "api_error",
            "param": None,
            "code": code,
        }
    }
    return Planned(status=status, body=body, delay=delay, headers=dict(headers or {}))


class FakeOpenAIServer:
    """Threaded Chat Completions server on 127.0.0.1 with a scriptable queue of responses."""

    def __init__(
        self,
        *,
        prefix: str = "/v1",
        default_content: str = DEFAULT_CONTENT,
        delay_ms: float = 0.0,
        retry_after_ms: int | None = 10,
        refuse_formats: Mapping[str, int] | None = None,
        refuse_params: Mapping[str, str] | None = None,
    ) -> None:
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.default_content = default_content
        self.delay_ms = delay_ms
        self.retry_after_ms = retry_after_ms
        """Sent as `retry-after-ms` on error responses so client retries stay fast."""
        self.refuse_formats = dict(refuse_formats or {})
        """response_format type → the HTTP status it is refused with."""
        self.refuse_params = dict(refuse_params or {})
        """Request parameter → the message it is refused with (HTTP 400)."""
        self._plan: deque[Planned] = deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        """Bind to a free port and serve in a daemon thread."""
        httpd = _QuietThreadingServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; delayed answers still waiting are abandoned."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeOpenAIServer:
        """Start the server."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()

    # --- addresses -----------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on."""
        if self._httpd is None:
            raise RuntimeError("the fake OpenAI server is not running")
        return int(self._httpd.server_address[1])

    @property
    def root_url(self) -> str:
        """`http://127.0.0.1:PORT` without the path prefix."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The URL to pass as the client's `base_url`, e.g. `http://127.0.0.1:PORT/v1`."""
        return self.root_url + self.prefix

    # --- scripting and inspection ----------------------------------------------------

    def plan(self, *responses: Planned) -> None:
        """Queue responses; each answers one upcoming request, in order."""
        with self._lock:
            self._plan.extend(responses)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """Requests that reached `{prefix}/chat/completions`."""
        return [r for r in self.requests if r.path == self.chat_path]

    @property
    def chat_path(self) -> str:
        """The path chat completions are served on."""
        return f"{self.prefix}/chat/completions"

    # --- used by the handler ---------------------------------------------------------

    def _record_and_choose(self, recorded: RecordedRequest) -> Planned:
        with self._lock:
            self._requests.append(recorded)
            if recorded.path != self.chat_path or recorded.method != "POST":
                return error(404, f"Unknown path {recorded.method} {recorded.path}")
            refused = self._refusal(recorded.json if isinstance(recorded.json, dict) else {})
            if refused is not None:
                return refused
            if self._plan:
                return self._plan.popleft()
        return Planned(delay=self.delay_ms / 1000)

    def _refusal(self, request: dict[str, Any]) -> Planned | None:
        """How this server refuses the request, if it does (a parameter, then a response format)."""
        for name, message in self.refuse_params.items():
            if name in request:
                return error(400, message)
        kind = (request.get("response_format") or {}).get("type")
        if kind in self.refuse_formats:
            return error(self.refuse_formats[kind], LLAMA_CPP_FORMAT_ERROR)
        return None

    def _respond(
        self, planned: Planned, request_body: Any
    ) -> tuple[int, dict[str, str], bytes | list[bytes]]:
        if planned.delay > 0:
            self._stopping.wait(planned.delay)
        headers = dict(planned.headers)
        if planned.status >= 400 and self.retry_after_ms is not None:
            headers.setdefault("retry-after-ms", str(self.retry_after_ms))
        body = planned.body
        if body is None:
            body = self._completion(planned, request_body)
        if planned.status == 200 and isinstance(request_body, dict) and request_body.get("stream"):
            headers["content-type"] = "text/event-stream"
            headers["x-chunk-delay"] = str(planned.chunk_delay)
            return 200, headers, _events(body, request_body)
        return planned.status, headers, json.dumps(body).encode()

    def _completion(self, planned: Planned, request_body: Any) -> dict[str, Any]:
        content = self.default_content if planned.content is None else planned.content
        request = request_body if isinstance(request_body, dict) else {}
        if planned.usage is not None:
            prompt_tokens, completion_tokens = planned.usage
        else:
            words = sum(len(str(m.get("content", "")).split()) for m in request.get("messages", []))
            prompt_tokens, completion_tokens = words, len(content.split())
        body: dict[str, Any] = {
            "id": f"chatcmpl-fake-{next(self._ids)}",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": request.get("model", "fake-model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": planned.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": planned.cached_tokens},
            },
        }
        if planned.no_usage:
            del body["usage"]
        return body


def _events(completion: dict[str, Any], request: dict[str, Any]) -> list[bytes]:
    """A completion as server-sent events: the content a few words at a time, then the finish,
    then the usage when the request asked for it (`stream_options.include_usage`)."""
    choice = completion["choices"][0]
    content = choice["message"]["content"] or ""
    words = content.split(" ")
    pieces = [
        " ".join(words[i : i + 3]) + (" " if i + 3 < len(words) else "") for i in range(0, len(words), 3)
    ]
    base = {k: completion[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    chunks = [
        base | {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
        for piece in pieces
    ]
    chunks.append(base | {"choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]})
    if (request.get("stream_options") or {}).get("include_usage") and "usage" in completion:
        chunks.append(base | {"choices": [], "usage": completion["usage"]})
    lines = [f"data: {json.dumps(chunk)}\n\n" for chunk in chunks] + ["data: [DONE]\n\n"]
    return [line.encode() for line in lines]


class _QuietThreadingServer(ThreadingHTTPServer):
    """One daemon thread per connection; clients hanging up early are not errors."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore errors from clients that disconnected (e.g. after their timeout)."""


def _make_handler(fake: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self._handle()

        def do_GET(self) -> None:
            self._handle()

        def log_message(self, format: str, *args: Any) -> None:
            return None

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                decoded: Any = json.loads(raw) if raw else None
            except ValueError:
                decoded = None
            recorded = RecordedRequest(
                method=self.command,
                path=self.path,
                headers={name.lower(): value for name, value in self.headers.items()},
                json=decoded,
            )
            planned = fake._record_and_choose(recorded)
            status, headers, body = fake._respond(planned, decoded)
            pieces = body if isinstance(body, list) else [body]
            pause = float(headers.pop("x-chunk-delay", "0") or 0)
            try:
                self.send_response(status)
                self.send_header("Content-Type", headers.pop("content-type", "application/json"))
                self.send_header("Content-Length", str(sum(len(piece) for piece in pieces)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                for piece in pieces:
                    self.wfile.write(piece)
                    self.wfile.flush()
                    if pause:
                        fake._stopping.wait(pause)
            except OSError:
                # The client gave up (e.g. its timeout fired while we were delaying).
                self.close_connection = True

    return Handler
