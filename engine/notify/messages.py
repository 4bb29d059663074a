"""What a notification says: the webhook JSON, a Slack message, and the review email."""

from __future__ import annotations

import html
import json
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

from engine.decisions import DECISION_VERBS
from engine.diffs import inline_diff, words_changed
from engine.directory import Directory, User
from engine.records import CheckpointRecord, OutboxEvent, RunRecord
from engine.rich_text import to_html, to_plain

ONCE_NOTE = (
    "Opening a link decides nothing; its button decides once, as you. Do not forward this email: "
    "its links act in your name until they expire."
)
LINK_LABELS = {"approve": "Approve", "reject": "Reject", "request_changes": "Request changes"}
ASKING_EVENTS = ("checkpoint.opened", "checkpoint.reassigned", "checkpoint.reminded")
"""Events that ask the people who may decide a checkpoint to review it (by email, with links)."""
OUTCOME_EVENTS = ("run.completed", "run.rejected", "run.failed")
"""Events that tell the person who started a run how it ended."""
EMAIL_EVENTS = ASKING_EVENTS + OUTCOME_EVENTS
"""Events that send emails: review requests to the people who may decide, outcomes to the requester."""


def item_url(base_url: str, event: OutboxEvent) -> str:
    """Where to look at what the event is about: the Inbox item while it waits, else the run."""
    if event.event in ASKING_EVENTS and event.checkpoint_id:
        return f"{base_url}/inbox?cp={quote(event.checkpoint_id)}"
    return f"{base_url}/runs?run={quote(event.run_id)}"


def decision_changes(decision: dict[str, Any] | None) -> dict[str, Any]:
    """What a decision changed, for its notification: each edited value as a word diff
    ([-removed-] {+added+}) with the words changed, and the edit size of the whole decision."""
    d = decision or {}
    edits = {
        name: {
            "diff": inline_diff(e.get("before"), e.get("after")),
            "words_changed": words_changed(e.get("before"), e.get("after")),
        }
        for name, e in (d.get("edits") or {}).items()
    }
    out: dict[str, Any] = {"comment": d.get("comment", ""), "edits": edits}
    if "edit_size" in d:
        out["edit_size"] = d["edit_size"]
    return out


def webhook_payload(
    event: OutboxEvent,
    run: RunRecord,
    base_url: str,
    decision: dict[str, Any] | None = None,
    result: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON a webhook receives (receivers de-duplicate on `id`); a decision's comment and word
    diffs when `decision` (the checkpoint's) is given; what a completed run delivers (`result`:
    value name → value) on `run.completed`."""
    doc: dict[str, Any] = {
        "id": event.id,
        "event": event.event,
        "run_id": event.run_id,
        "workflow_id": run.workflow_id,
        "title": run.title,
        "started_by": run.started_by,
        "url": item_url(base_url, event),
        "at": event.at,
    }
    if event.checkpoint_id:
        doc["checkpoint_id"] = event.checkpoint_id
    if event.assignee:
        doc["assignee"] = event.assignee
    if event.event == "checkpoint.decided":
        doc["decided_by"] = event.actor
        doc["action"] = event.action
        if decision is not None:
            doc.update(decision_changes(decision))
    if event.event == "checkpoint.reassigned":
        doc["reassigned_by"] = event.actor
    if event.event == "run.completed" and result:
        doc["result"] = result
    return doc


def summary(event: OutboxEvent, run: RunRecord, directory: Directory, workflow_name: str) -> str:
    """One readable sentence about the event."""
    title = f"“{run.title}” ({workflow_name})"
    if event.event == "checkpoint.opened":
        return f"{title} waits for {directory.label(event.assignee or '')} to review it"
    if event.event == "checkpoint.reminded":
        return f"Reminder: {title} still waits for {directory.label(event.assignee or '')} to review it"
    if event.event == "checkpoint.reassigned":
        who = directory.name_of(event.actor or "")
        return f"{title} was handed to {directory.label(event.assignee or '')} by {who}"
    if event.event == "checkpoint.decided":
        verb = DECISION_VERBS.get(event.action or "", "decided")
        return f"{title} was {verb} by {directory.name_of(event.actor or '')}"
    if event.event == "run.completed":
        return f"{title} is done: {run.outcome or 'completed'}"
    if event.event == "run.rejected":
        return f"{title} was rejected"
    return f"{title} failed: {run.error or 'see the run'}"


def slack_payload(
    event: OutboxEvent,
    run: RunRecord,
    directory: Directory,
    workflow_name: str,
    url: str,
    decision: dict[str, Any] | None = None,
) -> str:
    """A Slack incoming-webhook message (Slack's own link syntax; its special characters escaped),
    with what a decision changed as word diffs."""
    text = summary(event, run, directory, workflow_name)
    if event.event == "checkpoint.decided" and decision is not None:
        changes = decision_changes(decision)
        text += "".join(f"\nEdited {value_label(n)}: {e['diff']}" for n, e in changes["edits"].items())
    safe = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return json.dumps({"text": f"{safe} <{url}|Open in Loopdesk>"})


def value_label(name: str) -> str:
    """How a value's name reads to a person: `key_message` → 'Key message'."""
    words = name.replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else name


def _header(text: str) -> str:
    """Header text on one line (a title with a line break must not add headers)."""
    return " ".join(text.split())[:300]


def value_text(value: Any) -> str:
    """A shown value as text: strings as they are, anything else as indented JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2)


DEMO_LABEL = " (demo output: written by the offline demo model, not a real AI)"


def _page(body: str, footer: str = "") -> str:
    """An email's HTML part: one column that fits a phone (viewport set, at most 600 px wide, text at a
    readable size), `body` inside, `footer` small below."""
    foot = f"<p style='color:#6b6b6b;font-size:13px;line-height:1.4'>{footer}</p>" if footer else ""
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'></head>"
        "<body style='margin:0;padding:0;background:#f4f4f2'>"
        "<div style='max-width:600px;width:100%;margin:0 auto;padding:16px;box-sizing:border-box;"
        "font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;font-size:16px;"
        "line-height:1.5;color:#1c1b18;background:#ffffff'>"
        f"{body}{foot}</div></body></html>"
    )


def _buttons(links: dict[str, str]) -> str:
    """Links as large buttons, one per line on a narrow screen, with room between them."""
    e = html.escape
    return "".join(
        f"<a href='{e(url)}' style='display:inline-block;margin:0 8px 10px 0;padding:12px 18px;"
        "border:1px solid #8a8a8a;border-radius:8px;text-decoration:none;color:#1c1b18;"
        f"font-weight:600;min-width:120px;text-align:center'>{e(label)}</a>"
        for label, url in links.items()
    )


def _value_html(value: Any) -> str:
    """A shown value in the HTML part: text rendered from Markdown (safely), anything else as JSON."""
    if isinstance(value, str):
        return f"<div style='background:#f6f6f4;padding:8px 12px;border-radius:6px'>{to_html(value)}</div>"
    return (
        "<pre style='white-space:pre-wrap;word-break:break-word;font-family:inherit;background:#f6f6f4;"
        f"padding:8px 12px'>{html.escape(value_text(value))}</pre>"
    )


def _value_plain(value: Any) -> str:
    """A shown value in the text part: Markdown without its markers, anything else as JSON."""
    return to_plain(value) if isinstance(value, str) else value_text(value)


def review_email(
    *,
    cp: CheckpointRecord,
    run: RunRecord,
    workflow_name: str,
    recipient: User,
    sender: str,
    links: dict[str, str],
    open_url: str,
    reminder: bool = False,
    demo_values: set[str] | None = None,
) -> EmailMessage:
    """A plain-text and HTML email asking one reviewer to decide, with one-click decision links;
    values the offline demo model wrote (`demo_values`) are labelled as demo output.

    Everything that came from users or the model is escaped in the HTML part; Markdown in it is
    rendered (never shown as raw `#` or `**`), in the text part without its markers.
    """
    msg = EmailMessage()
    msg["Subject"] = _header(f"{'Reminder: ' if reminder else ''}Review: {run.title} ({workflow_name})")
    msg["From"] = _header(sender)
    msg["To"] = _header(f"{recipient.display_name} <{recipient.email}>")
    waits = "still waits" if reminder else "waits"
    lines = [f"Hi {recipient.display_name},", "", f"“{run.title}” ({workflow_name}) {waits} for your review."]
    if cp.instructions:
        lines += ["", "What to check:", to_plain(cp.instructions)]
    demo = demo_values or set()
    for name, value in cp.shown.items():
        lines += ["", f"{value_label(name)}{DEMO_LABEL if name in demo else ''}:", _value_plain(value)]
    lines += [""]
    lines += [f"{LINK_LABELS[a]}: {url}" for a, url in links.items()]
    lines += [f"Open in Loopdesk: {open_url}", "", ONCE_NOTE]
    msg.set_content("\n".join(lines))

    e = html.escape
    values = "".join(
        f"<h3 style='margin:20px 0 6px;font-size:17px'>{e(value_label(name))}"
        f"{e(DEMO_LABEL) if name in demo else ''}</h3>{_value_html(value)}"
        for name, value in cp.shown.items()
    )
    instructions = (
        f"<h3 style='margin:20px 0 6px;font-size:17px'>What to check</h3>{to_html(cp.instructions)}"
        if cp.instructions
        else ""
    )
    buttons = _buttons({**{LINK_LABELS[a]: url for a, url in links.items()}, "Open in Loopdesk": open_url})
    body = (
        f"<p>Hi {e(recipient.display_name)},</p>"
        f"<p>“{e(run.title)}” ({e(workflow_name)}) {waits} for your review.</p>"
        f"{instructions}{values}<div style='margin-top:24px'>{buttons}</div>"
    )
    msg.add_alternative(_page(body, e(ONCE_NOTE)), subtype="html")
    return msg


def outcome_email(
    *, event: OutboxEvent, run: RunRecord, workflow_name: str, recipient: User, sender: str, url: str,
    reason: str = "", result: list[tuple[str, str]] | None = None,
) -> EmailMessage:  # fmt: skip
    """The email that tells the person who started a run how it ended (done with what it delivers
    (`result`: label, text), rejected with the reason, failed with the error), with a link to the run."""
    detail = ""
    if event.event == "run.completed":
        subject, said = f"Done: {run.title}", f"is done: {run.outcome or 'completed'}"
    elif event.event == "run.rejected":
        subject, said, detail = f"Rejected: {run.title}", "was rejected", reason
    else:
        subject, said, detail = f"Failed: {run.title}", "stopped: a step failed", run.error or ""
    msg = EmailMessage()
    msg["Subject"] = _header(f"{subject} ({workflow_name})")
    msg["From"] = _header(sender)
    msg["To"] = _header(f"{recipient.display_name} <{recipient.email}>")
    lines = [f"Hi {recipient.display_name},", "", f"Your request “{run.title}” ({workflow_name}) {said}."]
    if detail:
        lines += ["", f"{'Reason' if event.event == 'run.rejected' else 'What went wrong'}: {detail}"]
    delivered = result if event.event == "run.completed" else []
    for label, text in delivered or []:
        lines += ["", f"{label}:", to_plain(text)]
    lines += ["", f"Open the run: {url}"]
    msg.set_content("\n".join(lines))
    e = html.escape
    why = ""
    if detail:
        label = "Reason" if event.event == "run.rejected" else "What went wrong"
        why = f"<p><b>{label}:</b> {e(detail)}</p>"
    body = (
        f"<p>Hi {e(recipient.display_name)},</p>"
        f"<p>Your request “{e(run.title)}” ({e(workflow_name)}) {e(said)}.</p>{why}"
        + "".join(f"<p><b>{e(label)}</b></p><div>{to_html(text)}</div>" for label, text in delivered or [])
        + f"<div style='margin-top:24px'>{_buttons({'Open the run': url})}</div>"
    )
    msg.add_alternative(_page(body), subtype="html")
    return msg
