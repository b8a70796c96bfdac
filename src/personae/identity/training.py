"""Training helpers for the fuzzy matcher: which blocking rules to train on, and the prior.

Kept apart from :mod:`personae.identity.fuzzy` so each module holds one concept.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
from scipy import special
from splink.blocking_analysis import count_comparisons_from_blocking_rules
from splink.internals.splink_dataframe import SplinkDataFrame

from personae.errors import FuzzySettingsError, FuzzyTrainingError
from personae.identity.block_purging import equality_terms
from personae.identity.comparisons import KEY

MIN_TRAINING_PAIRS = 100
"""A blocking rule must find this many pairs to be used for EM training."""

MAX_COUNTED_RECORDS = 100_000
"""Above this many records, rules' pairs are counted on a (deterministic) sample."""

MAX_PRIOR_ITERATIONS = 500
"""Cap on the fixed-point iterations of :func:`matching_prior` (it settles in tens)."""


class Underflow(Exception):
    """EM over one blocking rule drove an m probability to zero."""

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(rule)
        self.rule, self.reason = rule, reason


def training_rules(frame: SplinkDataFrame, rules: list[str], count: int, *, required: bool = True) -> list[str]:
    """The blocking rules that find enough pairs in ``frame`` to run EM over.

    A rule that finds few pairs (swapped names are rare) still generates pairs to score,
    but EM over a handful of pairs would not settle, or not at all over none.
    """
    proportion = min(1.0, MAX_COUNTED_RECORDS / max(count, 1))
    usable = []
    for rule in rules:
        with warnings.catch_warnings():
            # Over MAX_COUNTED_RECORDS Splink warns (UserWarning) "The sampled blocking
            # analysis estimate … may be unstable" for rules with few pairs: those are
            # the rules being left out, so the estimate is precise enough.
            warnings.filterwarnings("ignore", "The sampled blocking analysis estimate", UserWarning)
            (counted,) = count_comparisons_from_blocking_rules(
                frame,
                blocking_rules=rule,
                link_type="dedupe_only",
                unique_id_column_name=KEY,
                record_sample_proportion=proportion,
            )
        if counted["cumulative_comparison_count"] >= MIN_TRAINING_PAIRS:
            usable.append(rule)
    if not usable and required:
        raise FuzzyTrainingError(
            f"no blocking rule finds {MIN_TRAINING_PAIRS} pairs of these {count} records to learn "
            "from; fit on more records, or add a blocking rule that finds more pairs"
        )
    return usable


def matching_prior(
    weights: npt.NDArray[np.float64], pairs: npt.NDArray[np.int64], *, prior: float, all_pairs: float
) -> float:
    """The probability that two random records match, as a fixed point over blocked pairs.

    ``weights`` are the match weights (log2 odds) of the blocked pairs scored with
    ``prior``, ``pairs`` how many pairs have each weight. The answer λ satisfies
    λ = (expected matches among the blocked pairs under λ) / ``all_pairs``, i.e. it
    assumes the blocking rules find (nearly) every match. Splink's own estimate from
    EM sessions breaks down when a training rule's pairs are nearly all matches.

    >>> round(matching_prior(np.array([20.0, -20.0]), np.array([10, 1000]), prior=0.5, all_pairs=1e4), 4)
    0.001
    """
    evidence = weights - math.log2(prior / (1 - prior))
    counts = pairs.astype(np.float64)
    floor = 0.5 / all_pairs  # half a match: "no duplicates" still gives a usable model
    estimate = max(float(counts.sum()) / all_pairs, floor)  # every blocked pair a match
    for _ in range(MAX_PRIOR_ITERATIONS):
        log_odds = math.log2(estimate / (1 - estimate))
        expected = float(np.dot(counts, special.expit((evidence + log_odds) * math.log(2))))
        updated = max(expected / all_pairs, floor)
        if abs(updated - estimate) <= 1e-9 * estimate:
            return updated
        estimate = updated
    return estimate


def equi_join_columns(rule: str) -> list[str] | None:
    """The columns a rule joins on (``l.x = r.x`` terms of its top-level ``and``).

    None when it joins on anything else too (``l.first_name = r.last_name``), which
    :func:`refuse_every_pair_rules` does not count; ``[]`` when it has no equality between
    the two sides at all, so that the engine must compare every pair and filter.

    >>> equi_join_columns("l.a = r.a and l.b <> r.b")
    ['a']
    >>> equi_join_columns("l.a = r.a or l.b = r.b")
    []
    """
    terms = equality_terms(rule)
    if any(left != right for left, right in terms):
        return None
    return [left for left, _ in terms]


def refuse_every_pair_rules(
    table: pa.Table,
    rules: list[str],
    config: Mapping[str, Any] | None = None,
    *,
    store: duckdb.DuckDBPyConnection | None = None,
) -> None:
    """Raise :class:`~personae.errors.FuzzySettingsError` for a rule that would compare every pair.

    A rule with no ``l.x = r.x`` equality makes the engine score all n·(n−1)/2 pairs (a
    cross join), as does one whose columns hold a single value in every record; either
    would take hours on a customer base, so it is refused with the number of pairs it
    would make. The counts run on a cursor of ``store`` (the store's DuckDB instance, under
    its memory limit), or else on a connection of their own with the limits in ``config``.
    """
    count = table.num_rows
    every_pair = count * (count - 1) // 2
    for rule in rules:
        columns = equi_join_columns(rule)
        if columns is None:
            continue
        if columns:
            keys = ", ".join(f'"{c}"' for c in dict.fromkeys(columns))
            not_null = " AND ".join(f'"{c}" IS NOT NULL' for c in dict.fromkeys(columns))
            opened = store.cursor() if store is not None else duckdb.connect(config=dict(config or {}))
            with opened as connection:
                connection.register("records", table)
                pairs = connection.execute(
                    "SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM "
                    f"(SELECT count(*) AS n FROM records WHERE {not_null} GROUP BY {keys})"
                ).fetchone()
            found = int(pairs[0]) if pairs else 0
            if found < every_pair or count < MIN_TRAINING_PAIRS:
                continue
            why = f"its columns {sorted(set(columns))} hold one value in every record"
        else:
            why = "it has no equality between an l. and an r. column (such as l.last_name = r.last_name)"
        raise FuzzySettingsError(
            f"blocking rule {rule!r} would compare every pair of the {count:,} customer records: "
            f"{every_pair:,} pairs, as {why}. Block on columns that split the records into small "
            "groups, e.g. 'l.last_name = r.last_name and l.birth_date = r.birth_date'"
        )


def training_sample(table: pa.Table, size: int, seed: int) -> pa.Table:
    """``size`` of ``table``'s records drawn at random (seeded; whatever order they came in),
    or all of them when there are no more.

    EM and the ``u`` sample each cap their pairs already; what grew with the records was
    everything around them (the blocked-pair counts that pick the training rules, the
    term-frequency tables, the prior's histogram over every blocked pair). A fixed sample
    keeps training's cost flat. Sampling records keeps the shares of matches and non-matches
    in each block (both go as the square of the sampled share), so m, u and the prior are
    estimated without bias; the sample only has to hold enough duplicate pairs.
    """
    if table.num_rows <= size:
        return table
    ordered = table.sort_by(KEY)
    chosen = np.random.default_rng(seed).choice(ordered.num_rows, size=size, replace=False)
    return ordered.take(pa.array(np.sort(chosen)))
