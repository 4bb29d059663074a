"""Named connections: admins save them (secrets encrypted, shown by their last four characters only),
anyone lists them by name, steps use them; the CLI does the same through the same service. A canary
secret appears nowhere but in the encrypted column, on both backends."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from engine.cli import main
from engine.directory import Directory
from engine.errors import EngineError, NotAllowedError, NotFoundError
from engine.llm.demo import DemoProvider
from engine.secret_box import SecretKeyError
from engine.services import Loopdesk
from tests.conftest import BACKENDS, location_for

CANARY = "canary-7f3a9c1e5b2d4f60"
A = "https://a.example"
TOKEN = "xoxb-0000-canary-slack-token"


def test_an_admin_saves_a_connection_and_its_secret_is_shown_by_its_last_four_only(app: Loopdesk) -> None:
    view = app.connections.set(
        "alex",
        "crm",
        "http",
        {"base_url": "https://crm.example.com", "header.Authorization": f"Bearer {CANARY}"},
    )
    assert view.settings == {"base_url": "https://crm.example.com"}
    assert view.secrets == {"header.Authorization": "••••4f60"}
    assert CANARY not in json.dumps(view.doc())
    [listed] = app.connections.list("alex")
    assert listed.secrets == {"header.Authorization": "••••4f60"} and listed.updated_by == "alex"
    used = app.connections.use("crm", "http")
    assert used.values == {"base_url": "https://crm.example.com", "header.Authorization": f"Bearer {CANARY}"}
    assert CANARY not in repr(used)  # never in a log line or a traceback's locals by accident


def test_changing_one_setting_keeps_the_secrets_and_an_empty_value_removes_one(app: Loopdesk) -> None:
    hook = "https://hooks.example.com/T1"
    app.connections.set("alex", "hooks", "slack", {"webhook_url": hook, "bot_token": TOKEN})
    app.connections.set("alex", "hooks", "slack", {"channel": "#launches", "webhook_url": None})
    assert app.connections.use("hooks", "slack").values == {
        "webhook_url": hook,
        "bot_token": TOKEN,
        "channel": "#launches",
    }
    app.connections.set("alex", "hooks", "slack", {"webhook_url": ""})
    assert "webhook_url" not in app.connections.use("hooks", "slack").values
    app.connections.set(
        "alex", "hooks", "smtp", {"url": "smtp://mail.example.com:587"}
    )  # a new type starts fresh
    assert app.connections.use("hooks", "smtp").values == {"url": "smtp://mail.example.com:587"}


@pytest.mark.parametrize(
    ("name", "type_name", "values", "message"),
    [
        ("CRM!", "http", {"base_url": "https://a.example"}, "“CRM!” cannot name a connection"),
        ("crm", "ftp", {}, "“ftp” is not a connection type .known: smtp, http, slack."),
        (
            "crm",
            "http",
            {"base_url": "https://a.example", "token": "x"},
            "HTTP API connections keep no token",
        ),
        ("crm", "http", {}, "base_url is required"),
        ("crm", "http", {"base_url": "file:///etc/passwd"}, "must be an http:// or https:// URL"),
        (
            "crm",
            "http",
            {"base_url": "https://a.example", "header.X": "a\r\nHost: evil"},
            "cannot contain a line",
        ),
        (
            "crm",
            "http",
            {"base_url": "https://a.example", "header.Bad Name": "x"},
            "is not an HTTP header name",
        ),
        ("crm", "http", {"base_url": "https://a.example", "timeout_seconds": "9999"}, "from 1 to 300"),
        ("mail", "smtp", {"url": "http://mail.example.com"}, "url must look like smtp://"),
        ("chat", "slack", {"channel": "#x"}, "set webhook_url .an incoming webhook. or bot_token"),
    ],
)
def test_settings_that_cannot_work_are_refused_with_what_is_wrong_and_nothing_saved(
    app: Loopdesk, name: str, type_name: str, values: dict[str, str | None], message: str
) -> None:
    with pytest.raises(EngineError, match=message):
        app.connections.set("alex", name, type_name, values)
    assert app.connections.list("alex") == []


def test_only_admins_change_connections_and_others_see_names_only(app: Loopdesk) -> None:
    app.connections.set(
        "alex", "crm", "http", {"base_url": "https://crm.example.com", "header.X-Key": CANARY}
    )
    with pytest.raises(NotAllowedError, match="Jamie Rivera may not change connections: only an admin may"):
        app.connections.set("jamie", "crm", "http", {"base_url": "https://evil.example"})
    with pytest.raises(NotAllowedError, match="may not delete connections"):
        app.connections.delete("jamie", "crm")
    [seen] = app.connections.list("jamie")
    assert (seen.name, seen.type, seen.settings, seen.secrets) == ("crm", "http", {}, {})
    app.connections.delete("alex", "crm")
    with pytest.raises(NotFoundError):
        app.connections.delete("alex", "crm")


def test_a_step_naming_a_missing_or_other_kind_of_connection_is_told_which(app: Loopdesk) -> None:
    with pytest.raises(EngineError, match=r"there is no connection named “crm” \(admins add it"):
        app.connections.use("crm", "http")
    app.connections.set("alex", "crm", "smtp", {"url": "smtp://mail.example.com"})
    with pytest.raises(EngineError, match="“crm” is of type smtp; this step needs a http one"):
        app.connections.use("crm", "http")


def test_another_secret_key_leaves_the_list_readable_and_says_why(
    db_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Loopdesk.open(db_path, provider=DemoProvider(), directory=Directory.load(), workers=0) as first:
        first.connections.set("alex", "crm", "http", {"base_url": "https://a.example", "header.X": CANARY})
    monkeypatch.setenv("LOOPDESK_SECRET_KEY", Fernet.generate_key().decode())
    with Loopdesk.open(db_path, provider=DemoProvider(), directory=Directory.load(), workers=0) as second:
        [view] = second.connections.list("alex")
        assert view.settings == {"base_url": "https://a.example"}
        assert "saved with another secret key" in view.problem
        with pytest.raises(SecretKeyError):
            second.connections.use("crm", "http")


def test_the_cli_sets_lists_and_deletes_with_secrets_masked(
    db_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "connection",
        "set",
        "crm",
        "--db",
        db_path,
        "--type",
        "http",
        "--set",
        "base_url=https://crm.example",
    ]
    assert main([*args, "--set", f"header.Authorization=Bearer {CANARY}"]) == 0
    said = capsys.readouterr().out
    assert main(["connection", "list", "--db", db_path, "--json"]) == 0
    out = capsys.readouterr().out
    assert CANARY not in said + out and "header.Authorization=••••4f60" in said
    listed = json.loads(out)
    assert listed == [
        {
            "name": "crm",
            "type": "http",
            "settings": {"base_url": "https://crm.example"},
            "secrets": {"header.Authorization": "••••4f60"},
            "updated_at": listed[0]["updated_at"],
            "updated_by": "cli",
        }
    ]
    assert main(["connection", "set", "crm", "--db", db_path, "--type", "http", "--user", "jamie"]) == 1
    assert "only an admin may" in capsys.readouterr().err
    assert main(["connection", "delete", "crm", "--db", db_path]) == 0
    assert main(["connection", "list", "--db", db_path]) == 0
    assert capsys.readouterr().out.strip().endswith("no connections")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_canary_secret_is_nowhere_but_in_the_encrypted_column(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    location = location_for(backend, request, tmp_path)
    caplog.set_level(logging.DEBUG)
    values = {"webhook_url": f"https://hooks.example.com/{CANARY}", "bot_token": TOKEN}
    with Loopdesk.open(location, provider=DemoProvider(), directory=Directory.load(), workers=0) as app:
        app.connections.set("alex", "slack", "slack", {**values, "channel": "#launches"})
        app.connections.set("alex", "slack", "slack", {"channel": "#news"})  # saved again, secrets kept
        assert app.connections.use("slack", "slack").values["bot_token"] == TOKEN
        catalog = app.store.export_catalog()
        assert "connections" in catalog  # moved with the database…
        dumped = json.dumps(catalog["connections"].to_pylist())
        assert "#news" in dumped  # …its plain settings readable…
        assert CANARY not in dumped and TOKEN not in dumped  # …its secrets not
        views = json.dumps([v.doc() for v in app.connections.list("alex")])
    main(["connection", "list", "--db", location, "--json"])
    printed = capsys.readouterr()
    everything = [views, printed.out, printed.err, caplog.text, _dump(backend, location)]
    assert all(CANARY not in text and TOKEN not in text for text in everything)
    assert "#news" in everything[-1]  # the dump did read the table


def _dump(backend: str, location: str) -> str:
    """The whole database as its server or file holds it."""
    if backend == "duckdb":
        return Path(location).read_bytes().decode("latin-1")
    pg_dump = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"))[-1]
    return subprocess.run([str(pg_dump), location], check=True, capture_output=True, text=True).stdout
