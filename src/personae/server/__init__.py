"""``personae serve``: the tracking, profile, change-feed and admin API over one open workspace.

:func:`create_app` builds the ASGI app (FastAPI; OpenAPI at ``/docs``) for a
:class:`~personae.Workspace`; the app opens it (store and writer lock) for as long as it
runs. Errors become HTTP statuses in one place, :mod:`personae.server.errors`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from personae.server.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    """``create_app`` is loaded when first asked for (FastAPI takes 0.2 s to import, which the CLI's
    readers of ``.personae/server.json`` would pay otherwise)."""
    if name != "create_app":
        raise AttributeError(f"module 'personae.server' has no attribute {name!r}")
    from personae.server.app import create_app

    return create_app
