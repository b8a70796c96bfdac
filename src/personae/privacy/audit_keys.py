"""Access key use for the audit log, without a row per tracking call.

A server takes thousands of tracking calls a second with one write key: a row for each
would make the log the store's largest table and put a write on the hot path. So
:class:`KeyUse` writes, per server start, one ``key.first_use`` row for each key the
first time it is used, then a ``key.use`` row with the number of calls at most once a
``every`` seconds per key (a minute by default), and a last one when the server stops.
Counting costs a lock and a dictionary update; the rows go to an
:class:`~personae.privacy.audit.AuditLog`, which the server flushes under its write turn.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from personae.privacy.audit import KEY_FIRST_USE, KEY_USE, AuditEntry, AuditLog

COUNT_EVERY = 60.0
"""Seconds between two ``key.use`` rows of one key."""


@dataclass
class _Tally:
    scope: str
    calls: int = 0
    since: float = 0.0
    """When the calls not yet written began (the clock's time)."""


class KeyUse:
    """Counts the calls of each key; see the module's docstring for the rows it writes."""

    def __init__(
        self, log: AuditLog, *, every: float = COUNT_EVERY, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.log, self.every, self.clock = log, every, clock
        self._lock = threading.Lock()
        self._tallies: dict[str, _Tally] = {}

    def used(self, key_id: str, scope: str) -> None:
        """One call made with ``key_id`` (never the secret) for ``scope``."""
        with self._lock:
            tally = self._tallies.get(key_id)
            if tally is None:
                self._tallies[key_id] = _Tally(scope, 1, self.clock())
                first = True
            else:
                tally.calls += 1
                first = False
        if first:
            self.log.append(AuditEntry(KEY_FIRST_USE, actor=key_id, scope=scope, target=f"key:{key_id}"))

    def count(self, *, final: bool = False) -> int:
        """Put a ``key.use`` row in the log for each key whose calls have waited ``every``
        seconds (every key with calls, when ``final``); returns how many rows."""
        now = self.clock()
        due = []
        with self._lock:
            for key_id, tally in self._tallies.items():
                if tally.calls and (final or now - tally.since >= self.every):
                    due.append((key_id, tally.scope, tally.calls, now - tally.since))
                    tally.calls, tally.since = 0, now
        for key_id, scope, calls, seconds in due:
            detail = {"calls": calls, "seconds": round(seconds, 1)}
            self.log.append(AuditEntry(KEY_USE, actor=key_id, scope=scope, target=f"key:{key_id}", detail=detail))
        return len(due)
