"""Cleaning compared columns before matching: one rule per cleaning kind, in Arrow.

The cleaning is done in Arrow, before the data reaches any engine, so that DuckDB and
Spark see the same values. Which cleaning a column gets follows from its comparison kind
(:data:`personae.identity.comparisons.COMPARISON_KINDS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from personae.errors import FuzzyInputError
from personae.identity.comparisons import COMPARISON_KINDS, KEY, Kind
from personae.sources.normalise import phone_sql

# What is dropped from each kind of value (after lower-casing); text also has runs of
# spaces, hyphens, commas and slashes made one space ("mary-ann" -> "mary ann").
_STRIP_PATTERN: Mapping[Kind, str] = MappingProxyType(
    {
        "text": "['\u2019.]+",  # apostrophes (straight and curly) and dots
        "code": r"[^0-9a-z]+",
        "email": r"\s+",
    }
)
_WORD_BREAKS = r"[\s\-,/]+"


def clean_column(values: pa.ChunkedArray, kind: Kind, *, phone_region: str = "US") -> pa.ChunkedArray:
    """Lower-case and trim ``values`` for ``kind``; blanks become NULL.

    Text keeps single spaces between words; codes keep only letters and digits; phones
    become E.164 as at ingest (national numbers take ``phone_region``'s country code, so
    ``(312) 776-1546`` and ``+1 312 776 1546`` agree); dates become ``date32`` (strings
    must be ISO ``YYYY-MM-DD``, anything unparseable becomes NULL); numbers become float64
    (text that is not a number becomes NULL).

    >>> clean_column(pa.chunked_array([["  Mary-Ann ", "O'Brien", "", None]]), "text").to_pylist()
    ['mary ann', 'obrien', None, None]
    >>> clean_column(pa.chunked_array([["+44 (20) 7946-0958", "312.776.1546"]]), "phone").to_pylist()
    ['+442079460958', '+13127761546']
    """
    if kind == "date":
        return _clean_date(values)
    if kind == "numeric":
        return _clean_number(values)
    if kind == "phone":
        return _clean_phone(values, phone_region)
    text = values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
    text = pc.replace_substring_regex(pc.utf8_lower(text), _STRIP_PATTERN[kind], "")
    if kind == "text":
        text = pc.replace_substring_regex(text, _WORD_BREAKS, " ")
    text = pc.utf8_trim_whitespace(text)
    blank = pc.equal(text, "")
    cleaned: pa.ChunkedArray = pc.if_else(blank, pa.scalar(None, pa.string()), text)
    return cleaned


def _clean_phone(values: pa.ChunkedArray, region: str) -> pa.ChunkedArray:
    """E.164 by the ingest rule (:func:`personae.sources.normalise.phone_sql`), NULL if none."""
    text = values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
    with duckdb.connect() as connection:
        connection.register("phones", pa.table({"phone": text}))
        # A bare projection keeps the rows in order (DuckDB preserves insertion order).
        cleaned = connection.sql(f"SELECT {phone_sql('phone', region)} AS phone FROM phones").to_arrow_table()
    return cleaned.column("phone")


def _clean_number(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """Numbers as float64; text that is not a number (after trimming) becomes NULL."""
    kind = values.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind) or pa.types.is_null(kind):
        numbers: pa.ChunkedArray = pc.cast(values, pa.float64())
        return numbers
    text = values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
    with duckdb.connect() as connection:
        connection.register("numbers", pa.table({"value": text}))
        parsed = connection.sql("SELECT TRY_CAST(trim(value) AS DOUBLE) AS value FROM numbers").to_arrow_table()
    return parsed.column("value")


def _clean_date(values: pa.ChunkedArray) -> pa.ChunkedArray:
    kind = values.type
    if pa.types.is_date32(kind):
        return values
    if pa.types.is_date(kind) or pa.types.is_timestamp(kind) or pa.types.is_null(kind):
        cast: pa.ChunkedArray = pc.cast(values, pa.date32())
        return cast
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        trimmed = pc.utf8_trim_whitespace(values)
        parsed = pc.cast(pc.strptime(trimmed, format="%Y-%m-%d", unit="s", error_is_null=True), pa.date32())
        # strptime rolls impossible days over ('2001-02-30' -> 2001-03-02): keep round trips only
        exact = pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), trimmed)
        dates: pa.ChunkedArray = pc.if_else(exact, parsed, pa.scalar(None, pa.date32()))
        return dates
    raise TypeError(
        f"a birth date column must hold dates or ISO 'YYYY-MM-DD' strings, not {kind}; cast it to date32 first"
    )


def prepare_records(records: pa.Table, comparisons: Mapping[str, str], *, phone_region: str = "US") -> pa.Table:
    """``record_key`` and the compared columns of ``records`` (``comparisons``: column -> kind), cleaned."""
    if not isinstance(records, pa.Table):
        raise FuzzyInputError(f"records must be a pyarrow.Table, not {type(records).__name__}")
    names = set(records.column_names)
    if KEY not in names:
        raise FuzzyInputError(
            f"records have no {KEY!r} column (columns: {sorted(names)}); add a unique string key per record"
        )
    missing = [c for c in comparisons if c not in names]
    if missing:
        raise FuzzyInputError(
            f"records have no column(s) {missing} that the fuzzy settings compare; add them "
            "(all NULL is fine) or leave them out of the fuzzy settings' comparisons"
        )
    keys = records.column(KEY)
    if not (pa.types.is_string(keys.type) or pa.types.is_large_string(keys.type)):
        raise FuzzyInputError(f"{KEY} must be a string column, not {keys.type}; cast it to string")
    if keys.null_count:
        raise FuzzyInputError(f"{keys.null_count} record(s) have a NULL {KEY}; give every record a key")
    counts = pc.value_counts(keys)
    repeated = counts.filter(pc.greater(counts.field("counts"), 1)).field("values")
    if len(repeated):
        shown = ", ".join(repr(k) for k in repeated.to_pylist()[:5])
        raise FuzzyInputError(
            f"{KEY} must be unique, but {len(repeated)} key(s) repeat ({shown}); deduplicate the records"
        )
    cleaned = {KEY: pc.cast(keys, pa.string())}
    for column, kind in comparisons.items():
        cleaning = COMPARISON_KINDS[kind].cleaning
        try:
            cleaned[column] = clean_column(records.column(column), cleaning, phone_region=phone_region)
        except (TypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise FuzzyInputError(f"column {column!r} cannot be cleaned for matching: {error}") from error
    return pa.table(cleaned)
