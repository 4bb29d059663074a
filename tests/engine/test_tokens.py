"""API tokens: shown once, stored as hashes, acting as exactly one user, revocable; the CLI's
`token` command and the services apply the same rules."""

from __future__ import annotations

import json

import duckdb
import pytest

from engine.cli import main
from engine.errors import EngineError, NotAllowedError, NotAuthenticatedError, NotFoundError
from engine.services import Loopdesk
from engine.tokens import token_hash


def test_a_token_acts_as_its_owner_until_revoked(app: Loopdesk) -> None:
    record, secret = app.create_token("jamie", "jamie", "CRM")
    assert app.user_for_token(secret) == "jamie"
    assert app.user_for_token(f"  {secret} ") == "jamie"
    app.revoke_token(record.id, "jamie")
    with pytest.raises(NotAuthenticatedError, match="revoked"):
        app.user_for_token(secret)
    with pytest.raises(NotAuthenticatedError, match="not known"):
        app.user_for_token(secret + "x")
    with pytest.raises(NotAuthenticatedError, match="Bearer"):
        app.user_for_token("")


def test_only_the_hash_is_stored(app: Loopdesk, db_path: str) -> None:
    _, secret = app.create_token("jamie", "jamie")
    app.close()
    con = duckdb.connect(db_path)
    try:
        dump = json.dumps(con.execute("SELECT * FROM api_tokens").fetchall())
    finally:
        con.close()
    assert secret not in dump and token_hash(secret) in dump


def test_people_manage_their_own_tokens_and_admins_everyones(app: Loopdesk) -> None:
    with pytest.raises(NotAllowedError, match="Riley Chen may not manage the API tokens of Jamie Rivera"):
        app.create_token("jamie", "riley")
    mine, _ = app.create_token("jamie", "jamie")
    with pytest.raises(NotFoundError):  # someone else's token id is not even confirmed to exist
        app.revoke_token(mine.id, "riley")
    assert [t.id for t in app.list_tokens("jamie")] == [mine.id]
    assert app.list_tokens("riley") == []
    with pytest.raises(NotAllowedError):
        app.list_tokens("riley", owner="jamie")
    admin_made, _ = app.create_token("riley", "alex")
    assert {t.id for t in app.list_tokens("alex", owner=None)} == {mine.id, admin_made.id}
    assert app.revoke_token(mine.id, "alex").revoked_at is not None
    with pytest.raises(EngineError, match="unknown user `ghost`"):
        app.create_token("ghost", "alex")


def test_the_cli_creates_lists_and_revokes_tokens(db_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "create", "--user", "jamie", "--label", "CRM", "--db", db_path, "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["user"] == "jamie" and created["token"].startswith("ldk_") and created["label"] == "CRM"
    assert main(["token", "list", "--db", db_path, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(t["id"], t["revoked"]) for t in listed] == [(created["id"], False)]
    assert "token" not in listed[0]  # the secret is shown once, at creation
    assert main(["token", "revoke", created["id"], "--db", db_path]) == 0
    assert "is revoked" in capsys.readouterr().out
    assert main(["token", "create", "--user", "jamie", "--by", "riley", "--db", db_path]) == 1
    assert "Riley Chen may not manage the API tokens of Jamie Rivera" in capsys.readouterr().err
    assert main(["token", "create", "--db", db_path]) == 1
    assert "needs --user" in capsys.readouterr().err
    app = Loopdesk.open(db_path)
    try:
        with pytest.raises(NotAuthenticatedError, match="revoked"):
            app.user_for_token(created["token"])
    finally:
        app.close()
