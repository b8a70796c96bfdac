"""File readers: the DuckDB scan of one input file, as text columns with file and row.

Every engine reads input through DuckDB (out of core and streamed, so a large file never
sits whole in Python memory); the engine then stages the scan. Columns arrive as text so
that a bad value becomes a quarantined row with its reason instead of a failed load.

- CSV: ``read_csv`` with every column as text; malformed lines are kept by DuckDB's
  rejects table with their line number and raw text.
- Parquet: ``read_parquet`` with the file's row number.
- JSONL (Segment spec): each line is read as one text value, so invalid JSON is kept with
  its line number; the Segment fields are extracted from valid lines.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb

from personae.engine.sql import literal
from personae.errors import SourceNotFound
from personae.sources.specs import SourceSpec

CHECKSUM_CHUNK = 1 << 20

SEGMENT_FIELDS: dict[str, str] = {
    "event_id": "coalesce(_raw ->> '$.messageId', _raw ->> '$.message_id')",
    "type": "_raw ->> '$.type'",
    "name": "coalesce(_raw ->> '$.event', _raw ->> '$.name')",
    "ts": "coalesce(_raw ->> '$.timestamp', _raw ->> '$.sentAt', _raw ->> '$.receivedAt')",
    "user_id": "coalesce(_raw ->> '$.userId', _raw ->> '$.user_id')",
    "anonymous_id": (  # an alias links its previousId (usually the anonymous id) to its userId
        "coalesce(_raw ->> '$.anonymousId', _raw ->> '$.anonymous_id', "
        "CASE WHEN _raw ->> '$.type' = 'alias' THEN _raw ->> '$.previousId' END)"
    ),
    "email": "coalesce(_raw ->> '$.traits.email', _raw ->> '$.context.traits.email', _raw ->> '$.properties.email')",
    "phone": "coalesce(_raw ->> '$.traits.phone', _raw ->> '$.context.traits.phone')",
    "properties": "CAST(coalesce(json_extract(_raw, '$.properties'), json_extract(_raw, '$.traits')) AS VARCHAR)",
    "amount": "coalesce(_raw ->> '$.properties.revenue', _raw ->> '$.properties.total', _raw ->> '$.properties.price')",
    "category": "_raw ->> '$.properties.category'",
    "product_id": "_raw ->> '$.properties.product_id'",
    "channel": "_raw ->> '$.context.channel'",
}
"""Stage column -> DuckDB expression over the raw JSON line ``_raw``."""


@dataclass(frozen=True)
class Reject:
    """A line the reader could not parse."""

    line: int | None
    reason: str
    raw: str


def list_files(root: Path, spec: SourceSpec) -> list[Path]:
    """The files a source's path (a glob, relative to the workspace) matches, sorted."""
    pattern = spec.path or ""
    base = Path(pattern)
    if base.is_absolute():
        matches = sorted(Path(base.anchor).glob(str(base.relative_to(base.anchor))))
    else:
        matches = sorted(root.glob(pattern))
    files = [match for match in matches if match.is_file()]
    if not files:
        where = base if base.is_absolute() else root / pattern
        raise SourceNotFound(
            f"source {spec.name!r}: no file matches {pattern!r} (looked for {where}); "
            "check the path in personae.toml or add the files"
        )
    return files


def checksum(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with path.open("rb") as handle:
        while chunk := handle.read(CHECKSUM_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def csv_scan_sql(spec: SourceSpec, path: Path, rejects: str, label: str) -> str:
    """The file's rows as text, with ``_file``. No ``_row``: the engine numbers the rows of
    the raw copy by position when it stages it (see ``personae.engine.base.ROW_COLUMN``)."""
    options = spec.csv
    return (
        f"SELECT *, {literal(label)} AS _file "
        f"FROM read_csv({literal(str(path))}, all_varchar = true, "
        f"header = {str(options.header).lower()}, delim = {literal(options.delimiter)}, "
        f"quote = {literal(options.quote)}, encoding = {literal(options.encoding)}, "
        f"store_rejects = true, rejects_table = {literal(rejects)}, "
        f"rejects_scan = {literal(rejects + '_scan')})"
    )


def parquet_scan_sql(reader: duckdb.DuckDBPyConnection, path: Path, label: str) -> str:
    source = f"read_parquet({literal(str(path))}, file_row_number = true)"
    described = reader.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    columns = [f'CAST("{name}" AS VARCHAR) AS "{name}"' for name, *_ in described if name != "file_row_number"]
    return f"SELECT {', '.join(columns)}, {literal(label)} AS _file, file_row_number + 1 AS _row FROM {source}"


def jsonl_scan_sql(path: Path, rejects: str, label: str) -> str:
    """One text line per row (``_raw``), numbered; blank lines are counted but not kept."""
    lines = (
        f"SELECT line AS _raw, row_number() OVER () AS _row "
        f"FROM read_csv({literal(str(path))}, columns = {{'line': 'VARCHAR'}}, header = false, "
        "delim = '\x1e', quote = '', escape = '', auto_detect = false, "
        f"store_rejects = true, rejects_table = {literal(rejects)}, "
        f"rejects_scan = {literal(rejects + '_scan')})"
    )
    return f"SELECT _raw, {literal(label)} AS _file, _row FROM ({lines}) AS lines WHERE trim(coalesce(_raw, '')) <> ''"


def segment_fields_sql(relation: str, extra_paths: dict[str, str]) -> str:
    """The Segment fields (and ``extra_paths``: column -> JSON path) of valid JSON lines.

    Runs on the engine over the raw lines, so the raw table keeps each line as it came.
    """
    fields = dict(SEGMENT_FIELDS)
    for column, json_path in extra_paths.items():
        fields[column] = f"_raw ->> {literal('$.' + json_path)}"
    extracted = ", ".join(
        f'CASE WHEN _json_ok THEN {expression} END AS "{column}"' for column, expression in fields.items()
    )
    checked = (
        "SELECT _raw, _file, _row, "
        "coalesce(json_valid(_raw) AND starts_with(ltrim(_raw), '{'), false) AS _json_ok "
        f"FROM {relation}"
    )
    return f"SELECT {extracted}, _raw, _json_ok, _file, _row FROM ({checked}) AS lines"


def fetch_rejects(reader: duckdb.DuckDBPyConnection, rejects: str) -> list[Reject]:
    """Lines DuckDB's CSV reader could not parse, with their reason and raw text."""
    present = reader.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [rejects]).fetchall()[0][0]
    if not present:
        return []
    rows = reader.execute(
        "SELECT line, arg_min(error_type::VARCHAR, column_idx), arg_min(error_message, column_idx), "
        f"arg_min(csv_line, column_idx) FROM {rejects} GROUP BY line ORDER BY line"
    ).fetchall()
    reader.execute(f"DROP TABLE IF EXISTS {rejects}").complete()
    reader.execute(f"DROP TABLE IF EXISTS {rejects}_scan").complete()
    return [
        Reject(line=row[0], reason=f"malformed line: {row[1].lower()} ({row[2]})", raw=row[3] or "") for row in rows
    ]
