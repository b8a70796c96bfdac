"""Server settings (``[server]`` in ``personae.toml``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from personae.spec import Spec


class ServerSettings(Spec):
    host: str = "127.0.0.1"
    """The address ``personae serve`` binds to: this machine only, unless told otherwise."""
    port: int = Field(8000, ge=1, le=65535)
    run_every_hours: float = Field(0, ge=0)
    """A batch run this often in the server (0: only when asked through the admin API), so
    windowed traits and the segments built on them move on as days pass."""
    http_server: Literal["granian", "uvicorn"] = "granian"
    """The HTTP server under the app: granian (the faster on the durable tracking path,
    bench/SERVER_STACK.md) or uvicorn."""
    live: bool = True
    """Process each event as it arrives: identity, traits and rule segments, written to the
    store and the change feed (``docs/api.md``, Live processing). Off: events are only
    journaled, and loaded by the next batch run."""
    live_people: int = Field(10_000, ge=1)
    """How many people's live traits are kept in memory (least recently used are dropped and
    read again from the store when they come back). A demo buyer's take about 120 KB, so the
    default holds about 1.2 GB at most."""
