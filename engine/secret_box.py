"""Encryption of connection secrets at rest (Fernet, from the maintained `cryptography` package).

The key comes from `LOOPDESK_SECRET_KEY` (a Fernet key, or any passphrase of at least 32 characters),
else from a key file kept outside the database: `LOOPDESK_SECRET_KEY_FILE`, by default
`loopdesk.key` next to a DuckDB file (or in `data/` for a PostgreSQL URL), created on first use
and readable by its owner only. Several processes on one database must share the key: give every
one the same `LOOPDESK_SECRET_KEY` (or the same key file).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from engine.errors import EngineError
from engine.store.location import is_postgres_url

KEY_ENV = "LOOPDESK_SECRET_KEY"
KEY_FILE_ENV = "LOOPDESK_SECRET_KEY_FILE"
KEY_FILE_NAME = "loopdesk.key"
MIN_PASSPHRASE = 32
_SALT = b"loopdesk connection secrets v1"


class SecretKeyError(EngineError):
    """The secret key is missing, malformed, or not the one the secrets were saved with."""


class SecretBox:
    """Encrypts a dict of secret settings into one token and back."""

    def __init__(self, key: bytes, origin: str) -> None:
        self._fernet = Fernet(key)
        self.origin = origin
        """Where the key came from, for messages (`LOOPDESK_SECRET_KEY` or the key file's path)."""

    def seal(self, values: dict[str, str]) -> str:
        """The values as one encrypted token (text)."""
        return self._fernet.encrypt(json.dumps(values, sort_keys=True).encode()).decode()

    def open(self, token: str, what: str) -> dict[str, str]:
        """The values in a token; SecretKeyError naming `what` when another key sealed it."""
        if not token:
            return {}
        try:
            values = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise SecretKeyError(
                f"the secrets of {what} were saved with another secret key than the one from "
                f"{self.origin}; start Loopdesk with the key they were saved with, or set them again"
            ) from None
        return {str(k): str(v) for k, v in values.items()}


def key_file_for(location: str) -> Path:
    """The key file used when `LOOPDESK_SECRET_KEY` is not set, for a database at `location`."""
    chosen = os.environ.get(KEY_FILE_ENV, "").strip()
    if chosen:
        return Path(chosen)
    if is_postgres_url(location) or location == ":memory:":
        return Path("data") / KEY_FILE_NAME
    return Path(location).resolve().parent / KEY_FILE_NAME


def box_for(location: str) -> SecretBox:
    """The secret box of a database at `location`: the environment's key, else its key file."""
    configured = os.environ.get(KEY_ENV, "").strip()
    if configured:
        return SecretBox(_fernet_key(configured), KEY_ENV)
    path = key_file_for(location)
    return SecretBox(_read_or_create(path), str(path))


def _fernet_key(configured: str) -> bytes:
    """A Fernet key as given, or one derived from a long passphrase."""
    try:
        if len(base64.urlsafe_b64decode(configured.encode())) == 32:
            return configured.encode()
    except (binascii.Error, ValueError):
        pass
    if len(configured) < MIN_PASSPHRASE:
        raise SecretKeyError(
            f"{KEY_ENV} must be a Fernet key or a passphrase of at least {MIN_PASSPHRASE} characters "
            f'(it has {len(configured)}); make a key with: python -c "from cryptography.fernet import '
            'Fernet; print(Fernet.generate_key().decode())"'
        )
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=b"fernet").derive(
        configured.encode()
    )
    return base64.urlsafe_b64encode(derived)


def _read_or_create(path: Path) -> bytes:
    """The key in `path`, written first (owner-only) when there is none; two processes starting at
    once agree on the first one written."""
    try:
        return _valid(path, path.read_bytes().strip())
    except FileNotFoundError:
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process is writing it this moment
        return _valid(path, _written(path))
    except OSError as exc:
        raise SecretKeyError(
            f"cannot create the secret key file {path} ({exc.strerror}); set {KEY_ENV}"
        ) from None
    key = Fernet.generate_key()
    with os.fdopen(fd, "wb") as out:
        out.write(key + b"\n")
    return key


def _written(path: Path) -> bytes:
    """The key another process has just created the file for (it may take a moment to land)."""
    for _ in range(50):
        key = path.read_bytes().strip()
        if key:
            return key
        time.sleep(0.02)
    return b""


def _valid(path: Path, key: bytes) -> bytes:
    try:
        Fernet(key)
    except (ValueError, binascii.Error):
        raise SecretKeyError(f"the secret key file {path} does not hold a Fernet key") from None
    return key
