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
