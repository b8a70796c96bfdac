"""Vectorised text for the demo files: numbers, dates and times as Arrow strings, and
CSV and JSON lines written straight from Arrow buffers.

Fixed-width values (timestamps, dates, phone numbers, ids) are built as ``(n, width)``
byte matrices in numpy and viewed as Arrow strings without a Python loop, so that tens of
millions of values format in seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SECONDS_PER_DAY = 86_400
_ZERO = ord("0")


def from_chars(chars: np.ndarray) -> pa.Array:
    """An ``(n, width)`` uint8 matrix of ASCII codes as an Arrow string array."""
    count, width = chars.shape
    if count == 0 or width == 0:
        return pa.array([""] * count, pa.string())
    data = pa.py_buffer(np.ascontiguousarray(chars, dtype=np.uint8))
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), count, [None, data])
    return fixed.cast(pa.binary()).cast(pa.string())


def put_digits(chars: np.ndarray, column: int, values: np.ndarray, width: int) -> None:
    """Write ``values`` zero-padded to ``width`` digits into ``chars[:, column:column+width]``."""
    rest = values.astype(np.int64)
    for position in range(column + width - 1, column - 1, -1):
        chars[:, position] = _ZERO + rest % 10
        rest = rest // 10


def put_text(chars: np.ndarray, column: int, text: str) -> None:
    for offset, byte in enumerate(text.encode("ascii")):
        chars[:, column + offset] = byte


def digits(values: np.ndarray, width: int, prefix: str = "") -> pa.Array:
    """Non-negative integers zero-padded to ``width`` digits, after ``prefix``."""
    chars = np.empty((len(values), len(prefix) + width), dtype=np.uint8)
    put_text(chars, 0, prefix)
    put_digits(chars, len(prefix), values, width)
    return from_chars(chars)


def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Days since 1970-01-01 as (year, month, day)."""
    as_days = days.astype("datetime64[D]")
    months = as_days.astype("datetime64[M]")
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (as_days - months).astype(np.int64) + 1
    return year, month, day


def dates(days: np.ndarray, style: str = "iso") -> pa.Array:
    """Days since 1970-01-01 as ``2024-03-05`` (iso), ``03/05/2024`` (us) or ``20240305`` (compact)."""
    year, month, day = _civil(days)
    if style == "iso":
        chars = np.full((len(days), 10), ord("-"), dtype=np.uint8)
        put_digits(chars, 0, year, 4)
        put_digits(chars, 5, month, 2)
        put_digits(chars, 8, day, 2)
    elif style == "us":
        chars = np.full((len(days), 10), ord("/"), dtype=np.uint8)
        put_digits(chars, 0, month, 2)
        put_digits(chars, 3, day, 2)
        put_digits(chars, 6, year, 4)
    elif style == "compact":
        chars = np.empty((len(days), 8), dtype=np.uint8)
        put_digits(chars, 0, year * 10_000 + month * 100 + day, 8)
    else:
        raise ValueError(f"date style {style!r}: use 'iso', 'us' or 'compact'")
    return from_chars(chars)


def timestamps(seconds: np.ndarray, *, millis: np.ndarray | None = None) -> pa.Array:
    """Seconds since the epoch as ``2024-03-05 14:22:10``, or with ``millis`` as the
    ISO-8601 UTC form ``2024-03-05T14:22:10.123Z``."""
    seconds = seconds.astype(np.int64)
    days, second_of_day = np.divmod(seconds, SECONDS_PER_DAY)
    year, month, day = _civil(days)
    width = 19 if millis is None else 24
    chars = np.empty((len(seconds), width), dtype=np.uint8)
    put_digits(chars, 0, year, 4)
    put_text(chars, 4, "-")
    put_digits(chars, 5, month, 2)
    put_text(chars, 7, "-")
    put_digits(chars, 8, day, 2)
    put_text(chars, 10, " " if millis is None else "T")
    put_digits(chars, 11, second_of_day // 3600, 2)
    put_text(chars, 13, ":")
    put_digits(chars, 14, second_of_day // 60 % 60, 2)
    put_text(chars, 16, ":")
    put_digits(chars, 17, second_of_day % 60, 2)
    if millis is not None:
        put_text(chars, 19, ".")
        put_digits(chars, 20, millis, 3)
        put_text(chars, 23, "Z")
    return from_chars(chars)


def money(cents: np.ndarray) -> pa.Array:
    """Non-negative amounts in cents as ``12.30``."""
    cents = cents.astype(np.int64)
    whole = pc.cast(pa.array(cents // 100), pa.string())
    return concat(whole, ".", digits(cents % 100, 2))


def constant(text: str, count: int) -> pa.Array:
    """``text`` repeated ``count`` times."""
    if not text:
        return pc.cast(pa.nulls(count, pa.string()).fill_null(""), pa.string())
    chars = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    return from_chars(np.tile(chars, (count, 1)))


def booleans(flags: np.ndarray) -> pa.Array:
    return pc.if_else(pa.array(flags, pa.bool_()), "true", "false")


def integers(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values.astype(np.int64)), pa.string())


def concat(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of string arrays and constant strings."""
    return pc.binary_join_element_wise(*parts, "")


def blank_where(values: pa.Array, mask: np.ndarray) -> pa.Array:
    """``values`` with the entries under ``mask`` replaced by nulls (blank in CSV)."""
    return pc.if_else(pa.array(mask, pa.bool_()), pa.scalar(None, pa.string()), values)


def pick(pool: Sequence[str], index: np.ndarray) -> pa.Array:
    """``pool[index]`` for every index, as a string array."""
    return pa.array(pool, pa.string()).take(pa.array(index.astype(np.int64)))


def scatter(parts: Sequence[tuple[np.ndarray, pa.Array]], count: int) -> pa.Array:
    """Assemble one array of ``count`` values from (positions, values) parts that cover it."""
    positions = np.concatenate([where for where, _ in parts])
    if len(positions) != count:
        raise ValueError(f"parts cover {len(positions)} positions, expected {count}")
    joined = pa.concat_arrays([values.cast(pa.string()) for _, values in parts])
    return joined.take(pa.array(np.argsort(positions, kind="stable")))


def _csv_field(values: pa.Array) -> pa.Array:
    text = pc.fill_null(values.cast(pa.string()), "")
    needs_quotes = pc.match_substring_regex(text, '[",\r\n]')
    if not pc.any(needs_quotes).as_py():
        return text
    quoted = concat('"', pc.replace_substring(text, '"', '""'), '"')
    return pc.if_else(needs_quotes, quoted, text)


def _terminated(lines: pa.Array) -> memoryview:
    """The bytes of all ``lines``, each followed by a newline."""
    if lines.null_count:
        raise ValueError("cannot write null lines")
    terminated = pc.binary_join_element_wise(lines, "", "\n").cast(pa.large_string())
    _, offsets, data = terminated.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int64)[terminated.offset :][[0, len(terminated)]]
    return memoryview(data)[int(bounds[0]) : int(bounds[1])]


def write_lines(handle: BinaryIO, lines: pa.Array) -> None:
    """Write each string of ``lines`` followed by a newline, straight from Arrow's buffer."""
    if len(lines) == 0:
        return
    handle.write(_terminated(lines))


class CsvFile:
    """A CSV file written in slices: a header, then rows of Arrow columns.

    Fields are quoted only when they hold a comma, quote or line break; nulls are blank.
    """

    def __init__(self, path: Path, header: Sequence[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.rows = 0
        self._width = len(header)
        self._handle: BinaryIO = path.open("wb")
        self._handle.write((",".join(header) + "\n").encode("utf-8"))

    def write(self, columns: Sequence[pa.Array]) -> None:
        if len(columns) != self._width:
            raise ValueError(f"{self.path.name}: {len(columns)} columns, header has {self._width}")
        if len(columns[0]) == 0:
            return
        plain = [pc.fill_null(column.cast(pa.string()), "") for column in columns]
        data = _terminated(pc.binary_join_element_wise(*plain, ","))
        # checking the bytes with numpy is much cheaper than checking every field
        raw = np.frombuffer(data, dtype=np.uint8)
        rows = len(columns[0])
        plain_fields = (
            np.count_nonzero(raw == ord(",")) == rows * (self._width - 1)
            and np.count_nonzero(raw == ord("\n")) == rows
            and not np.count_nonzero(raw == ord('"'))
            and not np.count_nonzero(raw == ord("\r"))
        )
        if not plain_fields:
            quoted = [_csv_field(column) for column in columns]
            data = _terminated(pc.binary_join_element_wise(*quoted, ","))
        self._handle.write(data)
        self.rows += rows

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> CsvFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def slices(count: int, size: int) -> list[tuple[int, int]]:
    """``[start, stop)`` bounds that cut ``count`` rows into slices of at most ``size``."""
    return [(start, min(start + size, count)) for start in range(0, count, size)]
