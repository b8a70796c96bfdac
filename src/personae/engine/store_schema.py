"""The store's schema version, and the migrations that bring an older store up to it.

The store records in ``store_schema`` every schema version it was brought to, with the
personae that did it and when. Opening a store compares its version with
:data:`SCHEMA_VERSION`, the one this personae writes:

- a new store (no declared table yet) starts at the current version;
- an older store is migrated by the first command that opens it to write (``personae
  migrate`` does nothing else): every pending migration runs in one transaction on DuckDB, so
  a migration that fails leaves the store as it was, at its old version, still readable by the
  personae that wrote it. A command that only reads (``status``, ``sql``, ``profile``, …)
  opens the store read-only and cannot migrate it: it refuses, naming ``personae migrate``;
- a store of a newer version is refused by every command, naming both versions: this
  personae cannot know what a newer one changed, and writing to it could corrupt it.

Spark has no transactions: there each migration is written to be run again (adding a column
that is there already adds nothing) and the version is recorded after it, so a migration that
stops half-way is finished by the next open.

A change to a declared table's columns comes with a migration here, a new
:data:`SCHEMA_VERSION` and a fixture store made by the new version
(``scripts/store_fixture.py``): ``tests/engine/test_store_schema.py`` opens the fixture of
every version with this code and fails when the declarations moved without a migration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata

from personae.engine.base import Engine
from personae.engine.dialects import has
from personae.engine.sql import literal, timestamp_sql
from personae.engine.tables import TABLES, add_missing_columns, ensure_tables
from personae.errors import EngineError, StoreVersionError

SCHEMA_VERSION = 1
"""The schema version this personae writes and reads."""
SCHEMA_TABLE = "store_schema"


def personae_version() -> str:
    try:
        return metadata.version("personae")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


@dataclass(frozen=True)
class Migration:
    """One step up: brings a store of ``version - 1`` to ``version``."""

    version: int
    summary: str
    apply: Callable[[Engine], list[str]]
    """Changes the store and returns what it changed (one line each); safe to run twice."""


def _add_declared_columns(engine: Engine) -> list[str]:
    """Columns declared since a table was made (``events.consent``), NULL in the rows held."""
    added = add_missing_columns(engine, [table.name for table in TABLES if table.columns is not None])
    return [f"added column {column}" for column in added]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "stores from before schema versions: add the declared columns they lack, record the version",
        _add_declared_columns,
    ),
)


@dataclass(frozen=True)
class MigrationReport:
    """What opening the store to write did to its schema."""

    before: int | None
    """The store's version when opened; None for a new store, 0 for one from before versions."""
    after: int
    changes: list[str] = field(default_factory=list)

    @property
    def migrated(self) -> bool:
        return self.before is not None and self.before < self.after


def store_version(engine: Engine) -> int | None:
    """The store's schema version: None when it holds no declared table yet (a new store), 0
    when it holds some but records no version (made before personae recorded versions)."""
    if engine.has_table(SCHEMA_TABLE):
        return int(engine.scalar(f"SELECT coalesce(max(version), 0) FROM {SCHEMA_TABLE}"))
    return 0 if any(engine.has_table(table.name) for table in TABLES) else None


def _written_by(engine: Engine, version: int) -> str:
    rows = engine.fetch_rows(f"SELECT personae FROM {SCHEMA_TABLE} WHERE version = {int(version)} LIMIT 1")
    return f"personae {rows[0][0]}" if rows and rows[0][0] else "a newer personae"


def _refuse_newer(engine: Engine, version: int) -> None:
    raise StoreVersionError(
        f"the store is at schema version {version}, written by {_written_by(engine, version)}; "
        f"this personae ({personae_version()}) knows schema versions up to {SCHEMA_VERSION}: "
        "upgrade personae to open it (nothing was changed)"
    )


def check_readable(engine: Engine) -> None:
    """Refuse a store a read-only open cannot serve: newer, or older and not migrated yet."""
    version = store_version(engine)
    if version is None or version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        _refuse_newer(engine, version)
    raise StoreVersionError(
        f"the store is at schema version {version} and this personae ({personae_version()}) reads "
        f"version {SCHEMA_VERSION}: run `personae migrate` once to bring it up to date "
        "(any command that writes, such as `personae run`, does it too)"
    )


def _record(engine: Engine, version: int, note: str) -> None:
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    engine.insert(
        SCHEMA_TABLE,
        ["version", "personae", "applied_at", "note"],
        f"SELECT {int(version)}, {literal(personae_version())}, {timestamp_sql(now)}, {literal(note)}",
    )


def migrate_store(engine: Engine) -> MigrationReport:
    """Bring the store to :data:`SCHEMA_VERSION` (a store opened to write); refuse a newer one."""
    before = store_version(engine)
    if before is not None and before > SCHEMA_VERSION:
        _refuse_newer(engine, before)
    if before == SCHEMA_VERSION:
        return MigrationReport(before, SCHEMA_VERSION)
    if before is None:
        ensure_tables(engine, [SCHEMA_TABLE])
        _record(engine, SCHEMA_VERSION, "new store")
        return MigrationReport(None, SCHEMA_VERSION)
    changes: list[str] = []
    step = before
    try:
        with engine.transaction():
            ensure_tables(engine, [SCHEMA_TABLE])
            for migration in MIGRATIONS[before:]:
                step = migration.version
                changes += migration.apply(engine)
                _record(engine, migration.version, migration.summary)
    except EngineError as error:
        kept = (
            f"nothing was changed: the store is still at version {before}"
            if has(engine.name, "transactions")
            else f"the store is at version {step - 1}; the next open runs the rest again"
        )
        raise StoreVersionError(
            f"migrating the store from schema version {before} to {step} failed ({kept}): {error}"
        ) from error
    return MigrationReport(before, SCHEMA_VERSION, changes)
