"""The attack campaign's ways in, tried again over real HTTP against `streamlit run app.py`: each is
refused or harmless, and what held then (one decision out of twenty racing clicks, links that never
decide on GET or HEAD) is held here too, on every backend."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from engine.directory import Directory
from engine.limits import MAX_COMMENT_CHARS
from engine.llm.demo import DemoProvider
from engine.model import Quorum
from engine.services import Loopdesk
from tests.conftest import BACKENDS, load_template, location_for
from tests.servers import Server, start_server

MARKETING = "marketing-social-post"
USERS = ("dana", "jamie", "morgan", "alex")


class Client:
    def __init__(self, server: Server, tokens: dict[str, str]) -> None:
        self.url, self.tokens = server.url, tokens

    def call(self, method: str, path: str, user: str, body: Any = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.tokens[user]}", "Content-Type": "application/json"}
        data = None if body is None else json.dumps(body, allow_nan=True)
        return requests.request(method, f"{self.url}/api/v1{path}", headers=headers, data=data, timeout=30)

    def start(self, workflow: str = MARKETING, **inputs: Any) -> dict[str, Any]:
        body = {"inputs": {"topic": "Attack", **inputs}}
        r = self.call("POST", f"/workflows/{workflow}/runs?wait=30", "dana", body)
        assert r.status_code == 201, r.text
        return dict(r.json())

    def run(self, run_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/runs/{run_id}", "dana").json())


def prepare(location: str) -> tuple[dict[str, str], str]:
    """Templates, a copy of the marketing workflow whose review needs both marketing reviewers (nobody
    listed under "May be reassigned to"), a token per user, and a decision link for Jamie."""
    app = Loopdesk.open(location, provider=DemoProvider(), directory=Directory.load())
    try:
        app.install_templates()
        wf = load_template("marketing_social_post")
        review = {"assignee": "group:marketing", "editable_values": [], "quorum": Quorum(mode="all"),
                  "reassign_to": []}  # fmt: skip
        nodes = [n.model_copy(update=review) if n.id == "review" else n for n in wf.nodes]
        both = wf.model_copy(update={"id": "both", "name": "Both approve", "nodes": nodes})
        app.save_workflow(both, "dana")
        tokens = {user: app.create_token(user, user, "attacks")[1] for user in USERS}
        run = app.start_run(MARKETING, {"topic": "Linked"}, "dana")
        link = app.link_signer.make(app.inbox("jamie")[0], "jamie", "approve")
        tokens["link_run"] = run.id
        return tokens, link
    finally:
        app.close()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, str]]:
    folder = tmp_path_factory.mktemp("attacks")
    tokens, link = prepare(str(folder / "attacks.duckdb"))
    server = start_server(folder / "attacks.duckdb", folder / "server.log", ready_path="/api/v1/health")
    try:
        yield Client(server, tokens), link
    finally:
        server.stop()


def test_a_quorum_member_cannot_reassign_to_themselves_and_approve_alone(client: tuple[Client, str]) -> None:
    api, _ = client
    run = api.start("both")
    path = f"/checkpoints/{run['checkpoint_id']}/decision"
    r = api.call("POST", path, "jamie", {"action": "reassign", "to": "jamie"})
    assert r.status_code == 403 and "nobody reassigns a checkpoint to themselves" in r.json()["error"]
    r = api.call("POST", path, "jamie", {"action": "reassign", "to": "group:managers"})
    assert r.status_code == 403, r.text
    r = api.call("POST", path, "jamie", {"action": "approve"})
    assert r.status_code == 200 and r.json()["status"] == "waiting"  # Morgan has not approved
    assert api.run(run["run_id"])["status"] == "waiting"
    r = api.call("POST", path, "alex", {"action": "reassign", "to": "sam"})  # an admin must say whose place
    assert r.status_code == 403 and "say whose place" in r.json()["error"]
    r = api.call("POST", path, "alex", {"action": "reassign", "to": "sam", "replacing": "morgan"})
    assert r.status_code == 200, r.text
    assert api.run(run["run_id"])["status"] == "waiting"


def test_a_note_over_the_limit_is_refused_and_one_at_the_limit_renders(client: tuple[Client, str]) -> None:
    """The attack: a 1 MB send-back note was accepted (200) and the run then failed on its render limit,
    retries included."""
    api, _ = client
    run = api.start()
    path = f"/checkpoints/{run['checkpoint_id']}/decision"
    r = api.call("POST", path, "jamie", {"action": "request_changes", "comment": "x" * 1_000_000})
    assert r.status_code == 422 and "comment" in r.json()["fields"], r.text
    long_reason = {"action": "approve", "override_reason": "y" * (MAX_COMMENT_CHARS + 1)}
    r = api.call("POST", path, "jamie", long_reason)
    assert r.status_code == 422, r.text
    assert api.run(run["run_id"])["status"] == "waiting"
    note = ("Shorter, please. " * 1000)[:MAX_COMMENT_CHARS]
    r = api.call("POST", f"{path}?wait=30", "jamie", {"action": "request_changes", "comment": note})
    assert r.status_code == 200, r.text
    after = api.run(run["run_id"])
    assert after["status"] == "waiting" and after["checkpoint_id"] != run["checkpoint_id"]  # revised, back


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (math.nan, "must be text, not not a finite number"),
        ({"a": 1}, "must be text, not an object"),
        (["a", "b"], "must be text, not a list"),
        (True, "must be text, not true or false"),
    ],
    ids=["nan", "object", "list", "bool"],
)
def test_a_value_of_the_wrong_type_is_refused_at_every_way_in(
    client: tuple[Client, str], value: Any, said: str
) -> None:
    """The attack: text fields and reviewer edits took NaN, objects and lists, stored as "nan" or a
    Python repr; one run was published with the draft `nan`."""
    api, _ = client
    r = api.call("POST", f"/workflows/{MARKETING}/runs", "dana", {"inputs": {"topic": value}})
    assert r.status_code == 422 and said in r.json()["fields"]["topic"], r.text
    run = api.start()
    path = f"/checkpoints/{run['checkpoint_id']}/decision"
    r = api.call("POST", path, "jamie", {"action": "approve", "edits": {"draft": value}})
    assert r.status_code == 422 and "`draft`" in r.json()["error"] and said in r.json()["error"], r.text
    after = api.run(run["run_id"])
    assert after["status"] == "waiting" and after["values"]["draft"] == run["values"]["draft"]


def test_opening_a_decision_link_with_get_or_head_never_decides(client: tuple[Client, str]) -> None:
    api, link = client
    run_id = api.tokens["link_run"]
    for method in ("GET", "HEAD", "GET", "HEAD"):  # a mail scanner, a link preview, the person
        r = requests.request(method, f"{api.url}/decide/{link}", timeout=10)
        assert r.status_code == 200, (method, r.status_code)
    assert api.run(run_id)["status"] == "waiting"
    r = requests.post(f"{api.url}/decide/{link}", data={"comment": "z" * (MAX_COMMENT_CHARS + 1)}, timeout=10)
    assert "the comment is 10,001 characters long" in r.text
    assert api.run(run_id)["status"] == "waiting"  # a comment over the limit decides nothing
    r = requests.post(f"{api.url}/decide/{link}", data={"comment": "ok"}, timeout=10)
    assert r.status_code == 200 and "Approved by Jamie Rivera" in r.text
    assert api.run(run_id)["status"] == "completed"


@pytest.mark.parametrize("backend", BACKENDS)
def test_twenty_racing_decisions_decide_once(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    location = location_for(backend, request, tmp_path)
    tokens, _ = prepare(location)
    server = start_server(location, tmp_path / "server.log", ready_path="/api/v1/health")
    try:
        api = Client(server, tokens)
        run = api.start(topic="Race")
        path = f"/checkpoints/{run['checkpoint_id']}/decision"
        bodies = [{"action": ["approve", "reject", "request_changes"][i % 3], "comment": f"click {i}"}
                  for i in range(20)]  # fmt: skip
        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(lambda b: api.call("POST", path, "jamie", b), bodies))
        codes = sorted(a.status_code for a in answers)
        assert codes == [200] + [409] * 19, [a.text for a in answers]
        winner = next(b for b, a in zip(bodies, answers, strict=True) if a.status_code == 200)
        for lost in (a for a in answers if a.status_code == 409):
            assert "by Jamie Rivera at " in lost.json()["error"]
        steps = api.call("GET", f"/runs/{run['run_id']}", "dana").json()
        assert steps["status"] in ("completed", "rejected", "waiting", "running"), steps
        if winner["action"] == "approve":
            assert steps["status"] in ("completed", "running")
    finally:
        server.stop()
