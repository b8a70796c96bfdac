"""The tracking API, compatible with Segment's HTTP API: ``POST /v1/identify``, ``/track``,
``/page``, ``/screen``, ``/group``, ``/alias`` and ``/batch``.

A call is answered 200 ``{"success": true}`` only once its events are fsynced to the
journal of the write key's source; every refusal stores nothing and says why: 400 a body
that is not valid, 401/403 a missing, revoked or wrong key, 408 a body that does not
arrive in time, 413 a body over Segment's limits (also after gzip is undone, so a gzip
bomb is stopped as soon as it passes them), 415 an encoding other than gzip, 429 when
intake outruns the disk (``Retry-After``), 503 when the journal cannot store (a full
disk: the reason is in the answer).

:func:`accept` is the whole of it, free of any framework: :mod:`personae.server.front`
calls it straight from ASGI (a tracking call then costs a third of the CPU it costs through
FastAPI's routing, bench/SERVER_STACK.md); the FastAPI routes here describe the same
endpoints in the OpenAPI document and answer them when the app runs without the front.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from personae.errors import InvalidMessage
from personae.realtime.messages import CALLS, LIMITS, journal_line, parse_call, write_key_from_authorization
from personae.server.auth import caller
from personae.server.state import ServerState

router = APIRouter(tags=["tracking"])
BODY_SECONDS = 10.0
"""A body must arrive within this time: a client that never finishes its body is cut off."""
OK = b'{"success":true}'


async def _body(headers: Mapping[str, str], chunks: AsyncIterator[bytes], limit: int, what: str) -> bytes:
    """The raw body, refused past ``limit`` bytes or ``BODY_SECONDS`` seconds."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise InvalidMessage(f"the body is {int(declared):,} bytes, over the {limit:,} bytes {what} may be", status=413)
    parts: list[bytes] = []
    size = 0

    async def read() -> None:
        nonlocal size
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise InvalidMessage(f"the body is over the {limit:,} bytes {what} may be", status=413)
            parts.append(chunk)

    try:
        await asyncio.wait_for(read(), BODY_SECONDS)
    except TimeoutError:
        raise InvalidMessage(
            f"the body did not arrive within {BODY_SECONDS:.0f} s; send it at once", status=408
        ) from None
    return b"".join(parts)


async def accept(state: ServerState, kind: str, headers: Mapping[str, str], chunks: AsyncIterator[bytes]) -> None:
    """Take one tracking call of ``kind`` (a key of ``CALLS``): check the key, read and parse
    the body, and return once its events are durable in the journal. Raises what the caller
    must answer (:class:`~personae.errors.PersonaeError`, or an ``HTTPException`` for keys)."""
    received = datetime.now(UTC)
    header_key = write_key_from_authorization(headers.get("authorization"))
    if header_key is not None:  # refuse a bad key before reading the body
        caller(state.keys, header_key, "write")
    limit = LIMITS.batch_bytes if kind == "batch" else LIMITS.event_bytes
    encoding = headers.get("content-encoding")
    if encoding:
        limit += limit // 10 + 1024  # compressing incompressible data grows it a little; the JSON is checked after
    body = await _body(headers, chunks, limit, "a batch" if kind == "batch" else f"a {kind} call")
    call = parse_call(kind, body, content_encoding=encoding, received_at=received)
    who = caller(state.keys, header_key or call.write_key, "write", usage=state.key_use)
    assert who.source is not None  # a write key names its source
    lines = [journal_line(message, source=who.source, write_key_id=who.key_id) for message in call.messages]
    lines = state.suppression.keep(lines)  # an erased person's events are answered, never kept
    if lines:
        await state.intake.commit(who.source, lines)
    state.count_events(len(lines))


def _route(kind: str) -> None:
    async def endpoint(request: Request) -> Response:
        await accept(request.app.state.personae, kind, request.headers, request.stream())
        return Response(OK, media_type="application/json")

    endpoint.__name__ = f"track_{kind}"
    summary = "Send a batch of events of any type" if kind == "batch" else f"Send one {kind} event"
    router.add_api_route(
        f"/v1/{kind}",
        endpoint,
        methods=["POST"],
        summary=summary,
        response_class=JSONResponse,
        description="Segment HTTP API compatible; authenticate with the write key as the HTTP Basic user name.",
    )


for _kind in CALLS:
    _route(_kind)
