"""The rule language (DESIGN §7): a boolean SQL expression over profile columns and memberships.

One checked sqlglot tree per rule, compiled to SQL for batch runs and interpreted in Python
for one profile in real time:

- :mod:`~personae.rules.syntax` reads the text (pre-scan, tokens, parse, caret errors);
- :mod:`~personae.rules.check` is the whitelist and the type check;
- :mod:`~personae.rules.evaluate` is the Python evaluator;
- :mod:`~personae.rules.rule` holds :class:`Rule`, :func:`parse_rule` and the SQL compiler.

Rules depend on nothing but sqlglot: traits (``where`` filters), segments and actions all
build on them.
"""

from personae.rules.check import column_kind
from personae.rules.rule import Rule, parse_rule

__all__ = ["Rule", "column_kind", "parse_rule"]
