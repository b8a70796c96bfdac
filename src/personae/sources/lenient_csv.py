"""A CSV reader that never gives up on a file: record by record, starting again after a bad one.

DuckDB's CSV reader is fast but all or nothing where a quote goes wrong. Its sniffer
refuses a file whose sampled lines hold a quote that never closes ("Error when sniffing
file"), and past the sample an unclosed quote makes it read every later line as part of
one value, which it then rejects as a single line: a stray quote on row 30,000 of 50,000
lost the last 20,000 rows, one on row 100,000 of 200,000 the last 100,000 (DuckDB 2.0).
Python's ``csv`` module, fed one physical line at a time, lets this reader start again
on the line after the one that opened a bad record, so only that line is quarantined.

It runs only for a file DuckDB refused or in which it may have swallowed lines (see
:mod:`personae.sources.raw_copy`): a good file never pays for it. It yields Arrow record
batches of text columns that DuckDB copies to the raw Parquet file with the fast path's
own statement, so both write the same file. It is 6–9× slower than DuckDB's reader: a
million six-column rows copied in 11–19 s against 2–3 s (medians of 3, three times, on
the shared two-core machine), in memory bounded by one batch of rows.

Like DuckDB's reader (a test compares the two on good files): header names are trimmed,
an empty one becomes ``column<i>`` and a repeated one (in any case) ``<name>_<n>``; without
a header the columns are ``column0``, … (zero-padded, as DuckDB pads them); empty values
are NULL; blank lines are skipped; line numbers count the header. Unlike it, where the
file is already broken: a quoted value may run over at most :data:`MAX_RECORD_LINES`
lines (past that its quote is taken for unclosed), a value may hold at most
``csv.field_size_limit()`` characters (131,072; the limit is process-wide, so it is left
alone), and quotes are escaped by doubling them (RFC 4180), never by a backslash.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc

from personae.sources.readers import Reject
from personae.sources.specs import CsvOptions

BATCH_ROWS = 65_536
MAX_RECORD_LINES = 100
"""The most physical lines one record may span before its open quote is taken for a stray one."""
_UNDECODABLE = re.compile("[\udc80-\udcff]")
"""Bytes the encoding could not decode, as ``surrogateescape`` leaves them."""
_CODECS = {"utf-8": "utf-8-sig", "utf-16": "utf-16", "latin-1": "latin-1"}


class UnreadableHeader(ValueError):
    """The first record cannot be parsed, so there are no columns to read the file into."""


class _Unclosed(csv.Error):
    """A record ran over :data:`MAX_RECORD_LINES` lines: its opening quote is a stray one."""


class _Lines:
    """The file's physical lines, numbered, with a way to read some again after a bad record."""

    def __init__(self, text: IO[str]) -> None:
        self._text = text
        self._again: list[str] = []
        self.number = 0
        """Lines handed to the parser so far."""
        self.record: list[str] = []
        """The lines of the record being parsed."""

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if len(self.record) >= MAX_RECORD_LINES:
            raise _Unclosed(f"a quote opens a value that runs on past {MAX_RECORD_LINES} lines")
        line = self._again.pop() if self._again else next(self._text)
        self.number += 1
        self.record.append(line)
        return line

    def read_again(self, lines: list[str]) -> None:
        self._again.extend(reversed(lines))
        self.number -= len(lines)


def column_names(header: list[str] | None, width: int) -> list[str]:
    """The names DuckDB's ``read_csv`` gives these columns (see the module docstring)."""
    digits = len(str(max(width - 1, 0)))
    names: list[str] = []
    seen: set[str] = set()
    repeats: dict[str, int] = {}
    for index in range(width):
        name = (header[index].strip() if header else "") or f"column{index:0{digits}d}"
        if name.lower() in seen:
            count = repeats.get(name.lower(), 0) + 1
            while f"{name}_{count}".lower() in seen:
                count += 1
            repeats[name.lower()] = count
            name = f"{name}_{count}"
        seen.add(name.lower())
        names.append(name)
    return names


class LenientCsv:
    """One CSV file as Arrow batches of text columns; the bad records met are in ``rejects``.

    Use it as a context manager (it holds the file open); :attr:`columns` is known on entry,
    the rows as :meth:`batches` is consumed."""

    def __init__(self, path: Path, options: CsvOptions, encoding: str) -> None:
        self.path = path
        self.options = options
        self.encoding = encoding
        self.columns: list[str] = []
        self.rejects: list[Reject] = []
        self._handle: IO[str] | None = None
        self._lines: _Lines | None = None
        self._first: list[str] | None = None
        """The first record, when it is data (no header)."""

    def __enter__(self) -> LenientCsv:
        self._handle = self.path.open(encoding=_CODECS[self.encoding], errors="surrogateescape", newline="")
        self._lines = _Lines(self._handle)
        self._read_header()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._handle is not None:
            self._handle.close()

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([(name, pa.string()) for name in self.columns])

    def _parser(self) -> Iterator[list[str]]:
        assert self._lines is not None
        if not self.options.quote:
            return csv.reader(self._lines, delimiter=self.options.delimiter, quoting=csv.QUOTE_NONE, strict=True)
        return csv.reader(self._lines, delimiter=self.options.delimiter, quotechar=self.options.quote, strict=True)

    def _read_header(self) -> None:
        assert self._lines is not None
        parser = self._parser()
        try:
            first = next((record for record in parser if record), None)
        except csv.Error as error:
            raise UnreadableHeader(f"its first line cannot be parsed ({error})") from None
        if first is None:
            raise UnreadableHeader("it holds no line of text")
        if any(_UNDECODABLE.search(value) for value in first):
            raise UnreadableHeader(
                f"its first line is not {self.encoding} text (is it a csv file? if so, set csv.encoding)"
            )
        self.columns = column_names(first if self.options.header else None, len(first))
        self._first = None if self.options.header else first

    def batches(self) -> Iterator[pa.RecordBatch]:
        """The good records, :data:`BATCH_ROWS` at a time (one loop: this runs once per record)."""
        lines = self._lines
        assert lines is not None
        width = len(self.columns)
        pending: list[list[str]] = [self._first] if self._first is not None else []
        parser = self._parser()
        while True:
            if len(pending) >= BATCH_ROWS:
                yield self._batch(pending)
                pending = []
            lines.record = []
            first_line = lines.number + 1
            try:
                record = next(parser)
            except StopIteration:
                break
            except csv.Error as error:
                self._reject(first_line, lines.record[0], _quote_problem(error))
                lines.read_again(lines.record[1:])
                parser = self._parser()
                continue
            if len(record) == width and not _UNDECODABLE.search("".join(record)):
                pending.append(record)
                continue
            if not record:
                continue  # a blank line, as DuckDB skips them
            if len(record) != width:
                side = "too many columns" if len(record) > width else "missing columns"
                problem = f"{side} (expected {width}, found {len(record)})"
            else:
                problem = f"invalid encoding (not {self.encoding} text)"
            self._reject(first_line, lines.record[0], problem)
            if len(lines.record) > 1:  # a quote joined the lines after this one: read them on their own
                lines.read_again(lines.record[1:])
                parser = self._parser()
        if pending:
            yield self._batch(pending)

    def _batch(self, rows: list[list[str]]) -> pa.RecordBatch:
        """Rows as columns; an empty value is NULL, as DuckDB reads it (quoted or not)."""
        columns = [pa.array(values, pa.string()) for values in zip(*rows, strict=True)]
        return pa.record_batch(
            [pc.if_else(pc.equal(column, ""), None, column) for column in columns], schema=self.schema
        )

    def _reject(self, line: int, raw: str, problem: str) -> None:
        text = _UNDECODABLE.sub("\ufffd", raw.rstrip("\r\n"))
        self.rejects.append(
            Reject(line=line, reason=f"malformed line: {problem}", raw=text, kind=problem.split(" (")[0])
        )


def _quote_problem(error: csv.Error) -> str:
    """The csv module's message, said as what is wrong with the line."""
    message = str(error)
    if isinstance(error, _Unclosed) or message == "unexpected end of data":
        return f"unclosed quote ({'it is never closed' if not isinstance(error, _Unclosed) else message})"
    if "expected after" in message:
        return f"unquoted value (text after a closing quote: {message})"
    return message
