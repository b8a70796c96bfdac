"""The rule language: parsing, the columns and segments a rule reads, its SQL, evaluation and errors."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import duckdb
import pytest
import sqlglot

from personae.errors import InvalidRule
from personae.rules import Rule, parse_rule
from personae.rules import rule as rules

AS_OF = date(2024, 3, 1)
COLUMNS = {
    "uid": "VARCHAR",
    "spend_365d": "DECIMAL(18,2)",
    "orders_90d": "BIGINT",
    "days_since_last_order": "INTEGER",
    "country": "VARCHAR",
    "email_opt_in": "BOOLEAN",
    "score": "DOUBLE",
    "last_order_date": "DATE",
    "last_seen_at": "TIMESTAMP",
    "signup_at": "TIMESTAMP WITH TIME ZONE",
}
VALID = [
    "spend_365d > 1000 and country in ('US', 'CA')",
    "days_since_last_order between 60 and 180 and in_segment('rfm', 'Champions')",
    "orders_90d >= 2 and email_opt_in",
    "days_since(last_order_date) > 30 or days_since(last_seen_at) <= 7",
    "date_diff('day', last_order_date, last_seen_at) < 3",
    "spend_365d / orders_90d > 100.5",
    "orders_90d % 2 = 1 and -orders_90d < 0",
    "lower(country) like 'u%' or upper(country) not ilike '%a_'",
    "email_opt_in is true and country is not null",
    "not (country not in ('US', null))",
    "coalesce(score, 0) >= 0.5 and abs(score) < 1e3",
    "round(spend_365d, 1) = 10.5 and round(score) = 2",
    "least(orders_90d, 3) = 3 or greatest(score, spend_365d) > 2",
    "last_order_date >= date '2024-01-01' and last_seen_at < date '2024-03-01'",
    "case when orders_90d > 10 then 'vip' when orders_90d > 2 then 'regular' else 'new' end = 'vip'",
    "cast(last_seen_at as date) = last_order_date and cast(orders_90d as double) > 1",
    '"Country" = \'US\' and "order" > 1',
]


def _with_order(columns: dict[str, str]) -> dict[str, str]:
    return {**columns, "order": "BIGINT"}


def test_columns_and_segments() -> None:
    rule = parse_rule("days_since_last_order between 60 and 180 and in_segment('rfm', 'Champions')", COLUMNS)
    assert rule.columns == frozenset({"days_since_last_order"})
    assert rule.segments == frozenset({("rfm", "Champions")})
    assert rule.column_types == {"days_since_last_order": "INTEGER"}

    rule = parse_rule("in_segment('rfm', 'Lost') or in_segment('lifecycle', 'new') and Spend_365D > 1", COLUMNS)
    assert rule.columns == frozenset({"spend_365d"}), "columns resolve case-insensitively to their declared names"
    assert rule.segments == frozenset({("rfm", "Lost"), ("lifecycle", "new")})


def test_rule_is_frozen_hashable_and_named() -> None:
    rule = parse_rule("orders_90d > 1", COLUMNS, name="repeat")
    assert rule.name == "repeat" and rule.text == "orders_90d > 1"
    assert rule == parse_rule("orders_90d > 1", COLUMNS, name="repeat")
    assert len({rule, parse_rule("orders_90d > 1", COLUMNS, name="repeat")}) == 1
    with pytest.raises(AttributeError):
        rule.text = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "sql"),
    [
        ("spend_365d > 1000 and country in ('US', 'CA')", "(spend_365d > 1000 AND country IN ('US', 'CA'))"),
        (
            "in_segment('rfm', 'Champions')",
            "(uid IN (SELECT uid FROM current_memberships WHERE segmentation = 'rfm' AND segment = 'Champions'))",
        ),
        (
            "days_since(last_order_date) > 30",
            "(DATE_DIFF('DAY', CAST(last_order_date AS DATE), CAST('2024-03-01' AS DATE)) > 30)",
        ),
        (
            "spend_365d / orders_90d > 2",
            "(CAST(spend_365d AS DOUBLE) / NULLIF(CAST(orders_90d AS DOUBLE), 0) > 2)",
        ),
        ("orders_90d % 3 = 1", "(orders_90d % NULLIF(3, 0) = 1)"),
        ("COUNTRY = 'O''Brien'", "(country = 'O''Brien')"),
        ("(orders_90d > 1)", "(orders_90d > 1)"),
    ],
)
def test_sql_text(text: str, sql: str) -> None:
    assert parse_rule(text, COLUMNS).sql(as_of=AS_OF) == sql


def test_sql_memberships_table() -> None:
    rule = parse_rule("in_segment('rfm', 'it''s')", COLUMNS)
    sql = rule.sql(as_of=AS_OF, memberships="main.memberships_2024")
    assert "FROM main.memberships_2024 WHERE segmentation = 'rfm' AND segment = 'it''s'" in sql
    with pytest.raises(ValueError, match="memberships must be a table name"):
        rule.sql(as_of=AS_OF, memberships="m; drop table profiles")


@pytest.mark.parametrize("text", VALID)
def test_every_valid_rule_transpiles_to_spark(text: str) -> None:
    columns = _with_order(COLUMNS)
    sql = parse_rule(text, columns).sql(as_of=AS_OF)
    (spark,) = sqlglot.transpile(sql, read="duckdb", write="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)
    assert spark.startswith("(")
    if "days_since(" in text or "date_diff(" in text:
        assert "DATEDIFF(DAY," in spark


def test_sql_runs_as_a_where_clause_in_duckdb() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE profiles (uid VARCHAR, spend_365d DECIMAL(18,2), last_order_date DATE)")
    con.execute(
        "INSERT INTO profiles VALUES ('a', 1500, '2024-02-20'), ('b', 200, '2023-01-01'), ('c', NULL, NULL), "
        "('d', 5000, '2023-06-01')"
    )
    con.execute("CREATE TABLE current_memberships AS SELECT 'd' AS uid, 'rfm' AS segmentation, 'Lost' AS segment")
    rule = parse_rule("spend_365d > 1000 and days_since(last_order_date) < 30 or in_segment('rfm', 'Lost')", COLUMNS)
    rows = con.execute(f"SELECT uid FROM profiles WHERE {rule.sql(as_of=AS_OF)} ORDER BY uid").fetchall()
    assert rows == [("a",), ("d",)]


def test_evaluate_three_valued_logic() -> None:
    high = parse_rule("spend_365d > 1000", COLUMNS)
    not_high = parse_rule("not (spend_365d > 1000)", COLUMNS)
    assert high.evaluate({"spend_365d": Decimal("1000.01")}, as_of=AS_OF) is True
    assert not_high.evaluate({"spend_365d": 5}, as_of=AS_OF) is True
    # NULL (or a missing column) matches neither the rule nor its negation, as in a WHERE clause
    for profile in ({"spend_365d": None}, {}):
        assert high.evaluate(profile, as_of=AS_OF) is False
        assert not_high.evaluate(profile, as_of=AS_OF) is False
    either = parse_rule("spend_365d > 1000 or email_opt_in", COLUMNS)
    assert either.evaluate({"spend_365d": None, "email_opt_in": True}, as_of=AS_OF) is True
    listed = parse_rule("country not in ('US', null)", COLUMNS)
    assert listed.evaluate({"country": "FR"}, as_of=AS_OF) is False
    assert parse_rule("country is null", COLUMNS).evaluate({}, as_of=AS_OF) is True


def test_evaluate_numbers_like_duckdb() -> None:
    assert parse_rule("orders_90d / 0 is null", COLUMNS).evaluate({"orders_90d": 3}, as_of=AS_OF)
    assert parse_rule("orders_90d % 3 = -1", COLUMNS).evaluate({"orders_90d": -7}, as_of=AS_OF)
    assert parse_rule("orders_90d / 2 = 1.5", COLUMNS).evaluate({"orders_90d": 3}, as_of=AS_OF)
    assert parse_rule("round(score, 1) = 0.3", COLUMNS).evaluate({"score": 0.25}, as_of=AS_OF)
    assert parse_rule("round(orders_90d, -1) = 20", COLUMNS).evaluate({"orders_90d": 15}, as_of=AS_OF)
    assert parse_rule("least(orders_90d, score) = 2", COLUMNS).evaluate({"orders_90d": 2}, as_of=AS_OF)
    assert parse_rule("spend_365d = 0.1", COLUMNS).evaluate({"spend_365d": 0.1}, as_of=AS_OF)


def test_days_since() -> None:
    rule = parse_rule("days_since(last_order_date) = 29", COLUMNS)
    assert rule.evaluate({"last_order_date": date(2024, 2, 1)}, as_of=AS_OF)
    assert rule.evaluate({"last_order_date": "2024-02-01"}, as_of=AS_OF), "ISO strings are read as dates"
    assert not rule.evaluate({"last_order_date": None}, as_of=AS_OF)
    seen = parse_rule("days_since(last_seen_at) = 1", COLUMNS)
    assert seen.evaluate({"last_seen_at": datetime(2024, 2, 29, 23, 59)}, as_of=AS_OF), "whole days between dates"
    assert seen.evaluate({"last_seen_at": "2024-02-29T00:00:01"}, as_of=AS_OF)
    future = parse_rule("days_since(last_order_date) < 0", COLUMNS)
    assert future.evaluate({"last_order_date": date(2024, 3, 2)}, as_of=AS_OF)


def test_in_segment_evaluation() -> None:
    rule = parse_rule("in_segment('rfm', 'Champions') and not in_segment('lifecycle', 'churned')", COLUMNS)
    assert rule.evaluate({}, as_of=AS_OF, segments={"rfm": ["Champions"]})
    assert not rule.evaluate({}, as_of=AS_OF, segments={"rfm": {"Champions"}, "lifecycle": {"churned"}})
    assert not rule.evaluate({}, as_of=AS_OF)


def test_evaluate_rejects_values_of_the_wrong_type() -> None:
    rule = parse_rule("orders_90d > 1", COLUMNS)
    with pytest.raises(TypeError, match="profile column 'orders_90d' holds a integer but got str"):
        rule.evaluate({"orders_90d": "3"}, as_of=AS_OF)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("lower(country, 1) = 'a'", "cannot parse the rule: The number of provided arguments (2)"),
        ("abs() > 1", "cannot parse the rule"),
        ("days_since(last_order_date, last_seen_at) > 1", "days_since takes one date or timestamp"),
        ("round(score, orders_90d) > 1", "round(x, n) needs a whole-number literal n"),
        ("country + 1 > 2", "'+' needs numbers, but 'country' is a text value"),
        ("lower(orders_90d) = 'a'", "lower() needs text"),
        ("coalesce(country, 1) = 'a'", "cannot compare 'country' (text) with '1' (integer)"),
        ("email_opt_in > 1", "cannot compare 'email_opt_in' (boolean) with '1' (integer)"),
        ("orders_90d in ('1', '2')", "cannot compare 'orders_90d' (integer) with \"'1'\" (text)"),
        ("signup_at is null", "column 'signup_at' has type TIMESTAMP WITH TIME ZONE, which rules cannot read"),
        ("case orders_90d when 1 then true end", "write CASE WHEN x = 1 THEN"),
        ("not orders_90d", "NOT needs a condition, but 'orders_90d' is an integer value"),
        ("orders_90d > 1 and spend_365d", "both sides of AND must be conditions"),
        ("email_opt_in is 1", "IS must be followed by NULL, TRUE or FALSE"),
        ("country ilike 'a\\%'", "backslashes are not allowed"),
        ("null", "a rule must be a condition (true or false), but this is NULL"),
    ],
)
def test_error_messages(text: str, fragment: str) -> None:
    with pytest.raises(InvalidRule) as caught:
        parse_rule(text, COLUMNS)
    assert fragment in str(caught.value)


def test_unknown_column_without_a_close_match_lists_the_columns() -> None:
    with pytest.raises(InvalidRule, match=r"unknown column 'zzz'; the profile has: country, .*uid"):
        parse_rule("zzz > 1", COLUMNS)


def test_long_rule_is_shortened_in_the_label() -> None:
    text = "orders_90d > 1 and " * 5 + "spend > 1"
    with pytest.raises(InvalidRule) as caught:
        parse_rule(text, COLUMNS)
    label = str(caught.value).split(": ", 1)[0]
    assert label.endswith("...'") and len(label) < 80
    assert "    " + text in str(caught.value), "the full rule is shown above the caret line"


def test_rule_type_is_exported_from_the_module() -> None:
    assert rules.Rule is Rule and rules.parse_rule is parse_rule


def test_multi_line_rule_points_at_the_right_line() -> None:
    with pytest.raises(InvalidRule) as caught:
        parse_rule("orders_90d > 1\n  and spend > 2", COLUMNS)
    assert str(caught.value).splitlines()[1:] == ["      and spend > 2", "          ^^^^^"]


@pytest.mark.parametrize("text", ["(" * 2000 + "email_opt_in" + ")" * 2000, "not " * 2000 + "email_opt_in"])
def test_deep_nesting_is_rejected_not_a_recursion_error(text: str) -> None:
    with pytest.raises(InvalidRule, match="nested too deeply"):
        parse_rule(text, COLUMNS)
