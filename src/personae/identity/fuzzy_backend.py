"""Where the fuzzy matcher's Splink runs: a DuckDB connection, or a Spark session.

One DuckDB *instance* holds one memory limit: its buffer manager counts every connection
(cursor) of it, and its ``threads`` setting is the instance's. The identity step hands the
matcher the store's own connection (``FuzzyMatcher.store``); Splink then runs on a cursor of
that instance, with its tables in an in-memory database attached for the fit or the
prediction and detached after (nothing of Splink's is written to the store file). Measured
at 300,000 customers with ``memory_limit = "2GB"``: two instances (the store's and a private
one for Splink, each allowed the limit) peaked at 4.05 GB in the identity step
(bench/RESULTS.md, "Bounded memory, first part"); one instance holds the one limit.

The exact (one-thread) training sets ``threads = 1`` on the instance for the fit and sets it
back after, since DuckDB keeps the setting per instance, not per connection. Without a store
connection (the matcher used as a library) each fit or prediction opens a private in-memory
instance, with the limits of ``FuzzyMatcher.duckdb_config``.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal

import duckdb
from splink.internals.database_api import DatabaseAPISubClass

from personae.errors import FuzzySettingsError

Backend = Literal["duckdb", "spark"]

_scratch_names = itertools.count()
"""Numbers the attached scratch databases, so that two sessions in one process never share one."""


def database_api(
    backend: Backend, spark: Any = None, *, exact: bool = False, config: Mapping[str, Any] | None = None
) -> DatabaseAPISubClass:
    """The Splink database API of ``backend`` on a connection of its own.

    ``exact`` runs DuckDB on one thread: sums over many rows then add up in the same
    order every time, so training gives bit-identical parameters from the same data.
    ``config`` holds the store's limits (memory, spill folder, threads), so that a private
    connection keeps to them too.
    """
    if backend == "duckdb":
        # imported here, as Splink's DuckDB backend it loads: at import time it would cost every command ~6 ms
        from personae.identity.similarity_once import SimilarityOnceDuckDBAPI

        settings = {**(config or {}), **({"threads": 1} if exact else {})}
        return SimilarityOnceDuckDBAPI(duckdb.connect(":memory:", config=settings))
    if backend == "spark":
        from splink.backends.spark import SparkAPI, similarity_jar_location

        # Splink's string similarities (jaro_winkler, damerau_levenshtein) are Scala UDFs
        # in a jar shipped with Splink; adding it here spares the session any set-up.
        spark.sql(f"ADD JAR {similarity_jar_location()}")
        # Splink cuts long lineages by checkpointing to the session's checkpoint folder;
        # a session without one keeps those intermediate tables in memory instead.
        lineage = None if spark.sparkContext.getCheckpointDir() else "persist"
        return SparkAPI(spark_session=spark, break_lineage_method=lineage)  # type: ignore[no-untyped-call]  # Splink leaves it untyped
    raise FuzzySettingsError(f"unknown backend {backend!r}; use 'duckdb' or 'spark'")


@contextmanager
def splink_api(
    backend: Backend,
    spark: Any = None,
    *,
    exact: bool = False,
    config: Mapping[str, Any] | None = None,
    store: duckdb.DuckDBPyConnection | None = None,
) -> Iterator[DatabaseAPISubClass]:
    """A Splink database API for one fit or prediction, closed (or detached) after.

    With ``store`` (a DuckDB connection), Splink runs on a cursor of that instance, in a
    scratch database attached in memory: see the module's docstring.
    """
    if backend == "duckdb" and store is not None:
        from personae.identity.similarity_once import SimilarityOnceDuckDBAPI

        with scratch_cursor(store, exact=exact) as cursor:
            yield SimilarityOnceDuckDBAPI(cursor)
        return
    api = database_api(backend, spark, exact=exact, config=config)
    try:
        yield api
    finally:
        if backend == "duckdb":
            api.duckdb_con.close()


@contextmanager
def scratch_cursor(store: duckdb.DuckDBPyConnection, *, exact: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor of ``store``'s instance whose default database is an attached in-memory one.

    Its tables count against the instance's ``memory_limit`` and spill to its
    ``temp_directory``; they go when the block ends. ``exact`` sets the instance's
    ``threads`` to 1 for the block and restores it.
    """
    cursor = store.cursor()
    home = _one(cursor, "SELECT current_database()")
    threads = _one(cursor, "SELECT current_setting('threads')")
    name = f"personae_fuzzy_{next(_scratch_names)}"
    cursor.execute(f"ATTACH ':memory:' AS {name}")
    try:
        cursor.execute(f"USE {name}")
        if exact:
            cursor.execute("SET threads = 1")
        yield cursor
    finally:
        try:
            if exact:
                cursor.execute(f"SET threads = {int(threads)}")
            cursor.execute(f'USE "{home}"')
            cursor.execute(f"DETACH {name}")
        finally:
            cursor.close()


def _one(cursor: duckdb.DuckDBPyConnection, sql: str) -> str:
    row = cursor.execute(sql).fetchone()
    return str(row[0]) if row else ""


@contextmanager
def quiet_splink() -> Iterator[None]:
    """Hold back Splink's progress logging (INFO and WARNING) for the block only."""
    splink_logger = logging.getLogger("splink")
    level = splink_logger.level
    splink_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        splink_logger.setLevel(level)
