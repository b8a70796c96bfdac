"""The ASGI app: :func:`create_app` over an open workspace."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from personae import __version__
from personae.dashboard import router as dashboard_router
from personae.errors import PersonaeError
from personae.realtime.intake import Intake
from personae.server import admin, privacy, reading, tracking
from personae.server.errors import http_error, personae_error, validation_error
from personae.server.front import Front
from personae.server.state import ServerState
from personae.workspace import Workspace


def create_app(workspace: Workspace, *, url: str = "http://127.0.0.1:8000") -> Front:
    """The server's app over ``workspace``, which must be open (``workspace.open()``) for as
    long as the app runs; the app opens the live sources' journals while it runs. The
    tracking calls are answered by the :class:`~personae.server.front.Front`, the rest by
    FastAPI behind it (``create_app(...).app``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            state = ServerState(workspace, Intake(workspace.root, workspace.config.sources), url)
        except PersonaeError as error:  # the server that runs the app raises it once it has stopped
            app.state.startup_error = error
            raise
        app.state.personae = state
        state.feed.bind(asyncio.get_running_loop())
        state.announce()
        try:
            yield
        finally:
            state.close()

    app = FastAPI(
        title="personae",
        version=__version__,
        summary="Tracking (Segment HTTP API compatible), profiles, segments, the change feed and admin.",
        lifespan=lifespan,
    )
    app.add_exception_handler(PersonaeError, personae_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.include_router(tracking.router)
    app.include_router(reading.router)
    app.include_router(admin.router)
    app.include_router(privacy.router)
    app.include_router(dashboard_router)  # the dashboard's pages, under /dashboard
    return Front(app)
