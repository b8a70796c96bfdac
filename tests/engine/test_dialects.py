"""Transpilation to Spark: golden SQL for the declared rewrites, and declared gaps raise."""

from __future__ import annotations

import pytest

from personae.engine.dialects import UNSUPPORTED, transpile
from personae.errors import EngineError, UnsupportedFeature

GOLDEN = [
    (
        "SELECT try_strptime(d, '%d/%m/%Y %H:%M') FROM t",
        "SELECT TRY_TO_TIMESTAMP(d, 'dd/MM/yyyy HH:mm') FROM t",
    ),
    (
        "SELECT json_valid(line) FROM t",
        "SELECT (NOT GET_JSON_OBJECT(line, '$') IS NULL) FROM t",
    ),
    (
        "SELECT json_object('a', x, 'b', y) FROM t",
        "SELECT TO_JSON(NAMED_STRUCT('a', x, 'b', y), MAP('ignoreNullFields', 'false')) FROM t",
    ),
    (
        "SELECT line ->> '$.userId' FROM t",
        "SELECT GET_JSON_OBJECT(line, '$.userId') FROM t",
    ),
    (
        "SELECT TRY_CAST(a AS DECIMAL(18,2)), regexp_replace(p, '[^0-9]', '', 'g') FROM t",
        "SELECT TRY_CAST(a AS DECIMAL(18, 2)), REGEXP_REPLACE(p, '[^0-9]', '') FROM t",
    ),
    (  # a list of paths (one parse in DuckDB) is an array of get_json_object; lists count from 1, arrays from 0
        "SELECT v[2], CAST(j[1] AS VARCHAR) FROM (SELECT json_extract_string(line, ['$.a', '$.b.c']) AS v, "
        "json_extract(line, ['$.p']) AS j, json_extract(line, '$.q') AS q FROM t)",
        "SELECT v[1], CAST(j[0] AS STRING) FROM (SELECT ARRAY(GET_JSON_OBJECT(line, '$.a'), "
        "GET_JSON_OBJECT(line, '$.b.c')) AS v, ARRAY(GET_JSON_OBJECT(line, '$.p')) AS j, "
        "GET_JSON_OBJECT(line, '$.q') AS q FROM t)",
    ),
    (
        "SELECT quantile_cont(revenue, 0.95) FROM t",
        "SELECT PERCENTILE(revenue, 0.95) FROM t",
    ),
]


@pytest.mark.parametrize(("duckdb_sql", "spark_sql"), GOLDEN)
def test_spark_transpilation_golden(duckdb_sql: str, spark_sql: str) -> None:
    assert transpile(duckdb_sql, "spark") == spark_sql


def test_duckdb_gets_sql_unchanged() -> None:
    sql = "SELECT json_object('a', 1) FROM read_csv('x.csv')"
    assert transpile(sql, "duckdb") == sql


@pytest.mark.parametrize("function", sorted(UNSUPPORTED["spark"]))
def test_declared_gaps_raise_naming_engine_and_feature(function: str) -> None:
    with pytest.raises(UnsupportedFeature, match=rf"engine 'spark' does not support {function}\(\)"):
        transpile(f"SELECT * FROM {function}('x')", "spark")


def test_unparseable_sql_is_an_engine_error_with_the_sql() -> None:
    with pytest.raises(EngineError) as caught:
        transpile("SELECT FROM WHERE (", "spark")
    assert caught.value.sql == "SELECT FROM WHERE ("
