"""A reviewer approves from the email: open the link, read the draft, approve, and the task
reaches Published; the same link opened again says who decided. Webhooks hear the whole run."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.browser.conftest import wait_for_text, wait_idle
from tests.fakes.receivers import SmtpInbox, WebhookReceiver, text_part
from tests.servers import Server, free_port, seed_database, start_server

SECRET = "browser-secret"


@pytest.fixture
def notifying_server(tmp_path: Path) -> Iterator[tuple[Server, SmtpInbox, WebhookReceiver, str]]:
    db = tmp_path / "mail.duckdb"
    token = seed_database(db, "dana")["dana"]
    port = free_port()
    with SmtpInbox() as smtp, WebhookReceiver() as hook:
        env = {
            "LOOPDESK_SMTP_URL": smtp.url,
            "LOOPDESK_MAIL_FROM": "Loopdesk <loopdesk@example.com>",
            "LOOPDESK_WEBHOOK_URL": hook.url,
            "LOOPDESK_WEBHOOK_SECRET": SECRET,
            "LOOPDESK_BASE_URL": f"http://127.0.0.1:{port}",
        }
        server = start_server(
            db, tmp_path / "server.log", extra_env=env, ready_path="/api/v1/health", port=port
        )
        try:
            yield server, smtp, hook, token
        finally:
            server.stop()


def test_approving_from_the_email_link_publishes_the_post(
    notifying_server: tuple[Server, SmtpInbox, WebhookReceiver, str], page: Page
) -> None:
    server, smtp, hook, token = notifying_server
    auth = {"Authorization": f"Bearer {token}"}
    run = requests.post(
        f"{server.url}/api/v1/workflows/marketing-social-post/runs?wait=30",
        json={"inputs": {"topic": "Email approval"}},
        headers=auth,
        timeout=30,
    ).json()
    [mail] = smtp.wait_for("jamie@example.com")
    links = dict(re.findall(r"^(Approve|Reject|Request changes): (\S+)\r?$", text_part(mail), re.M))
    approve = links["Approve"]
    assert approve.startswith(f"{server.url}/decide/")

    page.goto(approve)
    expect(page.get_by_role("heading", name="Approve: Email approval")).to_be_visible()
    expect(page.get_by_text("for Jamie Rivera")).to_be_visible()
    expect(page.get_by_text(run["values"]["draft"].splitlines()[0]).first).to_be_visible()
    assert requests.get(f"{server.url}/api/v1/runs/{run['run_id']}", headers=auth, timeout=10).json()[
        "status"
    ] == ("waiting")  # opening the link decided nothing
    page.get_by_label("Comment (optional)").fill("Lovely, ship it.")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("Approved by Jamie Rivera. Thank you!")).to_be_visible()

    after = requests.get(f"{server.url}/api/v1/runs/{run['run_id']}", headers=auth, timeout=10).json()
    assert after["status"] == "completed" and after["section"] == "Published"

    page.goto(approve)  # the same link again
    expect(page.get_by_text(re.compile(r"Already approved by Jamie Rivera at \d\d:\d\d UTC"))).to_be_visible()
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)

    page.get_by_role("link", name="Open in Loopdesk").click()  # the run, in the app
    wait_for_text(page, "Signed in as")
    wait_idle(page)
    expect(page.get_by_text("Published").first).to_be_visible(timeout=15_000)  # a loaded machine is slower

    got = hook.wait_for(lambda d: len(d) >= 3)
    assert [d.json["event"] for d in got] == ["checkpoint.opened", "checkpoint.decided", "run.completed"]
    for d in got:
        assert (
            d.headers["x-loopdesk-signature"]
            == "sha256=" + hmac.new(SECRET.encode(), d.body, hashlib.sha256).hexdigest()
        )
