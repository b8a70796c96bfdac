"""The delivery loop: each destination gets the changes after its cursors, batch by batch.

For each batch: read it from the store, send it, then commit in one transaction the new
cursor (or the new trait marks), the counts and the dead letters. A crash between sending
and committing sends the batch again with the same idempotency keys, so a receiver that
honours them sees every change once; nothing is lost because the cursor only moves past
what the destination accepted. Membership changes go first, in sequence order, so the
changes of one person arrive in the order they happened; trait states follow.

A destination that gives up (:class:`~personae.errors.DestinationError`) stops its own
sync only: the state says ``failed`` with the reason, the cursor stays after the last
accepted batch, and the next sync resumes there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

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
from personae.engine.sql import identifier, timestamp_sql
from personae.errors import DestinationError
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


class _Store:
    """The store as a destination's snapshot reads it (current members and trait values)."""

    def __init__(self, engine: Engine, spec: DestinationSpec) -> None:
        self.engine, self.spec = engine, spec

    def memberships(self) -> pa.Table:
        if not self.spec.selected_segments() or not self.engine.has_table("memberships"):
            return pa.table({})
        return self.engine.fetch_arrow(
            f"SELECT uid, segmentation, segment, {SEGMENT_ID_SQL} AS segment_id, score, entered_at "
            f"FROM memberships WHERE exited_at IS NULL AND ({selection_sql(self.spec)}) "
            "ORDER BY segmentation, segment, uid"
        )

    def states(self) -> dict[str, pa.Table]:
        found = {}
        for part, (current, columns) in state_parts(self.engine, self.spec).items():
            held = f" WHERE NOT {held_out_sql('uid', self.spec.name, self.spec.holdout)}" if self.spec.holdout else ""
            found[part] = self.engine.fetch_arrow(
                f"SELECT uid, {', '.join(identifier(c) for c in columns)} FROM ({current}) AS c{held} ORDER BY uid"
            )
        return found


def state_parts(engine: Engine, spec: DestinationSpec) -> dict[str, tuple[str, list[str]]]:
    """Part -> (SQL of the current values, one row per uid; the value columns) that ``spec`` receives."""
    parts: dict[str, tuple[str, list[str]]] = {}
    if spec.traits and engine.has_table("profiles"):
        columns = list(spec.traits)
        values = ", ".join(identifier(c) for c in columns)
        parts["traits"] = (f"SELECT uid, {values} FROM ({people_sql(engine)}) AS p", columns)
    return parts


def sync_destination(
    engine: Engine,
    spec: DestinationSpec,
    destination: Destination,
    now: datetime,
    progress: Progress = silent,
) -> SyncResult:
    """Send ``destination`` everything after its cursors; record what it took."""
    started = time.perf_counter()
    ensure_sync_tables(engine)
    state = read_state(engine, spec)
    result = SyncResult(spec.name, spec.kind, cursor=state.cursor)
    try:
        destination.open()
        _send_memberships(engine, spec, destination, now, state, result, progress)
        _send_states(engine, spec, destination, now, state, result, progress)
        destination.finish(_Store(engine, spec))
    except DestinationError as error:
        result.status, result.error = "failed", str(error)
    finally:
        destination.close()
        with engine.transaction():
            _save(engine, state, result, now)
        result.seconds = time.perf_counter() - started
    return result


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


def _deliver(destination: Destination, batch: ChangeBatch, result: SyncResult) -> Sent:
    try:
        return destination.send(batch)
    except DestinationError:
        result.failed += len(batch)
        raise


def _send_memberships(
    engine: Engine,
    spec: DestinationSpec,
    destination: Destination,
    now: datetime,
    state: SyncState,
    result: SyncResult,
    progress: Progress,
) -> None:
    if not spec.selected_segments() or not engine.has_table("membership_changes"):
        return
    waiting = int(engine.fetch_rows(pending_count_sql(spec, result.cursor))[0][0])
    done = 0
    while True:
        rows = engine.fetch_arrow(membership_batch_sql(spec, result.cursor, spec.batch_size))
        if rows.num_rows == 0:
            return
        batch = ChangeBatch(memberships=rows)
        sent = _deliver(destination, batch, result)
        with engine.transaction():
            dead = record_dead_letters(engine, spec.name, list(batch.items()), sent.dead, now) if sent.dead else 0
            result.cursor = int(rows.column("sequence")[-1].as_py())
            result.sent += rows.num_rows - dead
            result.dead_lettered += dead
            result.batches += 1
            _save(engine, state, result, now)
        done += rows.num_rows
        progress(f"sync {spec.name}", done, max(waiting, done))


def _send_states(
    engine: Engine,
    spec: DestinationSpec,
    destination: Destination,
    now: datetime,
    state: SyncState,
    result: SyncResult,
    progress: Progress,
) -> None:
    for part, (current, columns) in state_parts(engine, spec).items():
        pending = f"_pending_{part}"
        engine.materialise(
            pending,
            f"SELECT row_number() OVER (ORDER BY uid) AS _n, * FROM "
            f"({pending_state_sql(spec, part, current, columns, timestamp_sql(now))}) AS p",
        )
        waiting = int(engine.scalar(f"SELECT count(*) FROM {pending}"))
        shown = ", ".join(identifier(c) for c in ["key", "revision", "uid", "digest", "changed_at", *columns])
        for start in range(0, waiting, spec.batch_size):
            rows = engine.fetch_arrow(
                f"SELECT {shown} FROM {pending} WHERE _n > {start} AND _n <= {start + spec.batch_size} ORDER BY _n"
            )
            batch = ChangeBatch(states={part: rows})
            sent = _deliver(destination, batch, result)
            with engine.transaction():
                dead = record_dead_letters(engine, spec.name, list(batch.items()), sent.dead, now) if sent.dead else 0
                record_marks(engine, spec.name, part, rows)
                result.sent += rows.num_rows - dead
                result.dead_lettered += dead
                result.batches += 1
                _save(engine, state, result, now)
            progress(f"sync {spec.name} {part}", start + rows.num_rows, waiting)
        engine.drop_table(pending)
