"""Block purging: a block too big to score is left out of prediction.

A blocking rule pairs every two records that agree on its key: a block of n records makes
n·(n−1)/2 pairs. Where the key's columns have few values between them (a first name and a
city), blocks grow with the customer base and their pairs with its square: in the 1M-customer
demo world, ``l.first_name = r.first_name and l.city = r.city`` alone makes 387M pairs, nearly
all namesakes who live in the same city; the fourteen default rules make 802M, 77M with
every block capped at 300 records and 42M at 150 (the default, which finds the same links
there). Scoring them made fuzzy matching quadratic past a few hundred thousand people.

So, as entity resolution systems commonly do ("block purging", Papadakis et al.), a rule
skips the blocks holding more than ``max_block_records`` records on a side: their pairs are
left to the rule's sister rules, which block on something rarer (the same name *and* birth
date, the same street *and* postcode) and find the duplicates among them. Every rule's pairs
are then at most ``records × max_block_records`` (linear), and small customer bases, whose
blocks are all smaller, are scored exactly as before.

For a rule of ``l.x = r.y`` terms joined by ``and`` (others are left whole), the block of a
record ``a`` is the records ``b`` with ``a.x = b.y`` (for every term); its size counts the
records with ``a``'s left key on one side and with it as their right key on the other. A
record in an oversize block gets ``__purged_<i>`` true, and the rule ``<i>`` becomes
``(<rule>) and not l.__purged_<i>``: a pair is made by that rule only outside the big blocks.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

logger = logging.getLogger(__name__)

PURGED = "__purged_{}"
"""The boolean column that marks a record's block of rule ``i`` as too big."""


def equality_terms(rule: str) -> list[tuple[str, str]]:
    """The ``(left column, right column)`` of each ``l.x = r.y`` term of the rule's top-level
    ``and`` (written either way round); empty when the rule is anything else (an ``or``, a
    function of a column).

    >>> equality_terms("l.first_name = r.last_name and r.first_name = l.last_name")
    [('first_name', 'last_name'), ('last_name', 'first_name')]
    >>> equality_terms("l.a = r.a or l.b = r.b")
    []
    """
    parsed = sqlglot.parse_one(rule)
    terms = list(parsed.flatten()) if isinstance(parsed, exp.And) else [parsed]
    found: list[tuple[str, str]] = []
    for term in terms:
        if not isinstance(term, exp.EQ):
            continue
        left, right = term.left, term.right
        if not (isinstance(left, exp.Column) and isinstance(right, exp.Column)):
            continue
        sides = {left.table: left.name, right.table: right.name}
        if set(sides) == {"l", "r"}:
            found.append((sides["l"], sides["r"]))
    return found


@dataclass(frozen=True)
class Purged:
    """Records with their purge flags, and the rules that read them."""

    records: pa.Table
    rules: list[str]
    purged_blocks: dict[str, int]
    """Per rule that lost blocks, how many."""


def purge_big_blocks(
    records: pa.Table,
    rules: Sequence[str],
    max_block_records: int,
    *,
    config: Mapping[str, Any] | None = None,
    store: duckdb.DuckDBPyConnection | None = None,
) -> Purged:
    """The records with a ``__purged_<i>`` column for each rule that has blocks of more than
    ``max_block_records`` records, and every rule as prediction should run it. The counts run
    on a cursor of ``store`` (under its memory limit), or else on a connection of their own
    with the limits in ``config``."""
    opened = store.cursor() if store is not None else duckdb.connect(config=dict(config or {}))
    with opened as connection:
        connection.register("records", records)
        joins, flags, rewritten, purged = [], [], [], {}
        for index, rule in enumerate(rules):
            terms = equality_terms(rule)
            if not terms:
                rewritten.append(rule)
                continue
            oversize = _oversize_sql(terms, max_block_records)
            blocks = int(connection.sql(f"SELECT count(*) FROM ({oversize})").fetchall()[0][0])
            if not blocks:
                rewritten.append(rule)
                continue
            purged[rule] = blocks
            name = f"_big{index}"
            on = " AND ".join(f'records."{left}" = {name}.k{n}' for n, (left, _) in enumerate(terms))
            joins.append(f"LEFT JOIN ({oversize}) AS {name} ON {on}")
            flags.append(f"{name}.k0 IS NOT NULL AS {PURGED.format(index)}")
            rewritten.append(f"({rule}) and not l.{PURGED.format(index)}")
        if not joins:
            return Purged(records, list(rules), {})
        flagged = connection.sql(
            f"SELECT records.*, {', '.join(flags)} FROM records {' '.join(joins)}"
        ).to_arrow_table()
    return Purged(flagged, rewritten, purged)


def block_sizes_sql(terms: list[tuple[str, str]]) -> str:
    """Each block of a rule of ``l.x = r.y`` terms: its left keys (``k0``, ``k1``, …) and the
    records on each side (``a_n`` with the key as their left values, ``b_n`` as their right;
    equal for a same-column rule, whose block of n records makes n·(n−1)/2 pairs)."""
    lefts = [f'"{left}"' for left, _ in terms]
    rights = [f'"{right}"' for _, right in terms]

    def counted(columns: list[str]) -> str:
        keys = ", ".join(f"{column} AS k{n}" for n, column in enumerate(columns))
        present = " AND ".join(f"{column} IS NOT NULL" for column in columns)
        return f"SELECT {keys}, count(*) AS n FROM records WHERE {present} GROUP BY ALL"

    if lefts == rights:
        return f"SELECT * EXCLUDE (n), n AS a_n, n AS b_n FROM ({counted(lefts)})"
    using = ", ".join(f"k{n}" for n in range(len(terms)))
    return (
        f"SELECT {using}, a.n AS a_n, b.n AS b_n FROM ({counted(lefts)}) AS a "
        f"JOIN ({counted(rights)}) AS b USING ({using})"
    )


def _oversize_sql(terms: list[tuple[str, str]], max_block_records: int) -> str:
    """The left keys (``k0``, ``k1``, …) whose blocks hold more than ``max_block_records``
    records on a side (by the product of the two sides' counts, so a same-column rule's
    block of n records counts n²)."""
    limit = max_block_records * max_block_records
    return f"SELECT * EXCLUDE (a_n, b_n) FROM ({block_sizes_sql(terms)}) WHERE a_n * b_n > {limit}"


def for_prediction(
    records: pa.Table,
    model: dict[str, Any],
    max_block_records: int,
    *,
    config: Mapping[str, Any] | None = None,
    store: duckdb.DuckDBPyConnection | None = None,
) -> tuple[pa.Table, dict[str, Any]]:
    """The prepared records and the Splink model a prediction runs: the model's blocking rules
    purged of their oversize blocks (both as given when no rule has any)."""
    entries = model["blocking_rules_to_generate_predictions"]
    purged = purge_big_blocks(
        records, [entry["blocking_rule"] for entry in entries], max_block_records, config=config, store=store
    )
    if not purged.purged_blocks:
        return records, model
    logger.info("blocks left out of prediction (over %s records): %s", max_block_records, purged.purged_blocks)
    rules = [{**entry, "blocking_rule": rule} for entry, rule in zip(entries, purged.rules, strict=True)]
    return purged.records, {**model, "blocking_rules_to_generate_predictions": rules}
