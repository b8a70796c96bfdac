"""Reading a fitted Splink model: its columns, its untrained levels, its SQL for another
backend, and the per-comparison weights that explain one pair.

The model is Splink's own JSON-ready settings dict (``linker.misc.save_model_to_json()``),
as :class:`personae.identity.fuzzy.FuzzyMatcher` keeps and saves it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from splink import SettingsCreator
from splink.internals.splink_dataframe import SplinkDataFrame

from personae.identity.comparisons import KEY, comparison_for


def model_columns(model: dict[str, Any]) -> tuple[str, ...]:
    """The record columns a fitted Splink model compares, in order."""
    return tuple(str(c["output_column_name"]) for c in model["comparisons"])


def untrained_levels(model: dict[str, Any]) -> list[str]:
    """The levels of a Splink model that training left without an ``m`` or ``u``."""
    untrained = []
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            lacking = [p for p in ("m_probability", "u_probability") if p not in level]
            if lacking:
                label = level.get("label_for_charts", level["sql_condition"])
                untrained.append(f"{comparison['output_column_name']}: {label} (no {', '.join(lacking)})")
    return untrained


def complete_untrained(model: dict[str, Any], sampled_pairs: float) -> list[str]:
    """Fill the ``m`` and ``u`` that training left out; returns the labels of those levels.

    - Seen by neither (say, Jaro-Winkler 0.88 on a city column without typos): the level
      says nothing about a match, so m = u, a neutral weight.
    - Seen among matches but in none of the ``sampled_pairs`` random pairs (two people
      with the same phone number): u is at most 3 / ``sampled_pairs`` (the "rule of
      three", a 95 % upper bound). A neutral weight would throw away strong evidence.
    - Seen among random pairs but not among matches: m = u, neutral, as EM found no
      match there to say otherwise.
    """
    labels = untrained_levels(model)
    unseen_u = min(1.0, 3.0 / max(sampled_pairs, 1.0))
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            if "m_probability" in level and "u_probability" not in level:
                level["u_probability"] = min(unseen_u, level["m_probability"])
            known = [level[p] for p in ("m_probability", "u_probability") if p in level]
            value = known[0] if known else UNSEEN_PROBABILITY  # never seen at all: a sliver of mass
            level.setdefault("m_probability", value)
            level.setdefault("u_probability", value)
    return labels


UNSEEN_PROBABILITY = 1e-6
"""m and u of a level no pair fell into: equal (no evidence) and too small to unbalance the rest."""


def settings_for_dialect(model: dict[str, Any], dialect: str, kinds: Mapping[str, str]) -> dict[str, Any]:
    """``model`` with its SQL rendered for ``dialect`` (parameters copied level by level)."""
    if model.get("sql_dialect") == dialect:
        return model
    columns = model_columns(model)
    used = {c: kinds[c] for c in columns}
    creator = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[comparison_for(c, used) for c in columns],
        blocking_rules_to_generate_predictions=[
            r["blocking_rule"] for r in model["blocking_rules_to_generate_predictions"]
        ],
        unique_id_column_name=model["unique_id_column_name"],
        retain_matching_columns=False,
        probability_two_random_records_match=model["probability_two_random_records_match"],
    )
    rendered = creator.create_settings_dict(dialect)
    for target, source in zip(rendered["comparisons"], model["comparisons"], strict=True):
        for level, trained in zip(target["comparison_levels"], source["comparison_levels"], strict=True):
            for parameter in ("m_probability", "u_probability"):
                if parameter in trained:
                    level[parameter] = trained[parameter]
    return rendered


@dataclass(frozen=True)
class MatchWeight:
    """One line of a pair's match-weight waterfall: the prior, a comparison, or the total."""

    name: str
    level: str
    """The comparison level the pair falls in (or what the prior and total are)."""
    match_weight: float
    """log2 Bayes factor (for the prior: log2 odds); the lines before the total add up to it."""
    value_l: str | None
    value_r: str | None
    kind: str = ""
    """The comparison kind of the column (``name``, ``date``, ...); empty for the prior and total."""


def explanation(
    model: dict[str, Any], scored: dict[str, Any], kinds: Mapping[str, str] | None = None
) -> list[MatchWeight]:
    """The waterfall of one pair scored by Splink: prior, each comparison, total.

    Splink reports each comparison's weight as ``mw_<name>`` and, for levels with a
    term-frequency adjustment, the adjustment as ``mw_tf_adj_<name>``; both are log2
    Bayes factors, so they add to the prior's log2 odds to give the total.
    """
    key = model["unique_id_column_name"]
    prior = float(model["probability_two_random_records_match"])
    rows = [
        MatchWeight(
            "prior", f"probability two random records match = {prior:.3g}", math.log2(prior / (1 - prior)), None, None
        )
    ]
    for comparison in model["comparisons"]:
        name = comparison["output_column_name"]
        level = level_for_gamma(comparison["comparison_levels"], int(scored[f"gamma_{name}"]))
        weight = float(scored[f"mw_{name}"]) + float(scored.get(f"mw_tf_adj_{name}") or 0.0)
        label = str(level.get("label_for_charts", level["sql_condition"]))
        shown_l, shown_r = _shown(scored.get(f"{name}_l")), _shown(scored.get(f"{name}_r"))
        rows.append(MatchWeight(name, label, weight, shown_l, shown_r, (kinds or {}).get(name, "")))
    probability = float(scored["match_probability"])
    total = float(scored["match_weight"])
    rows.append(
        MatchWeight("total", f"match probability {probability:.4f}", total, scored[f"{key}_l"], scored[f"{key}_r"])
    )
    return rows


def level_for_gamma(levels: list[dict[str, Any]], gamma: int) -> dict[str, Any]:
    """The level with comparison vector value ``gamma`` (NULL level -1, else counted down)."""
    if gamma == -1:
        return next(lv for lv in levels if lv.get("is_null_level"))
    ranked = [lv for lv in levels if not lv.get("is_null_level")]
    return ranked[len(ranked) - 1 - gamma]


def _shown(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class LevelWeight:
    """One level of a fitted comparison: how often matches (m) and strangers (u) land there."""

    comparison: str
    kind: str
    level: str
    m_probability: float
    u_probability: float
    match_weight: float
    """log2(m / u): what a pair in this level adds to its score."""


def level_weights(model: dict[str, Any], kinds: Mapping[str, str]) -> list[LevelWeight]:
    """Every non-NULL level of every comparison of a fitted model, from the closest down."""
    rows = []
    for comparison in model["comparisons"]:
        name = str(comparison["output_column_name"])
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            m, u = float(level["m_probability"]), float(level["u_probability"])
            label = str(level.get("label_for_charts", level["sql_condition"]))
            rows.append(LevelWeight(name, kinds.get(name, ""), label, m, u, math.log2(m / u)))
    return rows


VETO_M = 1e-6
"""An "else" m below this makes a disagreement outweigh any agreement (log2 weight below about -20)."""


def degenerate_levels(levels: list[LevelWeight]) -> list[str]:
    """Comparisons whose closest level's m is at or below their last ("else") level's.

    One person's records should agree on a column more often than they disagree; when EM
    learnt an exact-match m at or below the else level's, the column tells matches from
    strangers badly (people who moved, a postcode column holding another field), and its
    weights are worth a look. The other way round, an else-level m near zero (below
    :data:`VETO_M`) makes one disagreement veto a match whatever else agrees.
    """
    warnings = []
    by_comparison: dict[str, list[LevelWeight]] = {}
    for level in levels:
        by_comparison.setdefault(level.comparison, []).append(level)
    for name, rows in by_comparison.items():
        closest, last = rows[0], rows[-1]
        if len(rows) > 1 and last.m_probability < VETO_M:
            warnings.append(
                f"{name}: m of '{last.level}' is {last.m_probability:.3g}: EM learnt that one person's records "
                f"never disagree on it, so a disagreement ({last.match_weight:.1f}) vetoes any match (a person "
                "who moved, a second phone); if that can happen in your data, train on more varied pairs "
                "(identity.fuzzy.training) or leave the column out of identity.fuzzy.compare"
            )
        if len(rows) > 1 and closest.m_probability <= last.m_probability:
            warnings.append(
                f"{name}: m of '{closest.level}' is {closest.m_probability:.3g}, at or below "
                f"'{last.level}' ({last.m_probability:.3g}): one person's records disagree on it as often "
                "as they agree (moves, a column holding other values); check its mapping, or leave it out "
                "of identity.fuzzy.compare"
            )
    return warnings


LINKS = pa.schema(
    [
        (f"{KEY}_l", pa.string()),
        (f"{KEY}_r", pa.string()),
        ("match_probability", pa.float64()),
        ("match_weight", pa.float64()),
    ]
)
"""The columns of :meth:`FuzzyMatcher.predict`'s pairs."""


def link_pairs(pairs: pa.Table) -> pa.Table:
    """Pairs with the smaller key on the left, as strings, and the scores as doubles."""
    left, right = pc.cast(pairs[f"{KEY}_l"], pa.string()), pc.cast(pairs[f"{KEY}_r"], pa.string())
    swap = pc.greater(left, right)
    columns = [
        pc.if_else(swap, right, left),
        pc.if_else(swap, left, right),
        pairs["match_probability"],
        pairs["match_weight"],
    ]
    return pa.Table.from_arrays([pc.cast(c, f.type) for c, f in zip(columns, LINKS, strict=True)], schema=LINKS)


def arrow(frame: SplinkDataFrame) -> pa.Table:
    """A Splink result as an Arrow table, whichever backend holds it."""
    table: pa.Table = frame.as_pyarrow_table()  # type: ignore[no-untyped-call]  # untyped in Splink
    return table
