"""The raw copy of one input file: its rows as text, in a Parquet file under ``raw/<source>/``
(a Parquet input keeps its column types on an engine that maps it with them, ``typed_stage``).

The copy is written as ``<id>.partial`` and renamed to ``<id>.parquet`` once the store has
committed the file's rows (see :mod:`personae.sources.ingest`). Three things can go wrong
while it is written, and each asks for something different, so they are told apart here:

- **The input cannot be read at all** (a Parquet file that is not one, a binary file, a
  header that does not parse): :class:`Unreadable`. The file is quarantined whole and
  the source's other files go on.
- **DuckDB's CSV reader gives up on the file**, or an unclosed quote may have made it
  swallow the lines after it: the file is read again, record by record, by
  :mod:`personae.sources.lenient_csv`, and loads all but its bad lines. A good file takes
  the fast path only; the check that a reject spans no line costs nothing measurable.
- **The disk refuses the copy** (full, read-only, no permission): an :class:`OSError`
  naming the file, which ends the run, since every later file would fail the same way.
  DuckDB reports these as ``IOException`` text; :func:`refusal` turns the text back into
  the ``OSError`` it was. Nothing is left behind: the ``.partial`` file is removed.

An empty file (nothing but white space, or 0 bytes) is not copied at all.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from personae.engine.sql import literal, timestamp_sql
from personae.sources import readers
from personae.sources.lenient_csv import LenientCsv, UnreadableHeader
from personae.sources.readers import Reject
from personae.sources.specs import SourceSpec

RAW_FOLDER = "raw"
REFUSALS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO)
"""What an operating system says when it refuses to write a file (as ``os.strerror`` words it)."""
_ERRNO = re.compile(r'"errno"\s*:\s*"?(\d+)')
_FILE = re.compile(r'file \\?"([^"\\]+)\\?"')
_LENIENT_ROWS = "lenient_rows"


class Unreadable(Exception):
    """The input file cannot be read at all; the message says why (without naming the file)."""


@dataclass(frozen=True)
class RawCopy:
    """What the copy holds: its rows, the lines the reader rejected, whether the file was empty."""

    rows: int
    rejects: list[Reject] = field(default_factory=list)
    empty: bool = False
    lenient: bool = False
    """Read by :mod:`personae.sources.lenient_csv` after DuckDB's reader gave up on it."""


def raw_folder(root: Path, source: str) -> Path:
    """Where a source's raw files are kept, one Parquet file per input file."""
    return root / RAW_FOLDER / source


def raw_file(root: Path, source: str, label: str) -> Path:
    digest = hashlib.blake2b(label.encode(), digest_size=8).hexdigest()
    return raw_folder(root, source) / f"{digest}.parquet"


def refusal(error: BaseException, path: Path | None = None) -> OSError | None:
    """The ``OSError`` behind a DuckDB error about writing a file (None for any other error).

    With ``path``, only an error that names that file counts (whatever its errno): reading
    an input file the system refuses (no permission) is that file's problem, not the
    workspace's. Without it, only the errors of :data:`REFUSALS` count."""
    message = str(error)
    if path is not None and str(path) not in message:
        return None
    found = _ERRNO.search(message)
    code = int(found.group(1)) if found else next((known for known in REFUSALS if os.strerror(known) in message), None)
    if code is None or (path is None and code not in REFUSALS):
        return None
    named = _FILE.search(message)
    return OSError(code, os.strerror(code), str(path) if path else (named.group(1) if named else None))


def copy_file(
    reader: duckdb.DuckDBPyConnection,
    spec: SourceSpec,
    path: Path,
    label: str,
    partial: Path,
    loaded_at: str,
    *,
    typed: bool = False,
) -> RawCopy:
    """Copy the file, as text with its ``_file`` (and ``_row`` for JSONL), to ``partial``;
    ``typed``, a Parquet file keeps its column types (:func:`~personae.sources.readers.parquet_scan_sql`)."""
    fmt = spec.resolved_format
    try:
        look = readers.first_look(path, fmt, spec.csv.encoding if fmt == "csv" else "utf-8")
    except OSError as error:
        raise Unreadable(f"cannot read the file: {error.strerror}") from error
    if look.empty:
        return RawCopy(0, empty=True)
    if look.problem:
        raise Unreadable(look.problem)
    partial.parent.mkdir(parents=True, exist_ok=True)
    rejects = f"rejects_{spec.name}"
    try:
        scan = _scan_sql(reader, spec, path, label, rejects, look.encoding, typed=typed)
        rows = _copy(reader, scan, partial, loaded_at)
    except duckdb.Error as error:
        readers.fetch_rejects(reader, rejects)  # drops what a failed scan left
        _refuse(error, partial)
        if fmt != "csv":
            raise Unreadable(f"unreadable {fmt} file: {str(error).splitlines()[0]}") from error
        return _copy_leniently(reader, spec, path, label, partial, loaded_at, look.encoding)
    found = readers.fetch_rejects(reader, rejects)
    if fmt == "csv" and any(reject.swallows_lines for reject in found):
        return _copy_leniently(reader, spec, path, label, partial, loaded_at, look.encoding)
    return RawCopy(rows, found)


def _scan_sql(
    reader: duckdb.DuckDBPyConnection,
    spec: SourceSpec,
    path: Path,
    label: str,
    rejects: str,
    encoding: str,
    *,
    typed: bool,
) -> str:
    fmt = spec.resolved_format
    if fmt == "parquet":
        return readers.parquet_scan_sql(reader, path, label, typed=typed)
    if fmt == "jsonl":
        return readers.jsonl_scan_sql(path, rejects, label, encoding)
    return readers.csv_scan_sql(spec, path, rejects, label, encoding)


def _copy(reader: duckdb.DuckDBPyConnection, scan: str, partial: Path, loaded_at: str) -> int:
    stamped = f"SELECT *, {timestamp_sql(loaded_at)} AS _loaded_at FROM ({scan})"
    try:
        copied = reader.execute(
            f"COPY ({stamped}) TO {literal(str(partial))} (FORMAT parquet, COMPRESSION snappy)"
        ).fetchall()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return int(copied[0][0])


def _copy_leniently(
    reader: duckdb.DuckDBPyConnection,
    spec: SourceSpec,
    path: Path,
    label: str,
    partial: Path,
    loaded_at: str,
    encoding: str,
) -> RawCopy:
    """The copy of a CSV file DuckDB's reader gave up on, record by record (same Parquet file)."""
    try:
        with LenientCsv(path, spec.csv, encoding) as parsed:
            reader.register(_LENIENT_ROWS, pa.RecordBatchReader.from_batches(parsed.schema, parsed.batches()))
            try:
                rows = _copy(
                    reader,
                    f"SELECT *, {readers.file_label_sql(label)} AS _file FROM {_LENIENT_ROWS}",
                    partial,
                    loaded_at,
                )
            finally:
                reader.unregister(_LENIENT_ROWS)
    except UnreadableHeader as error:
        raise Unreadable(f"unreadable csv file: {error}") from error
    except (OSError, UnicodeDecodeError) as error:  # opening or decoding the input
        raise Unreadable(f"unreadable csv file: {error}") from error
    except duckdb.Error as error:  # the copy, or an error the batches raised inside it
        _refuse(error, partial)
        raise Unreadable(f"unreadable csv file: {str(error).splitlines()[0]}") from error
    return RawCopy(rows, parsed.rejects, lenient=True)


def _refuse(error: duckdb.Error, partial: Path) -> None:
    """Raise the disk's refusal to write ``partial`` as the OSError it is, if it was one."""
    refused = refusal(error, partial)
    if refused is not None:
        raise refused from error
