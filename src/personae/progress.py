"""How long work says how far it is: a callback ``progress(label, done, total)``.

The CLI draws it as a bar; the server and Python users may pass their own or none. Every
step reports through it, so no bar freezes while a long step runs.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int], None]
"""``progress(label, done, total)``: ``done`` of ``total`` units of the work named ``label``."""


def silent(label: str, done: int, total: int) -> None:
    """A progress callback that shows nothing."""
