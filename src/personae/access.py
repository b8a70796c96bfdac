"""Access keys: write keys for the tracking API, read and admin tokens for the rest.

A key is a random secret shown once, when it is made; personae keeps only its SHA-256
(the secret has 256 bits of entropy, so a salted slow hash would add nothing). Keys live
in ``.personae/keys.json`` in the workspace (0600), not in the store, so that ``personae
keys`` works while ``personae serve`` holds the store; the server reads the file again
when it changes, so a revoked key stops working within a second.

Scopes:

- ``write``: send events for one source (Segment's write key, the HTTP Basic user name);
  nothing else;
- ``read``: profiles, segments and the change feed;
- ``admin``: everything ``read`` may, and runs, segment definitions and user SQL.

There is no default key: a server with none refuses every call and says how to make one.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from personae.errors import NotFound, UsageError
from personae.spec import did_you_mean

Scope = Literal["write", "read", "admin"]
SCOPES: tuple[Scope, ...] = ("write", "read", "admin")
KEYS_FILE = Path(".personae") / "keys.json"
_PREFIX: dict[str, str] = {"write": "pw_", "read": "pr_", "admin": "pa_"}


@dataclass(frozen=True)
class AccessKey:
    """A key as kept: never the secret, only its digest."""

    id: str
    name: str
    scope: Scope
    source: str | None
    """The source a write key sends events for."""
    digest: str
    created_at: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: Scope) -> bool:
        """Whether this key may do what ``scope`` needs (admin may read; write only writes)."""
        return self.active and (self.scope == scope or (self.scope == "admin" and scope == "read"))


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class KeyRing:
    """The workspace's keys, read from and written to ``.personae/keys.json``."""

    def __init__(self, root: Path) -> None:
        self.path = root / KEYS_FILE
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._by_digest: dict[str, AccessKey] = {}

    def entries(self) -> list[AccessKey]:
        """Every key, oldest first (revoked ones too)."""
        if not self.path.is_file():
            return []
        data = json.loads(self.path.read_text(encoding="utf-8"))
        return [AccessKey(**item) for item in data.get("keys", [])]

    def _write(self, keys: list[AccessKey]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
            json.dump({"keys": [asdict(key) for key in keys]}, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(self.path)

    def create(self, scope: str, *, name: str = "", source: str | None = None) -> tuple[AccessKey, str]:
        """Make a key; returns it and its secret (shown once, never kept)."""
        if scope not in SCOPES:
            raise UsageError(f"no scope {scope!r}{did_you_mean(scope, SCOPES)}; scopes are {', '.join(SCOPES)}")
        if scope == "write" and not source:
            raise UsageError("a write key sends events for one source: give --source NAME")
        if scope != "write" and source:
            raise UsageError(f"only write keys belong to a source; a {scope} key reads the whole workspace")
        secret = _PREFIX[scope] + secrets.token_urlsafe(32)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            keys = self.entries()
            key = AccessKey(f"k{len(keys) + 1}", name or f"{scope} key", scope, source, digest(secret), now)
            self._write([*keys, key])
        return key, secret

    def revoke(self, key_id: str) -> AccessKey:
        """Revoke a key by its id; it stops working at once (the server re-reads the file)."""
        with self._lock:
            keys = self.entries()
            found = next((key for key in keys if key.id == key_id), None)
            if found is None:
                ids = [key.id for key in keys]
                raise NotFound(f"no key {key_id!r}{did_you_mean(key_id, ids)}; keys are {', '.join(ids) or 'none yet'}")
            if not found.active:
                return found
            revoked = replace(found, revoked_at=datetime.now(UTC).isoformat(timespec="seconds"))
            self._write([revoked if key.id == key_id else key for key in keys])
        return revoked

    def find(self, secret: str) -> AccessKey | None:
        """The active key with this secret (None when there is none or it is revoked); the file
        is read again when it changed."""
        try:
            stat = self.path.stat()
            seen: tuple[int, int] | None = (stat.st_ino, stat.st_mtime_ns)  # a rewrite is a new file
        except FileNotFoundError:
            seen = None
        if seen != self._seen:
            with self._lock:
                self._by_digest = {key.digest: key for key in self.entries()}
                self._seen = seen
        key = self._by_digest.get(digest(secret))
        return key if key is not None and key.active else None


SERVER_FILE = Path(".personae") / "server.json"
"""Where a running server says where it listens and gives the CLI of this machine its admin
token (0600): the CLI finds a server here without importing it."""
