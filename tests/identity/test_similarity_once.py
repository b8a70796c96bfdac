"""Splink's comparison levels with each similarity computed once give the same levels, the
same model and the same pairs, to the last bit, and the rewrite does happen."""

from __future__ import annotations

import duckdb
import pytest
from splink.backends.duckdb import DuckDBAPI

from personae.identity import similarity_once
from personae.identity.fuzzy import FuzzyMatcher
from personae.identity.similarity_once import COMPARISON_VECTORS, similarities_once
from tests.identity.test_fuzzy import WITH_SSN, febrl

LEVELS = f"""
WITH pairs AS (SELECT * FROM (VALUES
    ('anna', 'anna', 'smith', 'smyth'), ('anna', 'ann', NULL, 'jones'), ('bob', 'robert', 'lee', 'leigh'),
    (NULL, 'x', 'o''brien (jr)', 'obrien'), ('kristine', 'christine', 'nguyen', 'nguyen')
) AS t(first_name_l, first_name_r, last_name_l, last_name_r)),
{COMPARISON_VECTORS} AS (
    select
    CASE WHEN "first_name_l" IS NULL OR "first_name_r" IS NULL THEN -1
        WHEN "first_name_l" = "first_name_r" THEN 3
        WHEN jaro_winkler_similarity("first_name_l", "first_name_r") >= 0.92 THEN 2
        WHEN jaro_winkler_similarity("first_name_l", "first_name_r") >= 0.7 THEN 1 ELSE 0 END as gamma_first_name,
    CASE WHEN levenshtein("last_name_l", "last_name_r") <= 1 THEN 2
        WHEN levenshtein("last_name_l", "last_name_r") <= 2 THEN 1
        WHEN jaro_winkler_similarity("first_name_l", "last_name_r") >= 0.9 THEN 9 ELSE 0 END as gamma_last_name,
    ')' AS quoted_paren
    from pairs
)
SELECT * FROM {COMPARISON_VECTORS} ORDER BY ALL
"""


def test_repeated_similarities_are_computed_once_and_the_levels_do_not_change() -> None:
    rewritten = similarities_once(LEVELS)
    levels = rewritten[rewritten.index(COMPARISON_VECTORS + " AS (") :]
    assert levels.count('jaro_winkler_similarity("first_name_l", "first_name_r")') == 1  # beneath, once
    assert levels.count('levenshtein("last_name_l", "last_name_r")') == 1
    assert levels.count('jaro_winkler_similarity("first_name_l", "last_name_r")') == 1  # once already: left as is
    assert "from pairs) AS pairs" in levels
    with duckdb.connect() as con:
        assert con.sql(rewritten).fetchall() == con.sql(LEVELS).fetchall()
        assert len(con.sql(LEVELS).fetchall()) == 5


TWICE = 'levenshtein("a", "b") = 1 or levenshtein("a", "b") = 2'


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT jaro_winkler_similarity(a, b), jaro_winkler_similarity(a, b) FROM t",  # not the levels
        f'WITH {COMPARISON_VECTORS} AS (select levenshtein("a", "b") as g from t) SELECT 1',  # called once
        f"WITH {COMPARISON_VECTORS} AS (select {TWICE} from t, u) SELECT 1",  # over a join
    ],
)
def test_other_statements_run_as_splink_wrote_them(sql: str) -> None:
    assert similarities_once(sql) == sql


def test_a_model_and_its_pairs_are_the_same_to_the_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    records = febrl("febrl1")
    changed: list[str] = []

    def recorded(sql: str) -> str:
        once = similarities_once(sql)
        if once != sql:
            changed.append(once)
        return once

    monkeypatch.setattr(similarity_once, "similarities_once", recorded)
    once = FuzzyMatcher(WITH_SSN).fit(records)
    pairs = once.predict(records)
    assert len(changed) >= 2  # the training's levels and the prediction's
    monkeypatch.setattr(similarity_once, "SimilarityOnceDuckDBAPI", DuckDBAPI)  # Splink's own statements
    plain = FuzzyMatcher(WITH_SSN).fit(records)
    assert plain.model_ == once.model_
    assert plain.predict(records).equals(pairs) and pairs.num_rows > 100
