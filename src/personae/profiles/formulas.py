"""Formulas and filters of traits in the rule language: one checked tree, its SQL and its value.

A derived trait's formula (``revenue / orders``, ``days_since(last_order_at)``) is a value
expression of the rule language, and a filter's ``Where`` is a rule. Both are read by
:func:`personae.rules.parse_rule`, so they get its whitelist, its type check, its SQL compiler
and its Python evaluator, which agree (``tests/rules/test_agreement.py``): ``/`` is a DOUBLE
division that is NULL for 0, ``greatest`` skips NULLs, ``days_since`` counts days to the as-of
day. A rule must be a condition, so a formula is parsed as the rule ``(formula) IS NULL`` and
its value is the left side of that ``IS``, in the SQL and in the tree alike.

>>> total = parse_formula("revenue / orders", {"revenue": "DOUBLE", "orders": "BIGINT"}, name="aov")
>>> sorted(total.reads), total.evaluate({"revenue": 30.0, "orders": 4}, as_of=date(2025, 1, 1))
(['orders', 'revenue'], 7.5)
>>> total.sql({"revenue": "o.revenue", "orders": "o.orders"}, as_of=date(2025, 1, 1))
'CAST(o.revenue AS DOUBLE) / NULLIF(CAST(o.orders AS DOUBLE), 0)'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

import sqlglot
from sqlglot import exp

from personae.profiles.algebra import Input, Where
from personae.rules import Rule, column_kind, parse_rule
from personae.rules.evaluate import coerce, evaluate_tree

DIALECT = "duckdb"
_NO_SEGMENTS: dict[str, list[str]] = {}


def _value_side(tree: exp.Expr) -> exp.Expr:
    """The ``x`` of the ``(x) IS NULL`` a formula is parsed as."""
    found = tree.find(exp.Is)
    if found is None:  # the parse of "(x) is null" always has one
        raise AssertionError(f"not a wrapped formula: {tree.sql(DIALECT)}")
    value: exp.Expr = found.this
    return value


@dataclass(frozen=True)
class Formula:
    """A value expression over named columns (other traits, or a row's columns)."""

    text: str
    rule: Rule
    """The checked rule ``(text) IS NULL``."""

    @property
    def reads(self) -> frozenset[str]:
        return self.rule.columns

    def sql(self, columns: Mapping[str, str], *, as_of: date) -> str:
        """The formula as DuckDB SQL, each column replaced by the SQL in ``columns``."""
        named = tuple((name, columns[name]) for name in sorted(self.reads))
        return _formula_sql(self, named, as_of if reads_as_of(self.rule) else None)

    def evaluate(self, values: Mapping[str, Any], *, as_of: date) -> Any:
        """The formula's value for one set of column values (NULL when a value is missing)."""
        coerced = {
            name: coerce(name, column_kind(self.rule.column_types[name]) or "text", values.get(name))
            for name in self.reads
        }
        return evaluate_tree(_value_side(self.rule.tree), coerced, as_of=as_of, segments=_NO_SEGMENTS)


@lru_cache(maxsize=1024)
def _formula_sql(formula: Formula, columns: tuple[tuple[str, str], ...], as_of: date | None) -> str:
    """Cached by as-of day only for the formulas that read it."""
    tree = _value_side(sqlglot.parse_one(rule_sql(formula.rule, as_of), read=DIALECT))
    if isinstance(tree, exp.Paren):
        tree = tree.this
    named = dict(columns)

    def replace(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.Column):
            return node
        sql = sqlglot.parse_one(named[node.name], read=DIALECT)
        return sql if isinstance(sql, (exp.Column, exp.Paren)) else exp.Paren(this=sql)

    return tree.transform(replace).sql(DIALECT)


def parse_formula(text: str, columns: Mapping[str, str], *, name: str) -> Formula:
    """Check a value expression over ``columns`` (name -> DuckDB type); InvalidRule if it is bad."""
    return Formula(text, parse_rule(f"({text}) IS NULL", columns, name=name))


@lru_cache(maxsize=512)
def filter_rule(where: Where, input: Input, trait: str) -> Rule:
    """The checked rule of a trait's ``Where`` over its input's columns (InvalidRule if it is bad)."""
    return parse_rule(where.rule, input.types, name=f"traits.{trait}.where")


@lru_cache(maxsize=1024)
def reads_as_of(rule: Rule) -> bool:
    """Whether the rule's value depends on the as-of day (it calls ``days_since``): such a
    filter is evaluated when traits are asked for, not when an event arrives."""
    return any(isinstance(node, exp.Anonymous) and node.name.lower() == "days_since" for node in rule.tree.walk())


def rule_sql(rule: Rule, as_of: date | None) -> str:
    """The rule's SQL as of a day (compiled once when it does not read the day)."""
    return _rule_sql(rule, as_of if reads_as_of(rule) else None)


@lru_cache(maxsize=1024)
def _rule_sql(rule: Rule, as_of: date | None) -> str:
    return rule.sql(as_of=as_of or date.min)
