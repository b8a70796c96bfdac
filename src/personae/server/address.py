"""Where a running server says where it listens: ``.personae/server.json`` in the workspace,
with its URL, pid and the local admin token for the CLI of this machine (0600). A module of
its own, so the CLI can find a server without importing it."""

from __future__ import annotations

from pathlib import Path

SERVER_FILE = Path(".personae") / "server.json"
"""Where a running server says where it listens and gives the CLI of this machine its token."""
