"""What the server reads out: health, one person's profile, the segments and their members,
and the change feed as Server-Sent Events (resumable by sequence)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from personae import __version__
from personae.server.auth import bearer, caller
from personae.server.state import ServerState

router = APIRouter(tags=["reading"])
HEARTBEAT_SECONDS = 15.0
"""An SSE comment this often keeps proxies from closing a quiet feed."""


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.personae
    return state


def _reader(request: Request) -> ServerState:
    state = _state(request)
    caller(state.keys, bearer(request), "read", local=state.local_token, usage=state.key_use)
    return state


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


@router.get("/health", summary="Whether the server takes events, and how many it took")
def health(request: Request) -> dict[str, Any]:
    state = _state(request)
    intake = state.intake.health()
    return {
        "ok": intake.healthy,
        "version": __version__,
        "journal_faults": intake.faults,
        "events": state.counters.events,
        "events_per_second": round(state.counters.per_second(), 3),
        "live": {**asdict(state.live.stats), "caught_up": state.live.caught_up()} if state.live is not None else None,
    }


@router.get("/v1/profiles/{identifier}", summary="One person: golden record, traits, segments, scores, merges")
def profile(identifier: str, request: Request) -> dict[str, Any]:
    """``identifier`` is ``TYPE:VALUE`` (``email:jane@example.com``, ``phone:+15551234567``) or ``uid:p…``."""
    state = _state(request)
    who = caller(state.keys, bearer(request), "read", local=state.local_token, usage=state.key_use)
    found = False
    try:
        view = state.workspace.profile(identifier)
        found = True
    finally:  # a read of nobody is recorded too, as not found
        state.profile_read(who.key_id, who.scope, identifier, found=found)
    return dict(_plain(asdict(view)))


@router.get("/v1/segments", summary="Every segment with its current members")
def segments(request: Request) -> list[dict[str, Any]]:
    state = _reader(request)
    return [asdict(summary) for summary in state.workspace.segments()]


@router.get("/v1/segments/{segmentation}/{segment}/members", summary="The UIDs in a segment, a page at a time")
def members(segmentation: str, segment: str, request: Request, after: str = "", limit: int = 1000) -> dict[str, Any]:
    state = _reader(request)
    uids = state.workspace.members(segmentation, segment, after=after, limit=min(max(limit, 1), 10_000))
    return {"segmentation": segmentation, "segment": segment, "uids": uids, "next": uids[-1] if uids else None}


@router.get("/v1/changes", summary="The membership change feed, as Server-Sent Events")
async def changes(request: Request, after: int = 0, segmentation: str | None = None) -> StreamingResponse:
    """Entries and exits after sequence ``after`` (or the ``Last-Event-ID`` header), then new
    ones as they happen; each event's ``id`` is its sequence, so a client resumes where it was."""
    state = _reader(request)
    resume = request.headers.get("last-event-id", "")
    start = int(resume) if resume.isdigit() else after

    async def stream() -> AsyncIterator[bytes]:
        last = start
        waited = 0.0
        while True:  # the response ends the stream when the client goes away
            found = await asyncio.to_thread(state.workspace.changes, last, segmentation=segmentation)
            for change in found:
                data = json.dumps(asdict(change), default=str)
                yield f"id: {change.sequence}\nevent: membership\ndata: {data}\n\n".encode()
                last = change.sequence
            if found:
                waited = 0.0
                continue
            if await state.feed.wait(timeout=1.0):
                continue
            waited += 1.0
            if waited >= HEARTBEAT_SECONDS:
                waited = 0.0
                yield b": keep-alive\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
