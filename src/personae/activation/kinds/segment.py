"""The ``segment`` destination: Segment-spec calls to any Segment-compatible HTTP endpoint.

Segment itself, RudderStack's data plane, or another personae's ``personae serve`` all take
``POST /v1/batch`` with the write key as the HTTP Basic user name. What goes:

- a membership change: ``track`` ``"Audience Entered"`` or ``"Audience Exited"`` with
  properties ``audience_key`` (the segment's stable external id, so a renamed segment
  keeps its audience), ``segmentation``, ``segment`` and ``score`` -- the names Segment
  Engage uses for its own audiences, so downstream tools that read those work unchanged;
- a trait change: ``identify`` with the destination's traits (another state part, such as
  next actions, goes under its own name in the traits).

``messageId`` is the change's idempotency key (hashed when longer than the 99 characters
Segment deduplicates on), ``userId`` the person's UID and ``timestamp`` when the change
happened, so a resend after a crash is the same message and a receiver that deduplicates
by ``messageId`` -- Segment does, and personae's server does -- keeps it once.

Segment's limits (HTTP API docs: 32 KB a message, 500 KB a batch, 2,500 messages a batch,
KB being 1,024 bytes as in its SDKs) are kept: an oversized message is dead-lettered,
batches are packed under them. Retries are :mod:`personae.activation.http_delivery`'s.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import field_validator

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

MESSAGE_BYTES = 32 * 1024
BATCH_BYTES = 500 * 1024
BATCH_MESSAGES = 2500
MESSAGE_ID_CHARS = 99
LIBRARY = {"name": "personae"}
STAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class SegmentDestinationSpec(HttpDestinationSpec):
    kind: Literal["segment"]
    endpoint: str = "https://api.segment.io"
    """The base URL; batches go to ``<endpoint>/v1/batch``."""
    write_key_env: str
    """The environment variable holding the write key (sent as the HTTP Basic user name)."""

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return check_url(value, "endpoint")

    @field_validator("write_key_env")
    @classmethod
    def _write_key_env(cls, value: str) -> str:
        return check_env_name(value, "write_key_env")


def message_id(key: str) -> str:
    """The change's key as Segment's ``messageId``: itself, or a hash of it when too long.

    >>> message_id("crm:m:42")
    'crm:m:42'
    >>> len(message_id("x" * 200))
    49
    """
    if len(key) <= MESSAGE_ID_CHARS:
        return key
    return "personae-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def _utc(value: Any) -> Any:
    """A store time (UTC, written without an offset) as ISO with ``Z``; anything else as it is."""
    if isinstance(value, str) and "T" in value and not value.endswith("Z") and "+" not in value[10:]:
        return value + "Z"
    return value


def message(item: dict[str, Any]) -> dict[str, Any]:
    """The Segment-spec message of one change (an item of :meth:`ChangeBatch.items`)."""
    common = {
        "messageId": message_id(item["key"]),
        "userId": item["uid"],
        "timestamp": _utc(item["changed_at"]),
        "context": {"library": LIBRARY},
    }
    if item["type"] == "membership":
        return {
            "type": "track",
            "event": "Audience Entered" if item["change"] == "entered" else "Audience Exited",
            **common,
            "properties": {
                "audience_key": item["segment_id"],
                "segmentation": item["segmentation"],
                "segment": item["segment"],
                "score": item["score"],
            },
        }
    part = item["type"]
    traits = item[part] if part == "traits" else {part: item[part]}
    return {"type": "identify", **common, "traits": traits}


class SegmentDestination:
    def __init__(
        self,
        spec: SegmentDestinationSpec,
        context: DeliveryContext,
        *,
        sleep: Sleep = time.sleep,
        draw: Callable[[], float] = random.random,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.spec, self.context, self.clock = spec, context, clock
        self.sleep, self.draw = sleep, draw
        self.url = spec.endpoint.rstrip("/") + "/v1/batch"
        self.sender: HttpSender | None = None

    def open(self) -> None:
        holds = "the source's write key"
        write_key = required_env(self.spec.name, self.context.env, self.spec.write_key_env, holds, "<write key>")
        self.sender = HttpSender(self.spec.name, self.spec, sleep=self.sleep, draw=self.draw, auth=(write_key, ""))
        self.sender.open()

    def _envelope(self) -> tuple[bytes, bytes]:
        tail = encode_json({"sentAt": self.clock().strftime(STAMP_FORMAT), "context": {"library": LIBRARY}})
        return b'{"batch":[', b"]," + tail[1:]

    def send(self, batch: ChangeBatch) -> Sent:
        if self.sender is None:
            raise RuntimeError("open() the destination before sending")
        changes = [Change(item["key"], encode_json(message(item))) for item in batch.items()]
        too_big = {
            change.key: f"the message is {len(change.body):,} bytes of JSON; Segment takes at most {MESSAGE_BYTES:,}"
            for change in changes
            if len(change.body) > MESSAGE_BYTES
        }
        head, tail = self._envelope()
        requests, dead = pack(
            [change for change in changes if change.key not in too_big],
            max_request_bytes=BATCH_BYTES,
            overhead=len(head) + len(tail),
            max_changes=BATCH_MESSAGES,
        )
        dead.update(too_big)
        for request in requests:
            self.sender.deliver(request, self._post, dead)
        return Sent(dead)

    def _post(self, request: list[Change]) -> Refused | None:
        assert self.sender is not None
        head, tail = self._envelope()
        body = head + b",".join(change.body for change in request) + tail
        return self.sender.post(self.url, body, lambda: {"Content-Type": "application/json", "User-Agent": "personae"})

    def finish(self, snapshot: Snapshot) -> None:
        return None

    def forget(self, uids: list[str], request_id: str) -> str:
        """A ``delete`` message per person (the type Segment's functions take as ``onDelete``); an
        endpoint that refuses the type is reported, not failed: delete the users there by hand."""
        if self.sender is None:
            raise RuntimeError("open() the destination before sending")
        changes = []
        for uid in uids:
            key = f"{self.spec.name}:delete:{request_id}:{uid}"
            body = {"type": "delete", "userId": uid, "messageId": message_id(key), "context": {"library": LIBRARY}}
            changes.append(Change(key, encode_json(body)))
        head, tail = self._envelope()
        requests, dead = pack(changes, max_request_bytes=BATCH_BYTES, overhead=len(head) + len(tail))
        for request in requests:
            self.sender.deliver(request, self._post, dead)
        if dead:
            return f"the endpoint takes no deletion ({next(iter(dead.values()))}): delete these users there by hand"
        return f"{len(uids)} delete messages sent"

    def close(self) -> None:
        if self.sender is not None:
            self.sender.close()


KIND = DestinationKind(SegmentDestinationSpec, SegmentDestination)
