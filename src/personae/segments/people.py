"""What rules read: ``profiles`` (the golden record and the traits) with the models' scores.

The scores live in ``predictions`` (the models step writes it after the traits step has
rebuilt ``profiles``); rules read both as one relation, so ``churn_probability > 0.7`` is a
rule like any other. Where no model has scored yet the score columns are NULL.
"""

from __future__ import annotations

from personae.engine.base import Engine
from personae.models.specs import PREDICTION_COLUMNS

PEOPLE = "_scored_profiles"
"""What rules read: ``profiles`` (golden record and traits) with the models' scores."""


def people_sql(engine: Engine) -> str:
    """``profiles`` joined to the scores in ``predictions`` (NULL where no model has scored yet)."""
    stored = dict(engine.columns("predictions")) if engine.has_table("predictions") else {}
    scores = ", ".join(
        f"x.{name}" if name in stored else f"CAST(NULL AS {type_}) AS {name}"
        for name, type_ in PREDICTION_COLUMNS.items()
    )
    joined = "LEFT JOIN predictions AS x ON x.uid = p.uid" if stored else ""
    return f"SELECT p.*, {scores} FROM profiles AS p {joined}"


def profile_columns(engine: Engine) -> dict[str, str]:
    """Name -> type of the columns a rule may read; names them ``_scored_profiles`` for the statements
    that follow (empty when there are no profiles yet)."""
    if not engine.has_table("profiles"):
        return {}
    engine.define(PEOPLE, people_sql(engine))
    return dict(engine.columns(PEOPLE))
