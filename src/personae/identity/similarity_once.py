"""Each string similarity of a record pair computed once, not once per comparison level.

Splink writes a comparison as a ``CASE`` with one ``WHEN`` per level, each calling the
similarity again: ``WHEN jaro_winkler_similarity("first_name_l", "first_name_r") >= 0.92
THEN 4 WHEN jaro_winkler_similarity("first_name_l", "first_name_r") >= 0.88 THEN 2 WHEN …
>= 0.7 THEN 1``. DuckDB does not share the calls between the branches, so a pair that meets
none of the levels (nearly every blocked pair is two different people) computes the same
similarity three times. On 5M name pairs such a ``CASE`` took 0.70 s, and 0.28 s with the
similarity computed once beneath it. At 1M customers the prediction scores 10.8M blocked
pairs per chunk of 250,000 records, and the comparison levels were most of its time
(bench/RESULTS.md, 2026-12-06).

:class:`SimilarityOnceDuckDBAPI` is Splink's DuckDB API with one change: in the relation of
comparison levels (:data:`COMPARISON_VECTORS`), each similarity call that occurs more than
once is computed once, as a column of a projection over the relation it reads, and the
``CASE`` branches compare that column. The values are the same (a similarity is a pure
function of its arguments: computing it for a pair an earlier branch decided changes only
the work), and the rest of the statement is left as Splink wrote it, to the byte. A
statement whose text is not of the expected shape runs unchanged.
"""

from __future__ import annotations

import re
from collections import Counter

import duckdb
from splink.backends.duckdb import DuckDBAPI

COMPARISON_VECTORS = "__splink__df_comparison_vectors"
"""Splink's name for the relation of each pair's comparison levels (the ``gamma_`` columns)."""
_START = re.compile(re.escape(COMPARISON_VECTORS) + r"\s+as\s+\(", re.IGNORECASE)
_CALL = re.compile(
    r'\b(?:jaro_winkler_similarity|jaro_similarity|levenshtein|damerau_levenshtein|jaccard)\(\s*"[^"]+"\s*,\s*"[^"]+"\s*\)',
    re.IGNORECASE,
)
"""A similarity of two columns, as Splink's comparison levels call them."""
_READS = re.compile(r"\bfrom\s+([A-Za-z_][A-Za-z_0-9]*)\s*$", re.IGNORECASE)
"""The one relation the comparison levels are computed over, at the end of their select."""
COLUMN_PREFIX = "__personae_similarity_"


def _closing(sql: str, start: int) -> int | None:
    """The index of the parenthesis that closes the one at ``start`` (quotes skipped)."""
    depth, quote = 0, ""
    for index in range(start, len(sql)):
        char = sql[index]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index
    return None


def similarities_once(sql: str) -> str:
    """``sql`` with the comparison levels' repeated similarity calls computed once (see the
    module's docstring); any other statement as it is."""
    found = _START.search(sql)
    if found is None:
        return sql
    opening = found.end() - 1
    closing = _closing(sql, opening)
    if closing is None:
        return sql
    body = sql[opening + 1 : closing]
    reads = _READS.search(body)
    counts = Counter(call.group(0) for call in _CALL.finditer(body))
    repeated = [call for call, count in counts.items() if count > 1]
    if reads is None or not repeated:
        return sql
    names = {call: f"{COLUMN_PREFIX}{number}" for number, call in enumerate(repeated, 1)}
    levels = _CALL.sub(lambda call: names.get(call.group(0), call.group(0)), body[: reads.start()])
    relation = reads.group(1)
    computed = ", ".join(f"{call} AS {name}" for call, name in names.items())
    beneath = f"from (select *, {computed} from {relation}) AS {relation}"
    return f"{sql[: opening + 1]}{levels}{beneath}{sql[closing:]}"


class SimilarityOnceDuckDBAPI(DuckDBAPI):
    """Splink's DuckDB API, with each pair's similarities computed once (:func:`similarities_once`)."""

    def _execute_sql_against_backend(self, final_sql: str) -> duckdb.DuckDBPyRelation:
        return super()._execute_sql_against_backend(similarities_once(final_sql))
