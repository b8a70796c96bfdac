"""The two tables the ``postgres`` destination keeps, their column types, and the SQL it runs.

Column types are data: an Arrow type maps to the PostgreSQL type a created table gets
(:data:`ARROW_TYPES`), and each created type accepts a few existing types that hold its
values without loss (:data:`ACCEPTED`), so a table a DBA made with ``varchar`` or
``numeric`` is taken while a ``text`` score or a missing column is refused by name before
anything is written. Every builder here returns :class:`psycopg.sql.Composed` with the
names quoted, and runs nothing.

The apply statements make a batch idempotent: membership changes are collapsed to the last
change of each (uid, segment_id) in the batch (:func:`last_changes`), entries upsert only
over a row from an older sequence and exits delete only a row from an older sequence;
trait rows upsert only over an older revision. A batch applied twice therefore changes
nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from personae.activation.kinds.postgres import TRAIT_BOOKKEEPING_COLUMNS

MEMBER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("uid", "text"),
    ("segment_id", "text"),
    ("segmentation", "text"),
    ("segment", "text"),
    ("score", "double precision"),
    ("entered_at", "timestamp"),
    ("last_key", "text"),
    ("last_sequence", "bigint"),
    ("updated_at", "timestamptz"),
)
MEMBER_KEY = ("uid", "segment_id")

TRAIT_BOOKKEEPING: tuple[tuple[str, str], ...] = tuple(
    zip(TRAIT_BOOKKEEPING_COLUMNS, ("text", "bigint", "timestamptz"), strict=True)
)
"""The columns a traits table keeps beside ``uid`` and the traits, with their types."""

CHANGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("key", "text"),
    ("sequence", "bigint"),
    ("uid", "text"),
    ("change", "text"),
    ("segmentation", "text"),
    ("segment", "text"),
    ("segment_id", "text"),
    ("score", "double precision"),
    ("changed_at", "timestamp"),
)
"""A batch of membership changes as it is copied into the session's staging table."""

ACCEPTED: dict[str, frozenset[str]] = {
    "text": frozenset({"text", "character varying", "character"}),
    "smallint": frozenset({"smallint", "integer", "bigint", "numeric"}),
    "integer": frozenset({"integer", "bigint", "numeric"}),
    "bigint": frozenset({"bigint", "numeric"}),
    "numeric": frozenset({"numeric"}),
    "double precision": frozenset({"double precision"}),
    "boolean": frozenset({"boolean"}),
    "date": frozenset({"date", "timestamp without time zone", "timestamp with time zone"}),
    "timestamp": frozenset({"timestamp without time zone", "timestamp with time zone"}),
    "timestamptz": frozenset({"timestamp with time zone"}),
}
"""A column's type -> the types (as ``format_type`` names them, without modifiers) that hold it."""

STAGED_MEMBERS = "personae_staged_changes"
STAGED_TRAITS = "personae_staged_traits"


def pg_type(arrow_type: pa.DataType) -> str | None:
    """The PostgreSQL type a column of ``arrow_type`` is stored in; None when there is none
    (lists, structs, binary: the ``postgres`` kind stores scalars)."""
    checks: tuple[tuple[bool, str], ...] = (
        (pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type), "text"),
        (pa.types.is_boolean(arrow_type), "boolean"),
        (arrow_type in (pa.int8(), pa.int16(), pa.uint8()), "smallint"),
        (arrow_type in (pa.int32(), pa.uint16()), "integer"),
        (arrow_type in (pa.int64(), pa.uint32()), "bigint"),
        (arrow_type == pa.uint64() or pa.types.is_decimal(arrow_type), "numeric"),
        (pa.types.is_floating(arrow_type), "double precision"),
        (pa.types.is_date(arrow_type), "date"),
        (pa.types.is_timestamp(arrow_type) and getattr(arrow_type, "tz", None) is None, "timestamp"),
        (pa.types.is_timestamp(arrow_type), "timestamptz"),
        (pa.types.is_null(arrow_type), "text"),
    )
    return next((name for matches, name in checks if matches), None)


@dataclass(frozen=True)
class Shape:
    """What one table must hold: its columns with their types, and the key upserts conflict on."""

    schema: str
    table: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def name(self) -> sql.Composed:
        return sql.SQL(".").join([sql.Identifier(self.schema), sql.Identifier(self.table)])


def problems(shape: Shape, found: dict[str, str], unique_keys: list[set[str]]) -> list[str]:
    """What is wrong with an existing table (``found``: column -> ``format_type``), each with its fix."""
    wrong = []
    for column, wanted in shape.columns:
        have = found.get(column)
        if have is None:
            wrong.append(
                f"column {column!r} is missing; add it: ALTER TABLE {shape.qualified} ADD COLUMN {column} {wanted}"
            )
        elif have.split("(")[0].strip() not in ACCEPTED[wanted]:
            wrong.append(
                f"column {column!r} is {have}, not {wanted}; change it: "
                f"ALTER TABLE {shape.qualified} ALTER COLUMN {column} TYPE {wanted} USING {column}::{wanted}"
            )
    if set(shape.key) not in unique_keys:
        wrong.append(
            f"no primary key on ({', '.join(shape.key)}); add it: "
            f"ALTER TABLE {shape.qualified} ADD PRIMARY KEY ({', '.join(shape.key)})"
        )
    return wrong


COLUMNS_SQL = sql.SQL(
    "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute AS a "
    "JOIN pg_class AS c ON c.oid = a.attrelid JOIN pg_namespace AS n ON n.oid = c.relnamespace "
    "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped"
)
UNIQUE_KEYS_SQL = sql.SQL(
    "SELECT array_agg(a.attname::text) FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indrelid "
    "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
    "JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
    "WHERE n.nspname = %s AND c.relname = %s AND i.indisunique AND i.indpred IS NULL GROUP BY i.indexrelid"
)


def create_sql(shape: Shape) -> sql.Composed:
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(column), sql.SQL(kind)) for column, kind in shape.columns
    )
    key = sql.SQL(", ").join(map(sql.Identifier, shape.key))
    return sql.SQL("CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY ({}))").format(shape.name, columns, key)


def staging_sql(name: str, columns: tuple[tuple[str, str], ...]) -> sql.Composed:
    """A session's staging table, emptied at every commit so each batch starts from nothing."""
    listed = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(column), sql.SQL(kind)) for column, kind in columns
    )
    return sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} ({}) ON COMMIT DELETE ROWS").format(sql.Identifier(name), listed)


def staging_like_sql(name: str, shape: Shape) -> sql.Composed:
    """A staging table with the target's own columns and types, so what is copied in converts
    the way the target would take it."""
    return sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DELETE ROWS").format(
        sql.Identifier(name), shape.name
    )


def copy_sql(name: str, columns: list[str]) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        sql.Identifier(name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )


def last_changes(changes: pa.Table) -> pa.Table:
    """The last change of each (uid, segment_id) in a batch (sequences are unique), so the
    statement that applies them touches each row once and in the order they happened.
    Collapsed here rather than by ``DISTINCT ON`` in PostgreSQL: that sort cost 15 % of the
    statement at 100,000 changes, and most batches have nothing to collapse."""
    last = changes.group_by(["uid", "segment_id"], use_threads=False).aggregate([("sequence", "max")])
    if last.num_rows == changes.num_rows:
        return changes
    return changes.filter(pc.is_in(changes.column("sequence"), value_set=last.column("sequence_max")))


def apply_members_sql(members: Shape) -> sql.Composed:
    """Upsert each entry and delete on each exit of the staged (collapsed) changes, each only
    over a row an older change wrote; one statement, so one snapshot. An exit also deletes the
    row of an entry with its own sequence: a consent gate's exit carries the cursor's sequence,
    which may be its entry's (the feed never has an entry and an exit with one sequence)."""
    return sql.SQL(
        "WITH exits AS (DELETE FROM {table} AS m USING {staged} AS l WHERE l.change = 'exited' AND m.uid = l.uid "
        "AND m.segment_id = l.segment_id AND m.last_sequence <= l.sequence RETURNING 1) "
        "INSERT INTO {table} AS m (uid, segment_id, segmentation, segment, score, entered_at, last_key, "
        "last_sequence, updated_at) "
        "SELECT uid, segment_id, segmentation, segment, score, changed_at, key, sequence, now() FROM {staged} "
        "WHERE change = 'entered' ON CONFLICT (uid, segment_id) DO UPDATE SET segmentation = EXCLUDED.segmentation, "
        "segment = EXCLUDED.segment, score = EXCLUDED.score, entered_at = EXCLUDED.entered_at, "
        "last_key = EXCLUDED.last_key, last_sequence = EXCLUDED.last_sequence, updated_at = EXCLUDED.updated_at "
        "WHERE m.last_sequence < EXCLUDED.last_sequence"
    ).format(staged=sql.Identifier(STAGED_MEMBERS), table=members.name)


def apply_traits_sql(traits: Shape, values: list[str]) -> sql.Composed:
    """Upsert each person's values over a row of an older revision."""
    columns = ["uid", *values, "last_key", "revision", "updated_at"]
    chosen = sql.SQL(", ").join([*map(sql.Identifier, columns[:-1]), sql.SQL("now()")])
    updates = sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(column)) for column in columns[1:])
    return sql.SQL(
        "INSERT INTO {table} AS t ({columns}) SELECT {chosen} FROM {staged} "
        "ON CONFLICT (uid) DO UPDATE SET {updates} WHERE t.revision < EXCLUDED.revision"
    ).format(
        table=traits.name,
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        chosen=chosen,
        staged=sql.Identifier(STAGED_TRAITS),
        updates=updates,
    )
