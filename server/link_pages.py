"""The small pages behind emailed decision links: GET shows the item and one button (mail scanners
that open links decide nothing); POST applies the decision as the link's reviewer."""

from __future__ import annotations

import html
import logging
from typing import Any
from urllib.parse import parse_qs, quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from engine.errors import EngineError
from engine.limits import MAX_COMMENT_CHARS
from engine.link_decisions import LinkPage, decide_by_link, view_link
from engine.links import LINK_ACTIONS
from engine.notify.messages import LINK_LABELS as LABELS
from engine.notify.messages import value_label, value_text
from server.bodies import BodyTooLarge, read_capped
from server.process import shared_app

log = logging.getLogger("loopdesk.links")

NEEDS_COMMENT = {"reject": "Reason (required)", "request_changes": "What should change? (required)"}
MAX_FORM_BYTES = 8 * MAX_COMMENT_CHARS
"""A posted form larger than this is refused before it is read (a comment at the limit, percent-encoded)."""
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "Referrer-Policy": "no-referrer",  # the link is a credential: never pass it on
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "pre{white-space:pre-wrap;background:#f5f5f5;padding:.6rem;border-radius:6px;font-family:inherit}"
    "textarea{width:100%;min-height:6rem;font:inherit}button{font:inherit;padding:.5rem 1.2rem;"
    "border-radius:6px;border:1px solid #555;background:#fff;cursor:pointer}.note{color:#666}"
    ".error{color:#a00}.done{color:#075}"
)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    doc = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}"
        f" · Loopdesk</title><meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )
    return HTMLResponse(doc, status_code=status, headers=HEADERS)


def _value(value: Any) -> str:
    return f"<pre>{html.escape(value_text(value))}</pre>"


def _open_link(page: LinkPage) -> str:
    if page.checkpoint is not None and page.checkpoint.status == "pending":
        return f"/inbox?cp={quote(page.checkpoint.id)}"
    if page.checkpoint is not None:
        return f"/runs?run={quote(page.checkpoint.run_id)}"
    if page.claims is not None:
        return f"/inbox?cp={quote(page.claims.checkpoint_id)}"
    return "/"


def render(page: LinkPage, token: str) -> HTMLResponse:
    """The page for a link in its current state."""
    e = html.escape
    open_in_app = f"<p><a href='{e(_open_link(page))}'>Open in Loopdesk</a></p>"
    if not page.ready:
        css = "done" if page.state == "done" else "note"
        status = 410 if page.state == "expired" else 404 if page.state == "invalid" else 200
        body = f"<h1>Loopdesk</h1><p class='{css}'>{e(page.message)}</p>{open_in_app}"
        return _page("Decision", body, status)
    assert page.claims is not None and page.checkpoint is not None and page.run is not None
    action = page.claims.action if page.claims.action in LINK_ACTIONS else "approve"
    cp = page.checkpoint
    parts = [
        f"<h1>{e(LABELS[action])}: {e(page.run.title)}</h1>",
        f"<p class='note'>{e(page.workflow_name)} · for {e(page.reviewer)}</p>",
    ]
    if cp.instructions:
        parts.append(f"<p><b>What to check:</b> {e(cp.instructions)}</p>")
    for name, value in cp.shown.items():
        parts.append(f"<h3>{e(value_label(name))}</h3>{_value(value)}")
    if page.error:
        parts.append(f"<p class='error'>{e(page.error)}</p>")
    label = NEEDS_COMMENT.get(action, "Comment (optional)")
    required = " required" if action in NEEDS_COMMENT else ""
    parts.append(
        f"<form method='post' action='/decide/{e(token)}'>"
        f"<p><label for='comment'>{e(label)}</label><br>"
        f"<textarea id='comment' name='comment' maxlength='{MAX_COMMENT_CHARS}'{required}></textarea></p>"
        f"<button type='submit'>{e(LABELS[action])}</button></form>"
    )
    parts.append(open_in_app)
    return _page(LABELS[action], "".join(parts))


async def decide_link(request: Request) -> Response:
    """GET: show the item and one button. POST: apply the decision once and say what happened."""
    token = request.path_params["token"]
    try:
        if request.method == "POST":
            raw = await read_capped(request, MAX_FORM_BYTES)
            form = parse_qs(raw.decode("utf-8", "replace"))
            comment = (form.get("comment") or [""])[0]  # the engine refuses one over the limit
            page = await run_in_threadpool(lambda: decide_by_link(shared_app(), token, comment))
        else:
            page = await run_in_threadpool(lambda: view_link(shared_app(), token))
    except BodyTooLarge:
        return _page("Too long", "<h1>Loopdesk</h1><p class='error'>That comment is too long.</p>", 413)
    except EngineError as exc:
        return _page("Unavailable", f"<h1>Loopdesk</h1><p class='error'>{html.escape(str(exc))}</p>", 503)
    except Exception:
        log.exception("decision link failed")
        return _page("Error", "<h1>Loopdesk</h1><p class='error'>Something went wrong; try again.</p>", 500)
    return render(page, token)


def routes() -> list[Route]:
    """The decision-link routes."""
    return [Route("/decide/{token}", decide_link, methods=["GET", "POST"])]
