"""HTTP request: call an endpoint through a named connection and keep parts of its answer.

The body is built key by key from values (exactly `{{ name }}` sends the value as it is), or from a
text for experts. 2xx goes on; a 4xx fails the step with the server's message, except 408, 409 and
429, which are tried again like a 5xx or no answer in time (with backoff, honouring Retry-After).
Every attempt of one visit of the step carries the same `Idempotency-Key`, also after a crash.
Without the connection it names (none set up yet), the step runs in demo delivery: nothing is sent,
and the step's record shows exactly what would have been.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any
from urllib.parse import urlsplit

from engine.errors import EngineError, MissingConnectionError, StepError
from engine.kinds.base import NAME_RE, RESERVED_NAMES, AssigneeLabel, Kind, Look, dupes, swap_text
from engine.model import HttpRequestNode, KeyValue, Workflow
from engine.outbound import Answer, OutboundFailed, OutboundRefused, call
from engine.prompts import render
from engine.steps.base import StepContext, StepOutcome

ATTEMPTS = 4
"""Calls made at most for one visit of the step (the first and three more)."""
RETRY_STATUSES = frozenset({408, 409, 429})
"""4xx answers that mean "not now" rather than "not this": tried again."""
MAX_WAIT_SECONDS = 30.0
SHOWN_CHARS = 4000
"""How much of an answer the step's record keeps."""
HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
WHOLE_VALUE = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")
"""A value that is exactly one placeholder: sent as the value is (a number stays a number)."""


def retry_seconds() -> float:
    """The first wait before trying again (`LOOPDESK_HTTP_RETRY_SECONDS`, default 1); it doubles."""
    try:
        return max(0.0, float(os.environ.get("LOOPDESK_HTTP_RETRY_SECONDS", "1")))
    except ValueError:
        return 1.0


def is_whole_url(url: str) -> bool:
    """Whether a URL names its scheme and host (else it is a path under a connection's base URL)."""
    return url.strip().lower().startswith(("http://", "https://"))


def run(ctx: StepContext) -> StepOutcome:
    """Build the request from the run's values, make it (or show it, in demo delivery), keep the
    status and the picked fields."""
    node = ctx.node
    assert isinstance(node, HttpRequestNode)
    values = ctx.run.values
    where = f"step “{node.title or node.id}”"
    path = render(node.url, values, f"the URL of {where}", ctx.should_stop).strip()
    headers = {h.key: _text(h, values, where, ctx) for h in node.headers}
    body, content_type = _body(node, values, where, ctx)
    key = ctx.call.key if ctx.call is not None else f"{ctx.run.id}:{node.id}"
    connection = _connection(ctx, node)
    base = connection.get("base_url", "") if connection else ""
    url = path if is_whole_url(path) or not base else f"{base.rstrip('/')}/{path.lstrip('/')}"
    shown = {"method": node.method, "url": url, "headers": headers, "body": _shown(body)}
    meta: dict[str, Any] = {"idempotency_key": key}
    if ctx.call is not None and ctx.call.repeated:
        meta["repeated_after_interruption"] = True
    if connection is None and not is_whole_url(path):
        note = f"Demo delivery: connection “{node.connection}” is not set up, so nothing was sent."
        return StepOutcome(
            output={"delivery": "demo", "note": note, "request": shown},
            input={"request": shown},
            set_values=_demo_values(node),
            meta={**meta, "delivery": "demo"},
        )
    if not is_whole_url(url):
        raise StepError(f"the URL of {where} must start with http:// or https:// (or name a connection)")
    secret = {k.removeprefix("header."): v for k, v in (connection or {}).items() if k.startswith("header.")}
    sending = {**secret, **headers, "Idempotency-Key": key}
    if body is not None:
        sending.setdefault("Content-Type", content_type)
    timeout = _timeout(node, connection)
    answer, attempts = _send(node.method, url, sending, body, timeout, ctx, where)
    parsed = _parsed(answer)
    picked, missing = _picks(node, parsed)
    output: dict[str, Any] = {
        "delivery": "sent",
        "status": answer.status,
        "answer": parsed if not isinstance(parsed, str) else parsed[:SHOWN_CHARS],
        "attempts": attempts,
        "request": shown,
    }
    if missing:
        output["missing"] = missing
    if answer.cut:
        output["answer_cut"] = True
    if node.status_name:
        picked[node.status_name] = answer.status
    return StepOutcome(
        output=output,
        input={"request": shown},
        set_values=picked,
        meta={**meta, "attempts": attempts, "status": answer.status, "seconds": answer.seconds},
    )


def _text(row: KeyValue, values: dict[str, Any], where: str, ctx: StepContext) -> str:
    return render(row.value, values, f"the header {row.key} of {where}", ctx.should_stop)


def _body(
    node: HttpRequestNode, values: dict[str, Any], where: str, ctx: StepContext
) -> tuple[bytes | None, str]:
    """The body to send and its content type (None for GET and DELETE without a body)."""
    if node.raw_body.strip():
        text = render(node.raw_body, values, f"the body of {where}", ctx.should_stop)
        return text.encode(), "text/plain; charset=utf-8"
    if not node.body:
        return (None, "") if node.method in ("GET", "DELETE") else (b"{}", "application/json")
    doc: dict[str, Any] = {}
    for row in node.body:
        whole = WHOLE_VALUE.match(row.value.strip())
        if whole and whole.group(1) in values:
            doc[row.key] = values[whole.group(1)]
        else:
            doc[row.key] = render(row.value, values, f"the body field {row.key} of {where}", ctx.should_stop)
    return json.dumps(doc, ensure_ascii=False, default=str).encode(), "application/json"


def _shown(body: bytes | None) -> Any:
    """The body as the step's record shows it (JSON as JSON)."""
    if body is None:
        return None
    text = body.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text[:SHOWN_CHARS]


def _connection(ctx: StepContext, node: HttpRequestNode) -> dict[str, str] | None:
    """The connection's settings and secrets; None when it is not set up (demo delivery)."""
    if not node.connection:
        return None
    if ctx.connection is None:
        return None
    try:
        return dict(ctx.connection(node.connection, "http"))
    except MissingConnectionError:
        return None
    except EngineError as exc:
        raise StepError(str(exc)) from None


def _timeout(node: HttpRequestNode, connection: dict[str, str] | None) -> float:
    try:
        return float((connection or {}).get("timeout_seconds") or node.timeout_seconds)
    except ValueError:
        return node.timeout_seconds


def _send(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes | None,
    timeout: float,
    ctx: StepContext,
    where: str,
) -> tuple[Answer, int]:
    """The first good answer and the attempts it took; StepError with the server's message when it
    refuses, or with the last problem when no attempt got a good answer."""
    host = urlsplit(url).hostname or url
    wait = retry_seconds()
    problem = ""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            answer = call(method, url, headers, body, timeout_seconds=timeout)
        except OutboundRefused as exc:
            raise StepError(f"{where} was not sent: {exc}") from None
        except OutboundFailed as exc:
            problem, pause = str(exc), wait
        else:
            if 200 <= answer.status < 300:
                return answer, attempt
            message = _message(answer)
            if 300 <= answer.status < 400:
                moved = answer.headers.get("location", "another address")
                raise StepError(f"{host} answered {answer.status}: moved to {moved}; call that URL instead")
            if 400 <= answer.status < 500 and answer.status not in RETRY_STATUSES:
                raise StepError(
                    f"{host} refused the request: {answer.status} {message}".rstrip(),
                    {"status": answer.status, "attempts": attempt},
                )
            problem = f"{host} answered {answer.status} {message}".rstrip()
            pause = max(wait, _retry_after(answer))
        if attempt == ATTEMPTS or ctx.should_stop():
            break
        time.sleep(min(pause, MAX_WAIT_SECONDS))
        wait *= 2
    raise StepError(f"{where} got no good answer in {ATTEMPTS} attempts: {problem}", {"attempts": ATTEMPTS})


def _retry_after(answer: Answer) -> float:
    try:
        return float(answer.headers.get("retry-after", "0"))
    except ValueError:
        return 0.0


def _message(answer: Answer) -> str:
    """What the server said went wrong: a JSON `message`, `error` or `detail`, else its text."""
    parsed = _parsed(answer)
    if isinstance(parsed, dict):
        for key in ("message", "error", "detail", "error_description"):
            found = parsed.get(key)
            if isinstance(found, dict):
                found = found.get("message")
            if isinstance(found, str) and found.strip():
                return found.strip()[:300]
    text = answer.text().strip()
    return text[:300] if not text.startswith("<") else ""


def _parsed(answer: Answer) -> Any:
    try:
        return json.loads(answer.body) if answer.body and not answer.cut else answer.text()
    except ValueError:
        return answer.text()


def _picks(node: HttpRequestNode, parsed: Any) -> tuple[dict[str, Any], list[str]]:
    """The picked fields as values ("" for one the answer lacks), and the paths that were missing."""
    out: dict[str, Any] = {}
    missing: list[str] = []
    for pick in node.picks:
        found: Any = parsed
        for part in pick.path.split("."):
            if isinstance(found, dict) and part in found:
                found = found[part]
            elif isinstance(found, list) and part.isdigit() and int(part) < len(found):
                found = found[int(part)]
            else:
                found = None
                break
        if found is None:
            missing.append(pick.path)
        out[pick.name] = "" if found is None else found
    return out, missing


def _demo_values(node: HttpRequestNode) -> dict[str, Any]:
    """What a demo delivery leaves for later steps: empty picks, no status."""
    out: dict[str, Any] = {p.name: "" for p in node.picks}
    if node.status_name:
        out[node.status_name] = 0
    return out


def summary(node: HttpRequestNode, assignee_label: AssigneeLabel) -> list[str]:
    """The method and where it goes."""
    target = node.url.strip() or "no URL yet"
    return [f"{node.method} {node.connection + ' ' if node.connection else ''}{target}"[:80]]


def check(wf: Workflow, node: HttpRequestNode) -> list[str]:
    """A URL (whole, or a path under a connection), names later steps can use, sendable headers."""
    out: list[str] = []
    if not node.url.strip() and not node.connection:
        out.append("the HTTP request has no URL; give one, or a connection and a path")
    elif not node.connection and not is_whole_url(node.url):
        out.append("the URL must start with http:// or https://, or name a connection it is a path under")
    for name in [*(p.name for p in node.picks), *([node.status_name] if node.status_name else [])]:
        if not NAME_RE.match(name):
            out.append(f"the value name `{name}` must be letters, digits and _")
        elif name in RESERVED_NAMES:
            out.append(f"the value name `{name}` is reserved; choose another")
    out += [f"two kept values are named `{d}`" for d in sorted(dupes(p.name for p in node.picks))]
    out += [f"the answer field to keep as `{p.name}` has no path" for p in node.picks if not p.path.strip()]
    for h in node.headers:
        if not HEADER_NAME_RE.match(h.key):
            out.append(f"“{h.key}” is not an HTTP header name")
        if "\n" in h.value or "\r" in h.value:
            out.append(f"the header {h.key} cannot contain a line break")
    out += [f"the body has two fields named “{d}”" for d in sorted(dupes(r.key for r in node.body))]
    out += ["a body field has no name" for r in node.body if not r.key.strip()][:1]
    return out


def new_settings(wf: Workflow, node_id: str) -> dict[str, Any]:
    """A new request posts JSON; the designer names where."""
    return {"method": "POST", "url": ""}


def prompts(node: HttpRequestNode) -> list[tuple[str, str]]:
    """Every text that may use values: the URL, the headers, the body."""
    out = [("the URL", node.url), ("the body", node.raw_body)]
    out += [(f"the header {h.key}", h.value) for h in node.headers]
    out += [(f"the body field {r.key}", r.value) for r in node.body]
    return [(where, text) for where, text in out if text]


def swap_value(node: HttpRequestNode, old: str, new: str | None) -> HttpRequestNode:
    """The request with value `old` renamed (or its uses dropped) in every text, and a kept value
    named `old` renamed."""

    def rows(items: list[KeyValue]) -> list[KeyValue]:
        return [r.model_copy(update={"value": swap_text(r.value, old, new)}) for r in items]

    picks = [p.model_copy(update={"name": new}) if p.name == old and new else p for p in node.picks]
    status = new if node.status_name == old and new else node.status_name
    return node.model_copy(
        update={
            "url": swap_text(node.url, old, new),
            "raw_body": swap_text(node.raw_body, old, new),
            "headers": rows(node.headers),
            "body": rows(node.body),
            "picks": picks,
            "status_name": status,
        }
    )


KIND = Kind(
    type="http_request",
    label="HTTP request",
    node_class=HttpRequestNode,
    look=Look("⇄", "#e0f2f1", "#00695c", ":material/http:", palette_label="HTTP"),
    handler=run,
    summary=summary,
    check=check,
    new_settings=new_settings,
    calls_out=True,
    acts=True,
    produces=lambda node: [*([node.status_name] if node.status_name else []), *(p.name for p in node.picks)],
    prompts=prompts,
    swap_value=swap_value,
    uses_word="sends",
    writes_word="keeps",
)
