"""Features for the classifiers: numeric traits plus category shares, as SQL on the engine.

Every numeric trait (counts, money, days, shares; booleans as 0/1) is a feature; times and
text are left out (their information is in the ``days_since_*`` traits). The top
categories by revenue add one ``share_<category>`` column each. Missing values stay NULL
(gradient boosting handles them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from personae.engine.base import Engine
from personae.engine.sql import identifier, literal

NUMERIC_TYPES = ("BIGINT", "INTEGER", "DOUBLE", "FLOAT", "HUGEINT", "DECIMAL", "SMALLINT", "BOOLEAN")
LEFT_OUT = frozenset({"uid", "traits_as_of", "top_month"})
TOP_CATEGORIES = 12


def numeric_traits(columns: Mapping[str, str], traits: Sequence[str]) -> list[str]:
    """The traits (in order) whose type is numeric or boolean."""
    return [name for name in traits if name not in LEFT_OUT and columns.get(name, "").upper().startswith(NUMERIC_TYPES)]


def category_column(category: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", category.lower()).strip("_") or "blank"
    return f"share_{slug}"


def top_categories(engine: Engine, shares: str, limit: int = TOP_CATEGORIES) -> list[str]:
    rows = engine.fetch_rows(
        f"SELECT value, sum(revenue) AS revenue FROM {shares} WHERE dimension = 'category' "
        f"GROUP BY value ORDER BY revenue DESC, value LIMIT {int(limit)}"
    )
    return [str(row[0]) for row in rows]


def features_sql(traits: str, shares: str, numeric: Sequence[str], categories: Sequence[str]) -> str:
    """``uid`` and one DOUBLE column per feature for every row of ``traits``."""
    columns = [f"CAST(t.{identifier(name)} AS DOUBLE) AS {identifier(name)}" for name in numeric]
    pivot = ", ".join(
        f"max(CASE WHEN value = {literal(category)} THEN share END) AS {category_column(category)}"
        for category in categories
    )
    if not categories:
        return f"SELECT t.uid, {', '.join(columns)} FROM {traits} AS t"
    shares_by_uid = f"SELECT uid, {pivot} FROM {shares} WHERE dimension = 'category' GROUP BY uid"
    shared = [f"coalesce(s.{category_column(c)}, 0.0) AS {category_column(c)}" for c in categories]
    return (
        f"SELECT t.uid, {', '.join([*columns, *shared])} FROM {traits} AS t "
        f"LEFT JOIN ({shares_by_uid}) AS s ON s.uid = t.uid"
    )


def feature_names(numeric: Sequence[str], categories: Sequence[str]) -> list[str]:
    return [*numeric, *(category_column(c) for c in categories)]
