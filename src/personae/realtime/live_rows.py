"""Journal lines as the ``events`` rows batch ingest will store for them, by the same SQL.

Live processing must see exactly what the next batch run will load: the same Segment
fields, types, identifier normalisation, quarantine decisions and first-of-key rule. So
instead of a second reader in Python, :class:`LiveRows` runs ingest's own SQL
(:func:`~personae.sources.readers.segment_fields_sql`,
:func:`~personae.sources.mapping.mapped_sql`, :func:`~personae.sources.targets.checked_sql`,
:func:`~personae.sources.targets.target_fields`) over a micro-batch of lines held in an
in-memory DuckDB, a few milliseconds a batch. Lines batch would quarantine are dropped
here (the batch run quarantines them with their reason); the check against the events
already stored is left to the consumers, which know each person's events.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from personae.engine.tables import columns_of
from personae.sources import readers
from personae.sources.mapping import json_paths, jsonl_columns, mapped_sql
from personae.sources.specs import IngestSettings, SourceSpec
from personae.sources.targets import target_fields

STAGE = "_live_lines"
LINEAGE = ("_file", "_row", "_loaded_at", "received_at")
"""Columns that say where and when batch loaded a row; live rows have none of them."""


class LiveRows:
    """Maps micro-batches of one live source's journal lines to ``events`` rows.

    Not thread-safe: one processor thread owns it (it holds its own DuckDB connection).
    """

    def __init__(self, spec: SourceSpec, settings: IngestSettings) -> None:
        self.spec = spec
        self._connection = duckdb.connect(":memory:", config={"threads": 1})
        stamp = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
        fields = target_fields(spec.kind, spec.name, settings.currency, stamp)
        self._fields = {
            name: fields.get(name, f"CAST(NULL AS {column_type})")
            for name, column_type in columns_of("events")
            if name not in LINEAGE
        }
        relation = f"({readers.segment_fields_sql(STAGE, json_paths(spec))})"
        self._mapped = mapped_sql(
            relation, spec, jsonl_columns(spec), settings, jsonl=True, file=f"journal/{spec.name}"
        )
        self._select = ", ".join(f"{expression} AS {name}" for name, expression in self._fields.items())
        # The lines go through a table that stays, so the statement is planned once (binding
        # the mapping takes about 10 ms, running it on a few lines well under 1 ms).
        self._connection.execute(f"CREATE TEMP TABLE {STAGE} (_raw VARCHAR, _file VARCHAR, _row BIGINT)")
        self._connection.execute(
            f"PREPARE live_rows AS SELECT _key AS __key, _reason AS __reason, {self._select} "
            f"FROM ({self._mapped}) AS m ORDER BY _row"
        )

    def rows(self, lines: Sequence[bytes]) -> list[dict[str, Any]]:
        """The rows batch would load from ``lines`` (in order; bad lines and later repeats of an
        ``event_id`` left out), as dicts of the ``events`` columns."""
        if not lines:
            return []
        stage = pa.table(
            {
                "_raw": pa.array([line.decode("utf-8") for line in lines], pa.string()),
                "_file": pa.array([f"journal/{self.spec.name}"] * len(lines), pa.string()),
                "_row": pa.array(range(1, len(lines) + 1), pa.int64()),
            }
        )
        connection = self._connection
        connection.execute(f"DELETE FROM {STAGE}")
        connection.register("_live_incoming", stage)
        try:
            connection.execute(f"INSERT INTO {STAGE} SELECT _raw, _file, _row FROM _live_incoming")
        finally:
            connection.unregister("_live_incoming")
        cursor = connection.execute("EXECUTE live_rows")
        names = [column[0] for column in cursor.description or ()]
        rows: list[dict[str, Any]] = []
        seen: set[str] = set()
        for values in cursor.fetchall():  # the first row of a key counts, good or bad (as in batch)
            row = dict(zip(names, values, strict=True))
            key, reason = row.pop("__key"), row.pop("__reason")
            if key is not None:
                if key in seen:
                    continue
                seen.add(key)
            if reason is None:
                rows.append(row)
        return rows

    def close(self) -> None:
        self._connection.close()
