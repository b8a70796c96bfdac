"""What the running server holds: the open workspace, the live sources' journals, the keys,
the local admin token for the CLI of this machine, and its counters."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from personae.access import SERVER_FILE, KeyRing
from personae.activation.destination import DeliveryContext
from personae.activation.live_sync import LiveSync
from personae.engine.base import Engine
from personae.errors import PersonaeError, PersonNotFound
from personae.privacy.audit import PROFILE_READ, AuditEntry, AuditLog, audit_salt, identifier_target, subject_target
from personae.privacy.audit_keys import KeyUse
from personae.realtime.intake import Intake
from personae.realtime.live import LiveProcessor
from personae.rights.scrub import IntakeFilter
from personae.workspace import Workspace

log = logging.getLogger(__name__)
AUDIT_FLUSH_SECONDS = 1.0
"""How often the server writes the audit rows waiting (only when some wait)."""


class Feed:
    """Wakes the change-feed streams when changes are written (from any thread)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event = asyncio.Event()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def notify(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, timeout: float) -> bool:
        """Whether changes were written within ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return False
        return True


@dataclass
class Counters:
    started: float = field(default_factory=time.monotonic)
    events: int = 0
    _recent: list[tuple[float, int]] = field(default_factory=list)

    def add(self, count: int) -> None:
        now = time.monotonic()
        self.events += count
        self._recent.append((now, count))
        while self._recent and self._recent[0][0] < now - 60:
            self._recent.pop(0)

    def per_second(self) -> float:
        """Events per second over the last minute."""
        now = time.monotonic()
        window = min(60.0, max(now - self.started, 1e-9))
        return sum(count for at, count in self._recent if at >= now - 60) / window


class Runs:
    """At most one batch run at a time, in a thread of its own."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, as_of: date | None, only: str | None) -> bool:
        if self.running:
            return False
        self._thread = threading.Thread(target=self._run, args=(as_of, only), name="personae-run", daemon=True)
        self._thread.start()
        return True

    def _run(self, as_of: date | None, only: str | None) -> None:
        try:
            report = self.state.workspace.run(as_of=as_of, only=only)
            self.last_error = "; ".join(report.errors) or None
        except PersonaeError as error:
            self.last_error = str(error)
        finally:
            self.state.changed()


class ServerState:
    def __init__(self, workspace: Workspace, intake: Intake, url: str) -> None:
        if not workspace.is_open:
            raise RuntimeError("the server needs an open workspace: `with workspace.open(): ...`")
        self.workspace = workspace
        self.intake = intake
        self.keys = KeyRing(workspace.root)
        self.local_token = "pl_" + secrets.token_urlsafe(32)
        self.url = url
        self.counters = Counters()
        self.feed = Feed()
        self.runs = Runs(self)
        self._schedule = threading.Event()
        every = workspace.config.server.run_every_hours
        if every:
            threading.Thread(target=self._scheduled, args=(every,), name="personae-schedule", daemon=True).start()
        self._lock = threading.Lock()
        self.audit = AuditLog()
        self.key_use = KeyUse(self.audit)
        with workspace.engine(write=True) as engine:
            self._salt = audit_salt(engine)
        self._audit_stop = threading.Event()
        self._audit_thread = threading.Thread(target=self._flush_audit, name="personae-audit", daemon=True)
        self._audit_thread.start()
        workspace.journal_sealer = intake.seal
        self.suppression = IntakeFilter(workspace.config.workspace.phone_region)
        if workspace.config.sources:
            with workspace.engine(write=False) as store:
                self.suppression.reload(store)
        workspace.erasure_listener = self.erased
        self.live_sync = LiveSync(
            workspace.config.destinations,
            DeliveryContext(workspace.root, workspace.env),
            lambda: workspace.engine(write=False),
            workspace.write_turn,
            purposes=workspace.config.privacy.purposes,
        )
        self.live_sync.start()
        self.live: LiveProcessor | None = None
        if workspace.config.server.live and intake.journals:
            self.live = LiveProcessor(
                workspace.config,
                intake.journals,
                lambda: workspace.engine(write=True),
                on_changes=lambda _: self.changed(),
            )
            self.live.keep = self.suppression.keep
            self.live.start()

    def changed(self) -> None:
        """Changes were written: wake the change-feed streams and the live destinations."""
        self.feed.notify()
        self.live_sync.notify()

    def erased(self, store: Engine) -> None:
        """People were just erased (the store's transaction committed, the write turn still held):
        drop their events from now on, and let live processing read the store again."""
        self.suppression.reload(store)
        if self.live is not None:
            self.live.forget_world()

    def count_events(self, count: int) -> None:
        with self._lock:
            self.counters.add(count)

    def profile_read(self, key_id: str, scope: str, identifier: str, *, found: bool) -> None:
        """Put a profile read in the audit log: the subject as a salted hash, never in clear."""
        try:
            target = identifier_target(self._salt, identifier, self.workspace.config.workspace.phone_region)
        except PersonNotFound:  # not TYPE:VALUE: hashed whole
            target = subject_target(self._salt, "?", identifier)
        self.audit.append(AuditEntry(PROFILE_READ, actor=key_id, scope=scope, target=target, detail={"found": found}))

    def write_audit(self, *, final: bool = False) -> None:
        """Write the audit rows waiting (and the key counts due), in the server's write turn."""
        self.key_use.count(final=final)
        if self.audit.pending:
            with self.workspace.engine(write=True) as engine:
                self.audit.flush(engine)

    def _flush_audit(self) -> None:
        while not self._audit_stop.wait(AUDIT_FLUSH_SECONDS):
            try:
                self.write_audit()
            except PersonaeError:  # a store error: said in the log; the rows wait for the next flush
                log.exception("the audit log could not be written; it is tried again in a second")

    def announce(self) -> Path:
        """Write ``.personae/server.json`` (0600): the URL and the local admin token."""
        path = self.workspace.root / SERVER_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(descriptor, "w", encoding="utf-8") as handle:
            json.dump({"url": self.url, "pid": os.getpid(), "token": self.local_token}, handle)
        return path

    def _scheduled(self, hours: float) -> None:
        """A batch run every ``hours`` (skipped while one is going on), until the server stops."""
        while not self._schedule.wait(hours * 3600):
            self.runs.start(None, None)

    def close(self) -> None:
        self._schedule.set()
        if self.live is not None:  # first: it may hold the write turn the audit's last rows need
            self.live.stop()
        self._audit_stop.set()
        self._audit_thread.join(timeout=30)
        try:
            self.write_audit(final=True)
        except PersonaeError:  # the server stops anyway; what was counted since the last flush is lost
            log.exception("the audit log could not be written as the server stopped")
        self.live_sync.stop()
        self.workspace.journal_sealer = None
        self.workspace.erasure_listener = None
        (self.workspace.root / SERVER_FILE).unlink(missing_ok=True)
        self.intake.close()
