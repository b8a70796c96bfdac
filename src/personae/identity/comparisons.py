"""How each customer-record column is cleaned and compared for probabilistic matching.

Every column that :mod:`personae.identity.fuzzy` can compare has a :class:`ColumnRule`:
the *kind* of clean-up applied to its values before matching (lower-case, trim, keep only
digits of a phone number, parse a birth date) and the Splink comparison that grades how
similar two values are (exact, close, further, different, or NULL on either side).

The cleaning is done in Arrow, before the data reaches any engine, so that DuckDB and
Spark see the same values; the comparisons are Splink *creators*, which Splink renders in
the SQL dialect of whichever backend runs them.

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

import pyarrow as pa
import pyarrow.compute as pc
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import ColumnExpression
from splink.internals.comparison_creator import ComparisonCreator

Kind = Literal["text", "code", "phone", "email", "date"]


@dataclass(frozen=True)
class ColumnRule:
    """How one column is cleaned (``kind``) and compared (``comparison``)."""

    kind: Kind
    comparison: Callable[[str], ComparisonCreator]


def name_comparison(column: str) -> ComparisonCreator:
    """Exact (weighted by how common the name is), Jaro-Winkler ≥ 0.92, ≥ 0.88, ≥ 0.7, else."""
    return cl.NameComparison(column)


def birth_date_comparison(column: str) -> ComparisonCreator:
    """Exact, one digit wrong or two swapped, else.

    Splink's ``DateOfBirthComparison`` also has levels for dates a month or a year apart,
    but true duplicates almost never land there (none of Febrl's 500 pairs in febrl1), so
    their weights could not be learnt from customer-sized data.
    """
    as_text = ColumnExpression(column).cast_to_string()
    return cl.CustomComparison(
        [
            cll.NullLevel(column),
            cll.ExactMatchLevel(column).configure(label_for_charts="Exact match"),
            cll.DamerauLevenshteinLevel(as_text, 1).configure(
                label_for_charts="One digit wrong or two digits swapped"
            ),
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


# Characters removed from each kind before comparison (after lower-casing).
_STRIP_PATTERN: Mapping[Kind, str] = MappingProxyType(
    {
        "text": r"[\s\-'.,]+",  # collapsed to one space, see clean_column
        "code": r"[^0-9a-z]+",
        "phone": r"[^0-9+]+",
        "email": r"\s+",
    }
)


def clean_column(values: pa.ChunkedArray, kind: Kind) -> pa.ChunkedArray:
    """Lower-case and trim ``values`` for ``kind``; blanks become NULL.

    Text keeps single spaces between words; codes keep only letters and digits; phones
    keep digits and ``+``; dates become ``date32`` (strings must be ISO ``YYYY-MM-DD``,
    anything unparseable becomes NULL).

    >>> clean_column(pa.chunked_array([["  Mary-Ann ", "", None]]), "text").to_pylist()
    ['mary ann', None, None]
    >>> clean_column(pa.chunked_array([["+44 (20) 7946-0958"]]), "phone").to_pylist()
    ['+442079460958']
    """
    if kind == "date":
        return _clean_date(values)
    text = values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
    text = pc.utf8_lower(text)
    replacement = " " if kind == "text" else ""
    text = pc.replace_substring_regex(text, _STRIP_PATTERN[kind], replacement)
    text = pc.utf8_trim_whitespace(text)
    blank = pc.equal(text, "")
    cleaned: pa.ChunkedArray = pc.if_else(blank, pa.scalar(None, pa.string()), text)
    return cleaned


def _clean_date(values: pa.ChunkedArray) -> pa.ChunkedArray:
    kind = values.type
    if pa.types.is_date32(kind):
        return values
    if pa.types.is_date(kind) or pa.types.is_timestamp(kind):
        cast: pa.ChunkedArray = pc.cast(values, pa.date32())
        return cast
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        trimmed = pc.utf8_trim_whitespace(values)
        parsed = pc.strptime(trimmed, format="%Y-%m-%d", unit="s", error_is_null=True)
        dates: pa.ChunkedArray = pc.cast(parsed, pa.date32())
        return dates
    raise TypeError(
        f"a birth date column must hold dates or ISO 'YYYY-MM-DD' strings, not {kind}; "
        "cast it to date32 first"
    )
