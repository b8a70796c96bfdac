"""Segment HTTP tracking API request bodies -> normalised messages -> journal lines.

Framework-independent: the server hands over the call kind (the path's last part), the raw
body, the ``Content-Encoding`` header and its clock; it gets back the messages to append
to the journal, one compact JSON line each, in the shape the batch ingest reads
(``personae.sources.readers.SEGMENT_FIELDS``), or an :class:`~personae.errors.InvalidMessage`
whose ``status`` it answers with.

What the SDKs send (captured from ``segment-analytics-python`` 2.4 and
``rudder-sdk-python`` 2.1 against a local server, see ``tests/realtime``): ``POST
/v1/batch``, ``Content-Type: application/json``, ``Authorization: Basic base64(writeKey:)``,
``Content-Encoding: gzip`` when compressing, and a body ``{"batch": [...], "sentAt": ...}``
(Segment's SDK adds ``"writeKey"``); each message carries ``type``, ``messageId``,
``timestamp`` (ISO with offset), ``context.library``, ``userId``/``anonymousId`` (possibly
``null``), ``integrations``.

Rules, after Segment's HTTP API docs ("Max request size", "Errors", "Batch"):

- size: a single call's body at most 32 KiB, a batch body at most 500 KiB, each event in a
  batch at most 32 KiB, at most 2500 events per batch; all measured on the JSON after gzip
  is undone. KB means 1024 bytes, as in the SDKs (``MAX_MSG_SIZE = 32 << 10``); with 500 000
  the batches ``segment-analytics-python`` builds (it stops adding events past 475 000
  bytes, so a batch can reach about 508 000) would be refused. An event in a batch is
  measured as compact UTF-8 JSON, never more than the ``json.dumps`` size the SDKs check,
  so any event a Segment SDK accepts passes. Segment answers 400 to an oversized request;
  we answer 413, which is what it is and which neither SDK retries either.
  ``rudder-sdk-python`` allows 4 MiB per event and per batch (its ``MAX_MSG_SIZE``), so
  with these limits its larger batches are refused and dropped by the SDK: a server that
  serves RudderStack clients raises :class:`Limits` for their sources.
- ``type`` (in a batch) is one of identify, track, page, screen, group, alias; a single
  call's type is its endpoint.
- every message but ``alias`` has ``userId`` or ``anonymousId`` (Segment's
  ``no_user_anon_id``); ``alias`` has ``userId`` and ``previousId``; ``track`` has
  ``event``; ``group`` has ``groupId``. ``properties``, ``traits``, ``context`` and
  ``integrations`` are objects.
- ids (``messageId``, ``userId``, ``anonymousId``, ``previousId``, ``groupId``) given as
  numbers become strings as JavaScript writes them (``42`` and ``42.0`` -> ``"42"``,
  ``1.5`` -> ``"1.5"``), as analytics.js does (the Python SDKs send strings already, their
  ``stringify_id``); an empty string is no id; booleans, objects and arrays are refused
  (``true`` would link everyone who sent it). ``messageId`` has fewer than 100 characters
  (Segment's dedup key, per its docs); a missing one is generated (UUID 4), as Segment
  does, so a client that retries without one can be counted twice: the SDKs always set it.
- nesting past 32 levels (the message being level 1) is refused, naming the path.
- the batch's ``context`` and ``integrations`` are merged under each message's own (the
  message wins, key by key), and its ``sentAt`` applies to messages without one.
- times: see :mod:`personae.realtime.clock` (skew correction, clamping, flags).
- ``writeKey`` in a body is returned (:attr:`Call.write_key`) for the server to
  authenticate with and never written to the journal (no secrets in the store in clear).
  ``receivedAt`` is the server's; the ``personae`` key is ours (source, key id, flags).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from personae.errors import InvalidMessage
from personae.realtime.body import decoded_body
from personae.realtime.clock import TimePolicy, event_time, format_time
from personae.realtime.decoding import JSONError, TooDeep, check_depth, decode_json, encode_json, repaired

KINDS = ("identify", "track", "page", "screen", "group", "alias")
"""Message types, each also a single-call endpoint ``POST /v1/<kind>``."""
CALLS = (*KINDS, "batch")
"""Every endpoint ``parse_call`` serves."""
IDS = ("messageId", "userId", "anonymousId", "previousId", "groupId")
OBJECTS = ("traits", "properties", "context", "integrations")
SERVER_OWNED = frozenset({"writeKey", "receivedAt", "personae", "type"})
"""Client keys never copied as sent: secret, set by the server, or set from the endpoint."""
NORMALISED = frozenset({*IDS, *OBJECTS, "timestamp", "originalTimestamp", "sentAt", *SERVER_OWNED})
"""Client keys written only in their normalised form (an empty or null id is left out)."""


@dataclass(frozen=True)
class Limits:
    """Segment's limits (HTTP API docs), the nesting limit and the time policy."""

    event_bytes: int = 32 * 1024
    batch_bytes: int = 500 * 1024
    batch_events: int = 2500
    depth: int = 32
    message_id_chars: int = 99
    time: TimePolicy = field(default_factory=TimePolicy)


LIMITS = Limits()


@dataclass(frozen=True)
class Message:
    """One normalised message; ``fields`` is what is written (do not mutate it)."""

    message_id: str
    type: str
    timestamp: datetime
    user_id: str | None
    anonymous_id: str | None
    flags: tuple[str, ...]
    fields: dict[str, Any]


@dataclass(frozen=True)
class Call:
    """The messages of one request, and the write key its body carried (if any)."""

    messages: tuple[Message, ...]
    write_key: str | None


def parse_call(
    kind: str, body: bytes, *, content_encoding: str | None, received_at: datetime, limits: Limits = LIMITS
) -> Call:
    """Decode, check and normalise the body of ``POST /v1/<kind>``; raises ``InvalidMessage``."""
    if kind not in CALLS:
        raise ValueError(f"unknown call {kind!r}; expected one of {', '.join(CALLS)}")
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware (the server clock in UTC)")
    received_at = received_at.astimezone(UTC)
    batch = kind == "batch"
    raw = decoded_body(
        body,
        content_encoding,
        limit=limits.batch_bytes if batch else limits.event_bytes,
        what="a batch request" if batch else f"a {kind} call",
    )
    try:
        decoded = decode_json(raw)
    except JSONError as error:
        raise InvalidMessage(f"the body is not valid JSON ({error}); send one JSON object") from None
    document = decoded.value
    if not isinstance(document, dict):
        raise InvalidMessage(f"the body is a JSON {_json_type(document)}, not an object; send one JSON object")
    write_key = document.get("writeKey")
    if write_key is not None and not isinstance(write_key, str):
        raise InvalidMessage(f"'writeKey' must be a string, not {_json_type(write_key)}")
    normalise = _Normaliser(received_at, limits, decoded.repair)
    if not batch:
        return Call((normalise(document, kind, "the body", None),), write_key or None)
    items = document.get("batch")
    if not isinstance(items, list):
        raise InvalidMessage('a batch body needs a \'batch\' list of messages, e.g. {"batch": [{"type": ...}]}')
    if len(items) > limits.batch_events:
        raise InvalidMessage(
            f"the batch holds {len(items)} events; Segment's limit is {limits.batch_events}; send smaller batches",
            status=413,
        )
    normalise.share(document)
    messages = tuple(normalise(item, None, f"batch[{index}]", index) for index, item in enumerate(items))
    return Call(messages, write_key or None)


def journal_line(message: Message, *, source: str, write_key_id: str | None = None) -> bytes:
    """The message as one compact JSON line (no trailing newline) for the journal."""
    ours: dict[str, Any] = {"source": source}
    if write_key_id is not None:
        ours["writeKeyId"] = write_key_id
    if message.flags:
        ours["flags"] = list(message.flags)
    return encode_json({**message.fields, "personae": ours})


def write_key_from_authorization(header: str | None) -> str | None:
    """The write key of ``Authorization: Basic base64(writeKey:)``; ``None`` for anything else.

    >>> write_key_from_authorization("Basic YWJjMTIzOg==")
    'abc123'
    """
    scheme, _, credentials = (header or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0] or None


class _Normaliser:
    """Turns decoded messages of one request into :class:`Message` (shared batch fields kept)."""

    def __init__(self, received_at: datetime, limits: Limits, repair: bool) -> None:
        self.received_at = received_at
        self.received = format_time(received_at)
        self.limits = limits
        self.repair = repair
        self.shared: dict[str, Any] = {}
        self.shared_flags: set[str] = set()

    def share(self, document: dict[str, Any]) -> None:
        """The batch's ``context``, ``integrations`` and ``sentAt``, applied to every message."""
        for key in ("context", "integrations"):
            value = document.get(key)
            if value is not None and not isinstance(value, dict):
                raise InvalidMessage(f"the batch's '{key}' must be an object, not {_json_type(value)}")
            if value:
                self.shared[key] = self._clean(value, "the batch", key, self.shared_flags)
        if document.get("sentAt") is not None:
            self.shared["sentAt"] = document["sentAt"]

    def __call__(self, item: Any, kind: str | None, where: str, index: int | None) -> Message:
        if not isinstance(item, dict):
            raise InvalidMessage(f"{where} is a JSON {_json_type(item)}, not an object", index=index)
        if kind is None:
            kind = item.get("type")
            if kind not in KINDS:
                raise InvalidMessage(f"{where} has type {kind!r}; expected one of {', '.join(KINDS)}", index=index)
        flags = set(self.shared_flags)
        item = self._clean(item, where, None, flags, index)
        if index is not None:  # measured once clean: what is written, never more than what was sent
            size = len(encode_json(item))
            if size > self.limits.event_bytes:
                raise InvalidMessage(
                    f"{where} is {size} bytes of JSON; Segment's limit is {self.limits.event_bytes} bytes per event; "
                    "send smaller properties or traits",
                    status=413,
                    index=index,
                )
        return self._message(item, kind, where, index, flags)

    def _clean(
        self, value: dict[str, Any], where: str, key: str | None, flags: set[str], index: int | None = None
    ) -> dict[str, Any]:
        depth = 1 if key is None else 2
        try:
            if self.repair:
                cleaned: dict[str, Any] = repaired(value, self.limits.depth, flags, depth)
                return cleaned
            check_depth(value, self.limits.depth, depth)
        except TooDeep as too_deep:
            path = ".".join([*([key] if key else []), *reversed(too_deep.path)])
            raise InvalidMessage(
                f"{where}: {path} is nested deeper than {self.limits.depth} levels; flatten it", index=index
            ) from None
        return value

    def _message(self, item: dict[str, Any], kind: str, where: str, index: int | None, flags: set[str]) -> Message:
        ids = {name: _identifier(item.get(name), name, where, index) for name in IDS}
        message_id = ids["messageId"] or str(uuid.uuid4())
        if len(message_id) > self.limits.message_id_chars:
            raise InvalidMessage(
                f"{where}: messageId has {len(message_id)} characters; at most {self.limits.message_id_chars}; "
                "send a shorter unique id (a UUID)",
                index=index,
            )
        missing = _missing(kind, ids, item)
        if missing:
            raise InvalidMessage(f"{where} ({kind}): {missing}", index=index)
        out: dict[str, Any] = {"messageId": message_id, "type": kind}
        if kind == "track":
            out["event"] = item["event"]
        elif kind in ("page", "screen") and item.get("name") is not None:
            if not isinstance(item["name"], str):
                raise InvalidMessage(f"{where}: 'name' must be a string, not {_json_type(item['name'])}", index=index)
            out["name"] = item["name"]
        original = item["timestamp"] if item.get("timestamp") is not None else item.get("originalTimestamp")
        sent_at = item["sentAt"] if item.get("sentAt") is not None else self.shared.get("sentAt")
        resolved = event_time(original, sent_at, self.received_at, self.limits.time)
        out["timestamp"] = format_time(resolved.timestamp)
        out.update((name, value) for name, value in ids.items() if value is not None and name != "messageId")
        for name in OBJECTS:
            value = item.get(name)
            if value is not None and not isinstance(value, dict):
                raise InvalidMessage(f"{where}: '{name}' must be an object, not {_json_type(value)}", index=index)
            shared = self.shared.get(name)
            if shared:
                value = {**shared, **(value or {})}
            if value is not None:
                out[name] = value
        out["receivedAt"] = self.received
        if sent_at is not None:
            out["sentAt"] = sent_at
        if original is not None:
            out["originalTimestamp"] = original
        out.update((key, value) for key, value in item.items() if key not in out and key not in NORMALISED)
        return Message(
            message_id=message_id,
            type=kind,
            timestamp=resolved.timestamp,
            user_id=ids["userId"],
            anonymous_id=ids["anonymousId"],
            flags=tuple(sorted(flags | set(resolved.flags))),
            fields=out,
        )


def _missing(kind: str, ids: dict[str, str | None], item: dict[str, Any]) -> str | None:
    """What a message of ``kind`` lacks, with the fix; ``None`` when it is complete."""
    if kind == "alias":
        if ids["previousId"] is None:
            return "'previousId' is missing; an alias links previousId (the old id) to userId"
        if ids["userId"] is None:
            return "'userId' is missing; an alias links previousId to userId (the new id)"
        return None
    if ids["userId"] is None and ids["anonymousId"] is None:
        return "neither 'userId' nor 'anonymousId' is set (no_user_anon_id); send at least one"
    if kind == "track":
        event = item.get("event")
        if not isinstance(event, str) or not event:
            return "'event' is missing or not a string; a track call names its event, e.g. \"Order Completed\""
    if kind == "group" and ids["groupId"] is None:
        return "'groupId' is missing; a group call names the group"
    return None


def _identifier(value: Any, name: str, where: str, index: int | None) -> str | None:
    """An id as a string: numbers written as JavaScript writes them; ``""`` is no id."""
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    raise InvalidMessage(f"{where}: '{name}' must be a string or a number, not {_json_type(value)}", index=index)


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    return "null" if value is None else "number"
