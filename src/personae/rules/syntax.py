"""Reading a rule's text: the raw pre-scan, tokens, parsing, and errors that point at the text.

sqlglot parses the rule; before that a small scanner rejects what sqlglot would quietly
accept or misread (backslashes, unterminated quotes), and the tokens are checked for the
comments and semicolons that could hide a second statement. :class:`RuleText` carries the
text and its tokens so any later check can raise an :class:`InvalidRule` with a caret line
under the offending part.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NoReturn

import sqlglot
from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import Token, TokenType

from personae.errors import InvalidRule

DIALECT = "duckdb"
_SHORT = 60
MAX_DEPTH = 120
"""Deepest tree a rule may parse to; deeper rules could exhaust Python's recursion limit later."""
_SUBQUERY_OPENERS = frozenset({TokenType.EXISTS, TokenType.SELECT, TokenType.L_PAREN, TokenType.DISTINCT})


@dataclass(frozen=True)
class RuleText:
    """A rule's text, its name and its tokens: the context every rule error needs."""

    text: str
    name: str | None
    tokens: tuple[Token, ...] = ()
    noun: str = "rule"
    """What the text is, for messages: ``rule``, or ``mapping`` for a computed source column
    (:mod:`personae.sources.computed` reads those with this scanner)."""

    @property
    def label(self) -> str:
        """``rule 'name'``, or the rule's text (shortened) when it has no name."""
        if self.name:
            return f"{self.noun} {self.name!r}"
        short = " ".join(self.text.split())
        if len(short) > _SHORT:
            short = short[: _SHORT - 3] + "..."
        return f"{self.noun} {short!r}"

    @property
    def one_expression(self) -> str:
        return "one boolean expression" if self.noun == "rule" else "one expression"

    def fail(self, problem: str, span: tuple[int, int] | None = None) -> NoReturn:
        """Raise :class:`InvalidRule` for ``problem``, with a caret line under ``span`` if given."""
        message = f"{self.label}: {problem}"
        if span is not None:
            message += "\n" + caret_excerpt(self.text, span)
        raise InvalidRule(message)

    def fail_at(self, problem: str, node: exp.Expr) -> NoReturn:
        """Raise :class:`InvalidRule` pointing at ``node`` (or quoting it if it has no position)."""
        span = self.span(node)
        if span is None:
            problem += f" (in {node.sql(DIALECT)!r})"
        self.fail(problem, span)

    def span(self, node: exp.Expr) -> tuple[int, int] | None:
        """The text range ``[start, end]`` ``node`` came from, widened to a call's closing parenthesis."""
        starts: list[int] = []
        ends: list[int] = []
        for child in node.walk():
            meta = child.meta
            if "start" in meta and "end" in meta:
                starts.append(int(meta["start"]))
                ends.append(int(meta["end"]))
        if not starts:
            return None
        start, end = min(starts), max(ends)
        if isinstance(node, (exp.Exists, exp.Subquery, exp.Query)):
            start = self._keyword_before(start)
        return start, self._closing_paren(start, end)

    def _keyword_before(self, start: int) -> int:
        """Move ``start`` back over the ``EXISTS (SELECT`` that opens a subquery."""
        index = next((i for i, token in enumerate(self.tokens) if token.start == start), 0)
        while index > 0 and self.tokens[index - 1].token_type in _SUBQUERY_OPENERS:
            index -= 1
        return self.tokens[index].start if self.tokens else start

    def source(self, node: exp.Expr) -> str:
        """The text ``node`` was parsed from, or its SQL when it has no position."""
        span = self.span(node)
        return self.text[span[0] : span[1] + 1] if span else node.sql(DIALECT)

    def _closing_paren(self, start: int, end: int) -> int:
        """If the token at ``start`` opens a call ``name(``, the end of its matching ``)``."""
        index = next((i for i, token in enumerate(self.tokens) if token.start == start), None)
        if index is None or index + 1 >= len(self.tokens) or self.tokens[index + 1].token_type != TokenType.L_PAREN:
            return end
        depth = 0
        for token in self.tokens[index + 1 :]:
            if token.token_type == TokenType.L_PAREN:
                depth += 1
            elif token.token_type == TokenType.R_PAREN:
                depth -= 1
                if depth == 0:
                    return max(end, token.end)
        return end


def caret_excerpt(text: str, span: tuple[int, int]) -> str:
    """The line of ``text`` holding ``span[0]``, indented, with ``^^^`` under the span."""
    start, end = span
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", start)
    if line_end == -1:
        line_end = len(text)
    end = min(max(end, start), line_end - 1)
    line = text[line_start:line_end]
    return f"    {line}\n    {' ' * (start - line_start)}{'^' * (end - start + 1)}"


def parse_text(rule: RuleText) -> tuple[RuleText, exp.Expr]:
    """Scan, tokenize and parse ``rule.text``; the tree is not yet checked against the whitelist."""
    if not rule.text.strip():
        rule.fail("the rule is empty; write a condition such as 'spend_365d > 1000'")
    _scan(rule)
    try:
        tokens = tuple(DuckDB().tokenize(rule.text))
    except TokenError as error:
        rule.fail(f"cannot read the {rule.noun}: {error}")
    rule = replace(rule, tokens=tokens)
    _check_tokens(rule)
    try:
        trees = sqlglot.parse(rule.text, read=DIALECT)
    except ParseError as error:
        _fail_parse(rule, error)
    except RecursionError:
        trees = []
    if len(trees) == 1 and trees[0] is not None and _depth(trees[0]) > MAX_DEPTH:
        trees = []
    if not trees:
        rule.fail(
            f"the {rule.noun} is nested too deeply (more than {MAX_DEPTH} levels); split it into simpler {rule.noun}s"
        )
    if len(trees) != 1 or trees[0] is None:
        rule.fail(f"a {rule.noun} is {rule.one_expression}")
    return rule, trees[0]


def _depth(tree: exp.Expr) -> int:
    """How deep ``tree`` is, counted without recursion."""
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node.iter_expressions())
    return deepest


def _scan(rule: RuleText) -> None:
    """Reject backslashes, comments and unterminated quotes before sqlglot reads them its own way."""
    text = rule.text
    quote: str | None = None
    opened = 0
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            rule.fail(
                f"backslashes are not allowed in {rule.noun}s (engines read '\\' escapes differently); "
                "write a quote inside a string as two quotes: 'O''Brien'",
                (index, index),
            )
        if quote is None and text.startswith(("--", "/*"), index):
            _reject_comment(rule, text[index:], index)
        if quote is None and char in "'\"":
            quote, opened = char, index
        elif quote is not None and char == quote:
            if index + 1 < len(text) and text[index + 1] == quote:
                index += 1
            else:
                quote = None
        index += 1
    if quote is not None:
        what = "string" if quote == "'" else "quoted name"
        rule.fail(f"unterminated {what}: the {quote} opened here is never closed", (opened, len(text) - 1))


def _check_tokens(rule: RuleText) -> None:
    """Reject comments and semicolons: both are ways to hide a second statement."""
    covered = 0
    for token in rule.tokens:
        gap = rule.text[covered : token.start]
        _reject_comment(rule, gap, covered)
        covered = max(covered, token.end + 1)
        if token.token_type == TokenType.SEMICOLON:
            rule.fail(
                f"a {rule.noun} is one expression: remove the ';' and anything after it",
                (token.start, len(rule.text.rstrip()) - 1),
            )
    _reject_comment(rule, rule.text[covered:], covered)
    if any(token.comments for token in rule.tokens):
        rule.fail(f"comments ('--' or '/* */') are not allowed in {rule.noun}s")


def _reject_comment(rule: RuleText, gap: str, offset: int) -> None:
    for marker in ("--", "/*"):
        at = gap.find(marker)
        if at != -1:
            rule.fail(
                f"comments ('--' or '/* */') are not allowed in {rule.noun}s; they can hide part of the {rule.noun}",
                (offset + at, offset + len(gap.rstrip()) - 1),
            )


def _fail_parse(rule: RuleText, error: ParseError) -> NoReturn:
    details = error.errors[0] if error.errors else {}
    description = str(details.get("description") or error).split(". Line")[0]
    highlight = str(details.get("highlight") or "")
    line, col = details.get("line"), details.get("col")
    span = None
    if isinstance(line, int) and isinstance(col, int) and line >= 1:
        line_start = sum(len(part) + 1 for part in rule.text.split("\n")[: line - 1])
        end = min(line_start + col - 1, len(rule.text) - 1)
        span = (max(line_start, end - max(len(highlight), 1) + 1), end)
    rule.fail(f"cannot parse the {rule.noun}: {description}", span)
