"""Transpilation to Spark: golden SQL for the declared rewrites, and declared gaps raise."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
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
    (  # a list of paths (one parse in DuckDB) is one from_json bound by a lambda; lists count from 1, arrays from 0
        "SELECT v[2], CAST(j[1] AS VARCHAR) FROM (SELECT json_extract_string(line, ['$.a', '$.b.c', '$.b.d']) AS v, "
        "json_extract(line, ['$.p']) AS j, json_extract(line, '$.q') AS q FROM t)",
        "SELECT v[1], CAST(j[0] AS STRING) FROM (SELECT TRANSFORM(ARRAY(FROM_JSON(line, "
        "'struct<`a`: string, `b`: struct<`c`: string, `d`: string>>')), _parsed -> ARRAY(_parsed.`a`, "
        "_parsed.`b`.`c`, _parsed.`b`.`d`))[0] AS v, TRANSFORM(ARRAY(FROM_JSON(line, 'struct<`p`: string>')), "
        "_parsed -> ARRAY(_parsed.`p`))[0] AS j, GET_JSON_OBJECT(line, '$.q') AS q FROM t)",
    ),
    (  # a path read whole and read into, or a path with an index: one get_json_object per path
        "SELECT json_extract_string(line, ['$.b', '$.b.c']) AS v, json_extract_string(line, ['$.a[0]', '$.c']) AS w "
        "FROM t",
        "SELECT ARRAY(GET_JSON_OBJECT(line, '$.b'), GET_JSON_OBJECT(line, '$.b.c')) AS v, "
        "ARRAY(GET_JSON_OBJECT(line, '$.a[0]'), GET_JSON_OBJECT(line, '$.c')) AS w FROM t",
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


JSON_LINES = [
    '{"type":"track","traits":"x","properties":{"price":19.50,"b":[1, 2],"s":"\u00e9 caf\u00e9"}}',
    '{"type":"page","properties":null,"traits":{"email":"A@b.c","phone":null}}',
    '{"type":"t2","properties":"str","context":{"consent":{"categoryPreferences":{"Ads":true}}}}',
    '{"type":"n","n":1e3,"big":12345678901234567890,"f":0.1000,"t":true,"e":"","o":{}}',
    '{"traits":{"email":{"nested":1}},"properties":[1,{"a":2}]}',
    "{}",
]
JSON_PATHS = [
    "type",
    "traits.email",
    "traits.phone",
    "properties.price",
    "properties.s",
    "n",
    "big",
    "f",
    "t",
    "e",
    "o",
]


@pytest.mark.spark
def test_spark_reads_a_list_of_paths_as_one_get_json_object_per_path_did(tmp_path: Path) -> None:
    """The one-parse rewrite gives, value for value, what a ``get_json_object`` per path gave."""
    from personae.engine.spark import SparkEngine

    engine = SparkEngine(tmp_path / "warehouse", master="local[2]", shuffle_partitions=1)
    try:
        engine.register_arrow("lines", pa.table({"n": list(range(len(JSON_LINES))), "line": JSON_LINES}))
        text = ", ".join(f"'$.{path}'" for path in JSON_PATHS)
        as_list = engine.fetch_rows(
            f"SELECT n, json_extract_string(line, [{text}]) AS v, "
            "json_extract(line, ['$.properties', '$.traits']) AS j FROM lines ORDER BY n"
        )
        assert "FROM_JSON" in transpile(f"SELECT json_extract_string(line, [{text}]) FROM lines", "spark")
        per_path = [
            engine.fetch_rows(f"SELECT n, line ->> '$.{path}' FROM lines ORDER BY n")
            for path in [*JSON_PATHS, "properties", "traits"]
        ]
    finally:
        engine.close()
    for n, text_values, json_values in as_list:
        assert [*text_values, *json_values] == [rows[n][1] for rows in per_path], JSON_LINES[n]
    assert as_list[0][1][3] == "19.5" and as_list[1][2][0] is None and as_list[2][2][0] == "str"
