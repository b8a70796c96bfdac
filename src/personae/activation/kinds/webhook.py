"""The ``webhook`` destination: signed JSON batches POSTed to a URL the receiver owns.

Each request is ``{"destination": …, "sent_at": …, "changes": [...]}``, the changes in
delivery order, each with its own idempotency ``key`` (what a receiver deduplicates on;
a replay after a crash repeats them exactly). The request carries an ``Idempotency-Key``
too, a hash of its changes' keys, so the same request sent again has the same one.

The body is signed, Stripe's way: ``X-Personae-Signature: sha256=<hex HMAC-SHA256 of
"<timestamp>.<body>">`` with the secret in the environment variable ``secret_env`` names,
and the timestamp in ``X-Personae-Timestamp`` (Unix seconds). Signing the timestamp with
the body lets a receiver refuse an old request replayed by someone who captured it; the
timestamp is fresh on every try, so a retry after a long back-off still passes a
receiver's freshness check. ``docs/destinations.md`` shows the receiver's side.

Retries, sizes and refusals are :mod:`personae.activation.http_delivery`'s.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from pydantic import Field, field_validator

from personae.activation.destination import DeliveryContext, DestinationKind, Sent, Snapshot
from personae.activation.feed import ChangeBatch
from personae.activation.http_delivery import (
    Change,
    HttpDestinationSpec,
    HttpSender,
    Refused,
    Sleep,
    check_env_name,
    check_url,
    encode_json,
    pack,
    required_env,
)
from personae.errors import DestinationError

OWN_HEADERS = frozenset(
    {"content-type", "content-length", "host", "idempotency-key", "x-personae-timestamp", "x-personae-signature"}
)
"""Headers personae sets itself: ``headers`` may not replace them."""
STAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
"""``sent_at``: a fixed width, so the envelope's size is known before the changes are packed."""


class WebhookDestinationSpec(HttpDestinationSpec):
    kind: Literal["webhook"]
    url: str
    """Where each batch is POSTed (``https://…``)."""
    secret_env: str
    """The environment variable holding the HMAC secret shared with the receiver."""
    max_batch_bytes: int = Field(1_000_000, ge=1024)
    """The largest request body; a change whose JSON cannot fit in one is dead-lettered."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra headers on every request (not secrets: personae.toml is not the place for them)."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(value, "url")

    @field_validator("secret_env")
    @classmethod
    def _secret_env(cls, value: str) -> str:
        return check_env_name(value, "secret_env")

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        taken = sorted(name for name in value if name.lower() in OWN_HEADERS)
        if taken:
            raise ValueError(f"header {taken[0]!r} is set by personae on every request; leave it out of 'headers'")
        return value


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Personae-Signature`` value of ``body`` sent at ``timestamp``.

    >>> signature(b"s3cret", "1700000000", b'{"changes":[]}')
    'sha256=932a361970b50815e68f3e2bdc642639e2227649f6d543bb07f1fdff2f2f5492'
    """
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def idempotency_key(keys: list[str]) -> str:
    """One request's key: the same changes give the same key, in any sync that sends them."""
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:40]


class WebhookDestination:
    def __init__(
        self,
        spec: WebhookDestinationSpec,
        context: DeliveryContext,
        *,
        sleep: Sleep = time.sleep,
        draw: Callable[[], float] = random.random,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.spec, self.context, self.clock = spec, context, clock
        self.sender = HttpSender(spec.name, spec, sleep=sleep, draw=draw)
        self._secret = b""

    def open(self) -> None:
        holds, example = "the secret the requests are signed with", "<the secret the receiver checks>"
        self._secret = required_env(self.spec.name, self.context.env, self.spec.secret_env, holds, example).encode()
        self.sender.open()

    def _envelope(self) -> tuple[bytes, bytes]:
        head = encode_json({"destination": self.spec.name, "sent_at": self.clock().strftime(STAMP_FORMAT)})
        return head[:-1] + b',"changes":[', b"]}"

    def send(self, batch: ChangeBatch) -> Sent:
        changes = [Change(item["key"], encode_json(item)) for item in batch.items()]
        head, tail = self._envelope()
        requests, dead = pack(changes, max_request_bytes=self.spec.max_batch_bytes, overhead=len(head) + len(tail))
        for request in requests:
            self.sender.deliver(request, self._post, dead)
        return Sent(dead)

    def _post(self, request: list[Change]) -> Refused | None:
        head, tail = self._envelope()
        body = head + b",".join(change.body for change in request) + tail
        key = idempotency_key([change.key for change in request])

        def headers() -> dict[str, str]:
            stamp = str(int(self.clock().timestamp()))
            return {
                **self.spec.headers,
                "Content-Type": "application/json",
                "User-Agent": "personae",
                "Idempotency-Key": key,
                "X-Personae-Timestamp": stamp,
                "X-Personae-Signature": signature(self._secret, stamp, body),
            }

        return self.sender.post(self.spec.url, body, headers)

    def finish(self, snapshot: Snapshot) -> None:
        return None

    def forget(self, uids: list[str], request_id: str) -> str:
        """One signed request of ``{"type": "delete", "uid": …}`` changes (keys ``<dest>:delete:<request>:<uid>``)."""
        changes = [
            Change(key, encode_json({"key": key, "type": "delete", "uid": uid, "request_id": request_id}))
            for uid in uids
            for key in [f"{self.spec.name}:delete:{request_id}:{uid}"]
        ]
        dead: dict[str, str] = {}
        head, tail = self._envelope()
        requests, dead = pack(changes, max_request_bytes=self.spec.max_batch_bytes, overhead=len(head) + len(tail))
        for request in requests:
            self.sender.deliver(request, self._post, dead)
        if dead:
            reason = next(iter(dead.values()))
            raise DestinationError(f"destination {self.spec.name!r} refused the deletion: {reason}")
        return f"{len(uids)} delete changes sent"

    def close(self) -> None:
        self.sender.close()


KIND = DestinationKind(WebhookDestinationSpec, WebhookDestination)
