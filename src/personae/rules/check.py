"""The rule language's whitelist and type check over a parsed sqlglot tree.

Every node must be one the checker knows; anything else is rejected with a reason. While
walking, columns are resolved to their declared names (the tree is rewritten in place)
and each node gets a *kind*: ``integer``, ``decimal``, ``double``, ``text``, ``boolean``,
``date``, ``timestamp`` or ``null``. Kinds catch the cheap type errors, such as a text
column compared with a number.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import NoReturn

from sqlglot import exp

from personae.rules.syntax import RuleText

NUMBER_KINDS = frozenset({"integer", "decimal", "double"})
TEMPORAL_KINDS = frozenset({"date", "timestamp"})
FUNCTIONS = ("abs", "coalesce", "date_diff", "days_since", "greatest", "in_segment", "least", "lower", "round", "upper")
"""The functions a rule may call (sqlglot also accepts aliases such as ``ifnull`` and ``lcase``)."""
_TABLE_FUNCTIONS = frozenset({"read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json", "glob"})
_TYPE_KINDS: dict[str, str] = {
    **dict.fromkeys(("TINYINT", "SMALLINT", "INTEGER", "INT", "BIGINT", "HUGEINT", "LONG", "SHORT"), "integer"),
    **dict.fromkeys(("UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT", "INT1", "INT2", "INT4"), "integer"),
    **dict.fromkeys(("INT8", "SIGNED"), "integer"),
    **dict.fromkeys(("DECIMAL", "NUMERIC"), "decimal"),
    **dict.fromkeys(("DOUBLE", "FLOAT", "FLOAT4", "FLOAT8", "REAL"), "double"),
    **dict.fromkeys(("VARCHAR", "TEXT", "STRING", "CHAR", "BPCHAR"), "text"),
    **dict.fromkeys(("BOOLEAN", "BOOL", "LOGICAL"), "boolean"),
    "DATE": "date",
    **dict.fromkeys(("TIMESTAMP", "DATETIME", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"), "timestamp"),
}
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod)
_CASTS = {exp.DataType.Type.DATE: "date", exp.DataType.Type.DOUBLE: "double"}


def column_kind(type_name: str) -> str | None:
    """The kind of a DuckDB column type (``'DECIMAL(18,2)'`` -> ``'decimal'``); None if rules cannot use it."""
    text = type_name.strip().upper()
    if "[" in text or "WITH TIME ZONE" in text:
        return None
    return _TYPE_KINDS.get(re.split(r"[\s(]", text, maxsplit=1)[0])


def family(kind: str) -> str:
    """Kinds that compare with each other share a family: number, temporal, text, boolean, null."""
    if kind in NUMBER_KINDS:
        return "number"
    return "temporal" if kind in TEMPORAL_KINDS else kind


@dataclass
class CheckedRule:
    """A tree that passed the whitelist, with the columns and segments it reads."""

    tree: exp.Expr
    kinds: dict[str, str] = field(default_factory=dict)
    """Column name -> kind, for the columns the rule reads."""
    segments: set[tuple[str, str]] = field(default_factory=set)


def check_tree(rule: RuleText, tree: exp.Expr, columns: Mapping[str, str]) -> CheckedRule:
    """Check ``tree`` against the whitelist and types; it must be a boolean condition."""
    if not isinstance(tree, exp.Condition) and not isinstance(tree, (exp.Star, exp.Alias)):
        first = rule.tokens[0].text.upper() if rule.tokens else type(tree).__name__
        rule.fail(
            f"statements are not allowed ({first} ...); a rule is one boolean expression such as 'spend_365d > 1000'",
            (0, len(rule.text.rstrip()) - 1),
        )
    checker = _Checker(rule, columns)
    kind = checker.kind(tree)
    if kind != "boolean":
        rule.fail_at(
            f"a rule must be a condition (true or false), but this is {_a(kind)}; compare it, e.g. '> 0'", tree
        )
    return checker.result(tree)


def _a(kind: str) -> str:
    return "NULL" if kind == "null" else f"a {kind} value" if kind[0] not in "aeiou" else f"an {kind} value"


def _literal_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None
    except ValueError:
        return None


class _Checker:
    def __init__(self, rule: RuleText, columns: Mapping[str, str]) -> None:
        self.rule = rule
        self.columns = columns
        self.lower = {name.lower(): name for name in columns}
        self.kinds: dict[str, str] = {}
        self.segments: set[tuple[str, str]] = set()

    def result(self, tree: exp.Expr) -> CheckedRule:
        return CheckedRule(tree, self.kinds, self.segments)

    def kind(self, node: exp.Expr) -> str:
        """The node's kind, after checking it and its children."""
        if isinstance(node, exp.Paren):
            return self.kind(node.this)
        if isinstance(node, (exp.And, exp.Or)):
            for side in (node.this, node.expression):
                self.expect(side, "boolean", f"both sides of {node.key.upper()} must be conditions")
            return "boolean"
        if isinstance(node, exp.Not):
            self.expect(node.this, "boolean", "NOT needs a condition")
            return "boolean"
        if isinstance(node, _COMPARISONS):
            self.same_family(node, [node.this, node.expression])
            return "boolean"
        if isinstance(node, _ARITHMETIC):
            kinds = [self.number(side, f"'{_operator(node)}' needs numbers") for side in (node.this, node.expression)]
            return "double" if isinstance(node, exp.Div) else _widest(kinds)
        if isinstance(node, exp.Neg):
            return self.number(node.this, "'-' needs a number")
        if isinstance(node, exp.Column):
            return self.column(node)
        if isinstance(node, (exp.Literal, exp.Boolean, exp.Null)):
            return _literal_kind(node)
        if isinstance(node, exp.In):
            return self.in_list(node)
        if isinstance(node, exp.Between):
            self.same_family(node, [node.this, node.args["low"], node.args["high"]])
            return "boolean"
        if isinstance(node, exp.Is):
            if not isinstance(node.expression, (exp.Null, exp.Boolean)):
                self.rule.fail_at("IS must be followed by NULL, TRUE or FALSE", node)
            if isinstance(node.expression, exp.Boolean):
                self.expect(node.this, "boolean", "IS TRUE / IS FALSE needs a condition")
            else:
                self.kind(node.this)
            return "boolean"
        if isinstance(node, (exp.Like, exp.ILike)):
            return self.like(node)
        if isinstance(node, exp.Case):
            return self.case(node)
        if isinstance(node, exp.Cast) and type(node) is exp.Cast:
            return self.cast(node)
        if isinstance(node, (exp.Coalesce, exp.Least, exp.Greatest)):
            return self.same_family(node, [node.this, *node.expressions])
        if isinstance(node, (exp.Lower, exp.Upper)):
            self.expect(node.this, "text", f"{node.key}() needs text")
            return "text"
        if isinstance(node, exp.Abs):
            return self.number(node.this, "abs() needs a number")
        if isinstance(node, exp.Round):
            return self.round(node)
        if isinstance(node, exp.DateDiff):
            return self.date_diff(node)
        if isinstance(node, exp.Anonymous):
            return self.anonymous(node)
        self.reject(node)

    def expect(self, node: exp.Expr, wanted: str, problem: str) -> str:
        kind = self.kind(node)
        if kind not in (wanted, "null"):
            self.rule.fail_at(f"{problem}, but {self.rule.source(node)!r} is {_a(kind)}", node)
        return kind

    def number(self, node: exp.Expr, problem: str) -> str:
        kind = self.kind(node)
        if kind not in NUMBER_KINDS and kind != "null":
            self.rule.fail_at(f"{problem}, but {self.rule.source(node)!r} is {_a(kind)}", node)
        return "integer" if kind == "null" else kind

    def same_family(self, node: exp.Expr, parts: list[exp.Expr]) -> str:
        """Check ``parts`` compare with each other; the kind they share (widest number, timestamp over date)."""
        kinds = [self.kind(part) for part in parts]
        known = [(part, kind) for part, kind in zip(parts, kinds, strict=True) if kind != "null"]
        for part, kind in known[1:]:
            if family(kind) != family(known[0][1]):
                first, first_kind = known[0]
                hint = ""
                if {family(kind), family(first_kind)} == {"temporal", "text"}:
                    hint = "; write a date as date 'YYYY-MM-DD'"
                self.rule.fail_at(
                    f"cannot compare {self.rule.source(first)!r} ({first_kind}) "
                    f"with {self.rule.source(part)!r} ({kind}){hint}",
                    node,
                )
        if not known:
            return "null"
        if family(known[0][1]) == "number":
            return _widest([kind for _, kind in known])
        if family(known[0][1]) == "temporal":
            return "timestamp" if any(kind == "timestamp" for _, kind in known) else "date"
        return known[0][1]

    def column(self, node: exp.Column) -> str:
        if isinstance(node.this, exp.Star):
            self.reject(node.this)
        if node.table:
            self.rule.fail_at(
                f"qualified names such as {self.rule.source(node)!r} are not allowed; write the column name alone",
                node,
            )
        name = node.name
        resolved = name if name in self.columns else self.lower.get(name.lower())
        if resolved is None:
            self.rule.fail_at(self.unknown(name), node)
        kind = column_kind(self.columns[resolved])
        if kind is None:
            self.rule.fail_at(f"column {resolved!r} has type {self.columns[resolved]}, which rules cannot read", node)
        if resolved != name:
            identifier = exp.to_identifier(resolved)
            identifier.meta.update(node.this.meta)
            node.set("this", identifier)
        self.kinds[resolved] = kind
        return kind

    def unknown(self, name: str) -> str:
        match = difflib.get_close_matches(name, list(self.columns), n=1) or difflib.get_close_matches(
            name.lower(), list(self.lower), n=1
        )
        if match:
            return f"unknown column {name!r}; did you mean {self.lower.get(match[0], match[0])!r}?"
        if len(self.columns) <= 12:
            return f"unknown column {name!r}; the profile has: {', '.join(sorted(self.columns))}"
        return f"unknown column {name!r}; it is not one of the profile's {len(self.columns)} columns"

    def in_list(self, node: exp.In) -> str:
        if any(node.args.get(arg) is not None for arg in ("query", "unnest", "field")):
            self.rule.fail_at(
                "IN takes a list of literal values such as ('US', 'CA'), not a subquery; "
                "for memberships use in_segment('segmentation', 'segment')",
                node,
            )
        if not node.expressions:
            self.rule.fail_at("IN needs at least one value: x IN ('a', 'b')", node)
        for value in node.expressions:
            if not _is_literal(value):
                self.rule.fail_at(f"IN takes literal values only; {self.rule.source(value)!r} is not a literal", value)
        self.same_family(node, [node.this, *node.expressions])
        return "boolean"

    def like(self, node: exp.Like | exp.ILike) -> str:
        self.expect(node.this, "text", f"{node.key.upper()} needs text")
        pattern = node.expression
        if not (isinstance(pattern, exp.Literal) and pattern.is_string):
            self.rule.fail_at(f"{node.key.upper()} needs a string literal pattern such as 'ab%'", pattern)
        return "boolean"

    def case(self, node: exp.Case) -> str:
        if node.this is not None:
            self.rule.fail_at("write CASE WHEN x = 1 THEN ... (the CASE x WHEN ... form is not allowed)", node)
        for branch in node.args.get("ifs") or []:
            self.expect(branch.this, "boolean", "CASE WHEN needs a condition")
        values = [branch.args["true"] for branch in node.args.get("ifs") or []]
        default = node.args.get("default")
        return self.same_family(node, [*values, *([default] if default is not None else [])])

    def cast(self, node: exp.Cast) -> str:
        target = _CASTS.get(node.to.this)
        if target is None:
            self.rule.fail_at(f"cast to {node.to.sql('duckdb')} is not allowed; rules may cast to DATE or DOUBLE", node)
        if target == "date" and isinstance(node.this, exp.Literal) and node.this.is_string:
            if _literal_date(node.this.this) is None:
                self.rule.fail_at(f"{node.this.this!r} is not a date; write date 'YYYY-MM-DD'", node.this)
            return "date"
        wanted = "a date or timestamp" if target == "date" else "a number"
        kind = self.kind(node.this)
        allowed = TEMPORAL_KINDS if target == "date" else NUMBER_KINDS
        if kind not in allowed and kind != "null":
            self.rule.fail_at(f"CAST(... AS {target.upper()}) needs {wanted}, but got {_a(kind)}", node)
        return target

    def round(self, node: exp.Round) -> str:
        kind = self.number(node.this, "round() needs a number")
        digits = node.args.get("decimals")
        if digits is not None and _integer_literal(digits) is None:
            self.rule.fail_at("round(x, n) needs a whole-number literal n", digits)
        if node.args.get("truncate") is not None:
            self.rule.fail_at("round() takes one or two arguments: round(x) or round(x, n)", node)
        return kind

    def date_diff(self, node: exp.DateDiff) -> str:
        unit = node.args.get("unit")
        if unit is None or unit.name.upper() != "DAY":
            self.rule.fail_at("date_diff only counts days: date_diff('day', start, end)", node)
        for side in (node.expression, node.this):
            kind = self.kind(side)
            if kind not in TEMPORAL_KINDS and kind != "null":
                self.rule.fail_at(f"date_diff needs dates, but {self.rule.source(side)!r} is {_a(kind)}", side)
        return "integer"

    def anonymous(self, node: exp.Anonymous) -> str:
        name = node.name.lower()
        args = node.expressions
        if name == "in_segment":
            if len(args) != 2 or not all(isinstance(arg, exp.Literal) and arg.is_string for arg in args):
                self.rule.fail_at(
                    "in_segment takes two string literals: in_segment('segmentation', 'segment')",
                    node,
                )
            self.segments.add((args[0].this, args[1].this))
            return "boolean"
        if name == "days_since":
            if len(args) != 1:
                self.rule.fail_at("days_since takes one date or timestamp: days_since(last_order_date)", node)
            kind = self.kind(args[0])
            if kind not in TEMPORAL_KINDS and kind != "null":
                self.rule.fail_at(f"days_since needs a date or timestamp, but got {_a(kind)}", args[0])
            return "integer"
        self.reject(node)

    def reject(self, node: exp.Expr) -> NoReturn:
        self.rule.fail_at(_rejection(node, self.rule.source(node)), node)


def _rejection(node: exp.Expr, source: str) -> str:
    """Why ``node`` is not allowed, and what to write instead."""
    if isinstance(node, (exp.Subquery, exp.Query, exp.Exists)):
        return "subqueries are not allowed; a rule reads one profile row (use in_segment('segmentation', 'segment'))"
    if isinstance(node, exp.Window):
        return "window functions are not allowed; a rule reads one profile row"
    if isinstance(node, exp.Star):
        return "'*' is not allowed; name the columns the rule reads"
    if isinstance(node, exp.Placeholder):
        return "parameters ($1, ?, :name) are not allowed; write the value itself"
    if isinstance(node, exp.IntDiv):
        return "integer division '//' is not allowed; write round(a / b) or a / b"
    if isinstance(node, exp.DPipe):
        return "string concatenation '||' is not allowed; compare the parts separately"
    if isinstance(node, exp.Escape):
        return "ESCAPE is not allowed in LIKE (engines differ); '%' and '_' are always wildcards"
    if isinstance(node, exp.Alias):
        return f"unexpected alias in {source!r}; a rule is one condition with no AS or trailing names"
    if isinstance(node, (exp.CurrentDate, exp.CurrentTimestamp, exp.CurrentTime)):
        return "the current date is not allowed (it differs per engine); use days_since(column)"
    call = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(", source)
    if isinstance(node, exp.Anonymous) or (isinstance(node, exp.Func) and call):
        name = node.name.lower() if isinstance(node, exp.Anonymous) or call is None else call.group(1).lower()
        if isinstance(node, exp.AggFunc):
            return f"aggregate function {name}() is not allowed; a rule reads one profile row (make it a trait)"
        if name in _TABLE_FUNCTIONS or name.startswith("read_") or "Read" in type(node).__name__:
            return f"table function {name}() is not allowed; rules cannot read files or tables"
        close = difflib.get_close_matches(name, FUNCTIONS, n=1)
        hint = f"did you mean {close[0]}()? " if close else ""
        return f"unknown function {name}(); {hint}allowed functions: {', '.join(FUNCTIONS)}"
    return f"{source!r} is not allowed in a rule; see docs/rules.md for what rules may use"


def _operator(node: exp.Expr) -> str:
    symbols: dict[type[exp.Expr], str] = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/", exp.Mod: "%"}
    return symbols.get(type(node), node.key)


def _widest(kinds: list[str]) -> str:
    for kind in ("double", "decimal"):
        if kind in kinds:
            return kind
    return "integer"


def _literal_kind(node: exp.Expr) -> str:
    if isinstance(node, exp.Boolean):
        return "boolean"
    if isinstance(node, exp.Null):
        return "null"
    if node.is_string:
        return "text"
    text = str(node.this).lower()
    if "e" in text:
        return "double"
    return "decimal" if "." in text else "integer"


def _is_literal(node: exp.Expr) -> bool:
    if isinstance(node, exp.Neg):
        return isinstance(node.this, exp.Literal) and not node.this.is_string
    if isinstance(node, exp.Cast) and type(node) is exp.Cast:
        return node.to.this == exp.DataType.Type.DATE and isinstance(node.this, exp.Literal)
    return isinstance(node, (exp.Literal, exp.Boolean, exp.Null))


def _integer_literal(node: exp.Expr) -> int | None:
    sign = 1
    if isinstance(node, exp.Neg):
        sign, node = -1, node.this
    if isinstance(node, exp.Literal) and not node.is_string and re.fullmatch(r"\d+", str(node.this)):
        return sign * int(node.this)
    return None
