"""The Python interpreter of a checked rule tree, for one profile in real time.

It follows DuckDB's semantics for the whitelisted nodes: SQL three-valued logic (``None``
is NULL and propagates), ``/`` is floating-point division and ``x / 0`` or ``x % 0`` is
NULL, ``%`` takes the sign of the dividend, ``round`` rounds half away from zero,
``least``/``greatest`` skip NULLs, a DECIMAL compared with a DOUBLE is compared as DOUBLE,
and a DATE compared with a TIMESTAMP is taken as midnight.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Collection, Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation, localcontext
from typing import Any

from sqlglot import exp

_DECIMALS = Context(prec=80)
_COMPARE: dict[type[exp.Expr], Callable[[Any, Any], bool]] = {
    exp.EQ: operator.eq,
    exp.NEQ: operator.ne,
    exp.GT: operator.gt,
    exp.GTE: operator.ge,
    exp.LT: operator.lt,
    exp.LTE: operator.le,
}


def evaluate_tree(
    tree: exp.Expr,
    values: Mapping[str, Any],
    *,
    as_of: date,
    segments: Mapping[str, Collection[str]],
) -> Any:
    """The value of ``tree`` (True, False or None for a condition) for one profile's coerced ``values``."""
    with localcontext(_DECIMALS):
        return _Interpreter(values, as_of, segments).value(tree)


def coerce(column: str, kind: str, value: Any) -> Any:
    """``value`` as the Python type DuckDB would return for a column of ``kind`` (ISO strings for dates allowed)."""
    if value is None:
        return None
    converted: Any = None
    if kind == "integer" and isinstance(value, int) and not isinstance(value, bool):
        converted = value
    elif kind == "decimal" and isinstance(value, (int, Decimal, float, str)) and not isinstance(value, bool):
        converted = _decimal(value)
    elif kind == "double" and isinstance(value, (int, Decimal, float)) and not isinstance(value, bool):
        converted = float(value)
    elif (kind == "text" and isinstance(value, str)) or (kind == "boolean" and isinstance(value, bool)):
        converted = value
    elif kind == "date":
        converted = _date(value)
    elif kind == "timestamp":
        converted = _timestamp(value)
    if converted is None:
        raise TypeError(f"profile column {column!r} holds a {kind} but got {type(value).__name__} {value!r}")
    return converted


def _decimal(value: int | Decimal | float | str) -> Decimal | None:
    try:
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        return None


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _and(left: bool | None, right: bool | None) -> bool | None:
    if left is False or right is False:
        return False
    return None if left is None or right is None else True


def _or(left: bool | None, right: bool | None) -> bool | None:
    if left is True or right is True:
        return True
    return None if left is None or right is None else False


def _not(value: bool | None) -> bool | None:
    return None if value is None else not value


def _align(left: Any, right: Any) -> tuple[Any, Any]:
    """Make two non-NULL values comparable the way DuckDB casts them."""
    if isinstance(left, float) != isinstance(right, float) and isinstance(left, (int, float, Decimal)):
        return float(left), float(right)
    if isinstance(left, datetime) != isinstance(right, datetime) and isinstance(left, date):
        return _timestamp(left), _timestamp(right)
    return left, right


def compare(op: Callable[[Any, Any], bool], left: Any, right: Any) -> bool | None:
    """``left op right`` with NULL propagation."""
    if left is None or right is None:
        return None
    left, right = _align(left, right)
    return op(left, right)


def _arithmetic(node: exp.Expr, left: Any, right: Any) -> Any:
    if left is None or right is None:
        return None
    if isinstance(node, exp.Div):
        return None if float(right) == 0 else float(left) / float(right)
    left, right = _align(left, right)
    if isinstance(node, exp.Add):
        return left + right
    if isinstance(node, exp.Sub):
        return left - right
    if isinstance(node, exp.Mul):
        return left * right
    if right == 0:
        return None
    if isinstance(left, float):
        return math.fmod(left, right)
    remainder = abs(left) % abs(right)
    return -remainder if left < 0 else remainder


def round_half_away(value: Any, digits: int) -> Any:
    """DuckDB's ``round``: half away from zero; doubles are scaled, rounded and scaled back."""
    if value is None:
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return value
        scale = 10.0 ** abs(digits)
        scaled = value * scale if digits >= 0 else value / scale
        whole = math.floor(abs(scaled))
        if abs(scaled) - whole >= 0.5:
            whole += 1
        rounded = math.copysign(whole, scaled)
        return rounded / scale if digits >= 0 else rounded * scale
    if isinstance(value, int) and digits >= 0:
        return value
    exact = Decimal(value).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return int(exact) if isinstance(value, int) else exact


def _like(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if char == "%" else "." if char == "_" else re.escape(char) for char in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


class _Interpreter:
    def __init__(self, values: Mapping[str, Any], as_of: date, segments: Mapping[str, Collection[str]]) -> None:
        self.values = values
        self.as_of = as_of
        self.segments = segments

    def value(self, node: exp.Expr) -> Any:
        """The value of one node; the checker has already limited which nodes occur."""
        if isinstance(node, exp.Paren):
            return self.value(node.this)
        if isinstance(node, exp.And):
            return _and(self.value(node.this), self.value(node.expression))
        if isinstance(node, exp.Or):
            return _or(self.value(node.this), self.value(node.expression))
        if isinstance(node, exp.Not):
            return _not(self.value(node.this))
        if isinstance(node, exp.Column):
            return self.values.get(node.name)
        if isinstance(node, (exp.Literal, exp.Boolean, exp.Null)):
            return literal(node)
        op = _COMPARE.get(type(node))
        if op is not None:
            return compare(op, self.value(node.this), self.value(node.expression))
        if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod)):
            return _arithmetic(node, self.value(node.this), self.value(node.expression))
        if isinstance(node, exp.Neg):
            inner = self.value(node.this)
            return None if inner is None else -inner
        return self.predicate(node) if isinstance(node, exp.Predicate) else self.function(node)

    def predicate(self, node: exp.Expr) -> Any:
        if isinstance(node, exp.In):
            left = self.value(node.this)
            results = [compare(operator.eq, left, self.value(item)) for item in node.expressions]
            return True if True in results else None if None in results else False
        if isinstance(node, exp.Between):
            left = self.value(node.this)
            low = compare(operator.ge, left, self.value(node.args["low"]))
            return _and(low, compare(operator.le, left, self.value(node.args["high"])))
        if isinstance(node, exp.Is):
            inner = self.value(node.this)
            return inner is None if isinstance(node.expression, exp.Null) else inner is literal(node.expression)
        if isinstance(node, (exp.Like, exp.ILike)):
            text = self.value(node.this)
            if text is None:
                return None
            matched = _like(node.expression.this, isinstance(node, exp.ILike)).fullmatch(text) is not None
            return not matched if node.args.get("negate") else matched
        raise AssertionError(f"the rule checker let through {node.key}")

    def function(self, node: exp.Expr) -> Any:
        if isinstance(node, exp.Anonymous):
            return self.anonymous(node)
        if isinstance(node, exp.Case):
            for branch in node.args.get("ifs") or []:
                if self.value(branch.this) is True:
                    return self.value(branch.args["true"])
            default = node.args.get("default")
            return None if default is None else self.value(default)
        if isinstance(node, exp.Coalesce):
            return next((v for v in (self.value(arg) for arg in [node.this, *node.expressions]) if v is not None), None)
        if isinstance(node, (exp.Least, exp.Greatest)):
            found = [v for v in (self.value(arg) for arg in [node.this, *node.expressions]) if v is not None]
            if not found:
                return None
            best = found[0]
            for candidate in found[1:]:
                if compare(operator.lt if isinstance(node, exp.Least) else operator.gt, candidate, best):
                    best = candidate
            return best
        inner = self.value(node.this)
        if inner is None:
            return None
        if isinstance(node, exp.Lower):
            return inner.lower()
        if isinstance(node, exp.Upper):
            return inner.upper()
        if isinstance(node, exp.Abs):
            return abs(inner)
        if isinstance(node, exp.Round):
            digits = node.args.get("decimals")
            return round_half_away(inner, 0 if digits is None else int(self.value(digits)))
        if isinstance(node, exp.Cast):
            return float(inner) if node.to.this == exp.DataType.Type.DOUBLE else _date(inner)
        if isinstance(node, exp.DateDiff):
            start = self.value(node.expression)
            return None if start is None else (_date(inner) - _date(start)).days  # type: ignore[operator]
        raise AssertionError(f"the rule checker let through {node.key}")

    def anonymous(self, node: exp.Anonymous) -> Any:
        args = node.expressions
        if node.name.lower() == "in_segment":
            return args[1].this in self.segments.get(args[0].this, ())
        start = _date(self.value(args[0]))
        return None if start is None else (self.as_of - start).days


def literal(node: exp.Expr) -> Any:
    """The Python value of a literal: str, int, Decimal (``1.5``), float (``1e3``), bool or None."""
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Null):
        return None
    text = str(node.this)
    if node.is_string:
        return text
    if "e" in text.lower():
        return float(text)
    return Decimal(text) if "." in text else int(text)
