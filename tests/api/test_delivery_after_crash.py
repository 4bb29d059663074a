"""An event committed but not yet delivered when the server is killed (`kill -9`) is delivered
after the restart, with the same id."""

from __future__ import annotations

from pathlib import Path

import requests

from tests.fakes.receivers import WebhookReceiver
from tests.servers import seed_database, start_server
from tests.waiting import wait_until


def test_a_kill_between_commit_and_delivery_loses_no_event(tmp_path: Path) -> None:
    db = tmp_path / "crash.duckdb"
    token = seed_database(db, "dana")["dana"]
    with WebhookReceiver() as hook:
        hook.answers = [500] * 1000  # the receiver is down: nothing gets delivered
        env = {"LOOPDESK_WEBHOOK_URL": hook.url}
        first = start_server(db, tmp_path / "first.log", extra_env=env, ready_path="/api/v1/health")
        try:
            r = requests.post(
                f"{first.url}/api/v1/workflows/marketing-social-post/runs?wait=30",
                json={"inputs": {"topic": "Crash"}},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            assert r.status_code == 201
            wait_until(lambda: hook.deliveries, "the server tries to deliver")
        finally:
            first.kill()  # kill -9: the event is committed, never delivered
        assert hook.accepted() == []
        tried = hook.deliveries[0].json
        hook.answers = []  # the receiver is back
        second = start_server(db, tmp_path / "second.log", extra_env=env, ready_path="/api/v1/health")
        try:
            got = hook.wait_for(lambda d: len(d) >= 1, timeout=30)
        finally:
            second.stop()
    assert got[0].json == tried  # the same event, same id: receivers can de-duplicate
    assert tried["event"] == "checkpoint.opened" and tried["run_id"] == r.json()["run_id"]
