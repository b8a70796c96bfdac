"""``personae identity explain`` and the fuzzy part of ``personae identity report``.

Why two customer records do or do not match (a waterfall of match weights, one line per
configured comparison), and what the fitted model learnt (m and u per level, and the
levels that look degenerate).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from personae.engine.base import Engine
from personae.engine.sql import literal
from personae.errors import FuzzyModelOutdated, NothingToExplain
from personae.identity.fuzzy import FuzzyMatcher
from personae.identity.matching import MODEL_FILE, records_sql
from personae.identity.splink_model import LevelWeight, MatchWeight, degenerate_levels, level_weights


def explain_pair(engine: Engine, models: Path, first: str, second: str) -> list[MatchWeight]:
    """The waterfall of a pair: the prior, every configured comparison, the total.

    A configured column the model does not compare (no record had a value when it was
    trained) is shown with weight 0 and says so."""
    path = models / MODEL_FILE
    if not path.exists():
        raise NothingToExplain(
            f"no fuzzy model in {path}: run `personae run` with identity.fuzzy.enabled = true "
            "(it needs at least 50 customer records)"
        )
    keys = [first, second]
    for key in keys:
        if ":" not in key:
            raise NothingToExplain(f"{key!r} is not SOURCE:RECORD_ID, e.g. crm:C1000316")
    matcher = FuzzyMatcher.load(path)
    wanted = ", ".join(literal(key) for key in keys)
    records = engine.fetch_arrow(
        f"SELECT * FROM ({records_sql(matcher.settings.compared_columns)}) AS r WHERE record_key IN ({wanted})"
    )
    found = set(records.column("record_key").to_pylist())
    missing = [key for key in keys if key not in found]
    if missing:
        raise NothingToExplain(f"no customer record {', '.join(missing)}; records are named SOURCE:RECORD_ID")
    rows = matcher.explain(records, first, second)
    shown = {row.name for row in rows}
    unused = "not compared: no customer record had a value when the model was trained"
    left_out = [
        MatchWeight(column, unused, 0.0, None, None, kind)
        for column, kind in matcher.settings.comparisons.items()
        if column not in shown
    ]
    return [*rows[:-1], *left_out, rows[-1]]


@dataclass(frozen=True)
class FuzzyModelReport:
    """What the fitted fuzzy model learnt, level by level, and what looks wrong in it."""

    levels: list[LevelWeight]
    warnings: list[str]


def fuzzy_model_report(models: Path) -> FuzzyModelReport | None:
    """The saved model's m and u per level with its degenerate levels; None without a model."""
    path = models / MODEL_FILE
    if not path.exists():
        return None
    try:
        matcher = FuzzyMatcher.load(path)
    except FuzzyModelOutdated as outdated:
        return FuzzyModelReport([], [f"{outdated}"])
    assert matcher.model_ is not None  # load sets it
    levels = level_weights(matcher.model_, matcher.settings.comparisons)
    return FuzzyModelReport(levels, degenerate_levels(levels))
