"""``personae serve``: the tracking, profile, change-feed and admin API over one open workspace.

:func:`create_app` builds the ASGI app (FastAPI; OpenAPI at ``/docs``) for a
:class:`~personae.Workspace`; the app opens it (store and writer lock) for as long as it
runs. Errors become HTTP statuses in one place, :mod:`personae.server.errors`.
"""

from personae.server.app import create_app

__all__ = ["create_app"]
