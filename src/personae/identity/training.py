"""Training helpers for the fuzzy matcher: which blocking rules to train on, and the prior.

Kept apart from :mod:`personae.identity.fuzzy` so each module holds one concept.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import numpy.typing as npt
from scipy import special
from splink.blocking_analysis import count_comparisons_from_blocking_rules
from splink.internals.splink_dataframe import SplinkDataFrame

from personae.errors import FuzzyTrainingError
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
