"""API keys: only salted argon2 hashes are stored, looked up by a public key id.

A key reads `srk_<id>_<secret>`. The id finds the row; the secret is checked with argon2 (constant
time). An unknown id is checked against a dummy hash so a wrong key and an unknown key take the
same time and get the same answer.

A token that failed is remembered (bounded, for a while) with the key row it failed against, so
sending it again costs a database read, not another argon2 check; a key created or revoked since
changes the row, and the token is checked afresh.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cachetools import TTLCache

from srllm.errors import InputError
from srllm.serve.sqlite import make_private

PREFIX = "srk_"
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("srllm-dummy-secret")
# Failed tokens remembered: enough for a flood of distinct bad keys, small in memory (~200 B each).
REJECTED_KEPT = 10_000
REJECTED_TTL_S = 600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created REAL NOT NULL,
    revoked REAL
)
"""


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    name: str
    created: float
    revoked: float | None

    @property
    def active(self) -> bool:
        return self.revoked is None


class KeyStore:
    """The keys file (SQLite). `srllm keys` writes it; the server reads it on every request."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        make_private(self.path)  # before SQLite creates -wal/-shm: they copy the database file's mode
        self._lock = threading.Lock()
        # Verified tokens, by their SHA-256, so argon2 runs once per key, not once per request.
        self._verified: dict[str, str] = {}
        # Failed tokens, by (key id, SHA-256 of the token) -> the key row they failed against.
        self._rejected: TTLCache[tuple[str, str], tuple[str, float | None] | None] = TTLCache(
            maxsize=REJECTED_KEPT, ttl=REJECTED_TTL_S)
        with self._connect() as db:
            db.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def create(self, name: str) -> tuple[str, KeyInfo]:
        """A new key: the full token is returned once and never stored."""
        if not name.strip():
            raise InputError("give the key a name (who or what uses it)", field="name")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        info = KeyInfo(key_id=key_id, name=name.strip(), created=time.time(), revoked=None)
        with self._connect() as db:
            db.execute("INSERT INTO api_keys VALUES (?, ?, ?, ?, NULL)",
                       (key_id, info.name, _HASHER.hash(secret), info.created))
        return f"{PREFIX}{key_id}_{secret}", info

    def list(self) -> list[KeyInfo]:
        with self._connect() as db:
            rows = db.execute("SELECT key_id, name, created, revoked FROM api_keys ORDER BY created").fetchall()
        return [KeyInfo(*row) for row in rows]

    def revoke(self, key_id: str) -> KeyInfo:
        key_id = key_id.removeprefix(PREFIX).split("_", 1)[0]
        with self._connect() as db:
            updated = db.execute("UPDATE api_keys SET revoked = ? WHERE key_id = ? AND revoked IS NULL",
                                 (time.time(), key_id)).rowcount
            row = db.execute("SELECT key_id, name, created, revoked FROM api_keys WHERE key_id = ?",
                             (key_id,)).fetchone()
        if row is None:
            raise InputError(f"no key with id {key_id!r}; `srllm keys list` shows the ids", field="key_id")
        if not updated:
            raise InputError(f"key {key_id!r} was already revoked", field="key_id")
        return KeyInfo(*row)

    def count_active(self) -> int:
        with self._connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM api_keys WHERE revoked IS NULL").fetchone()[0])

    def known(self, token: str | None) -> str | None:
        """The key id when `token` was verified before and its key is still active, without argon2: a
        client whose key already passed is not held back by failed keys sent from its address."""
        if not token:
            return None
        key_id, _ = _split(token)
        row = self._row(key_id)
        digest = hashlib.sha256(token.encode()).hexdigest()
        return key_id if row is not None and row[1] is None and self._verified.get(digest) == key_id else None

    def _row(self, key_id: str) -> tuple[str, float | None] | None:
        with self._connect() as db:
            row = db.execute("SELECT secret_hash, revoked FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
        return tuple(row) if row is not None else None

    def verify(self, token: str | None) -> str | None:
        """The key id when `token` is a valid, unrevoked key; else None (no reason given)."""
        if not token:
            return None
        if (known := self.known(token)) is not None:
            return known
        key_id, secret = _split(token)
        row = self._row(key_id)
        digest = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            # Failed before against this very row: it fails again. Never a pass: a key revoked since
            # has another row, and the positive path above reads the row on every request.
            if self._rejected.get((key_id, digest), _NOT_SEEN) == row:
                return None
        stored = row[0] if row is not None else _DUMMY_HASH
        try:
            ok = _HASHER.verify(stored, secret)
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok or row is None or row[1] is not None:
            with self._lock:
                self._rejected[(key_id, digest)] = row
            return None
        with self._lock:
            self._verified[digest] = key_id
        return key_id


_NOT_SEEN = object()


def _split(token: str) -> tuple[str, str]:
    body = token.removeprefix(PREFIX)
    key_id, _, secret = body.partition("_")
    return key_id, secret
