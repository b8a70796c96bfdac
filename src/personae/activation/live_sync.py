"""Live destinations: synced by ``personae serve`` as changes happen, not only after runs.

One thread per server. Live processing (and the admin API) call :meth:`LiveSync.notify`
when they write changes; the thread wakes, waits ``settle`` seconds so that a burst of
changes goes out as a few batches instead of many tiny ones, and syncs every destination
whose ``mode = "live"`` with the same loop a run uses. Only its commits take the server's
write turn, so a receiver that is slow or down delays its own changes, never the events
or the other writers. The thread also wakes every ``every`` seconds, so a receiver that
was down gets its waiting changes without a new event.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime

from personae.activation.delivery import SyncResult, Turn, sync_destination
from personae.activation.destination import DeliveryContext
from personae.activation.kinds import make_destination
from personae.activation.specs import DestinationSpec
from personae.engine.base import Engine
from personae.errors import PersonaeError
from personae.privacy.purposes import Purpose

log = logging.getLogger(__name__)


class LiveSync:
    def __init__(
        self,
        specs: Sequence[DestinationSpec],
        context: DeliveryContext,
        connect: Callable[[], AbstractContextManager[Engine]],
        turn: Turn,
        *,
        settle: float = 0.2,
        every: float = 30.0,
        purposes: Sequence[Purpose] = (),
    ) -> None:
        self.specs = [spec for spec in specs if spec.mode == "live"]
        self.purposes = {purpose.name: purpose for purpose in purposes}
        self.context, self.connect, self.turn = context, connect, turn
        self.settle, self.every = settle, every
        self.last: dict[str, SyncResult] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.specs and self._thread is None:
            self._thread = threading.Thread(target=self._follow, name="personae-live-sync", daemon=True)
            self._thread.start()

    def notify(self) -> None:
        """Changes were written: sync soon."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def sync_now(self) -> list[SyncResult]:
        """Sync every live destination once, in this thread."""
        results = []
        with self.connect() as engine:
            for spec in self.specs:
                now = datetime.now(UTC).replace(tzinfo=None)
                destination = make_destination(spec, self.context)
                purpose = self.purposes.get(spec.purpose) if spec.purpose else None
                result = sync_destination(engine, spec, destination, now, turn=self.turn, purpose=purpose)
                self.last[spec.name] = result
                results.append(result)
                if result.status != "ok":
                    log.warning("destination %r: %s; its changes wait for the next sync", spec.name, result.error)
        return results

    def _follow(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.every)
            if self._stop.is_set():
                return
            self._stop.wait(self.settle)
            self._wake.clear()
            try:
                self.sync_now()
            except PersonaeError:  # a store error: said in the log, tried again at the next wake
                log.exception("live sync failed; it is tried again at the next change")
