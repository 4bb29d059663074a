"""Two app servers (`streamlit run app.py`) on one PostgreSQL database: the same inbox on both, a
decision made on one seen on the other, a server without workers (`LOOPDESK_WORKERS=0`) whose
runs the other drives, and every notification sent once whichever process sends it."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

from tests.fakes.receivers import WebhookReceiver
from tests.servers import Server, seed_database, start_server
from tests.waiting import wait_until


def call(server: Server, token: str, method: str, path: str, body: Any = None) -> Any:
    r = requests.request(
        method,
        f"{server.url}/api/v1{path}",
        headers={"Authorization": f"Bearer {token}"},
        json=body,
        timeout=30,
    )
    assert r.status_code < 300, (r.status_code, r.text)
    return r.json()


def status_is(server: Server, token: str, run_id: str, *statuses: str) -> Any:
    """A test for `wait_for`: the run document once its status is one of these."""

    def test() -> Any:
        run = call(server, token, "GET", f"/runs/{run_id}")
        return run if run["status"] in statuses else None

    return test


def test_two_servers_share_one_database(pg_url: str, tmp_path: Path) -> None:
    tokens = seed_database(pg_url, "jamie", "riley")
    with WebhookReceiver() as hook:
        env = {"LOOPDESK_WEBHOOK_URL": hook.url}
        a = start_server(pg_url, tmp_path / "a.log", env, ready_path="/api/v1/health")
        b = start_server(pg_url, tmp_path / "b.log", {**env, "LOOPDESK_WORKERS": "0"}, "/api/v1/health")
        try:
            # B drives nothing itself: A takes the run up as soon as the database announces it
            started = call(b, tokens["riley"], "POST", "/workflows/marketing-social-post/runs?wait=30",
                           {"inputs": {"topic": "Two servers"}})  # fmt: skip
            run_id = started["run_id"]
            waiting = wait_until(
                lambda: (
                    (r := call(b, tokens["riley"], "GET", f"/runs/{run_id}"))["status"] == "waiting" and r
                ),
                "server A drove the run B started",
                timeout=30,
            )
            on_a = call(a, tokens["jamie"], "GET", "/inbox")
            on_b = call(b, tokens["jamie"], "GET", "/inbox")
            assert [i["checkpoint_id"] for i in on_a] == [i["checkpoint_id"] for i in on_b]
            assert waiting["checkpoint_id"] in [i["checkpoint_id"] for i in on_a]
            call(a, tokens["jamie"], "POST", f"/checkpoints/{waiting['checkpoint_id']}/decision?wait=30",
                 {"action": "approve"})  # fmt: skip
            assert waiting["checkpoint_id"] not in [
                i["checkpoint_id"] for i in call(b, tokens["jamie"], "GET", "/inbox")
            ]
            again = requests.post(
                f"{b.url}/api/v1/checkpoints/{waiting['checkpoint_id']}/decision",
                headers={"Authorization": f"Bearer {tokens['jamie']}"}, json={"action": "reject",
                "comment": "late"}, timeout=30,
            )  # fmt: skip
            assert again.status_code == 409 and "Already approved by Jamie Rivera at " in again.text
            done = wait_until(
                lambda: (
                    (r := call(b, tokens["riley"], "GET", f"/runs/{run_id}"))["status"] != "running" and r
                ),
                "the run went on after the decision",
                timeout=30,
            )
            assert done["status"] == "completed"
            # announcements: each sent once, though both servers deliver notifications
            hook.wait_for(
                lambda got: {d.json["event"] for d in got} >= {"checkpoint.opened", "run.completed"}
            )
            time.sleep(3)  # both senders poll every 2 s: a duplicate would have arrived by now
            sent = Counter(d.json["id"] for d in hook.accepted())
            assert sent and max(sent.values()) == 1, sent
        finally:
            a.stop()
            b.stop()
