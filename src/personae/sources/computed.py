"""Computed mappings: a ``columns`` entry that is an expression over the source's own columns.

``street = "concat_ws(' ', street_number, address_1)"`` maps ``street`` to the two source
columns joined. The expression is read by the rule language's scanner and parser
(:func:`personae.rules.syntax.parse_text`: comments, ``;`` and unterminated quotes are
refused before sqlglot sees the text) and checked against a whitelist of its own: the text
functions in :data:`FUNCTIONS`, ``||``, string and whole-number literals, and column names.
Anything else (an unknown function, a subquery, a table function such as ``read_csv``,
arithmetic, a ``CASE``) is refused when ``personae.toml`` is read; which columns exist is
checked against each file, as for a plain column name.

A mapping value is one of:

- ``'text'``: a constant (single quotes);
- ``"Name"``: the column of exactly that name (double quotes; for a name that holds a
  parenthesis, a quote or a ``;``);
- a name without ``( ) ' " ; |`` and without ``--`` or ``/*``: a column, as before;
- anything else: a computed mapping, checked here.

The checked expression is emitted as DuckDB SQL, with every column read as text
(``CAST(col AS VARCHAR)``, the text the raw copy holds, so a Parquet file's typed columns give
the same result as its raw copy on Spark) and ``strptime`` as ``try_strptime``, so a value
that does not parse is NULL (and a field issue), not a failed file. Spark runs the same SQL
transpiled (``try_strptime`` through :mod:`personae.engine.dialects`); tested on both.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NoReturn

from sqlglot import exp

from personae.errors import ConfigError, InvalidRule
from personae.rules.syntax import DIALECT, RuleText, parse_text

FUNCTIONS: dict[str, str] = {
    "coalesce": "the first value that is not NULL",
    "concat": "the values joined; NULL counts as ''",
    "concat_ws": "the values joined by a separator (a string literal), skipping NULLs",
    "left": "the first n characters (n a whole-number literal)",
    "lower": "lower case",
    "lpad": "padded on the left to n characters with a string literal",
    "ltrim": "leading spaces removed",
    "nullif": "NULL when the value equals the second (e.g. nullif(x, '0'))",
    "replace": "every occurrence of a text replaced by another",
    "right": "the last n characters (n a whole-number literal)",
    "rpad": "padded on the right to n characters with a string literal",
    "rtrim": "trailing spaces removed",
    "strptime": "a date or time read with a format literal, e.g. strptime(dob, '%Y%m%d'); NULL when it does not parse",
    "substr": "a part: substr(x, start) or substr(x, start, length), whole-number literals counted from 1",
    "trim": "leading and trailing spaces removed",
    "upper": "upper case",
}
"""The functions a computed mapping may call, with what each gives (documented in docs/config.md)."""
_CALLS: dict[type[exp.Expr], tuple[int, int]] = {
    exp.Coalesce: (1, 64),
    exp.Concat: (1, 64),
    exp.ConcatWs: (2, 64),
    exp.Left: (2, 2),
    exp.Lower: (1, 1),
    exp.Nullif: (2, 2),
    exp.Pad: (3, 3),
    exp.Replace: (3, 3),
    exp.Right: (2, 2),
    exp.StrToTime: (2, 2),
    exp.Substring: (2, 3),
    exp.Trim: (1, 1),
    exp.Upper: (1, 1),
}
"""sqlglot's node for each allowed function, with its least and most arguments."""
_TABLE_FUNCTIONS = frozenset({"read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json", "glob"})
_EXPRESSION_MARKS = re.compile(r"""[()'";|]|--|/\*""")
_CONSTANT = re.compile(r"'(?:[^']|'')*'")


@dataclass(frozen=True)
class Computed:
    """A checked computed mapping: its SQL and the source columns it reads."""

    text: str
    reads: tuple[str, ...]
    """Source columns (JSON paths, for a JSONL source) it reads, in order of first use."""
    value_sql: str
    """The value, DuckDB SQL over the staged rows."""
    raw_sql: str
    """Its text before any ``strptime``: what a field issue reports when the value does not parse."""


@dataclass(frozen=True)
class MappedValue:
    """What a mapping value reads and how: a constant, a column, or a computed mapping."""

    sql: str
    """The value, DuckDB SQL over the staged rows."""
    raw_sql: str
    """Its text before it is parsed to a type (differs from ``sql`` only around ``strptime``)."""
    reads: tuple[str, ...]
    """The source columns it reads."""
    shown: str | None
    """How messages name it: the column, the expression, or None for a constant."""
    is_computed: bool = False


def mapped_value(value: str, *, computed_allowed: bool = True) -> MappedValue:
    """Classify a mapping value (see the module docstring); ``identifiers`` allow no computed values."""
    if is_constant(value):
        text = exp.Literal.string(value[1:-1]).sql(DIALECT)
        return MappedValue(text, text, (), None)
    if computed_allowed and is_computed(value):
        checked = computed(value)
        return MappedValue(checked.value_sql, checked.raw_sql, checked.reads, value, is_computed=True)
    name = quoted_column(value) or value
    column = exp.to_identifier(name, quoted=True).sql(DIALECT)
    return MappedValue(column, column, (name,), name)


def is_constant(value: str) -> bool:
    """One string in single quotes (``'store'``); ``'a' || b || 'c'`` is an expression."""
    return _CONSTANT.fullmatch(value) is not None


def quoted_column(value: str) -> str | None:
    """The column a double-quoted value names (``"Amount (EUR)"``), else None."""
    if len(value) >= 2 and value[0] == value[-1] == '"' and '"' not in value[1:-1]:
        return value[1:-1]
    return None


def is_computed(value: str) -> bool:
    """Whether a mapping value is an expression rather than a constant or a column name."""
    return not is_constant(value) and quoted_column(value) is None and _EXPRESSION_MARKS.search(value) is not None


def check_mapping(source: str, column: str, text: str) -> Computed:
    """The checked computed mapping ``column = text`` of ``source``; a ValueError naming both if refused."""
    try:
        return computed(text)
    except ConfigError as error:
        raise ValueError(f"source {source!r}: columns.{column} = {text!r}: {error}") from None


@lru_cache(maxsize=256)
def computed(text: str) -> Computed:
    """Check ``text`` and build its SQL (remembered: ingest asks again for every file); a
    :class:`ConfigError` saying what is wrong and what to write if it is refused."""
    reading = RuleText(text, None, noun="mapping")
    try:
        reading, tree = parse_text(reading)
        _Checker(reading).check(tree)
    except InvalidRule as error:
        raise ConfigError(str(error).removeprefix(f"{reading.label}: ")) from None
    reads = tuple(dict.fromkeys(_column_name(node) for node in tree.find_all(exp.Column)))
    return Computed(text, reads, _value(tree.copy()).sql(DIALECT), _raw(tree.copy()).sql(DIALECT))


def _column_name(node: exp.Column) -> str:
    """``a.b`` names the column ``a.b``: for a JSONL source, the JSON path."""
    return ".".join(part.name for part in node.parts)


def _as_text(node: exp.Column) -> exp.Expr:
    return exp.cast(exp.column(exp.to_identifier(_column_name(node), quoted=True)), "VARCHAR")


def _with_text_columns(tree: exp.Expr) -> exp.Expr:
    return tree.transform(lambda node: _as_text(node) if isinstance(node, exp.Column) else node)


def _value(tree: exp.Expr) -> exp.Expr:
    def rewrite(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.StrToTime):
            return exp.Anonymous(this="try_strptime", expressions=[node.this, node.args["format"]])
        return node

    return _with_text_columns(tree).transform(rewrite)


def _raw(tree: exp.Expr) -> exp.Expr:
    def rewrite(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.StrToTime):
            text: exp.Expr = node.this
            return text
        return node

    return _with_text_columns(tree).transform(rewrite)


class _Checker:
    def __init__(self, text: RuleText) -> None:
        self.text = text

    def check(self, node: exp.Expr) -> None:
        if isinstance(node, exp.Paren):
            self.check(node.this)
        elif isinstance(node, exp.Column):
            self.column(node)
        elif isinstance(node, exp.Literal):
            if not node.is_string and not re.fullmatch(r"\d+", str(node.this)):
                self.fail("only string and whole-number literals are allowed", node)
        elif isinstance(node, exp.DPipe):
            self.check(node.this)
            self.check(node.expression)
        elif type(node) in _CALLS:
            self.call(node)
        else:
            self.reject(node)

    def column(self, node: exp.Column) -> None:
        if isinstance(node.this, exp.Star):
            self.fail("'*' is not allowed; name the columns the mapping reads", node)

    def call(self, node: exp.Expr) -> None:
        args = [value for value in node.args.values() if isinstance(value, exp.Expr)]
        args += [item for value in node.args.values() if isinstance(value, list) for item in value]
        least, most = _CALLS[type(node)]
        name = self.name(node)
        if isinstance(node, exp.Trim) and node.args.get("expression") is not None:
            self.fail(f"{name}() takes one value: {name}(x) removes spaces", node)
        if not least <= len(args) <= most:
            self.fail(f"{name}() takes {least if least == most else f'{least} to {most}'} values", node)
        if isinstance(node, exp.ConcatWs):
            self.literal(node.expressions[0], string=True, what="concat_ws's separator")
        if isinstance(node, exp.StrToTime):
            self.literal(node.args["format"], string=True, what="strptime's format")
        if isinstance(node, (exp.Left, exp.Right)):
            self.literal(node.expression, string=False, what=f"{name}'s length")
        if isinstance(node, exp.Substring):
            for part in ("start", "length"):
                if node.args.get(part) is not None:
                    self.literal(node.args[part], string=False, what=f"substr's {part}")
        if isinstance(node, exp.Pad):
            self.literal(node.expression, string=False, what=f"{name}'s length")
            self.literal(node.args["fill_pattern"], string=True, what=f"{name}'s padding")
        for arg in args:
            self.check(arg)

    def literal(self, node: exp.Expr, *, string: bool, what: str) -> None:
        wanted = "a string literal in single quotes" if string else "a whole-number literal such as 3"
        if not (isinstance(node, exp.Literal) and node.is_string == string):
            self.fail(f"{what} must be {wanted}", node)

    def name(self, node: exp.Expr) -> str:
        """The function's name as written (``substring`` and ``substr`` are one node)."""
        call = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(", self.text.source(node))
        return call.group(1).lower() if call else node.key

    def fail(self, problem: str, node: exp.Expr) -> NoReturn:
        self.text.fail_at(problem, node)

    def reject(self, node: exp.Expr) -> NoReturn:
        self.fail(_rejection(node, self.text.source(node), self.text.text.strip()), node)


def _rejection(node: exp.Expr, source: str, whole: str) -> str:
    """Why ``node`` is not allowed in a computed mapping, and what to write instead."""
    if isinstance(node, (exp.Subquery, exp.Query, exp.Exists)):
        return "subqueries are not allowed; a mapping reads the columns of one row of its source"
    if isinstance(node, exp.Alias):
        return f"{source!r} is not an expression; a column name holding '(' or a quote is written in double quotes"
    call = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(", source)
    if isinstance(node, exp.Func) and call:
        name = call.group(1).lower()
        if name in _TABLE_FUNCTIONS or name.startswith("read_") or "Read" in type(node).__name__:
            return f"table function {name}() is not allowed; a mapping cannot read files or tables"
        close = difflib.get_close_matches(name, list(FUNCTIONS), n=1)
        hint = f"did you mean {close[0]}()? " if close else ""
        named = f"; if {whole!r} is a column name, write it in double quotes: '\"{whole}\"'" if whole == source else ""
        return f"unknown function {name}(); {hint}allowed functions: {', '.join(FUNCTIONS)}{named}"
    return (
        f"{source!r} is not allowed in a mapping: use the functions {', '.join(FUNCTIONS)}, "
        "'||', string and whole-number literals and the source's column names"
    )
