"""The web dashboard (DESIGN §11): server-rendered pages over the open workspace, mounted by
``personae serve`` under ``/dashboard``, and ``personae report``'s self-contained HTML file."""

from __future__ import annotations

from personae.dashboard.report import write_report
from personae.dashboard.routes import router

__all__ = ["router", "write_report"]
