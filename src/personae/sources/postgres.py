"""PostgreSQL sources: a table or query, streamed out with COPY into a CSV snapshot.

The snapshot is written to the workspace's scratch folder in chunks (memory stays flat
whatever the table's size) and then read like any CSV file, so row numbers, quarantine
and change detection (a checksum of the snapshot) work the same for databases as for
files. The DSN comes from the spec's ``dsn`` or from the environment variable named by
``dsn_env`` (so passwords stay out of personae.toml).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import psycopg
from psycopg import sql

from personae.errors import ConfigError, SourceUnreachable
from personae.sources.specs import SourceSpec

CONNECT_TIMEOUT_SECONDS = 10


def dsn_from(
    owner: str, dsn: str | None, dsn_env: str | None, env: Mapping[str, str], error: type[Exception] = ConfigError
) -> str:
    """The connection string of ``owner`` (``"source 'crm'"``): from the environment variable
    ``dsn_env`` names, else ``dsn``; ``error`` when the variable is not set."""
    if dsn_env:
        if dsn_env not in env:
            raise error(
                f"{owner}: environment variable {dsn_env!r} (dsn_env) is not set; "
                "export it with the database's connection string"
            )
        return env[dsn_env]
    assert dsn is not None  # the spec validators require dsn or dsn_env
    return dsn


def resolve_dsn(spec: SourceSpec, env: Mapping[str, str]) -> str:
    return dsn_from(f"source {spec.name!r}", spec.dsn, spec.dsn_env, env)


def describe_server(dsn: str) -> str:
    """``host:port/dbname`` of a DSN, for messages: never the password."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "the configured server"
    return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


def snapshot(spec: SourceSpec, env: Mapping[str, str], destination: Path) -> Path:
    """Write the source's rows as CSV (with header) to ``destination``; returns it."""
    dsn = resolve_dsn(spec, env)
    query: sql.Composable
    if spec.query:
        query = sql.SQL(spec.query)  # the user's own query, run as written
    else:
        assert spec.table is not None
        query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(*spec.table.split(".")))
    copy = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER true)").format(query)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_suffix(".partial")
    try:
        with (
            psycopg.connect(dsn, connect_timeout=CONNECT_TIMEOUT_SECONDS) as connection,
            connection.cursor() as cursor,
            cursor.copy(copy) as stream,
            partial.open("wb") as out,
        ):
            for chunk in stream:
                out.write(chunk)
    except psycopg.OperationalError as error:
        partial.unlink(missing_ok=True)
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise SourceUnreachable(
            f"source {spec.name!r}: cannot reach PostgreSQL at {describe_server(dsn)}: {reason}; "
            "check the dsn and that the server is running"
        ) from None
    except psycopg.Error as error:
        partial.unlink(missing_ok=True)
        raise SourceUnreachable(
            f"source {spec.name!r}: PostgreSQL refused the read: {str(error).strip()}; "
            "check 'table' or 'query' in personae.toml"
        ) from None
    partial.replace(destination)
    return destination
