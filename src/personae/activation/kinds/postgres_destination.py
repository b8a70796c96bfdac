"""The ``postgres`` destination: a members table and a traits table kept in a real PostgreSQL.

The members table holds one row per (uid, segment_id) a person is in now; an entry upserts
the row and an exit deletes it. The traits table holds one row per person with the traits
the destination sends. Each batch is one PostgreSQL transaction: the rows are copied into a
session staging table (Arrow writes them as CSV in C++, about 10× faster than building
COPY rows in Python) and applied by one ``INSERT … ON CONFLICT`` (with the deletes in the
same statement), so a crash leaves the batch applied whole or not at all, and the delivery
loop resends it with the same keys. Replaying is harmless: each row remembers the sequence
(or revision) that wrote it, and an older change never overwrites a newer one. A replay
from an older cursor passes through older states of a person and converges when it catches
up, because an exit deletes the row and leaves no trace to compare against.

``open`` checks the server and the tables before anything is read: a server that does not
answer is :class:`~personae.errors.DestinationUnreachable` (host and port, never the
password); a table with a missing column, a wrong type or no primary key is a
:class:`~personae.errors.DestinationError` naming the table, the column and the SQL that
fixes it, so the cursor stays until it is fixed. ``finish`` does nothing: the tables are the
snapshot, kept by the feed (reconciling them would read every member on every sync).
"""

from __future__ import annotations

import io
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg import sql

from personae.activation.destination import DeliveryContext, Sent, Snapshot
from personae.activation.feed import ChangeBatch
from personae.activation.kinds.postgres import PostgresDestinationSpec
from personae.activation.kinds.postgres_tables import (
    CHANGE_COLUMNS,
    COLUMNS_SQL,
    MEMBER_COLUMNS,
    MEMBER_KEY,
    STAGED_MEMBERS,
    STAGED_TRAITS,
    TRAIT_BOOKKEEPING,
    UNIQUE_KEYS_SQL,
    Shape,
    apply_members_sql,
    apply_traits_sql,
    copy_sql,
    create_sql,
    last_changes,
    pg_type,
    problems,
    staging_like_sql,
    staging_sql,
)
from personae.errors import DestinationError, DestinationUnreachable
from personae.sources.postgres import describe_server, dsn_from

CONNECT_TIMEOUT_SECONDS = 10
COPY_CHUNK_ROWS = 65_536
_CSV = pa_csv.WriteOptions(include_header=False, quoting_style="all_valid")
"""Every value quoted and NULL left bare: PostgreSQL's CSV reads a bare empty field as NULL
and a quoted one as the empty string."""


def _password(dsn: str) -> str:
    try:
        return str(psycopg.conninfo.conninfo_to_dict(dsn).get("password") or "")
    except psycopg.ProgrammingError:
        return ""


def _csv(table: pa.Table) -> list[bytes]:
    """``table`` as CSV chunks for COPY."""
    chunks = []
    for part in table.to_batches(max_chunksize=COPY_CHUNK_ROWS):
        out = io.BytesIO()
        pa_csv.write_csv(part, out, _CSV)
        chunks.append(out.getvalue())
    return chunks


class PostgresDestination:
    def __init__(self, spec: PostgresDestinationSpec, context: DeliveryContext) -> None:
        self.spec = spec
        self.env = context.env
        self.members = Shape(spec.db_schema, spec.members_table, MEMBER_COLUMNS, MEMBER_KEY)
        self.connection: psycopg.Connection[tuple[Any, ...]] | None = None
        self.server = "the configured server"
        self.password = ""
        self.traits: Shape | None = None
        """The traits table once its shape is known (its value types come with the first batch)."""
        self.staged: set[str] = set()

    # -- talking to the server ---------------------------------------------------------------
    def _fail(self, error: psycopg.Error, doing: str) -> DestinationError:
        """The destination error for a driver error: unreachable when the connection is gone."""
        reason = str(error).strip().split("\n")[0].strip() or type(error).__name__
        if self.password:
            reason = reason.replace(self.password, "***")
        label = f"destination {self.spec.name!r}"
        if isinstance(error, psycopg.OperationalError) and (self.connection is None or self.connection.broken):
            return DestinationUnreachable(
                f"{label}: cannot reach PostgreSQL at {self.server} while {doing}: {reason}; "
                "check the dsn and that the server is running (the changes wait for the next sync)"
            )
        return DestinationError(f"{label}: PostgreSQL refused {doing}: {reason}")

    def _conn(self) -> psycopg.Connection[tuple[Any, ...]]:
        assert self.connection is not None, "open() first"
        return self.connection

    def open(self) -> None:
        dsn = dsn_from(f"destination {self.spec.name!r}", self.spec.dsn, self.spec.dsn_env, self.env, DestinationError)
        self.server = describe_server(dsn)
        self.password = _password(dsn)
        try:
            self.connection = psycopg.connect(dsn, connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True)
        except psycopg.Error as error:
            raise self._fail(error, "connecting") from None
        try:
            if self.spec.selected_segments():
                self._check(self.members)
            if self.spec.traits:
                self._check_traits()
        except psycopg.Error as error:
            raise self._fail(error, "checking the tables") from None

    def _describe(self, shape: Shape) -> tuple[dict[str, str], list[set[str]]]:
        """The table's columns (name -> ``format_type``, empty when it does not exist) and unique keys."""
        connection = self._conn()
        found = {str(name): str(kind) for name, kind in connection.execute(COLUMNS_SQL, (shape.schema, shape.table))}
        keys = [
            {str(column) for column in row[0]}
            for row in connection.execute(UNIQUE_KEYS_SQL, (shape.schema, shape.table))
        ]
        return found, keys

    def _refuse(self, shape: Shape, wrong: list[str]) -> None:
        if wrong:
            raise DestinationError(
                f"destination {self.spec.name!r}: table {shape.qualified} has the wrong schema: "
                + "; ".join(wrong)
                + " (the changes wait until it is fixed)"
            )

    def _missing(self, shape: Shape) -> DestinationError:
        return DestinationError(
            f"destination {self.spec.name!r}: table {shape.qualified} does not exist in {self.server}; "
            "create it or set create_tables = true"
        )

    def _check(self, shape: Shape) -> None:
        """Create ``shape``'s table when it is missing (if allowed), else refuse a wrong one."""
        found, keys = self._describe(shape)
        if found:
            self._refuse(shape, problems(shape, found, keys))
            return
        if not self.spec.create_tables:
            raise self._missing(shape)
        with self._conn().transaction():
            self._conn().execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(shape.schema)))
            self._conn().execute(create_sql(shape))

    def _check_traits(self) -> None:
        """What is known before the first value: the traits table (unless it may be created
        later) has its key, its bookkeeping and a column for every trait; the trait types are
        checked with the first batch, whose Arrow types say what they should be."""
        shape = Shape(self.spec.db_schema, self.spec.traits_table, (("uid", "text"), *TRAIT_BOOKKEEPING), ("uid",))
        found, keys = self._describe(shape)
        if not found:
            if not self.spec.create_tables:
                raise self._missing(shape)
            return
        wrong = problems(shape, found, keys)
        wrong += [
            f"column {trait!r} is missing; add it (ALTER TABLE {shape.qualified} ADD COLUMN {trait} <type>) "
            "or drop the table and let personae create it"
            for trait in self.spec.traits
            if trait not in found
        ]
        self._refuse(shape, wrong)

    # -- sending -----------------------------------------------------------------------------
    def _copy(self, name: str, table: pa.Table) -> None:
        with self._conn().cursor() as cursor, cursor.copy(copy_sql(name, table.column_names)) as copy:
            for chunk in _csv(table):
                copy.write(chunk)

    def _apply_members(self, changes: pa.Table) -> None:
        if STAGED_MEMBERS not in self.staged:
            self._conn().execute(staging_sql(STAGED_MEMBERS, CHANGE_COLUMNS))
            self.staged.add(STAGED_MEMBERS)
        self._copy(STAGED_MEMBERS, last_changes(changes).select([column for column, _ in CHANGE_COLUMNS]))
        self._conn().execute(apply_members_sql(self.members))

    def _traits_shape(self, values: pa.Table) -> Shape:
        """The traits table's shape from the first batch's value types, created or checked once."""
        if self.traits is None:
            typed = []
            for trait in self.spec.traits:
                kind = pg_type(values.schema.field(trait).type)
                if kind is None:
                    raise DestinationError(
                        f"destination {self.spec.name!r}: trait {trait!r} is {values.schema.field(trait).type}, "
                        "which a PostgreSQL column cannot hold here; leave it out of 'traits' or send it to a file"
                    )
                typed.append((trait, kind))
            shape = Shape(
                self.spec.db_schema, self.spec.traits_table, (("uid", "text"), *typed, *TRAIT_BOOKKEEPING), ("uid",)
            )
            self._check(shape)
            self.traits = shape
        return self.traits

    def _apply_traits(self, values: pa.Table) -> None:
        shape = self._traits_shape(values)
        if STAGED_TRAITS not in self.staged:
            self._conn().execute(staging_like_sql(STAGED_TRAITS, shape))
            self.staged.add(STAGED_TRAITS)
        names = list(self.spec.traits)
        rows = values.select(["uid", *names, "key", "revision"]).rename_columns(["uid", *names, "last_key", "revision"])
        self._copy(STAGED_TRAITS, rows)
        self._conn().execute(apply_traits_sql(shape, names))

    def send(self, batch: ChangeBatch) -> Sent:
        unknown = sorted(part for part in batch.states if part != "traits")
        if unknown:
            raise DestinationError(
                f"destination {self.spec.name!r}: the postgres kind keeps no table for {', '.join(unknown)}; "
                "send them to a file or webhook destination"
            )
        try:
            with self._conn().transaction():
                if batch.memberships is not None and batch.memberships.num_rows:
                    self._apply_members(batch.memberships)
                traits = batch.states.get("traits")
                if traits is not None and traits.num_rows:
                    self._apply_traits(traits)
        except psycopg.Error as error:
            raise self._fail(error, f"a batch of {len(batch)} changes") from None
        return Sent()

    def finish(self, snapshot: Snapshot) -> None:
        """Nothing: the tables are the snapshot (see the module docstring)."""
        return None

    def forget(self, uids: list[str], request_id: str) -> str:
        """Delete the people's rows from the members table and the traits table, in one transaction."""
        tables = [self.members.name]
        if self.spec.traits:
            traits = Shape(self.spec.db_schema, self.spec.traits_table, (("uid", "text"),), ("uid",))
            tables.append(traits.name)
        deleted = 0
        try:
            with self._conn().transaction():
                for name in tables:
                    exists = self._conn().execute("SELECT to_regclass(%s)", [name.as_string(self._conn())])
                    found = exists.fetchone()
                    if found is None or found[0] is None:
                        continue
                    cursor = self._conn().execute(sql.SQL("DELETE FROM {} WHERE uid = ANY(%s)").format(name), [uids])
                    deleted += cursor.rowcount
        except psycopg.Error as error:
            raise self._fail(error, f"deleting {len(uids)} people") from None
        return f"{deleted} rows deleted"

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None
