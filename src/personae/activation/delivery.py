"""The delivery loop: each destination gets the changes after its cursors, batch by batch.

For each batch: read it from the store, send it, then commit in one transaction the new
cursor (or the new trait marks), the counts and the dead letters. A crash between sending
and committing sends the batch again with the same idempotency keys, so a receiver that
honours them sees every change once; nothing is lost because the cursor only moves past
what the destination accepted. Membership changes go first, in sequence order, so the
changes of one person arrive in the order they happened; trait states follow.

While a batch is on its way the store is not held: only the commits take ``turn`` (the
server's write turn), so a slow or retrying receiver does not stop live processing.

A destination that gives up (:class:`~personae.errors.DestinationError`) stops its own
sync only: the state says ``failed`` with the reason, the cursor stays after the last
accepted batch, and the next sync resumes there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from personae.activation.consent_gate import CONSENT_PART, GATE_COLUMNS, changed_people_sql, gate_changes_sql
from personae.activation.destination import Destination, Sent
from personae.activation.feed import (
    SEGMENT_ID_SQL,
    ChangeBatch,
    membership_batch_sql,
    pending_count_sql,
    pending_state_sql,
    selection_sql,
)
from personae.activation.holdout import held_out_sql
from personae.activation.specs import DestinationSpec
from personae.activation.state import (
    SyncState,
    ensure_sync_tables,
    read_state,
    record_dead_letters,
    record_marks,
    write_state,
)
from personae.engine.base import Engine
from personae.engine.sql import identifier, literal, timestamp_sql
from personae.engine.tables import ensure_tables
from personae.errors import DestinationError
from personae.privacy.audit import DESTINATION_SEND, AuditEntry, record_audit
from personae.privacy.consent import allowed_condition
from personae.privacy.hashing import HASHED_TYPES, hashed_sql
from personae.privacy.purposes import Purpose
from personae.progress import Progress, silent
from personae.segments.people import people_sql


@dataclass
class SyncResult:
    """One destination's sync: what went, what was refused, and whether it finished."""

    destination: str
    kind: str
    sent: int = 0
    dead_lettered: int = 0
    failed: int = 0
    """Changes read for a batch the destination did not take (they wait for the next sync)."""
    batches: int = 0
    status: str = "ok"
    error: str = ""
    cursor: int = 0
    seconds: float = 0.0


Turn = Callable[[], AbstractContextManager[object]]
"""Taken around each commit: the server's write turn, or nothing."""


class _Store:
    """The store as a destination's snapshot reads it (current members and trait values)."""

    def __init__(self, engine: Engine, spec: DestinationSpec, purpose: Purpose | None = None) -> None:
        self.engine, self.spec, self.purpose = engine, spec, purpose

    def memberships(self) -> pa.Table:
        if not self.spec.selected_segments() or not self.engine.has_table("memberships"):
            return pa.table({})
        return self.engine.fetch_arrow(
            f"SELECT uid, segmentation, segment, {SEGMENT_ID_SQL} AS segment_id, score, entered_at "
            f"FROM memberships WHERE exited_at IS NULL AND ({selection_sql(self.spec, purpose=self.purpose)}) "
            "ORDER BY segmentation, segment, uid"
        )

    def states(self) -> dict[str, pa.Table]:
        found = {}
        for part, (current, columns) in state_parts(self.engine, self.spec).items():
            kept = [f"NOT {held_out_sql('uid', self.spec.name, self.spec.holdout)}"] if self.spec.holdout else []
            if self.purpose is not None:
                kept.append(allowed_condition(self.purpose))
            held = f" WHERE {' AND '.join(kept)}" if kept else ""
            found[part] = self.engine.fetch_arrow(
                f"SELECT uid, {', '.join(identifier(c) for c in columns)} FROM ({current}) AS c{held} ORDER BY uid"
            )
        return found


def state_parts(engine: Engine, spec: DestinationSpec) -> dict[str, tuple[str, list[str]]]:
    """Part -> (SQL of the current values, one row per uid; the value columns) that ``spec`` receives."""
    parts: dict[str, tuple[str, list[str]]] = {}
    if spec.traits and engine.has_table("profiles"):
        columns = list(spec.traits)
        values = ", ".join(_trait_value(spec, c) for c in columns)
        parts["traits"] = (f"SELECT uid, {values} FROM ({people_sql(engine)}) AS p", columns)
    if spec.actions and engine.has_table("next_actions") and engine.has_table("profiles"):
        channels = [str(row[0]) for row in engine.fetch_rows("SELECT DISTINCT channel FROM next_actions ORDER BY 1")]
        for channel in channels:
            part = f"{ACTIONS_PART}.{channel}"
            parts[part] = (current_actions_sql(spec, part, channel), list(ACTION_COLUMNS))
    return parts


def _trait_value(spec: DestinationSpec, column: str) -> str:
    """A trait as ``spec`` is sent it: ``email`` and ``phone`` hashed when it asks for hashes
    (the stored values are normalised already; hashing them in the engine means the clear
    values never leave the store)."""
    if spec.hash_identifiers and column in HASHED_TYPES:
        return f"{hashed_sql(column, identifier(column), phone_format=spec.phone_format)} AS {identifier(column)}"
    return identifier(column)


ACTIONS_PART = "actions"
ACTION_COLUMNS = ("channel", "action", "priority", "expected_value")


def current_actions_sql(spec: DestinationSpec, part: str, channel: str) -> str:
    """Each person's next action in ``channel`` (NULL: none, or held out of the action's
    experiment), for everyone who has one now or was sent one before (so its end is sent too)."""
    chosen = f"SELECT * FROM next_actions WHERE channel = {literal(channel)} AND NOT held_out"
    sent = f"SELECT uid FROM sync_marks WHERE destination = {literal(spec.name)} AND part = {literal(part)}"
    return (
        f"SELECT p.uid, {literal(channel)} AS channel, a.action, a.priority, a.expected_value "
        f"FROM profiles AS p LEFT JOIN ({chosen}) AS a ON a.uid = p.uid "
        f"WHERE a.action IS NOT NULL OR p.uid IN ({sent})"
    )


def sync_destination(
    engine: Engine,
    spec: DestinationSpec,
    destination: Destination,
    now: datetime,
    progress: Progress = silent,
    turn: Turn = nullcontext,
    purpose: Purpose | None = None,
) -> SyncResult:
    """Send ``destination`` everything after its cursors; record what it took. Each commit
    takes ``turn`` (the server's write turn; nothing to take in a run, which holds the store).

    A destination that names a purpose gets only the people with consent to it (``purpose``:
    its declaration; when not given, the purpose is taken as denied by default, the safe reading)."""
    started = time.perf_counter()
    if spec.purpose is None:
        purpose = None
    elif purpose is None or purpose.name != spec.purpose:
        purpose = Purpose(name=spec.purpose)
    with turn():
        ensure_sync_tables(engine)
        if purpose is not None:
            ensure_tables(engine, ["consent"])
    state = read_state(engine, spec)
    result = SyncResult(spec.name, spec.kind, cursor=state.cursor)
    loop = _Loop(engine, spec, destination, now, state, result, progress, turn, purpose)
    try:
        destination.open()
        loop.consent()
        loop.memberships()
        loop.states()
        destination.finish(_Store(engine, spec, purpose))
    except DestinationError as error:
        result.status, result.error = "failed", str(error)
    finally:
        destination.close()
        with turn(), engine.transaction():
            _save(engine, state, result, now)
            record_audit(engine, _audited(result, now))
        result.seconds = time.perf_counter() - started
    return result


def _audited(result: SyncResult, now: datetime) -> list[AuditEntry]:
    """The audit row of a sync that sent or tried to send something (none for a sync with nothing to send)."""
    if not (result.sent or result.dead_lettered or result.failed or result.status != "ok"):
        return []
    detail = {
        "kind": result.kind,
        "status": result.status,
        "sent": result.sent,
        "dead_lettered": result.dead_lettered,
        "failed": result.failed,
        "batches": result.batches,
        "cursor": result.cursor,
    }
    return [
        AuditEntry(
            DESTINATION_SEND, actor="sync", scope="destination", target=result.destination, detail=detail, at=now
        )
    ]


def _save(engine: Engine, state: SyncState, result: SyncResult, now: datetime) -> None:
    write_state(
        engine,
        SyncState(
            state.destination,
            state.kind,
            result.cursor,
            now,
            result.status,
            result.error,
            state.sent + result.sent,
            state.failed + result.failed,
            state.dead_lettered + result.dead_lettered,
        ),
    )


READ_BATCHES = 32
"""Batches of membership changes one query reads."""
COMMIT_EVERY = 0.1
"""Seconds between commits of the membership cursor while batches go out (and at the end):
committing after each 1,000-change batch was a quarter of a webhook sync (bench/sync.py)."""


class _Unsaved:
    """Batches delivered since the last commit, and the membership cursor they reach."""

    def __init__(self, cursor: int) -> None:
        self.cursor = cursor
        self.clear()

    def clear(self) -> None:
        self.batches = self.changes = 0
        self.items: list[dict[str, Any]] = []
        self.dead: dict[str, str] = {}
        self.since = time.perf_counter()

    def add(self, batch: ChangeBatch, sent: Sent) -> None:
        self.batches += 1
        self.changes += len(batch)
        if sent.dead:
            self.items += batch.items()
            self.dead.update(sent.dead)


@dataclass
class _Loop:
    engine: Engine
    spec: DestinationSpec
    destination: Destination
    now: datetime
    state: SyncState
    result: SyncResult
    progress: Progress
    turn: Turn
    purpose: Purpose | None = None

    def _send(self, batch: ChangeBatch) -> Sent:
        try:
            return self.destination.send(batch)
        except DestinationError:
            self.result.failed += len(batch)
            raise

    def _record(self, unsaved: _Unsaved) -> None:
        """Record what was delivered: cursor, counts, dead letters (in the caller's transaction)."""
        engine, result = self.engine, self.result
        dead = record_dead_letters(engine, self.spec.name, unsaved.items, unsaved.dead, self.now)
        result.cursor = unsaved.cursor
        result.sent += unsaved.changes - dead
        result.dead_lettered += dead
        result.batches += unsaved.batches
        _save(engine, self.state, result, self.now)
        unsaved.clear()

    def consent(self) -> None:
        """The consent gate (:mod:`personae.activation.consent_gate`): exits for the people who
        withdrew, entries for those who granted, then their marks, in one commit per sync."""
        engine, spec, purpose = self.engine, self.spec, self.purpose
        if purpose is None:
            return
        changed = "_consent_changed"
        engine.materialise(changed, changed_people_sql(spec, purpose))
        if not engine.row_count(changed):
            engine.drop_table(changed)
            return
        unsaved = _Unsaved(self.result.cursor)
        if spec.selected_segments() and engine.has_table("membership_changes"):
            stamp = timestamp_sql(self.now)
            rows = engine.fetch_arrow(gate_changes_sql(spec, changed, self.result.cursor, stamp))
            rows = rows.select(list(GATE_COLUMNS))
            for start in range(0, rows.num_rows, spec.batch_size):
                batch = ChangeBatch(memberships=rows.slice(start, spec.batch_size), consent=True)
                unsaved.add(batch, self._send(batch))
        marks = engine.fetch_arrow(f"SELECT uid, digest, revision FROM {changed}")
        with self.turn(), engine.transaction():
            record_marks(engine, spec.name, CONSENT_PART, marks)
            self._record(unsaved)
        engine.drop_table(changed)

    def memberships(self) -> None:
        """Batches in sequence order. One query reads :data:`READ_BATCHES` batches from a window
        of the feed (widened while it finds fewer: a destination of a few segments), and the
        cursor is committed at most every :data:`COMMIT_EVERY` seconds and whenever the sync
        stops, however it stops: a crash resends at most that much, with the same keys."""
        engine, spec = self.engine, self.spec
        if not spec.selected_segments() or not engine.has_table("membership_changes"):
            return
        waiting, _ = engine.fetch_rows(pending_count_sql(spec, self.result.cursor, self.purpose))[0]
        upper = int(engine.scalar("SELECT coalesce(max(sequence), 0) FROM membership_changes"))
        chunk = spec.batch_size * READ_BATCHES
        position, span, done = self.result.cursor, chunk * 2, 0
        unsaved = _Unsaved(self.result.cursor)
        try:
            while position < upper:
                until = min(position + span, upper)
                rows = engine.fetch_arrow(membership_batch_sql(spec, position, chunk, until, self.purpose))
                if rows.num_rows < chunk:  # the window is exhausted: the next starts after it
                    position, span = until, span * 2
                for start in range(0, rows.num_rows, spec.batch_size):
                    chosen = rows.slice(start, spec.batch_size)
                    batch = ChangeBatch(memberships=chosen)
                    unsaved.add(batch, self._send(batch))
                    unsaved.cursor = int(chosen.column("sequence")[-1].as_py())
                    done += len(batch)
                    if time.perf_counter() - unsaved.since >= COMMIT_EVERY:
                        self._save_memberships(unsaved)
                    self.progress(f"sync {spec.name}", done, max(int(waiting), done))
                if rows.num_rows:
                    position = max(position, unsaved.cursor)
            unsaved.cursor = max(unsaved.cursor, upper)  # nothing it receives lies beyond: start there next
        finally:
            self._save_memberships(unsaved)

    def _save_memberships(self, unsaved: _Unsaved) -> None:
        if unsaved.batches or unsaved.cursor != self.result.cursor:
            with self.turn(), self.engine.transaction():
                self._record(unsaved)

    def states(self) -> None:
        engine, spec = self.engine, self.spec
        for number, (part, (current, columns)) in enumerate(state_parts(engine, spec).items()):
            pending = f"_pending_state_{number}"
            engine.materialise(
                pending, pending_state_sql(spec, part, current, columns, timestamp_sql(self.now), self.purpose)
            )
            waiting, done = engine.row_count(pending), 0
            shown = ", ".join(identifier(c) for c in ["key", "revision", "uid", "digest", "changed_at", *columns])
            # in UID order, with the engine free while a batch is sent and its marks recorded
            for slice_ in engine.fetch_slices(f"SELECT {shown} FROM {pending}", "uid", spec.batch_size):
                rows = pa.Table.from_batches([slice_])
                batch = ChangeBatch(states={part: rows})
                unsaved = _Unsaved(self.result.cursor)
                unsaved.add(batch, self._send(batch))
                with self.turn(), engine.transaction():
                    record_marks(engine, spec.name, part, rows)
                    self._record(unsaved)
                done += rows.num_rows
                self.progress(f"sync {spec.name} {part}", done, waiting)
            engine.drop_table(pending)
