"""What a destination is sent: the changes after its cursors, as Arrow batches with keys.

Three parts, each with an idempotency key per change that a replay repeats exactly:

- **memberships**: rows of ``membership_changes`` after the destination's cursor (an
  immutable, sequenced feed), of the segments it receives; key ``<dest>:m:<sequence>``.
- **traits** (and any other per-person state, such as next actions): the feed of trait
  changes is the difference between each person's current values and the values last
  delivered, kept per destination in ``sync_marks`` as a digest and a revision. A person
  whose values changed gets revision + 1 and key ``<dest>:<part>:<uid>:<revision>``; the
  revision moves only when delivery is committed, so a crash before that resends the same
  key, and values that go A → B → A are still sent the second time (a new revision).

Held-out people (:mod:`personae.activation.holdout`) never appear in any part, nor do people
without consent to the destination's purpose (:mod:`personae.activation.consent_gate`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from personae.activation.holdout import held_out_sql
from personae.activation.specs import DestinationSpec
from personae.engine.sql import identifier, literal
from personae.privacy.consent import allowed_condition
from personae.privacy.purposes import Purpose

SEGMENT_ID_SQL = "'seg_' || substr(sha256(segmentation || chr(31) || segment), 1, 16)"
"""``segment_external_id`` in SQL (sha256 transpiles to Spark's sha2)."""

MEMBERSHIP_COLUMNS = (
    "key",
    "sequence",
    "uid",
    "change",
    "segmentation",
    "segment",
    "segment_id",
    "score",
    "changed_at",
)


def selection_sql(spec: DestinationSpec, uid_column: str = "uid", purpose: Purpose | None = None) -> str:
    """The membership rows ``spec`` receives: its segmentations and segments, less the held out
    and, with a ``purpose``, less the people without consent to it."""
    chosen = []
    for segmentation, segment in spec.selected_segments():
        test = f"segmentation = {literal(segmentation)}"
        if segment is not None:
            test += f" AND segment = {literal(segment)}"
        chosen.append(f"({test})")
    where = " OR ".join(chosen) or "FALSE"
    if spec.holdout:
        where = f"({where}) AND NOT {held_out_sql(uid_column, spec.name, spec.holdout)}"
    if purpose is not None:
        where = f"({where}) AND {allowed_condition(purpose, uid_column)}"
    return where


def membership_batch_sql(
    spec: DestinationSpec, after: int, limit: int, until: int | None = None, purpose: Purpose | None = None
) -> str:
    """The next ``limit`` membership changes after sequence ``after`` (and up to ``until``), in order.

    ``until`` bounds the scan: the feed is stored in sequence order, so the engine can skip
    the blocks outside the range instead of ordering every change after the cursor."""
    key = f"{literal(spec.name + ':m:')} || CAST(sequence AS VARCHAR)"
    bound = f" AND sequence <= {int(until)}" if until is not None else ""
    chosen = (
        f"SELECT sequence, uid, change, segmentation, segment, score, changed_at FROM membership_changes "
        f"WHERE sequence > {int(after)}{bound} AND ({selection_sql(spec, purpose=purpose)}) "
        f"ORDER BY sequence LIMIT {int(limit)}"
    )
    # the key and the id over the rows kept: DuckDB computes a projection before a LIMIT, so
    # hashing inside it cost every batch a sha256 of every row after the cursor
    return (
        f"SELECT {key} AS key, sequence, uid, change, segmentation, segment, {SEGMENT_ID_SQL} AS segment_id, "
        f"score, changed_at FROM ({chosen}) AS c ORDER BY sequence"
    )


def pending_count_sql(spec: DestinationSpec, after: int, purpose: Purpose | None = None) -> str:
    """How many membership changes wait, and when the oldest of them happened."""
    return (
        f"SELECT count(*), min(changed_at) FROM membership_changes "
        f"WHERE sequence > {int(after)} AND ({selection_sql(spec, purpose=purpose)})"
    )


def digest_sql(columns: list[str], alias: str = "") -> str:
    """One text digest of a row's values (NULL kept apart from the empty string)."""
    prefix = f"{alias}." if alias else ""
    parts = ", ".join(f"coalesce(CAST({prefix}{identifier(c)} AS VARCHAR), chr(0))" for c in columns)
    return f"md5(concat_ws(chr(31), {parts}))"


def pending_state_sql(
    spec: DestinationSpec, part: str, current: str, payload: list[str], stamp: str, purpose: Purpose | None = None
) -> str:
    """The people whose ``payload`` columns in ``current`` (one row per uid) differ from what
    was last delivered to ``spec`` under ``part``, with their next revision and key (only
    people with consent to ``purpose``, when given)."""
    digest = digest_sql(payload, "c")
    held = f" AND NOT {held_out_sql('c.uid', spec.name, spec.holdout)}" if spec.holdout else ""
    if purpose is not None:
        held += f" AND {allowed_condition(purpose, 'c.uid')}"
    values = ", ".join(f"c.{identifier(column)}" for column in payload)
    key = f"{literal(f'{spec.name}:{part}:')} || c.uid || ':' || CAST(coalesce(m.revision, 0) + 1 AS VARCHAR)"
    return (
        f"SELECT {key} AS key, coalesce(m.revision, 0) + 1 AS revision, c.uid, {digest} AS digest, "
        f"{stamp} AS changed_at, {values} FROM ({current}) AS c LEFT JOIN sync_marks AS m "
        f"ON m.destination = {literal(spec.name)} AND m.part = {literal(part)} AND m.uid = c.uid "
        f"WHERE (m.digest IS NULL OR m.digest <> {digest}){held}"
    )


@dataclass
class ChangeBatch:
    """One delivery: membership changes in sequence order, then trait (or action) states."""

    memberships: pa.Table | None = None
    states: dict[str, pa.Table] = field(default_factory=dict)
    """Part name (``traits``, ``actions.<channel>``) -> one row per person: key, revision, uid,
    changed_at and the part's value columns."""
    consent: bool = False
    """The memberships are a consent gate's exits (withdrawals) or entries (grants), dated at the
    cursor's sequence rather than taken from the feed."""

    def __len__(self) -> int:
        count = int(self.memberships.num_rows) if self.memberships is not None else 0
        return count + sum(int(table.num_rows) for table in self.states.values())

    def keys(self) -> list[str]:
        found: list[str] = []
        if self.memberships is not None:
            found += self.memberships.column("key").to_pylist()
        for table in self.states.values():
            found += table.column("key").to_pylist()
        return found

    def items(self) -> Iterator[dict[str, Any]]:
        """Each change as a JSON-ready dict, in delivery order (what webhooks and the Segment kind send)."""
        if self.memberships is not None:
            for row in _rows(self.memberships):
                yield {"type": "membership", **row}
        for part, table in self.states.items():
            kind = "action" if part.startswith("actions.") else part  # one part per channel
            for row in _rows(table.select([c for c in table.column_names if c != "digest"])):
                head = {name: row.pop(name) for name in ("key", "revision", "uid", "changed_at")}
                yield {"type": kind, **head, kind: row}


def _rows(table: pa.Table) -> Iterator[dict[str, Any]]:
    """The rows of ``table`` with JSON-ready values: times and days as ISO text, decimals as
    floats. Converted a column at a time (a value at a time was a third of a webhook sync)."""
    columns = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        values = column.to_pylist()
        kind = column.type
        if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
            values = [value.isoformat() if value is not None else None for value in values]
        elif pa.types.is_decimal(kind):
            values = [float(value) if value is not None else None for value in values]
        columns[name] = values
    names = list(columns)
    for values in zip(*columns.values(), strict=True):
        yield dict(zip(names, values, strict=True))
