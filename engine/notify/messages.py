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
from engine.notify.events import OutboxEvent
from engine.store.base import CheckpointRecord, RunRecord

ONCE_NOTE = (
    "Opening a link decides nothing; its button decides once, as you. Do not forward this email: "
    "its links act in your name until they expire."
)
LINK_LABELS = {"approve": "Approve", "reject": "Reject", "request_changes": "Request changes"}
ASKING_EVENTS = ("checkpoint.opened", "checkpoint.reassigned", "checkpoint.reminded")
"""Events that ask the people who may decide a checkpoint to review it (by email, with links)."""


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
    event: OutboxEvent, run: RunRecord, base_url: str, decision: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON a webhook receives (receivers de-duplicate on `id`); a decision's comment and word
    diffs when `decision` (the checkpoint's) is given."""
    doc: dict[str, Any] = {
        "id": event.id,
        "event": event.event,
        "run_id": event.run_id,
        "workflow_id": run.workflow_id,
        "title": run.title,
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

    Everything that came from users or the model is escaped in the HTML part.
    """
    msg = EmailMessage()
    msg["Subject"] = _header(f"{'Reminder: ' if reminder else ''}Review: {run.title} ({workflow_name})")
    msg["From"] = _header(sender)
    msg["To"] = _header(f"{recipient.display_name} <{recipient.email}>")
    lines = [
        f"Hi {recipient.display_name},",
        "",
        f"“{run.title}” ({workflow_name}) {'still waits' if reminder else 'waits'} for your review.",
    ]
    if cp.instructions:
        lines += ["", "What to check:", cp.instructions]
    demo = demo_values or set()
    for name, value in cp.shown.items():
        lines += ["", f"{value_label(name)}{DEMO_LABEL if name in demo else ''}:", value_text(value)]
    lines += [""]
    lines += [f"{LINK_LABELS[a]}: {url}" for a, url in links.items()]
    lines += [f"Open in Loopdesk: {open_url}", "", ONCE_NOTE]
    msg.set_content("\n".join(lines))

    e = html.escape
    values = "".join(
        f"<h4 style='margin:16px 0 4px'>{e(value_label(name))}{e(DEMO_LABEL) if name in demo else ''}</h4>"
        f"<pre style='white-space:pre-wrap;font-family:inherit;background:#f6f6f6;padding:8px'>"
        f"{e(value_text(value))}</pre>"
        for name, value in cp.shown.items()
    )
    buttons = " ".join(
        f"<a href='{e(url)}' style='padding:8px 14px;border:1px solid #888;border-radius:6px;"
        f"text-decoration:none;margin-right:6px'>{e(LINK_LABELS[a])}</a>"
        for a, url in links.items()
    )
    instructions = f"<p><b>What to check:</b> {e(cp.instructions)}</p>" if cp.instructions else ""
    msg.add_alternative(
        f"<html><body style='font-family:sans-serif'>"
        f"<p>Hi {e(recipient.display_name)},</p>"
        f"<p>“{e(run.title)}” ({e(workflow_name)}) waits for your review.</p>"
        f"{instructions}{values}<p style='margin-top:20px'>{buttons}"
        f"<a href='{e(open_url)}'>Open in Loopdesk</a></p>"
        f"<p style='color:#777;font-size:12px'>{e(ONCE_NOTE)}</p></body></html>",
        subtype="html",
    )
    return msg
