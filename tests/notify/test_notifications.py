"""Notifications through the outbox: written with the change they announce, delivered at least
once (same id on every retry), signed, as webhooks, Slack messages and review emails."""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from engine.decisions import Approve, Reassign, Reject, RequestChanges
from engine.directory import Directory
from engine.errors import NotAllowedError
from engine.llm.demo import DemoProvider
from engine.notify import channels
from engine.notify.sender import HANDOFF_SECONDS, LANE_THREADS, POLL_SECONDS
from engine.notify.settings import NotifySettings, Webhook, parse_smtp
from engine.records import CheckpointQuery
from engine.services import Loopdesk
from tests.conftest import load_template, save_variant
from tests.fakes.receivers import RawReceiver, SmtpInbox, WebhookReceiver, html_part, text_part
from tests.waiting import wait_until

SECRET = "webhook-secret"
BASE = "http://loopdesk.example"


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def smtp() -> Iterator[SmtpInbox]:
    with SmtpInbox() as inbox:
        yield inbox


def notifying_app(db_path: str, settings: NotifySettings) -> Loopdesk:
    app = Loopdesk.open(db_path, provider=DemoProvider(), directory=Directory.load(), workers=2)
    app.save_workflow(load_template("marketing_social_post"), "dana")
    app.start_background(settings)
    return app


def test_a_whole_marketing_run_reaches_the_webhook_signed_and_in_order(
    db_path: str, hook: WebhookReceiver
) -> None:
    app = notifying_app(db_path, NotifySettings(webhooks=(Webhook(hook.url),), secret=SECRET, base_url=BASE))
    try:
        run = app.start_run("marketing-social-post", {"topic": "Spring <sale>"}, "dana")
        cp = app.inbox("jamie")[0]
        app.decide(cp.id, "jamie", Approve(comment="ship it"))
        got = hook.wait_for(lambda d: len(d) >= 3)
    finally:
        app.close()
    events = [d.json for d in got]
    assert [e["event"] for e in events] == ["checkpoint.opened", "checkpoint.decided", "run.completed"]
    opened, decided, completed = events
    assert opened["assignee"] == "jamie" and opened["checkpoint_id"] == cp.id
    assert opened["url"] == f"{BASE}/inbox?cp={cp.id}"
    assert decided["decided_by"] == "jamie" and decided["action"] == "approve"
    assert completed["url"] == f"{BASE}/runs?run={run.id}"
    for e in events:
        assert e["run_id"] == run.id and e["workflow_id"] == "marketing-social-post"
        assert e["title"] == "Spring <sale>" and isinstance(e["at"], float)
    assert len({e["id"] for e in events}) == 3
    for d in got:  # the receiver can check each body came from Loopdesk
        expected = "sha256=" + hmac.new(SECRET.encode(), d.body, hashlib.sha256).hexdigest()
        assert d.headers["x-loopdesk-signature"] == expected
        assert d.headers["x-loopdesk-delivery"] == d.json["id"]
        assert d.headers["x-loopdesk-event"] == d.json["event"]


def test_events_are_written_in_the_same_commit_as_the_change(app: Loopdesk) -> None:
    """Without any sender running, the outbox already holds what happened (and nothing else)."""
    app.save_workflow(load_template("marketing_social_post"), "dana")
    run = app.start_run("marketing-social-post", {"topic": "t"}, "dana")
    assert [e.event for e in app.store.list_events(run.id)] == ["checkpoint.opened"]
    with pytest.raises(NotAllowedError):
        app.decide(app.inbox("jamie")[0].id, "dana", Approve())  # refused: nothing announced
    assert [e.event for e in app.store.list_events(run.id)] == ["checkpoint.opened"]
    assert all(e.status == "pending" for e in app.store.list_events(run.id))


def test_a_receiver_that_fails_twice_gets_the_event_again_with_the_same_id(
    db_path: str, hook: WebhookReceiver
) -> None:
    hook.answers = [500, 503]
    app = notifying_app(db_path, NotifySettings(webhooks=(Webhook(hook.url),), secret=SECRET, base_url=BASE))
    try:
        run = app.start_run("marketing-social-post", {"topic": "t"}, "dana")
        assert run.status == "waiting"  # the failing receiver never held the run up
        got = hook.wait_for(lambda d: len(d) >= 1, timeout=20)
        attempts = [d for d in hook.deliveries if d.json["event"] == "checkpoint.opened"]
        assert [d.status for d in attempts] == [500, 503, 200]
        assert len({d.json["id"] for d in attempts}) == 1 and got[0].json["id"] == attempts[0].json["id"]
        # the sender records the delivery just after making it
        wait_until(lambda: app.store.list_events(run.id)[0].status != "pending", "the delivery is recorded")
        [event] = app.store.list_events(run.id)
        assert (event.status, event.attempts) == ("delivered", 2)
        assert "HTTP 500" in (event.last_error or "") or "HTTP 503" in (event.last_error or "")
        failures = [a for a in app.store.list_audit(run.id) if a.event == "notification_failed"]
        assert len(failures) == 1 and "HTTP 500" in failures[0].detail["error"]
    finally:
        app.close()


def test_one_failing_receiver_does_not_resend_to_the_one_that_took_it(db_path: str) -> None:
    with WebhookReceiver() as good, WebhookReceiver() as bad:
        bad.answers = [500]
        settings = NotifySettings(webhooks=(Webhook(good.url), Webhook(bad.url)), base_url=BASE)
        app = notifying_app(db_path, settings)
        try:
            app.start_run("marketing-social-post", {"topic": "t"}, "dana")
            bad.wait_for(lambda d: len(d) >= 1)
            good.wait_for(lambda d: len(d) >= 1)
        finally:
            app.close()
        assert len(good.deliveries) == 1 and [d.status for d in bad.deliveries] == [500, 200]


def test_slack_gets_a_readable_message(db_path: str, hook: WebhookReceiver) -> None:
    settings = NotifySettings(webhooks=(Webhook(hook.url, "slack"),), base_url=BASE)
    app = notifying_app(db_path, settings)
    try:
        app.start_run("marketing-social-post", {"topic": "Launch <b>&</b>"}, "dana")
        [got] = hook.wait_for(lambda d: len(d) >= 1)
    finally:
        app.close()
    text = got.json["text"]
    assert text.startswith("“Launch &lt;b&gt;&amp;&lt;/b&gt;” (Marketing social post) waits for Jamie Rivera")
    assert text.endswith("|Open in Loopdesk>") and f"<{BASE}/inbox?cp=" in text


def test_the_reviewer_gets_an_email_with_escaped_content_and_decision_links(
    db_path: str, smtp: SmtpInbox
) -> None:
    app = notifying_app(db_path, NotifySettings(smtp=parse_smtp(smtp.url), base_url=BASE))
    try:
        run = app.start_run("marketing-social-post", {"topic": "<img src=http://203.0.113.9/p.png>"}, "dana")
        [mail] = smtp.wait_for("jamie@example.com")
    finally:
        app.close()
    assert mail["Subject"] == "Review: <img src=http://203.0.113.9/p.png> (Marketing social post)"
    assert mail["To"] == "Jamie Rivera <jamie@example.com>"
    text, page = text_part(mail), html_part(mail)
    draft = run.values["draft"]
    assert draft.splitlines()[0] in text and "Check the LinkedIn draft" in text
    assert "Draft (demo output: written by the offline demo model, not a real AI):" in text
    assert "[Demo" not in draft  # labelled beside the value, never inside it
    assert "<img src=http" not in page and "&lt;img src=http://203.0.113.9/p.png&gt;" in page
    for label in ("Approve", "Reject", "Request changes", "Open in Loopdesk"):
        assert f"{label}: " in text
    assert f"{BASE}/decide/" in text and f"{BASE}/inbox?cp=" in text


def test_a_group_checkpoint_emails_each_member_who_may_decide_it(db_path: str, smtp: SmtpInbox) -> None:
    app = Loopdesk.open(db_path, provider=DemoProvider(), directory=Directory.load(), workers=2)
    try:
        app.save_workflow(load_template("refund_request"), "sam")
        app.start_background(NotifySettings(smtp=parse_smtp(smtp.url), base_url=BASE))
        # Riley (support) asks; the support group decides, but never the person who asked
        run = app.start_run("refund-request", {"customer_name": "Ana", "email": "a@b.co", "order_id": "A1",
                                                "amount": 20, "reason": "broken"}, "riley")  # fmt: skip
        assert run.status == "waiting"
        smtp.wait_for("sam@example.com")
    finally:
        app.close()
    recipients = {r for rcpt, _ in smtp.messages for r in rcpt}
    assert recipients == {"sam@example.com"}


def test_notifications_wait_in_the_outbox_while_nothing_delivers_them(
    db_path: str, hook: WebhookReceiver
) -> None:
    """Events committed while no sender runs (a crash, a stop) are delivered at the next start."""
    app = Loopdesk.open(db_path, provider=DemoProvider(), directory=Directory.load(), workers=2)
    try:
        app.save_workflow(load_template("marketing_social_post"), "dana")
        run = app.start_run("marketing-social-post", {"topic": "t"}, "dana")
    finally:
        app.close()
    assert hook.deliveries == []
    app = notifying_app(db_path, NotifySettings(webhooks=(Webhook(hook.url),), base_url=BASE))
    try:
        [got] = hook.wait_for(lambda d: len(d) >= 1)
        assert got.json["run_id"] == run.id and got.json["event"] == "checkpoint.opened"
    finally:
        app.close()


class GarbageServer(RawReceiver):
    """A TCP server that answers every request with something that is not HTTP."""

    def handle(self, conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(b"this is not HTTP\r\n\r\n")


def test_a_receiver_answering_garbage_is_a_failed_delivery_not_a_stuck_sender(
    db_path: str, hook: WebhookReceiver
) -> None:
    garbage = GarbageServer()
    settings = NotifySettings(webhooks=(Webhook(hook.url), Webhook(garbage.url)), base_url=BASE)
    app = notifying_app(db_path, settings)
    try:
        run = app.start_run("marketing-social-post", {"topic": "t"}, "dana")
        hook.wait_for(lambda d: len(d) >= 1)
        wait_until(lambda: app.store.list_events(run.id)[0].attempts >= 2, "the failure is counted")
        [event] = app.store.list_events(run.id)
    finally:
        app.close()
        garbage.close()
    assert len(hook.deliveries) == 1  # the healthy receiver got it once, not again on every round
    assert event.status == "pending" and "unusable answer" in (event.last_error or "")
    # receivers are named by host and a hash, never by their (possibly secret) URL
    assert all("/hook" not in key for key in event.done) and "/hook" not in (event.last_error or "")


def test_nothing_is_sent_later_for_events_from_when_no_channel_was_set_up(
    db_path: str, hook: WebhookReceiver
) -> None:
    app = notifying_app(db_path, NotifySettings(base_url=BASE))
    try:
        run = app.start_run("marketing-social-post", {"topic": "t"}, "dana")
        wait_until(lambda: app.store.list_events(run.id)[0].status == "skipped", "the event is skipped")
        # done with: out of the table the sender reads after every commit, still in the run's record
        assert app.store.due_events(time.time() + 86400) == []
        assert app.store._rows("SELECT count(*) FROM outbox WHERE run_id = ?", [run.id]) == [(0,)]  # type: ignore[attr-defined]
        assert [e.status for e in app.store.list_events(run.id)] == ["skipped"]
    finally:
        app.close()
    app = notifying_app(db_path, NotifySettings(webhooks=(Webhook(hook.url),), base_url=BASE))
    try:
        app.start_run("marketing-social-post", {"topic": "after"}, "dana")
        got = hook.wait_for(lambda d: len(d) >= 1)
        time.sleep(0.5)
    finally:
        app.close()
    assert [d.json["title"] for d in got] == ["after"] and len(hook.deliveries) == 1


def test_the_email_offers_request_changes_only_while_the_task_can_be_sent_back(
    db_path: str, smtp: SmtpInbox
) -> None:
    app = Loopdesk.open(db_path, provider=DemoProvider(), directory=Directory.load(), workers=2)
    try:
        wf = load_template("marketing_social_post")
        save_variant(app, wf.model_copy(update={"max_revisions": 1}))
        app.start_background(NotifySettings(smtp=parse_smtp(smtp.url), base_url=BASE))
        app.start_run("marketing-social-post", {"topic": "Twice"}, "dana")
        [first] = smtp.wait_for("jamie@example.com")
        app.decide(app.inbox("jamie")[0].id, "jamie", RequestChanges(comment="shorter"))
        second = smtp.wait_for("jamie@example.com", count=2)[1]
    finally:
        app.close()
    assert "Request changes: " in text_part(first)
    assert "Request changes: " not in text_part(second) and "Approve: " in text_part(second)


def test_the_decision_notification_carries_the_word_diff(db_path: str, hook: WebhookReceiver) -> None:
    app = notifying_app(db_path, NotifySettings(webhooks=(Webhook(hook.url),), secret=SECRET, base_url=BASE))
    try:
        app.start_run("marketing-social-post", {"topic": "Spring sale"}, "dana")
        cp = app.inbox("jamie")[0]
        draft = str(cp.shown["draft"])
        words = draft.split()
        edited = draft[: draft.rindex(words[-1])] + "tomorrow!"  # one word changed, lines kept
        app.decide(cp.id, "jamie", Approve(comment="one word", edits={"draft": edited}))
        got = hook.wait_for(lambda d: any(x.json["event"] == "checkpoint.decided" for x in d))
    finally:
        app.close()
    decided = next(d.json for d in got if d.json["event"] == "checkpoint.decided")
    change = decided["edits"]["draft"]
    assert change["words_changed"] == 1
    assert change["diff"].endswith(f"[-{words[-1]}-] {{+tomorrow!+}}")
    assert decided["edit_size"] == round(1 / len(words), 4) and decided["comment"] == "one word"


class DribblingServer(RawReceiver):
    """The attack's receiver: it takes the request, then sends its answer one byte every few seconds,
    for ever (a timeout per read never fires)."""

    def __init__(self, every: float = 3.0) -> None:
        self.every = every
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        conn.recv(65536)
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 10_000:
            if self.stopped.wait(self.every):
                return
            conn.sendall(bytes([byte]))


def test_a_receiver_that_dribbles_its_answer_delays_no_other_notification(
    db_path: str, hook: WebhookReceiver, smtp: SmtpInbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attack: a webhook answering one header byte every 3 s held every email of the process for
    150+ s. Now each receiver has its own lane and each delivery a total deadline."""
    monkeypatch.setattr(channels, "DEADLINE_SECONDS", 2.0)
    slow = DribblingServer(every=0.5)
    settings = NotifySettings(
        webhooks=(Webhook(slow.url), Webhook(hook.url)), smtp=parse_smtp(smtp.url), base_url=BASE
    )
    app = notifying_app(db_path, settings)
    try:
        started = time.monotonic()
        runs = [app.start_run("marketing-social-post", {"topic": f"Post {i}"}, "dana") for i in range(3)]
        smtp.wait_for("jamie@example.com", count=3, timeout=10)
        hook.wait_for(lambda d: len(d) >= 3, timeout=10)
        delivered_in = time.monotonic() - started
        assert delivered_in < 3.0, f"the healthy receivers waited {delivered_in:.1f} s for the slow one"
        # the slow one is cut off at the deadline each round and retried, never holding a thread for ever
        cut_off = lambda: all(e.last_error for r in runs for e in app.store.list_events(r.id))  # noqa: E731
        wait_until(cut_off, "the slow deliveries are cut off")
        for run in runs:
            [event] = app.store.list_events(run.id)
            assert event.status == "pending" and "no answer within 2 s" in (event.last_error or "")
            assert {k.split(":")[0] for k in event.done} == {"json", "email"}  # the others have it
    finally:
        app.close()
        slow.close()


def test_deliveries_to_one_receiver_run_a_few_at_a_time(db_path: str, hook: WebhookReceiver) -> None:
    hook.hang.set()  # every request waits until released
    app = notifying_app(db_path, NotifySettings(webhooks=(Webhook(hook.url),), base_url=BASE))
    try:
        for i in range(10):
            app.start_run("marketing-social-post", {"topic": f"Post {i}"}, "dana")
        time.sleep(1.0)
        held = app.notifier and sum(1 for t in threading.enumerate() if t.name.startswith("loopdesk-deliver"))
        assert held == LANE_THREADS  # ten events, but only this many connections to the one receiver
        hook.hang.clear()
        hook.wait_for(lambda d: len(d) >= 10, timeout=20)
    finally:
        app.close()


def test_a_process_without_channels_leaves_events_to_the_ones_that_have_them(
    pg_url: str, hook: WebhookReceiver, smtp: SmtpInbox
) -> None:
    """The attack (PostgreSQL, several processes): while the configured processes restarted, a process
    running without notification settings marked every due event `skipped`, so 3 of 3 were lost."""
    configured = notifying_app(pg_url, NotifySettings(webhooks=(Webhook(hook.url),), base_url=BASE))
    configured.close()  # it announced its channel, then restarts
    bare = notifying_app(pg_url, NotifySettings(base_url=BASE))  # no channel at all
    try:
        runs = [bare.start_run("marketing-social-post", {"topic": f"Lost {i}"}, "dana") for i in range(3)]
        time.sleep(3 * POLL_SECONDS)  # the bare process polls and must leave them due
        assert {e.status for r in runs for e in bare.store.list_events(r.id)} == {"pending"}
        assert hook.deliveries == []
    finally:
        bare.close()
    configured = notifying_app(pg_url, NotifySettings(webhooks=(Webhook(hook.url),), base_url=BASE))
    try:
        got = hook.wait_for(lambda d: len(d) >= 3)
    finally:
        configured.close()
    assert sorted(d.json["title"] for d in got) == ["Lost 0", "Lost 1", "Lost 2"]


def test_two_processes_with_different_channels_each_deliver_their_own(
    pg_url: str, hook: WebhookReceiver, smtp: SmtpInbox
) -> None:
    mailer = notifying_app(pg_url, NotifySettings(smtp=parse_smtp(smtp.url), base_url=BASE))
    poster = Loopdesk.open(pg_url, provider=DemoProvider(), directory=Directory.load(), workers=2)
    poster.start_background(NotifySettings(webhooks=(Webhook(hook.url),), base_url=BASE))
    try:
        run = mailer.start_run("marketing-social-post", {"topic": "Both ways"}, "dana")
        smtp.wait_for("jamie@example.com")
        hook.wait_for(lambda d: len(d) >= 1)
        delivered = lambda: mailer.store.list_events(run.id)[0].status == "delivered"  # noqa: E731
        wait_until(delivered, "the mail is delivered", timeout=2 * HANDOFF_SECONDS + 10)
        [event] = mailer.store.list_events(run.id)
        assert {"email", "email:jamie", Webhook(hook.url).key} <= set(event.done)
    finally:
        poster.close()
        mailer.close()
    assert len(hook.deliveries) == 1 and len(smtp.messages) == 1  # each channel once


def test_the_person_who_asked_hears_how_their_run_ended(
    db_path: str, smtp: SmtpInbox, hook: WebhookReceiver
) -> None:
    settings = NotifySettings(webhooks=(Webhook(hook.url),), smtp=parse_smtp(smtp.url), base_url=BASE)
    app = notifying_app(db_path, settings)
    try:
        done = app.start_run("marketing-social-post", {"topic": "Ship it"}, "dana")
        app.decide(app.inbox("jamie")[0].id, "jamie", Approve())
        [mail] = smtp.wait_for("dana@example.com")
        refused = app.start_run("marketing-social-post", {"topic": "Not this"}, "dana")
        cp = app.store.list_checkpoints(CheckpointQuery(status="pending", run_id=refused.id))[0]
        app.decide(cp.id, "jamie", Reject(comment="Off brand for spring"))
        rejected = smtp.wait_for("dana@example.com", count=2)[1]
        finished = hook.wait_for(lambda d: sum(x.json["event"].startswith("run.") for x in d) >= 2)
        values = app.store.get_run(done.id).values  # type: ignore[union-attr]
    finally:
        app.close()
    assert mail["Subject"] == "Done: Ship it (Marketing social post)"
    assert "Your request “Ship it” (Marketing social post) is done: Published." in text_part(mail)
    assert f"{BASE}/runs?run={done.id}" in text_part(mail) and f"{BASE}/runs?run={done.id}" in html_part(mail)
    assert rejected["Subject"] == "Rejected: Not this (Marketing social post)"
    assert "Reason: Off brand for spring" in text_part(rejected)
    ended = [d.json for d in finished if d.json["event"].startswith("run.")]
    assert {e["started_by"] for e in ended} == {"dana"}  # a webhook can tell the requester too
    # what the run delivers (its End's result): in the email and the run.completed webhook
    completed = next(e for e in ended if e["event"] == "run.completed")
    assert completed["result"] == {"draft": values["draft"], "translation": values["translation"]}
    assert "result" not in next(e for e in ended if e["event"] == "run.rejected")
    first_line = next(line for line in values["translation"].splitlines() if line.strip())
    assert "Translation:" in text_part(mail) and first_line.strip("#* ") in text_part(mail)
    assert "<b>Translation</b>" in html_part(mail)


def test_a_draft_in_markdown_reads_well_on_a_phone(db_path: str, smtp: SmtpInbox) -> None:
    app = notifying_app(db_path, NotifySettings(smtp=parse_smtp(smtp.url), base_url=BASE))
    try:
        app.start_run("marketing-social-post", {"topic": "Spring"}, "dana")
        [first] = smtp.wait_for("jamie@example.com")
        cp = app.inbox("jamie")[0]
        markdown = "# Spring is here\n\n**Big** news: see [our shop](https://shop.example).\n\n- one\n- two"
        app.decide(cp.id, "jamie", Reassign(to="group:managers", comment="Morgan, please"))
        [mail] = smtp.wait_for("morgan@example.com")
    finally:
        app.close()
    page = html_part(first)
    assert "<meta name='viewport' content='width=device-width, initial-scale=1'>" in page
    assert "max-width:600px" in page and "margin:0 8px 10px 0" in page  # one column, buttons apart
    # the draft as Markdown: a heading in the HTML part, no raw markers in either part
    from engine.notify.messages import _value_html, _value_plain

    assert "<h1>Spring is here</h1>" in _value_html(markdown) and "<strong>Big</strong>" in _value_html(
        markdown
    )
    assert (
        _value_plain(markdown)
        == "Spring is here\n\nBig news: see our shop (https://shop.example).\n\n- one\n- two"
    )
    assert "#" not in _value_plain(markdown) and "**" not in _value_plain(markdown)
    assert "<img" not in _value_html("![px](http://203.0.113.9/p.png) <img src=x>")
    assert "Morgan" in mail["To"]
