"""Hostile rule texts: each is rejected with InvalidRule and a message that says what is wrong."""

from __future__ import annotations

import pytest

from personae.errors import InvalidRule, PersonaeError
from personae.rules import parse_rule

COLUMNS = {
    "uid": "VARCHAR",
    "spend_365d": "DECIMAL(18,2)",
    "orders_90d": "BIGINT",
    "country": "VARCHAR",
    "email_opt_in": "BOOLEAN",
    "last_order_date": "DATE",
    "tags": "VARCHAR[]",
}

HOSTILE: list[tuple[str, str, str]] = [
    # (case id, rule text, a fragment the message must contain)
    ("second-statement", "orders_90d > 1; drop table profiles", "remove the ';'"),
    ("trailing-semicolon", "orders_90d > 1;", "remove the ';'"),
    ("statement-drop", "drop table profiles", "statements are not allowed (DROP"),
    ("statement-attach", "attach '/tmp/evil.db' as evil", "statements are not allowed (ATTACH"),
    ("statement-copy", "copy profiles to '/tmp/out.csv'", "statements are not allowed (COPY"),
    ("statement-pragma", "pragma database_list", "statements are not allowed (PRAGMA"),
    ("statement-set", "set threads = 1", "statements are not allowed (SET"),
    ("statement-install", "install httpfs", "statements are not allowed (INSTALL"),
    ("statement-select", "select * from profiles", "statements are not allowed (SELECT"),
    ("subquery-in", "uid in (select uid from profiles)", "not a subquery"),
    ("subquery-exists", "exists (select 1)", "subqueries are not allowed"),
    ("subquery-scalar", "orders_90d > (select max(orders_90d) from profiles)", "subqueries are not allowed"),
    ("table-read-csv", "read_csv('/etc/passwd') is not null", "table function read_csv() is not allowed"),
    ("table-read-parquet", "read_parquet('s3://bucket/x.parquet') is null", "table function read_parquet()"),
    ("table-glob", "glob('/home/*') is null", "table function glob() is not allowed"),
    ("comment-line", "orders_90d > 1 -- and country = 'US'", "comments ('--' or '/* */') are not allowed"),
    ("comment-block", "orders_90d > 1 /* or true */", "comments ('--' or '/* */') are not allowed"),
    ("comment-hides-quote", "orders_90d > 1 -- it's fine", "comments ('--' or '/* */') are not allowed"),
    ("unknown-function-system", "system('rm -rf /') = 0", "unknown function system()"),
    ("unknown-function-getenv", "getenv('HOME') = '/root'", "unknown function getenv()"),
    ("unknown-function-setting", "current_setting('threads') = '4'", "unknown function current_setting()"),
    ("unknown-function-typo", "lowr(country) = 'us'", "did you mean lower()?"),
    ("quoted-identifier-trick", '"orders_90d"" > 1 or ""x" > 0', "unknown column 'orders_90d\" > 1 or \"x'"),
    ("quoted-unknown-column", '"spend" > 1', "did you mean 'spend_365d'?"),
    ("string-is-not-a-condition", "'a'' or 1=1 --'", "a rule must be a condition"),
    ("backslash-escape", "country = 'a\\' or 1=1 or country = '", "backslashes are not allowed"),
    ("unterminated-string", "country = 'US", "unterminated string"),
    ("unterminated-identifier", '"country = 1', "unterminated quoted name"),
    ("dollar-quoted-string", "country = $$US$$", "'$$US$$' is not allowed"),
    ("star", "*", "'*' is not allowed"),
    ("star-in-count", "count(*) > 1", "aggregate function count() is not allowed"),
    ("aggregate", "sum(orders_90d) > 1", "aggregate function sum() is not allowed"),
    ("window", "row_number() over () = 1", "window functions are not allowed"),
    ("in-segment-computed", "in_segment(lower('RFM'), 'Champions')", "in_segment takes two string literals"),
    ("in-segment-arity", "in_segment('rfm')", "in_segment takes two string literals"),
    ("unknown-column", "spend > 1000", "unknown column 'spend'; did you mean 'spend_365d'?"),
    ("qualified-column", "p.spend_365d > 1", "qualified names such as 'p.spend_365d' are not allowed"),
    ("empty", "", "the rule is empty"),
    ("blank", "  \n ", "the rule is empty"),
    ("not-boolean", "spend_365d + 1", "a rule must be a condition (true or false), but this is a decimal value"),
    ("text-vs-number", "country > 5", "cannot compare 'country' (text) with '5' (integer)"),
    ("date-vs-string", "last_order_date > '2024-01-01'", "write a date as date 'YYYY-MM-DD'"),
    ("bad-date-literal", "last_order_date > date '2024-02-30'", "'2024-02-30' is not a date"),
    ("odd-cast", "cast(country as blob) is null", "cast to BLOB is not allowed"),
    ("try-cast", "try_cast(country as int) > 1", "try_cast"),
    ("list-column", "tags is null", "column 'tags' has type VARCHAR[], which rules cannot read"),
    ("parameter", "orders_90d > $1", "parameters ($1, ?, :name) are not allowed"),
    ("current-date", "last_order_date < current_date", "the current date is not allowed"),
    ("alias", "orders_90d > 1 as hit", "unexpected alias"),
    ("order-by", "orders_90d > 1 order by 1", "cannot parse the rule"),
    ("in-list-of-columns", "country in (country, uid)", "IN takes literal values only"),
    ("like-non-literal", "country like uid", "needs a string literal pattern"),
    ("like-escape", "country like 'a!%' escape '!'", "ESCAPE is not allowed"),
    ("date-diff-month", "date_diff('month', last_order_date, last_order_date) > 1", "date_diff only counts days"),
    ("days-since-text", "days_since(country) > 3", "days_since needs a date or timestamp"),
    ("concat", "country || 'x' = 'USx'", "string concatenation '||' is not allowed"),
    ("json-arrow", "country ->> '$.a' = 'x'", "is not allowed in a rule"),
    ("boolean-and-number", "email_opt_in and orders_90d", "both sides of AND must be conditions"),
]


@pytest.mark.parametrize(("text", "fragment"), [case[1:] for case in HOSTILE], ids=[case[0] for case in HOSTILE])
def test_hostile_rule_is_rejected_with_a_helpful_message(text: str, fragment: str) -> None:
    with pytest.raises(InvalidRule) as caught:
        parse_rule(text, COLUMNS)
    message = str(caught.value)
    assert fragment in message
    assert message.startswith("rule ")
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, PersonaeError)


def test_the_corpus_is_large_and_distinct() -> None:
    assert len(HOSTILE) >= 30
    assert len({case[0] for case in HOSTILE}) == len(HOSTILE)
    assert len({case[1] for case in HOSTILE}) == len(HOSTILE)


def test_named_rule_errors_use_the_name() -> None:
    with pytest.raises(InvalidRule, match=r"^rule 'big_spenders': unknown column 'spend'"):
        parse_rule("spend > 1000", COLUMNS, name="big_spenders")


def test_error_points_at_the_offending_token() -> None:
    with pytest.raises(InvalidRule) as caught:
        parse_rule("orders_90d > 1 and spend > 1000", COLUMNS)
    assert str(caught.value).splitlines()[1:] == [
        "    orders_90d > 1 and spend > 1000",
        "                       ^^^^^",
    ]


def test_second_statement_is_underlined_whole() -> None:
    text = "orders_90d > 1; drop table profiles"
    with pytest.raises(InvalidRule) as caught:
        parse_rule(text, COLUMNS)
    assert str(caught.value).splitlines()[2] == " " * (4 + text.index(";")) + "^" * len("; drop table profiles")
