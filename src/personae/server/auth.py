"""Who is calling: a write key (HTTP Basic user name, or ``writeKey`` in the body) for the
tracking API; a read or admin token (``Authorization: Bearer …``) for the rest.

Keys are the workspace's (:mod:`personae.access`), checked by their SHA-256 on every call,
so a key revoked with ``personae keys revoke`` stops working at once. The server also
makes one admin token of its own when it starts, for the CLI of the same machine (kept
in ``.personae/server.json``, readable by the workspace's owner only).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException, Request

from personae.access import AccessKey, KeyRing, Scope
from personae.privacy.audit_keys import KeyUse

NO_KEYS = (
    "no key for this: make one with `personae keys create --scope {scope}` "
    "(a write key also names its source: --source NAME)"
)


@dataclass(frozen=True)
class Caller:
    key_id: str
    scope: Scope
    source: str | None


def caller(
    keys: KeyRing, secret: str | None, scope: Scope, *, local: str | None = None, usage: KeyUse | None = None
) -> Caller:
    """The key behind ``secret``, allowed ``scope``; 401 without a valid key, 403 with one of another scope.
    A call let in is counted in ``usage`` (the audit log's key use: the key's id, never its secret)."""
    if not secret:
        raise HTTPException(401, NO_KEYS.format(scope=scope), headers={"WWW-Authenticate": _challenge(scope)})
    if local is not None and secret == local:
        who = Caller("server", "admin", None)
    else:
        key: AccessKey | None = keys.find(secret)
        if key is None:
            raise HTTPException(401, "unknown or revoked key", headers={"WWW-Authenticate": _challenge(scope)})
        if not key.allows(scope):
            raise HTTPException(403, f"key {key.id} is a {key.scope} key; this needs a {scope} key")
        who = Caller(key.id, key.scope, key.source)
    if usage is not None:
        usage.used(who.key_id, who.scope)
    return who


def bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _challenge(scope: Scope) -> str:
    return 'Basic realm="personae tracking"' if scope == "write" else 'Bearer realm="personae"'
