"""The front of the server: a raw ASGI callable that answers the tracking calls
(``POST /v1/{identify,track,page,screen,group,alias,batch}``) itself and hands everything
else to the FastAPI app behind it.

Tracking is the hot path (thousands of calls a second from SDKs); through FastAPI's routing
and request objects each call costs about 110 µs more CPU than through raw ASGI, three times
the cost of the call itself (bench/SERVER_STACK.md). The front keeps the same behaviour,
because both run :func:`personae.server.tracking.accept` and answer errors through
:mod:`personae.server.errors`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from personae.errors import InvalidMessage, PersonaeError
from personae.realtime.messages import CALLS
from personae.server.errors import answer, status_of
from personae.server.tracking import OK, accept

TRACKING_PATHS: dict[str, str] = {f"/v1/{kind}": kind for kind in CALLS}
_OK_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(OK)).encode())]


class Front:
    """``Front(app)`` serves what ``app`` serves, the tracking calls without its routing
    (``route=False`` passes them to ``app`` too: the tests compare both ways)."""

    def __init__(self, app: FastAPI, *, route: bool = True) -> None:
        self.app, self.route = app, route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = TRACKING_PATHS.get(scope.get("path", "")) if scope["type"] == "http" and self.route else None
        if kind is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        try:
            await accept(self.app.state.personae, kind, headers, _chunks(receive))
        except PersonaeError as error:
            await answer(status_of(error), str(error), code=type(error).__name__)(scope, receive, send)
            return
        except HTTPException as error:
            response = answer(error.status_code, str(error.detail))
            response.headers.update(error.headers or {})
            await response(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": _OK_HEADERS})
        await send({"type": "http.response.body", "body": OK})


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The request body as it arrives."""
    while True:
        message: dict[str, Any] = dict(await receive())
        if message["type"] == "http.disconnect":
            raise InvalidMessage("the client went away before its body arrived; nothing was stored", status=400)
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return
