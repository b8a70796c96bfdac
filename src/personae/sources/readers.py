"""File readers: the DuckDB scan of one input file, as text columns with file and row.

Every engine reads input through DuckDB (out of core and streamed, so a large file never
sits whole in Python memory); the engine then stages the scan. Columns arrive as text so
that a bad value becomes a quarantined row with its reason instead of a failed load.

- CSV: ``read_csv`` with every column as text; malformed lines are kept by DuckDB's
  rejects table with their line number and raw text. A file DuckDB refuses whole, or in
  which a stray quote swallowed the lines after it, is read again by
  :mod:`personae.sources.lenient_csv`.
- Parquet: ``read_parquet`` with the file's row number.
- JSONL (Segment spec): each line is read as one text value, so invalid JSON is kept with
  its line number; the Segment fields are extracted from valid lines.

Before any of these, :func:`first_look` reads the file's first bytes: a file with nothing
in it is empty (nothing to read, nothing to map), a byte-order mark names the encoding,
and a text format whose first line holds NUL bytes is a binary file, not text.
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
LOOK_BYTES = 1 << 16
"""How much of a file :func:`first_look` reads: enough for a header line, little enough to be free."""
BYTE_ORDER_MARKS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16-be"),
)
"""A mark at the start of a file and the encoding it names (DuckDB skips the mark itself).
DuckDB's ``utf-16`` is little-endian only: a big-endian file read with it gave no row and
no error (DuckDB 2.0), so a big-endian mark is refused instead (see :func:`first_look`)."""
DELIMITERS = (";", "\t", "|", ",")

SEGMENT_FIELDS: dict[str, tuple[str, ...]] = {
    "event_id": ("messageId", "message_id"),
    "type": ("type",),
    "name": ("event", "name"),
    "ts": ("timestamp", "sentAt", "receivedAt"),
    "user_id": ("userId", "user_id"),
    # an alias links its previousId (usually the anonymous id) to its userId: see _ALIAS
    "anonymous_id": ("anonymousId", "anonymous_id"),
    "email": ("traits.email", "context.traits.email", "properties.email"),
    "phone": ("traits.phone", "context.traits.phone"),
    "properties": ("properties", "traits"),
    "amount": ("properties.revenue", "properties.total", "properties.price"),
    "category": ("properties.category",),
    "product_id": ("properties.product_id",),
    "channel": ("context.channel",),
    "consent": ("context.consent.categoryPreferences",),
}
"""Stage column -> the JSON paths (after ``$.``) it is read from, the first present one wins."""
JSON_FIELDS = frozenset({"properties", "consent"})
"""Fields kept as JSON text (an object stays an object; a JSON ``null`` is the text ``null``)."""
_ALIAS = "previousId"
"""An ``alias`` call's anonymous id, when it has no anonymousId of its own."""


@dataclass(frozen=True)
class Reject:
    """A line the reader could not parse."""

    line: int | None
    reason: str
    raw: str
    kind: str = ""
    """DuckDB's error type, lower case (``unquoted value``, ``too many columns``, ...)."""

    @property
    def swallows_lines(self) -> bool:
        """Whether the reader may have taken the lines after this one for part of it.

        An unclosed quote makes DuckDB read on to the end of the file (or of its line
        buffer) as one value: every later line is then lost inside one reject."""
        return self.kind == "unquoted value" or "\n" in self.raw.rstrip("\r\n")


@dataclass(frozen=True)
class FirstLook:
    """What a file's first bytes say (see :func:`first_look`)."""

    empty: bool = False
    encoding: str = "utf-8"
    problem: str | None = None
    """Why the file cannot be read at all, or None."""


def first_look(path: Path, fmt: str, declared: str = "utf-8") -> FirstLook:
    """Empty, binary or text, and in which encoding, from the file's first bytes.

    A file of only white space is empty whatever its format (a Parquet file of 0 bytes
    too): there is nothing to load, and nothing to check a mapping against. A byte-order
    mark wins over the declared encoding, since it cannot be misread; JSONL has no
    declared encoding, so without a mark it is UTF-8. NUL bytes in the first line of a
    text format (outside UTF-16) mean the file is binary: reading it line by line would
    quarantine garbage.
    """
    with path.open("rb") as handle:
        head = handle.read(LOOK_BYTES)
        whole = len(head) < LOOK_BYTES
    if fmt == "parquet":
        return FirstLook(empty=not head)
    encoding = next((name for mark, name in BYTE_ORDER_MARKS if head.startswith(mark)), declared)
    if whole and not head.decode(encoding, errors="replace").lstrip("\ufeff").strip():
        return FirstLook(empty=True, encoding=encoding)
    if encoding == "utf-16-be":
        return FirstLook(encoding=encoding, problem="UTF-16 big-endian text, which cannot be read: save it as UTF-8")
    first_line = head.removeprefix(b"\xef\xbb\xbf").lstrip(b"\r\n").split(b"\n", 1)[0]
    if encoding != "utf-16" and b"\x00" in first_line:
        problem = f"not a text file: its first line holds NUL bytes (is it a {fmt} file at all?)"
        return FirstLook(encoding=encoding, problem=problem)
    return FirstLook(encoding=encoding)


def delimiter_hint(columns: list[str], delimiter: str) -> str:
    """The setting that reads a file whose header came out as one column holding another delimiter."""
    names = [column for column in columns if not column.startswith("_")]
    found = [mark for mark in DELIMITERS if len(names) == 1 and mark != delimiter and mark in names[0]]
    if not found:
        return ""
    shown = found[0].replace("\t", "\\t")
    return f"; its header is split by '{shown}', not {delimiter!r}: set csv.delimiter = \"{shown}\" for this source"


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


def file_label_sql(label: str) -> str:
    """``label`` as a raw copy's ``_file``: a one-value ENUM, which DuckDB's Parquet writer
    stores as its dictionary index. Read back it is text, as a plain string would be (the same
    Parquet type). Written as a plain string, the label was hashed into the column's dictionary
    for every row: about 0.9 s of a 10M-row copy's 5.6 s (bench/RESULTS.md, 2026-12-07)."""
    value = literal(label)
    return f"CAST({value} AS ENUM({value}))"


def csv_scan_sql(spec: SourceSpec, path: Path, rejects: str, label: str, encoding: str | None = None) -> str:
    """The file's rows as text, with ``_file``. No ``_row``: the engine numbers the rows of
    the raw copy by position when it stages it (see ``personae.engine.base.ROW_COLUMN``).
    ``encoding`` overrides the declared one (a byte-order mark names it)."""
    options = spec.csv
    return (
        f"SELECT *, {file_label_sql(label)} AS _file "
        f"FROM read_csv({literal(str(path))}, all_varchar = true, "
        f"header = {str(options.header).lower()}, delim = {literal(options.delimiter)}, "
        f"quote = {literal(options.quote)}, encoding = {literal(encoding or options.encoding)}, "
        f"store_rejects = true, rejects_table = {literal(rejects)}, "
        f"rejects_scan = {literal(rejects + '_scan')})"
    )


def parquet_scan_sql(reader: duckdb.DuckDBPyConnection, path: Path, label: str, *, typed: bool = False) -> str:
    """The Parquet file's rows with ``_file``: its columns as DuckDB's text of them, or
    ``typed``, as they are (an engine that maps a Parquet input with its own column types,
    ``typed_stage``, reads the same text from either: its mapping casts to text what it parses).
    No ``_row``, as for CSV: the copy keeps the file's order, and the engine numbers its rows by
    position when it stages it (0.2 s of a 10M-row copy's 2.6 s went to writing the numbers).

    Keeping the types costs less than printing every value: the raw copy of a 10M-row file
    took 1.9 s typed against 3.6–3.9 s as text (bench/RESULTS.md, 2026-12-07)."""
    source = f"read_parquet({literal(str(path))})"
    described = reader.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    names = [name for name, *_ in described]
    columns = [f'"{name}"' if typed else f'CAST("{name}" AS VARCHAR) AS "{name}"' for name in names]
    return f"SELECT {', '.join(columns)}, {file_label_sql(label)} AS _file FROM {source}"


def jsonl_scan_sql(path: Path, rejects: str, label: str, encoding: str = "utf-8") -> str:
    """One text line per row (``_raw``), numbered; blank lines are counted but not kept."""
    lines = (
        f"SELECT line AS _raw, row_number() OVER () AS _row "
        f"FROM read_csv({literal(str(path))}, columns = {{'line': 'VARCHAR'}}, header = false, "
        f"delim = '\x1e', quote = '', escape = '', auto_detect = false, encoding = {literal(encoding)}, "
        f"store_rejects = true, rejects_table = {literal(rejects)}, "
        f"rejects_scan = {literal(rejects + '_scan')})"
    )
    kept = "WHERE trim(coalesce(_raw, '')) <> ''"
    return f"SELECT _raw, {file_label_sql(label)} AS _file, _row FROM ({lines}) AS lines {kept}"


def segment_fields_sql(relation: str, extra_paths: dict[str, str]) -> str:
    """The Segment fields (and ``extra_paths``: column -> JSON path) of valid JSON lines.

    Runs on the engine over the raw lines, so the raw table keeps each line as it came. Each
    line is parsed twice, not once per path: one ``json_extract_string`` with the list of every
    text path, one ``json_extract`` with the list of the JSON ones, and the fields index the
    lists. One ``->>`` per path parsed a line 27 times: a month of the 1M demo's web events
    (226,128 lines, 52 MB) took 1.06 s to extract that way and 0.15 s this way (DuckDB, 2
    threads), and ingest evaluates the extraction three times per file.
    """
    fields: dict[str, tuple[str, ...]] = {**SEGMENT_FIELDS, **{c: (p,) for c, p in extra_paths.items()}}
    text = list(dict.fromkeys([_ALIAS] + [p for f, ps in fields.items() if f not in JSON_FIELDS for p in ps]))
    json = list(dict.fromkeys(p for f, ps in fields.items() if f in JSON_FIELDS for p in ps))

    def read(field: str) -> str:
        paths, (lists, among) = fields[field], ("_json", json) if field in JSON_FIELDS else ("_text", text)
        values = [f"{lists}[{among.index(path) + 1}]" for path in paths]
        if field == "anonymous_id":
            kind, alias = text.index("type") + 1, text.index(_ALIAS) + 1
            values.append(f"CASE WHEN _text[{kind}] = 'alias' THEN _text[{alias}] END")
        value = values[0] if len(values) == 1 else f"coalesce({', '.join(values)})"
        return f"CAST({value} AS VARCHAR)" if field in JSON_FIELDS else value

    def listed(paths: list[str]) -> str:
        return "[" + ", ".join(literal("$." + path) for path in paths) + "]"

    checked = (
        "SELECT _raw, _file, _row, "
        "coalesce(json_valid(_raw) AND starts_with(ltrim(_raw), '{'), false) AS _json_ok "
        f"FROM {relation}"
    )
    # the lines to parse, NULL for the others: the extraction is then no branch of a CASE,
    # which lets Spark evaluate the parse its lists share once (engine/dialects.py)
    valid = f"SELECT *, CASE WHEN _json_ok THEN _raw END AS _valid FROM ({checked}) AS checked"
    parsed = (
        f"SELECT _raw, _file, _row, _json_ok, json_extract_string(_valid, {listed(text)}) AS _text, "
        f"json_extract(_valid, {listed(json)}) AS _json FROM ({valid}) AS lines"
    )
    extracted = ", ".join(f'{read(column)} AS "{column}"' for column in fields)
    return f"SELECT {extracted}, _raw, _json_ok, _file, _row FROM ({parsed}) AS parsed"


def fetch_rejects(reader: duckdb.DuckDBPyConnection, rejects: str) -> list[Reject]:
    """Lines DuckDB's CSV reader could not parse, with their reason and raw text.

    A line's first error (by column) names it; errors of the whole line (a line over
    ``max_line_size``) have no column, so they sort first rather than vanish."""
    present = reader.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [rejects]).fetchall()[0][0]
    if not present:
        return []
    first = "coalesce(column_idx, -1)"
    rows = reader.execute(
        f"SELECT line, arg_min(error_type::VARCHAR, {first}), arg_min(error_message, {first}), "
        f"arg_min(csv_line, {first}) FROM {rejects} GROUP BY line ORDER BY line"
    ).fetchall()
    reader.execute(f"DROP TABLE IF EXISTS {rejects}").complete()
    reader.execute(f"DROP TABLE IF EXISTS {rejects}_scan").complete()
    return [
        Reject(
            line=row[0], reason=f"malformed line: {row[1].lower()} ({row[2]})", raw=row[3] or "", kind=row[1].lower()
        )
        for row in rows
    ]
