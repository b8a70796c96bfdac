"""The ASGI apps that bench/server_stack.py serves: the same endpoints on five stacks.

Stacks (module attributes, each an ASGI app):

- ``raw_app``: a hand-written ASGI callable, a dict lookup on (method, path);
- ``starlette_app``: Starlette ``Route``s;
- ``fastapi_app``: FastAPI ``APIRoute``s whose handlers take the ``Request`` (plus the idiomatic
  ``/pydantic/*`` routes that declare a pydantic body model and return a dict);
- ``fastapi_route_app``: a FastAPI app (OpenAPI at ``/docs`` for its own routes) whose benchmark
  endpoints are plain Starlette ``Route``s added to its router (not in the OpenAPI schema);
- ``fastapi_front_app``: a raw ASGI callable that serves the benchmark endpoints itself and hands
  every other request (``/docs``, ``/openapi.json``, the profile API, ...) to a FastAPI app.

Endpoints (all stacks; the handlers are shared, only the plumbing differs):

- ``GET /bare``, ``POST /bare``: 200 with an empty body (the POST body is read and dropped);
- ``POST /json/{stdlib,orjson,msgspec}``: parse the body, count its events, ``{"success":true}``;
- ``POST /typed/msgspec`` (all), ``POST /pydantic`` (FastAPI only): parse and validate into
  Segment-shaped types (msgspec ``Struct`` / pydantic model);
- ``POST /durable``: parse with orjson, append the body to the journal and wait for the group
  commit (write + ``os.fsync``) that covers it, then ``{"success":true}``;
- ``GET /v1/profiles/{key}``: a simulated profile lookup (dict of 100,000 profiles, orjson);
- ``GET /stats``: the journal's counters (fsyncs, bodies, events, bytes, seconds in fsync).

The journal is the file named by ``BENCH_JOURNAL`` (default: ``journal.jsonl`` in the temp dir).
``BENCH_SWITCH_INTERVAL`` (seconds), when set, is passed to ``sys.setswitchinterval``: how long the
event loop's thread may keep the GIL while the committer thread, back from ``os.fsync``, waits for it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import msgspec
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response as FastAPIResponse
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response
from starlette.routing import Route

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Handler = Callable[[bytes], Awaitable[bytes]]

SUCCESS = b'{"success":true}'
JSON = "application/json"
PROFILES = 100_000


# --- group-committed journal -------------------------------------------------------------------


class GroupCommitJournal:
    """Appends request bodies to one file; one thread writes and fsyncs whatever is pending.

    ``append`` queues the body with a future of the caller's event loop and awaits it. The
    committer thread takes every pending body at once, writes them with one ``os.write`` and one
    ``os.fsync``, then resolves all their futures with one ``call_soon_threadsafe`` per loop.
    Requests that arrive while an fsync runs form the next group, so the group size adapts to
    the load with no added wait.
    """

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._cond = threading.Condition()
        self._pending: list[tuple[bytes, int, asyncio.Future[None]]] = []
        self.fsyncs = 0
        self.bodies = 0
        self.events = 0
        self.bytes = 0
        self.fsync_seconds = 0.0
        self.max_group = 0
        threading.Thread(target=self._run, name="journal-committer", daemon=True).start()

    async def append(self, body: bytes, events: int) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._cond:
            self._pending.append((body, events, future))
            self._cond.notify()
        await future

    def stats(self) -> dict[str, float]:
        with self._cond:
            return {
                "fsyncs": self.fsyncs,
                "bodies": self.bodies,
                "events": self.events,
                "bytes": self.bytes,
                "fsync_seconds": self.fsync_seconds,
                "max_group": self.max_group,
            }

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
                group, self._pending = self._pending, []
            data = b"\n".join(body for body, _, _ in group) + b"\n"
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            started = time.perf_counter()
            os.fsync(self._fd)
            elapsed = time.perf_counter() - started
            with self._cond:
                self.fsyncs += 1
                self.bodies += len(group)
                self.events += sum(events for _, events, _ in group)
                self.bytes += len(data)
                self.fsync_seconds += elapsed
                self.max_group = max(self.max_group, len(group))
            by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
            for _, _, future in group:
                by_loop.setdefault(future.get_loop(), []).append(future)
            for loop, futures in by_loop.items():
                loop.call_soon_threadsafe(_resolve, futures)


def _resolve(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


_journal: GroupCommitJournal | None = None
_journal_lock = threading.Lock()


def journal() -> GroupCommitJournal:
    global _journal
    if _journal is None:
        with _journal_lock:
            if _journal is None:
                path = os.environ.get("BENCH_JOURNAL") or os.path.join(tempfile.gettempdir(), "journal.jsonl")
                _journal = GroupCommitJournal(path)
    return _journal


# --- shared handlers: body in, response body out ------------------------------------------------


def _count(doc: Any) -> int:
    batch = doc.get("batch") if isinstance(doc, dict) else None
    return len(batch) if isinstance(batch, list) else 1


class SegmentEvent(msgspec.Struct, omit_defaults=True):
    """A Segment call as msgspec validates it (the fields personae reads; others are kept out)."""

    messageId: str  # Segment's field names
    type: str = "track"
    userId: str | None = None
    anonymousId: str | None = None
    event: str | None = None
    properties: dict[str, Any] = {}  # msgspec copies mutable defaults
    traits: dict[str, Any] = {}
    context: dict[str, Any] = {}
    timestamp: str | None = None


class SegmentPayload(msgspec.Struct):
    """Either one call (``/v1/track``) or ``{"batch": [...]}`` (``/v1/batch``)."""

    messageId: str | None = None
    type: str | None = None
    userId: str | None = None
    anonymousId: str | None = None
    event: str | None = None
    properties: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    timestamp: str | None = None
    batch: list[SegmentEvent] | None = None
    sentAt: str | None = None


_msgspec_decoder = msgspec.json.Decoder()
_typed_decoder = msgspec.json.Decoder(SegmentPayload)


class PydanticEvent(BaseModel):
    messageId: str
    type: str = "track"
    userId: str | None = None
    anonymousId: str | None = None
    event: str | None = None
    properties: dict[str, Any] = {}
    context: dict[str, Any] = {}
    timestamp: str | None = None


class PydanticPayload(BaseModel):
    messageId: str | None = None
    type: str | None = None
    userId: str | None = None
    anonymousId: str | None = None
    event: str | None = None
    properties: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    timestamp: str | None = None
    batch: list[PydanticEvent] | None = None
    sentAt: str | None = None


async def bare(body: bytes) -> bytes:
    return b""


async def parse_stdlib(body: bytes) -> bytes:
    _count(json.loads(body))
    return SUCCESS


async def parse_orjson(body: bytes) -> bytes:
    _count(orjson.loads(body))
    return SUCCESS


async def parse_msgspec(body: bytes) -> bytes:
    _count(_msgspec_decoder.decode(body))
    return SUCCESS


async def parse_typed(body: bytes) -> bytes:
    payload = _typed_decoder.decode(body)
    _ = len(payload.batch) if payload.batch is not None else 1
    return SUCCESS


async def durable(body: bytes) -> bytes:
    events = _count(orjson.loads(body))
    await journal().append(body, events)
    return SUCCESS


async def stats(body: bytes) -> bytes:
    return orjson.dumps(journal().stats())


POST_HANDLERS: dict[str, Handler] = {
    "/bare": bare,
    "/json/stdlib": parse_stdlib,
    "/json/orjson": parse_orjson,
    "/json/msgspec": parse_msgspec,
    "/typed/msgspec": parse_typed,
    "/durable": durable,
}
GET_HANDLERS: dict[str, Handler] = {"/bare": bare, "/stats": stats}

_profiles: dict[str, bytes] | None = None


def profiles() -> dict[str, bytes]:
    """100,000 simulated profiles, serialised once (about 600 bytes each) as a cache would hold them."""
    global _profiles
    if _profiles is None:
        built: dict[str, Any] = {}
        for i in range(1, PROFILES + 1):
            built[f"email:user{i}@example.com"] = {
                "uid": f"P{i:09d}",
                "traits": {
                    "email": f"user{i}@example.com",
                    "first_name": "Ada",
                    "last_name": "Lovelace",
                    "orders": i % 37,
                    "revenue": round(i * 1.37 % 5000, 2),
                    "last_order_at": "2026-11-20T09:12:00Z",
                    "rfm": "455",
                    "lifecycle": "active",
                },
                "segments": ["vip", "recent_buyers", "newsletter"][: 1 + i % 3],
                "identities": [
                    {"type": "email", "value": f"user{i}@example.com"},
                    {"type": "user_id", "value": f"user-{i:06d}"},
                ],
                "next_best_action": {"action": "cross_sell", "score": 0.73},
            }
        _profiles = {key: orjson.dumps(value) for key, value in built.items()}
    return _profiles


PROFILE_PREFIX = "/v1/profiles/"
NOT_FOUND = b'{"error":"not found"}'


def lookup_profile(key: str) -> bytes | None:
    return profiles().get(key)


# --- raw ASGI -----------------------------------------------------------------------------------


async def _read_body(receive: Receive) -> bytes:
    first = await receive()
    body: bytes = first.get("body", b"")
    if not first.get("more_body", False):
        return body
    chunks = [body]
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send(send: Send, status: int, body: bytes, content_type: bytes = b"application/json") -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _serve_raw(scope: Scope, receive: Receive, send: Send) -> bool:
    """Serves a benchmark endpoint; False when the path is not one (the caller answers)."""
    path: str = scope["path"]
    if scope["method"] == "POST":
        handler = POST_HANDLERS.get(path)
        if handler is None:
            return False
        await _send(send, 200, await handler(await _read_body(receive)))
        return True
    handler = GET_HANDLERS.get(path)
    if handler is not None:
        await _send(send, 200, await handler(b""))
        return True
    if path.startswith(PROFILE_PREFIX):
        found = lookup_profile(path[len(PROFILE_PREFIX) :])
        await _send(send, 200 if found is not None else 404, found if found is not None else NOT_FOUND)
        return True
    return False


async def raw_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if not await _serve_raw(scope, receive, send):
        await _send(send, 404, NOT_FOUND)


# --- Starlette ----------------------------------------------------------------------------------


def _starlette_endpoint(handler: Handler, with_body: bool) -> Callable[[StarletteRequest], Awaitable[Response]]:
    async def endpoint(request: StarletteRequest) -> Response:
        body = await request.body() if with_body else b""
        return Response(await handler(body), media_type=JSON)

    return endpoint


async def _starlette_profile(request: StarletteRequest) -> Response:
    found = lookup_profile(request.path_params["key"])
    return Response(found if found is not None else NOT_FOUND, status_code=200 if found else 404, media_type=JSON)


def _starlette_routes() -> list[Route]:
    routes = [Route(path, _starlette_endpoint(h, True), methods=["POST"]) for path, h in POST_HANDLERS.items()]
    routes += [Route(path, _starlette_endpoint(h, False), methods=["GET"]) for path, h in GET_HANDLERS.items()]
    routes.append(Route(PROFILE_PREFIX + "{key}", _starlette_profile, methods=["GET"]))
    return routes


starlette_app = Starlette(routes=_starlette_routes())


# --- FastAPI ------------------------------------------------------------------------------------


def _fastapi_endpoint(handler: Handler, with_body: bool) -> Callable[[Request], Awaitable[FastAPIResponse]]:
    async def endpoint(request: Request) -> FastAPIResponse:
        body = await request.body() if with_body else b""
        return FastAPIResponse(await handler(body), media_type=JSON)

    return endpoint


def _add_profile_route(app: FastAPI) -> None:
    @app.get(PROFILE_PREFIX + "{key}")
    async def get_profile(key: str) -> FastAPIResponse:
        found = lookup_profile(key)
        return FastAPIResponse(
            found if found is not None else NOT_FOUND, status_code=200 if found else 404, media_type=JSON
        )


def _add_pydantic_route(app: FastAPI) -> None:
    @app.post("/pydantic")
    async def track_pydantic(payload: PydanticPayload) -> dict[str, bool]:
        _ = len(payload.batch) if payload.batch is not None else 1
        return {"success": True}


def _make_fastapi() -> FastAPI:
    app = FastAPI(title="personae server-stack bench")
    for path, handler in POST_HANDLERS.items():
        app.add_api_route(path, _fastapi_endpoint(handler, True), methods=["POST"])
    for path, handler in GET_HANDLERS.items():
        app.add_api_route(path, _fastapi_endpoint(handler, False), methods=["GET"])
    _add_profile_route(app)
    _add_pydantic_route(app)
    return app


def _make_fastapi_route() -> FastAPI:
    app = FastAPI(title="personae server-stack bench (Starlette routes for the hot paths)")
    _add_profile_route(app)
    _add_pydantic_route(app)
    for route in _starlette_routes():
        if not route.path.startswith(PROFILE_PREFIX):
            app.router.routes.append(route)
    return app


def _make_fastapi_front() -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    inner = FastAPI(title="personae server-stack bench (raw ASGI in front)")
    _add_profile_route(inner)
    _add_pydantic_route(inner)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        is_hot = scope["type"] == "http" and not scope["path"].startswith(PROFILE_PREFIX)
        if is_hot and await _serve_raw(scope, receive, send):
            return
        await inner(scope, receive, send)

    return app


fastapi_app = _make_fastapi()
fastapi_route_app = _make_fastapi_route()
fastapi_front_app = _make_fastapi_front()

if os.environ.get("BENCH_SWITCH_INTERVAL"):
    sys.setswitchinterval(float(os.environ["BENCH_SWITCH_INTERVAL"]))
if os.environ.get("BENCH_PROFILES") == "1":
    profiles()
