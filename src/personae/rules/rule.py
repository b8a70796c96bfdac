"""Rule segments: a boolean SQL expression over profile columns and segment memberships.

:func:`parse_rule` reads a rule such as ``spend_365d > 1000 and country in ('US', 'CA')``
with sqlglot, checks it against a whitelist (see ``docs/rules.md``) and returns a
:class:`Rule`. The one checked tree is compiled to DuckDB SQL for batch runs
(:meth:`Rule.sql`; sqlglot transpiles it to Spark) and interpreted in Python for one
profile in real time (:meth:`Rule.evaluate`); both give the same answer.

>>> rule = parse_rule("spend_365d > 1000 and in_segment('rfm', 'Champions')", {"spend_365d": "DECIMAL(18,2)"})
>>> sorted(rule.columns), sorted(rule.segments)
(['spend_365d'], [('rfm', 'Champions')])
>>> rule.evaluate({"spend_365d": 1200}, as_of=date(2024, 1, 31), segments={"rfm": ["Champions"]})
True
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlglot import exp

from personae.rules.check import check_tree, column_kind
from personae.rules.evaluate import coerce, evaluate_tree
from personae.rules.syntax import DIALECT, RuleText, parse_text

_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}")
_NO_SEGMENTS: Mapping[str, Collection[str]] = {}


@dataclass(frozen=True)
class Rule:
    """A checked rule: its text, the profile columns and the segments it reads."""

    text: str
    columns: frozenset[str]
    """Profile columns the rule reads, by their declared names."""
    segments: frozenset[tuple[str, str]]
    """``(segmentation, segment)`` pairs named by ``in_segment``."""
    name: str | None = None
    column_types: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    """Declared DuckDB type of each column in :attr:`columns`."""
    tree: exp.Expr = field(kw_only=True, compare=False, repr=False)
    """The checked sqlglot tree (columns renamed to their declared names); do not mutate."""

    def sql(self, *, as_of: date, memberships: str = "current_memberships") -> str:
        """The rule as a parenthesised DuckDB boolean expression over a profile row (columns unqualified, ``uid``).

        ``in_segment(a, b)`` reads the table ``memberships`` (columns ``uid``, ``segmentation``,
        ``segment``); ``days_since(x)`` counts days to ``as_of``. NULL means "does not match"
        when the expression is used in a WHERE clause.
        """
        if not _TABLE_NAME.fullmatch(memberships):
            raise ValueError(f"memberships must be a table name such as 'current_memberships', not {memberships!r}")
        compiled = _compile(self.tree.copy(), as_of, memberships)
        if not isinstance(compiled, exp.Paren):
            compiled = exp.Paren(this=compiled)
        return compiled.sql(DIALECT)

    def evaluate(
        self,
        profile: Mapping[str, Any],
        *,
        as_of: date,
        segments: Mapping[str, Collection[str]] = _NO_SEGMENTS,
    ) -> bool:
        """Whether one profile matches (a NULL result does not); ``segments``: segmentation -> this uid's segments.

        A column missing from ``profile`` is NULL. Values are taken as their column's type:
        dates and timestamps may be ISO strings, decimals may be int, float or str.
        """
        values = {
            column: coerce(column, column_kind(self.column_types[column]) or "text", profile.get(column))
            for column in self.columns
        }
        return evaluate_tree(self.tree, values, as_of=as_of, segments=segments) is True


def parse_rule(text: str, columns: Mapping[str, str], *, name: str | None = None) -> Rule:
    """Parse and check ``text`` against the profile ``columns`` (name -> DuckDB type); raise InvalidRule if bad."""
    rule_text, tree = parse_text(RuleText(text, name))
    checked = check_tree(rule_text, tree, columns)
    return Rule(
        text=text,
        columns=frozenset(checked.kinds),
        segments=frozenset(checked.segments),
        name=name,
        column_types={column: columns[column] for column in checked.kinds},
        tree=checked.tree,
    )


def _compile(node: exp.Expr, as_of: date, memberships: str) -> exp.Expr:
    """Rewrite ``node`` bottom-up into plain DuckDB SQL that transpiles to Spark with the same meaning."""
    for key, child in list(node.args.items()):
        if isinstance(child, exp.Expr):
            node.set(key, _compile(child, as_of, memberships))
        elif isinstance(child, list):
            node.set(key, [_compile(c, as_of, memberships) if isinstance(c, exp.Expr) else c for c in child])
    if isinstance(node, exp.Anonymous) and node.name.lower() == "in_segment":
        segmentation, segment = (arg.this for arg in node.expressions)
        members = (
            exp.select("uid")
            .from_(exp.to_table(memberships))
            .where(
                exp.and_(
                    exp.column("segmentation").eq(exp.Literal.string(segmentation)),
                    exp.column("segment").eq(exp.Literal.string(segment)),
                )
            )
        )
        return exp.In(this=exp.column("uid"), query=exp.Subquery(this=members))
    if isinstance(node, exp.Anonymous):  # days_since, the only other function the checker lets through
        return _days(node.expressions[0], exp.cast(exp.Literal.string(as_of.isoformat()), exp.DataType.Type.DATE))
    if isinstance(node, exp.DateDiff):
        return _days(node.expression, node.this)
    if isinstance(node, exp.Div):
        return exp.Div(this=_double(node.this), expression=_nullif_zero(_double(node.expression)))
    if isinstance(node, exp.Mod):
        return exp.Mod(this=node.this, expression=_nullif_zero(node.expression))
    return node


def _days(start: exp.Expr, end: exp.Expr) -> exp.Expr:
    """``date_diff('day', CAST(start AS DATE), CAST(end AS DATE))``: whole days from start to end."""
    return exp.DateDiff(
        this=_as_date(end),
        expression=_as_date(start),
        unit=exp.var("DAY"),
        date_part_boundary=True,
    )


def _as_date(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.DATE:
        return node
    return exp.cast(node, exp.DataType.Type.DATE)


def _double(node: exp.Expr) -> exp.Expr:
    return exp.cast(node, exp.DataType.Type.DOUBLE)


def _nullif_zero(node: exp.Expr) -> exp.Expr:
    return exp.Nullif(this=node, expression=exp.Literal.number(0))
