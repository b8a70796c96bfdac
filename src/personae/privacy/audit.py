"""The audit log: who did what, when (DESIGN §10), in the append-only table ``audit_log``.

One row per thing done: ``at`` (UTC), ``actor`` (an access key's id, ``cli``, ``server``,
``run``), ``scope`` (the key's scope, or what the actor is), ``action`` (one of
:data:`ACTIONS`), ``target`` and ``detail`` (a JSON object of counts and names).

**Never a secret, never a clear identifier.** A key is named by its id, never its secret.
A target that names a person is :func:`subject_target`: ``sha256:`` and the SHA-256 of the
workspace's salt (the UID salt of ``workspace_settings``) and the normalised
``type:value``, so an auditor who knows an identifier (and the store) can find the rows
about it, and the log alone names nobody. Configuration changes are recorded by the names
of the parts that changed, with salted digests, never their values.

**Append-only.** Nothing in personae updates or deletes a row of ``audit_log``: this module
only inserts, and the table has no ``uid`` column, so an erasure (which deletes a person's
rows by UID and identifier from every table that holds them) never reaches it, and neither
does retention. Rows survive runs, erasures and restarts.

The API the rest of personae calls::

    record_audit(engine, [AuditEntry(ERASURE, actor="cli", target=subject_target(salt, "email", v),
                                     detail={"rows": 12})])
    log = AuditLog()               # buffered: append from any thread ...
    log.append(AuditEntry(PROFILE_READ, actor=key_id, scope="read", target=...))
    log.flush(engine)              # ... and write under the writer's turn
    read_audit(engine, since=date(2026, 1, 1), action=PROFILE_READ, limit=100)

:mod:`personae.privacy.audit_keys` counts key use for the server, and
:mod:`personae.privacy.audit_config` records configuration changes at run start.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from personae.engine.base import Engine
from personae.engine.sql import day_sql, identifier, literal, timestamp_sql
from personae.engine.tables import ensure_tables
from personae.errors import UsageError
from personae.identity.live_normalise import normalise
from personae.identity.resolve import workspace_salt
from personae.identity.views import parse_identifier
from personae.spec import did_you_mean

AUDIT_TABLE = "audit_log"
COLUMNS = ("at", "actor", "scope", "action", "target", "detail")
_NAMES = ", ".join(identifier(name) for name in COLUMNS)

KEY_FIRST_USE = "key.first_use"
"""The first call with an access key since the server started (scope; key id as actor)."""
KEY_USE = "key.use"
"""How many calls a key made over a period (at most one row per key a minute, and one at stop)."""
PROFILE_READ = "profile.read"
"""A profile read through the API; the target is the subject's salted hash."""
DESTINATION_SEND = "destination.send"
"""One sync of one destination that sent (or tried to send) something, with its counts."""
CONFIG_CHANGE = "config.change"
"""personae.toml differs, at run start, from the last one recorded: the parts that changed."""
ERASURE = "privacy.erase"
"""A person erased (the coordinator's erasure calls :func:`record_audit`)."""
EXPORT = "privacy.export"
"""A subject access export written."""
ACTIONS: tuple[str, ...] = (KEY_FIRST_USE, KEY_USE, PROFILE_READ, DESTINATION_SEND, CONFIG_CHANGE, ERASURE, EXPORT)

_ACTION = re.compile(r"^[a-z][a-z_]*\.[a-z][a-z_]*$")
_INSERT_ROWS = 500
"""Rows per INSERT statement (the buffer of a busy server flushes a few hundred at most)."""


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class AuditEntry:
    """One row of the audit log, before it is written."""

    action: str
    actor: str
    scope: str = ""
    target: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=_now)

    def __post_init__(self) -> None:
        if not _ACTION.match(self.action):
            raise UsageError(f"audit action {self.action!r} is not 'noun.verb' in lower case, e.g. {ERASURE!r}")
        if not self.actor:
            raise UsageError(f"audit action {self.action!r} needs an actor: a key id, 'cli', 'server' or 'run'")

    def row_sql(self) -> str:
        detail = json.dumps(dict(self.detail), sort_keys=True, default=str)
        values = (self.actor, self.scope, self.action, self.target, detail)
        return f"({timestamp_sql(self.at)}, {', '.join(literal(value) for value in values)})"


def ensure_audit_table(engine: Engine) -> None:
    ensure_tables(engine, [AUDIT_TABLE])


def record_audit(engine: Engine, entries: Iterable[AuditEntry]) -> int:
    """Append entries to ``audit_log`` (created on first use); returns how many.

    Call it inside the transaction of what it records when there is one, so the row and the
    deed commit together."""
    rows = [entry.row_sql() for entry in entries]
    if not rows:
        return 0
    ensure_audit_table(engine)
    for start in range(0, len(rows), _INSERT_ROWS):
        chunk = ", ".join(rows[start : start + _INSERT_ROWS])
        engine.insert(AUDIT_TABLE, list(COLUMNS), f"SELECT * FROM (VALUES {chunk}) AS entries({_NAMES})")
    return len(rows)


class AuditLog:
    """Entries waiting to be written: appended from any thread (cheaply, without the store),
    written by :meth:`flush` in the writer's turn."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[AuditEntry] = []

    def append(self, entry: AuditEntry) -> None:
        with self._lock:
            self._pending.append(entry)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self, engine: Engine) -> int:
        """Write what is waiting; on failure the entries wait for the next flush."""
        with self._lock:
            taken, self._pending = self._pending, []
        try:
            return record_audit(engine, taken)
        except BaseException:
            with self._lock:
                self._pending[:0] = taken
            raise


def audit_salt(engine: Engine) -> str:
    """The workspace's salt (the UID salt; made on first use, by a writer)."""
    ensure_tables(engine, ["workspace_settings"])
    return workspace_salt(engine)


def subject_target(salt: str, id_type: str, value: str) -> str:
    """A person's identifier as the audit log names it: a salted SHA-256 of ``type:value``
    (``value`` as the store keeps it: normalised)."""
    return "sha256:" + hashlib.sha256(f"{salt}{id_type}:{value}".encode()).hexdigest()


def identifier_target(salt: str, identifier: str, region: str) -> str:
    """:func:`subject_target` of ``TYPE:VALUE`` as a user wrote it (normalised as ingest
    normalises it, so ``email:Jane@X.com`` and ``email:jane@x.com`` name the same person)."""
    id_type, value = parse_identifier(identifier)
    normalised = value if id_type == "uid" else normalise(id_type, value, region)
    return subject_target(salt, id_type, normalised if normalised is not None else value)


def salted_digest(salt: str, value: Any) -> str:
    """A salted SHA-256 of a JSON value (configuration parts: equal parts, equal digests)."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(f"{salt}{text}".encode()).hexdigest()[:16]


def check_audit_query(action: str | None, limit: int) -> None:
    """A UsageError for an action that is not one of :data:`ACTIONS` or a limit below 1."""
    if limit < 1:
        raise UsageError(f"--limit {limit}: give a number of rows of 1 or more")
    if action is not None and action not in ACTIONS:
        raise UsageError(f"no audit action {action!r}{did_you_mean(action, ACTIONS)}; actions are {', '.join(ACTIONS)}")


def read_audit(
    engine: Engine, *, since: date | None = None, action: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The latest rows (newest first): from ``since`` on, of one ``action``, at most ``limit``."""
    check_audit_query(action, limit)
    if not engine.has_table(AUDIT_TABLE):
        return []
    where = ["TRUE"]
    if since is not None:
        where.append(f'"at" >= CAST({day_sql(since)} AS TIMESTAMP)')
    if action is not None:
        where.append(f"action = {literal(action)}")
    rows = engine.fetch_arrow(
        f'SELECT {_NAMES} FROM {AUDIT_TABLE} WHERE {" AND ".join(where)} ORDER BY "at" DESC LIMIT {int(limit)}'
    ).to_pylist()
    return [{**row, "detail": json.loads(row["detail"] or "{}")} for row in rows]
