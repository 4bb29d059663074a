"""The key that encrypts connection secrets: from LOOPDESK_SECRET_KEY, else a key file made once."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from engine.secret_box import SecretKeyError, box_for, key_file_for


def test_without_a_key_a_key_file_is_made_once_beside_the_data_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOOPDESK_SECRET_KEY_FILE")
    db = tmp_path / "data" / "loopdesk.duckdb"
    assert key_file_for(str(db)) == db.parent / "loopdesk.key"
    assert key_file_for("postgresql://u@h/db") == Path("data") / "loopdesk.key"
    token = box_for(str(db)).seal({"password": "hunter2-but-longer"})
    key_file = db.parent / "loopdesk.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600  # its owner's only
    assert box_for(str(db)).open(token, "x") == {"password": "hunter2-but-longer"}  # read back next time


def test_processes_starting_at_once_agree_on_one_key(tmp_path: Path) -> None:
    boxes = []
    threads = [
        threading.Thread(target=lambda: boxes.append(box_for(str(tmp_path / "a.duckdb")))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    token = boxes[0].seal({"k": "v"})
    assert all(b.open(token, "x") == {"k": "v"} for b in boxes)


def test_a_fernet_key_or_a_long_passphrase_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("LOOPDESK_SECRET_KEY", key)
    sealed = box_for("ignored.duckdb").seal({"k": "v"})
    assert Fernet(key.encode()).decrypt(sealed.encode()) == b'{"k": "v"}'  # the key as given
    monkeypatch.setenv("LOOPDESK_SECRET_KEY", "a passphrase that is long enough to use!")
    sealed = box_for("ignored.duckdb").seal({"k": "v"})
    assert box_for("other.duckdb").open(sealed, "x") == {"k": "v"}  # derived the same way each time
    monkeypatch.setenv("LOOPDESK_SECRET_KEY", "too-short")
    with pytest.raises(SecretKeyError, match=r"at least 32 characters \(it has 9\); make a key with"):
        box_for("ignored.duckdb")


def test_secrets_saved_with_another_key_say_so_and_name_what(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sealed = box_for(str(tmp_path / "a.duckdb")).seal({"k": "v"})
    monkeypatch.setenv("LOOPDESK_SECRET_KEY", Fernet.generate_key().decode())
    with pytest.raises(
        SecretKeyError, match="secrets of connection “crm” were saved with another secret key"
    ):
        box_for(str(tmp_path / "a.duckdb")).open(sealed, "connection “crm”")


def test_a_key_file_that_holds_no_key_is_named(tmp_path: Path) -> None:
    (tmp_path / "loopdesk.key").write_text("not a key\n")
    with pytest.raises(SecretKeyError, match=r"loopdesk.key does not hold a Fernet key"):
        box_for(str(tmp_path / "a.duckdb"))
