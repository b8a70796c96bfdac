"""What the models learn from: features as SQL on the engine, and which rows, in what
order, decided by the data and ``models.seed``, never by the UID salt.

**Features.** Every numeric trait (counts, money, days, shares; booleans as 0/1) is a
feature; times and text are left out (their information is in the ``days_since_*``
traits). The top categories by revenue add one ``share_<category>`` column each. Missing
values stay NULL (gradient boosting handles them).

**Days.** A trait that moves with the as-of day alone (``days_since_last_order``,
``days_since_first_order``, ``days_since_last_seen``: see
:func:`personae.profiles.incremental.moving_traits`) is seen by the classifiers as the lower
edge of its bin, ``models.days_since_bins`` (0, 7, 14, 30, 60, 90, … 1095 days; :func:`day_bins`).
In exact days each of them crosses some tree's split almost daily, so 70 % of the propensity
scores and half of the survey ones changed every day with no new data, and an incremental
run walked the trees for all of them. Binned, a person's features move on about a dozen
days in three years. The models' held-out AUC and accuracy with and without the bins are in
bench/RESULTS.md (2026-12-07).

**Values.** The store's money sums are DOUBLE, added in an order that depends on DuckDB's
threads and hash groups, so one person's ``monetary_value`` was 67.27499999999999 in one
copy of a small test world and 67.275 in another (18 of 101 buyers differed so). Models
read every float rounded to :data:`SIGNIFICANT` digits (:func:`steady_frame`), for fitting
and scoring alike, so such noise neither changes a model nor its input digest.

**Rows.** UIDs are a salted hash of a person's founding identifier, with a random salt per
workspace (:mod:`personae.identity.uids`). Everything the models step used to key on the
UID (the propensity holdout of UIDs ending in 0–2, the training samples ``ORDER BY uid
LIMIT n``, the order the CLV optimiser and the classifiers' early-stopping and
cross-validation splits see the rows in) was therefore a random draw per workspace: two
workspaces built from the same 2,000-customer demo world and seed gave different models
and segments (issue 11: the survey segment ``convenience`` held 25 people in one and 84 in
the other). Each person instead gets a **person key**: the md5 of ``models.seed`` and the
smallest ``source:record_id`` of their records. ``record_map`` holds every record and
event with its person, so every person has one, and it names data that two copies of a
workspace share. Rows are ordered by the key; a sample is the first ``n`` rows by key,
uniform because md5 spreads evenly; the holdout is the people whose key starts with 0, 1
or 2 (3/16). Another seed gives another sample and split; a person whose smallest record
changes (a merge) may change sides, as the data changed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from personae.engine.base import Engine
from personae.engine.sql import identifier, literal, literals
from personae.models.specs import ModelSettings
from personae.profiles.catalog import trait_catalog
from personae.profiles.incremental import moving_traits
from personae.profiles.specs import TraitsConfig

NUMERIC_TYPES = ("BIGINT", "INTEGER", "DOUBLE", "FLOAT", "HUGEINT", "DECIMAL", "SMALLINT", "BOOLEAN")
LEFT_OUT = frozenset({"uid", "traits_as_of", "top_month"})
TOP_CATEGORIES = 12
PERSON_KEYS = "_person_keys"
"""The temporary table ``uid, person_key`` the models step builds once per run."""
KEY = "person_key"
HOLDOUT_DIGITS = ("0", "1", "2")
SIGNIFICANT = 12
"""Significant digits a model sees of a float: sums of DOUBLE money in the store differ in
their last bits between runs (DuckDB adds in whatever order its threads and hash groups
give), which rounding to 12 of float64's 15–16 digits removes."""


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


def binned_sql(value: str, edges: Sequence[int]) -> str:
    """``value`` (a count of days) as the lower edge of its bin: 0 below the first edge, NULL kept.

    >>> binned_sql("d", [7, 30])
    'CASE WHEN d IS NULL THEN NULL WHEN d >= 30 THEN 30 WHEN d >= 7 THEN 7 ELSE 0 END'
    """
    steps = "".join(f" WHEN {value} >= {int(edge)} THEN {int(edge)}" for edge in sorted(edges, reverse=True))
    return f"CASE WHEN {value} IS NULL THEN NULL{steps} ELSE 0 END"


def features_sql(
    traits: str,
    shares: str,
    numeric: Sequence[str],
    categories: Sequence[str],
    binned: Mapping[str, Sequence[int]] | None = None,
) -> str:
    """``uid`` and one DOUBLE column per feature for every row of ``traits``; the traits in
    ``binned`` by their bins' edges (see :func:`binned_sql`)."""
    edges = binned or {}
    columns = [
        f"CAST({binned_sql(f't.{identifier(name)}', edges[name]) if edges.get(name) else f't.{identifier(name)}'} "
        f"AS DOUBLE) AS {identifier(name)}"
        for name in numeric
    ]
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


def day_bins(traits: TraitsConfig, settings: ModelSettings, numeric: Sequence[str]) -> dict[str, list[int]]:
    """Feature -> bin edges, for each of ``numeric`` that moves with the as-of day alone
    (none when ``models.days_since_bins`` is empty). A model keeps it in its metadata, and is
    scored with its own bins whatever the settings say later."""
    edges = list(settings.days_since_bins)
    moving = set(moving_traits(trait_catalog(traits)))
    return {name: edges for name in numeric if name in moving} if edges else {}


def feature_names(numeric: Sequence[str], categories: Sequence[str]) -> list[str]:
    return [*numeric, *(category_column(c) for c in categories)]


def person_keys_sql(seed: int) -> str:
    """``uid, person_key`` for every person in ``record_map``: md5 of the seed and their smallest record.

    >>> person_keys_sql(7)
    "SELECT uid, md5('7:' || min(source || ':' || record_id)) AS person_key FROM record_map GROUP BY uid"
    """
    return (
        f"SELECT uid, md5({literal(f'{int(seed)}:')} || min(source || ':' || record_id)) AS {KEY} "
        "FROM record_map GROUP BY uid"
    )


def build_person_keys(engine: Engine, seed: int) -> None:
    """Materialise :data:`PERSON_KEYS` for the statements of this run."""
    engine.materialise(PERSON_KEYS, person_keys_sql(seed))


def holdout_sql(key: str = KEY) -> str:
    """True for the held-out people (key starting with 0–2).

    >>> holdout_sql("k.person_key")
    "substr(k.person_key, 1, 1) IN ('0', '1', '2')"
    """
    return f"substr({key}, 1, 1) IN ({literals(HOLDOUT_DIGITS)})"


def keyed_sql(sql: str, *, limit: int | None = None) -> str:
    """The rows of ``sql`` (which has a ``uid`` column) in person-key order, with their
    ``person_key``; the first ``limit`` of them when given. Needs :data:`PERSON_KEYS` (see
    :func:`build_person_keys`).
    """
    cut = f" LIMIT {int(limit)}" if limit is not None else ""
    return f"SELECT q.*, k.{KEY} FROM ({sql}) AS q JOIN {PERSON_KEYS} AS k ON k.uid = q.uid ORDER BY k.{KEY}{cut}"


def steady_frame(table: pa.Table | pa.RecordBatch) -> pd.DataFrame:
    """``table`` as pandas, every float column rounded to :data:`SIGNIFICANT` significant digits
    (zeros, NaN and infinities kept), so the last bits of a sum's adding order are gone.

    >>> steady_frame(pa.table({"x": [67.27499999999999, 67.275, 0.0, None], "n": [1, 2, 3, 4]})).x.tolist()
    [67.275, 67.275, 0.0, nan]
    """
    frame: pd.DataFrame = table.to_pandas()
    for name in frame.columns:
        if frame[name].dtype.kind != "f":
            continue
        values = frame[name].to_numpy(dtype=np.float64)
        scaled = np.isfinite(values) & (values != 0)
        if not scaled.any():
            continue
        exponent = np.floor(np.log10(np.abs(values[scaled])))
        scale = 10.0 ** np.clip(SIGNIFICANT - 1 - exponent, -300, 300)
        steady = values.copy()
        steady[scaled] = np.round(values[scaled] * scale) / scale
        frame[name] = steady
    return frame
