"""The comparison kinds of the fuzzy matcher: how a compared column is cleaned and graded.

``[identity.fuzzy.compare]`` in ``personae.toml`` names, for each compared column, one of
the kinds in :data:`COMPARISON_KINDS`; a kind says how values are cleaned before matching
(lower-case, trim, keep only digits of a phone number, parse a date: see
:mod:`personae.identity.cleaning`) and which Splink comparison grades two values (exact,
close, further, different, or NULL on either side). Columns left to the defaults take
their kind from :data:`DEFAULT_KINDS`.

The comparisons are Splink *creators*, which Splink renders in the SQL dialect of
whichever backend runs them. Reading a fitted model back is
:mod:`personae.identity.splink_model`.

    >>> sorted(COMPARISON_KINDS)[:4]
    ['address', 'date', 'email', 'exact']
    >>> DEFAULT_KINDS["postcode"]
    'postcode'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink.internals.column_expression import ColumnExpression
from splink.internals.comparison_creator import ComparisonCreator
from splink.internals.comparison_level_creator import ComparisonLevelCreator
from splink.internals.dialects import SplinkDialect

Kind = Literal["text", "code", "phone", "email", "date", "numeric"]
"""How values are cleaned before they are compared (see :mod:`personae.identity.cleaning`)."""

KEY = "record_key"
"""The column that identifies each record given to the matcher (unique strings)."""


@dataclass(frozen=True)
class ComparisonKind:
    """How a column of this kind is cleaned (``cleaning``) and compared (``comparison``)."""

    cleaning: Kind
    comparison: Callable[[str], ComparisonCreator]
    levels: str
    """The levels, from the closest agreement down, for the docs and error messages."""


def name_comparison(column: str) -> ComparisonCreator:
    """Exact (weighted by how common the name is), Jaro-Winkler ≥ 0.92, ≥ 0.88, ≥ 0.7, else."""
    return cl.NameComparison(column)


SWAPPED_ALIKE = 0.88
"""Jaro-Winkler similarity each swapped name must reach for "names swapped, spelt alike"."""


class SwappedAlikeLevel(ComparisonLevelCreator):
    """First name like the other's last name and last name like the other's first name.

    Written per dialect (Splink's Jaro-Winkler function has a different name on each), as
    Splink's own levels are; a custom level's SQL would be transpiled to a function Spark lacks.
    """

    def __init__(self, first: str, last: str, threshold: float) -> None:
        self.first, self.last, self.threshold = first, last, threshold

    def create_sql(self, sql_dialect: SplinkDialect) -> str:
        first, last = ColumnExpression(self.first, sql_dialect), ColumnExpression(self.last, sql_dialect)
        function = sql_dialect.jaro_winkler_function_name
        return (
            f"{function}({first.name_l}, {last.name_r}) >= {self.threshold} "
            f"AND {function}({last.name_l}, {first.name_r}) >= {self.threshold}"
        )

    def create_label_for_charts(self) -> str:
        return "Names swapped, spelt alike"


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
    swapped_close = SwappedAlikeLevel(column, last, SWAPPED_ALIKE)
    return cl.CustomComparison(
        [*levels[:2], swapped, *levels[2:3], swapped_close, *levels[3:]], output_column_name=column
    )


def date_comparison(column: str) -> ComparisonCreator:
    """Exact, one digit wrong or two swapped, day and month swapped, else.

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
    swapped = (
        f"year({left}) = year({right}) AND month({left}) = day({right}) AND day({left}) = month({right}) "
        f"AND month({left}) <> day({left})"
    )
    return cl.CustomComparison(
        [
            cll.NullLevel(column),
            cll.ExactMatchLevel(column).configure(label_for_charts="Exact match"),
            cll.CustomLevel(one_edit, "One digit wrong or two digits swapped", base_dialect_str="duckdb"),
            cll.CustomLevel(swapped, "Day and month swapped", base_dialect_str="duckdb"),
            cll.ElseLevel(),
        ],
        output_column_name=column,
    )


def address_comparison(column: str) -> ComparisonCreator:
    """Street or city: exact, Jaro-Winkler ≥ 0.95, ≥ 0.88, else."""
    return cl.JaroWinklerAtThresholds(column, [0.95, 0.88])


def postcode_comparison(column: str) -> ComparisonCreator:
    """Postcodes: exact, one or two typed characters apart, else."""
    return cl.LevenshteinAtThresholds(column, [1, 2])


def identifier_comparison(column: str) -> ComparisonCreator:
    """National ids, account numbers: exact, one typed character apart, else."""
    return cl.LevenshteinAtThresholds(column, [1])


def phone_comparison(column: str) -> ComparisonCreator:
    """E.164 numbers: exact, one digit wrong or swapped, else."""
    return cl.LevenshteinAtThresholds(column, [1])


def exact_comparison(column: str) -> ComparisonCreator:
    """Categorical values (gender, country): same or not."""
    return cl.ExactMatch(column)


def email_comparison(column: str) -> ComparisonCreator:
    """Exact, same user name, close, close user name, else."""
    return cl.EmailComparison(column)


def numeric_comparison(column: str) -> ComparisonCreator:
    """Numbers (a street number, a height): exact, within 1 %, within 10 %, else."""
    return cl.CustomComparison(
        [
            cll.NullLevel(column),
            cll.ExactMatchLevel(column).configure(label_for_charts="Exact match"),
            cll.PercentageDifferenceLevel(column, 0.01),
            cll.PercentageDifferenceLevel(column, 0.1),
            cll.ElseLevel(),
        ],
        output_column_name=column,
    )


COMPARISON_KINDS: Mapping[str, ComparisonKind] = MappingProxyType(
    {
        "exact": ComparisonKind("text", exact_comparison, "same or not"),
        "name": ComparisonKind("text", name_comparison, "exact, Jaro-Winkler ≥ 0.92, ≥ 0.88, ≥ 0.7, else"),
        "date": ComparisonKind(
            "date", date_comparison, "exact, one digit wrong or two swapped, day and month swapped, else"
        ),
        "address": ComparisonKind("text", address_comparison, "exact, Jaro-Winkler ≥ 0.95, ≥ 0.88, else"),
        "postcode": ComparisonKind("code", postcode_comparison, "exact, one or two characters apart, else"),
        "phone": ComparisonKind("phone", phone_comparison, "same E.164 number, one digit apart, else"),
        "email": ComparisonKind("email", email_comparison, "exact, same user name, close, close user name, else"),
        "numeric": ComparisonKind("numeric", numeric_comparison, "exact, within 1 %, within 10 %, else"),
        "identifier": ComparisonKind("code", identifier_comparison, "exact, one character apart, else"),
    }
)
"""Every comparison kind, by the name ``[identity.fuzzy.compare]`` gives it."""

DEFAULT_KINDS: Mapping[str, str] = MappingProxyType(
    {
        "first_name": "name",
        "last_name": "name",
        "birth_date": "date",
        "gender": "exact",
        "street": "address",
        "city": "address",
        "postcode": "postcode",
        "country": "exact",
        "email": "email",
        "phone": "phone",
    }
)
"""The kind of each ``customer_records`` column that ``columns`` may name without a kind."""

IDENTIFIER_KIND = "identifier"
"""The kind of ``extra_columns``; a column of this kind also blocks pairs by exact match."""


def comparison_for(column: str, comparisons: Mapping[str, str]) -> ComparisonCreator:
    """The Splink comparison of ``column`` among ``comparisons`` (column -> kind).

    A first-name ``name`` comparison beside a last-name one gets a swapped-names level.
    """
    kind = comparisons[column]
    if column == "first_name" and kind == "name" and comparisons.get("last_name") == "name":
        return first_name_with_swap(column)
    return COMPARISON_KINDS[kind].comparison(column)
