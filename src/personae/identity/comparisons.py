"""How each customer-record column is cleaned and compared for probabilistic matching.

Every column that :mod:`personae.identity.fuzzy` can compare has a :class:`ColumnRule`:
the *kind* of clean-up applied to its values before matching (lower-case, trim, keep only
digits of a phone number, parse a birth date) and the Splink comparison that grades how
similar two values are (exact, close, further, different, or NULL on either side).

The cleaning is done in Arrow, before the data reaches any engine, so that DuckDB and
Spark see the same values; the comparisons are Splink *creators*, which Splink renders in
the SQL dialect of whichever backend runs them. Reading a fitted model back is
:mod:`personae.identity.splink_model`.

    >>> sorted(COLUMN_RULES)[:3]
    ['birth_date', 'city', 'country']
    >>> rule_for("soc_sec_id", extra=True).kind
    'code'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink.internals.comparison_creator import ComparisonCreator

from personae.errors import FuzzyInputError
from personae.sources.normalise import phone_sql

Kind = Literal["text", "code", "phone", "email", "date"]

KEY = "record_key"
"""The column that identifies each record given to the matcher (unique strings)."""


@dataclass(frozen=True)
class ColumnRule:
    """How one column is cleaned (``kind``) and compared (``comparison``)."""

    kind: Kind
    comparison: Callable[[str], ComparisonCreator]


def name_comparison(column: str) -> ComparisonCreator:
    """Exact (weighted by how common the name is), Jaro-Winkler ≥ 0.92, ≥ 0.88, ≥ 0.7, else."""
    return cl.NameComparison(column)


def first_name_with_swap(column: str, last: str = "last_name") -> ComparisonCreator:
    """:func:`name_comparison` plus a level for first and last name swapped, after exact.

    Only the first-name comparison has it, so a swap counts once: the last-name comparison
    sees such a pair as different names. On 100,000 demo CRM records 19 of 103 missed true
    pairs were swaps; the level took F1 from 0.9876 to 0.9903 (febrl3 without its
    identifier: 0.9911 to 0.9937).
    """
    levels = cl.NameComparison(column).create_comparison_levels()
    condition = f'"{column}_l" = "{last}_r" AND "{last}_l" = "{column}_r"'
    swapped = cll.CustomLevel(condition, "First and last name swapped", base_dialect_str="duckdb")
    return cl.CustomComparison([*levels[:2], swapped, *levels[2:]], output_column_name=column)


def comparison_for(column: str, columns: tuple[str, ...], extra: tuple[str, ...]) -> ComparisonCreator:
    """The comparison of ``column`` when ``columns`` are compared (``extra`` as identifiers)."""
    if column == "first_name" and "last_name" in columns and column not in extra:
        return first_name_with_swap(column)
    return rule_for(column, extra=column in extra).comparison(column)


def birth_date_comparison(column: str) -> ComparisonCreator:
    """Exact, one digit wrong or two swapped, else.

    Splink's ``DateOfBirthComparison`` also has levels for dates a month or a year apart,
    but true duplicates almost never land there (none of Febrl's 500 pairs in febrl1), so
    their weights could not be learnt from customer-sized data.
    """
    left, right = f'"{column}_l"', f'"{column}_r"'
    # Damerau-Levenshtein costs six times Levenshtein in DuckDB; one edit of an ISO date
    # leaves its year or its month and day alike, so only such pairs (a few %) pay for it.
    one_edit = (
        f"CASE WHEN year({left}) = year({right}) OR (month({left}) = month({right}) AND day({left}) = day({right})) "
        f"THEN damerau_levenshtein(CAST({left} AS TEXT), CAST({right} AS TEXT)) <= 1 ELSE FALSE END"
    )
    return cl.CustomComparison(
        [
            cll.NullLevel(column),
            cll.ExactMatchLevel(column).configure(label_for_charts="Exact match"),
            cll.CustomLevel(one_edit, "One digit wrong or two digits swapped", base_dialect_str="duckdb"),
            cll.ElseLevel(),
        ],
        output_column_name=column,
    )


def address_comparison(column: str) -> ComparisonCreator:
    """Street or city: exact, Jaro-Winkler ≥ 0.95, ≥ 0.88, else."""
    return cl.JaroWinklerAtThresholds(column, [0.95, 0.88])


def code_comparison(column: str) -> ComparisonCreator:
    """Postcodes and identifiers: exact, one or two typed characters apart, else."""
    return cl.LevenshteinAtThresholds(column, [1, 2])


def phone_comparison(column: str) -> ComparisonCreator:
    """E.164 numbers: exact, one digit wrong or swapped, else."""
    return cl.LevenshteinAtThresholds(column, [1])


def exact_comparison(column: str) -> ComparisonCreator:
    """Categorical values (gender, country): same or not."""
    return cl.ExactMatch(column)


def email_comparison(column: str) -> ComparisonCreator:
    """Exact, same user name, close, close user name, else."""
    return cl.EmailComparison(column)


COLUMN_RULES: Mapping[str, ColumnRule] = MappingProxyType(
    {
        "first_name": ColumnRule("text", name_comparison),
        "last_name": ColumnRule("text", name_comparison),
        "birth_date": ColumnRule("date", birth_date_comparison),
        "gender": ColumnRule("text", exact_comparison),
        "street": ColumnRule("text", address_comparison),
        "city": ColumnRule("text", address_comparison),
        "postcode": ColumnRule("code", code_comparison),
        "country": ColumnRule("text", exact_comparison),
        "email": ColumnRule("email", email_comparison),
        "phone": ColumnRule("phone", phone_comparison),
    }
)
"""The record columns personae knows how to compare, by name."""

IDENTIFIER_RULE = ColumnRule("code", code_comparison)
"""The rule for ``extra_columns``: identifiers compared exactly or with a typo or two."""


def rule_for(column: str, *, extra: bool) -> ColumnRule:
    """The rule of a compared column; ``extra`` columns are compared as identifiers.

    Raises ``KeyError`` with the known names when a non-extra column has no rule.
    """
    if extra:
        return IDENTIFIER_RULE
    try:
        return COLUMN_RULES[column]
    except KeyError:
        known = ", ".join(sorted(COLUMN_RULES))
        raise KeyError(
            f"no comparison is defined for column {column!r}; known columns are {known}. "
            "Compare other columns as identifiers with FuzzySettings(extra_columns=(...))"
        ) from None


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
    must be ISO ``YYYY-MM-DD``, anything unparseable becomes NULL).

    >>> clean_column(pa.chunked_array([["  Mary-Ann ", "O'Brien", "", None]]), "text").to_pylist()
    ['mary ann', 'obrien', None, None]
    >>> clean_column(pa.chunked_array([["+44 (20) 7946-0958", "312.776.1546"]]), "phone").to_pylist()
    ['+442079460958', '+13127761546']
    """
    if kind == "date":
        return _clean_date(values)
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


def prepare_records(
    records: pa.Table, columns: tuple[str, ...], extra: tuple[str, ...], *, phone_region: str = "US"
) -> pa.Table:
    """``record_key`` and the compared columns of ``records``, cleaned for matching."""
    if not isinstance(records, pa.Table):
        raise FuzzyInputError(f"records must be a pyarrow.Table, not {type(records).__name__}")
    names = set(records.column_names)
    if KEY not in names:
        raise FuzzyInputError(
            f"records have no {KEY!r} column (columns: {sorted(names)}); add a unique string key per record"
        )
    missing = [c for c in columns if c not in names]
    if missing:
        raise FuzzyInputError(
            f"records have no column(s) {missing} that the fuzzy settings compare; add them "
            "(all NULL is fine) or remove them from FuzzySettings.columns/extra_columns"
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
    for column in columns:
        rule = rule_for(column, extra=column in extra)
        try:
            cleaned[column] = clean_column(records.column(column), rule.kind, phone_region=phone_region)
        except (TypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise FuzzyInputError(f"column {column!r} cannot be cleaned for matching: {error}") from error
    return pa.table(cleaned)
