"""Keeping a person's boosted-tree scores when their features reach the same leaves as last time.

A tree compares each feature with its split thresholds, so a row's leaves, and its score to the
last bit, depend only on where each feature lies among the thresholds the model uses on it (and
on whether it is missing). :class:`LeafCodes` hashes that position of every feature, for every
model that scores a table, into one 64-bit code per row, seeded by the models' own content and
settings; the score tables keep it in :data:`CODE`. The next run predicts only the rows whose
code changed and copies the rest from the stored row. An increment changes the traits of few
people, but the days-since traits of everyone move every day: in exact days, at 1M customers,
half the survey scores were kept after a day and 30 % after three. In bins
(``models.days_since_bins``), 87–90 % are kept after a day (bench/RESULTS.md, 2026-12-07).

Most rows then have exactly the features of the last run, and on DuckDB they are found in SQL
(the table keeps a hash of each row's features, seeded as the codes are, :data:`DIGEST`) and
copied from the stored row without reaching Python; only the others have their codes
computed and compared.

Two different positions share a code only by a 64-bit hash collision
(``pandas.util.hash_pandas_object``), so a kept score equals the one a prediction would give;
two different feature rows share a digest only by a 63-bit one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from personae.engine.base import Engine
from personae.engine.dialects import has
from personae.engine.sql import identifier
from personae.models.boosting import BoostedClassifier, feature_matrix
from personae.models.features import steady_frame
from personae.models.scoring import score_into_table

CODE = "_leaf_code"
"""The score tables' column of each row's code."""
KEPT = "_kept_"
"""The prefix of the stored values :func:`with_kept` joins to each row."""
DIGEST = "_feature_digest"
"""The score tables' column of each row's hash of the features the models read, 63 bits (NULL
where the engine does not hash rows)."""
ROWS = "_scoring_rows"
"""The temporary table of the rows to score with their digests and stored values."""


def _split_points(model: BoostedClassifier) -> list[NDArray[np.float64]]:
    """Per feature, the sorted thresholds the model's trees compare it with."""
    points: list[set[float]] = [set() for _ in model.feature_names_]
    for round_ in model.params_["trees"]:
        for tree in round_:
            for feature, threshold in zip(tree["feature"], tree["threshold"], strict=True):
                if feature >= 0 and threshold is not None:  # None: +inf, present values all go left
                    points[feature].add(float(threshold))
    return [np.asarray(sorted(found), dtype=np.float64) for found in points]


class LeafCodes:
    """The codes of rows for a set of models (see the module docstring)."""

    def __init__(self, models: Sequence[BoostedClassifier], settings: str = "") -> None:
        """``settings``: whatever else the scores depend on (a confidence threshold)."""
        self.models = list(models)
        self.points = [_split_points(model) for model in self.models]
        self.features = list(dict.fromkeys(name for model in self.models for name in model.feature_names_))
        """Every feature the models read, once each."""
        content = json.dumps([settings, *(model.params_ for model in self.models)], sort_keys=True).encode()
        self.seed = int.from_bytes(hashlib.sha256(content).digest()[:8], "little") >> 2

    def positions(self, number: int, frame: pd.DataFrame) -> dict[str, NDArray[np.int64]]:
        """Per feature of model ``number``, how many of its thresholds each value exceeds; -1 when missing.

        A value ``v`` goes left at a threshold ``t`` exactly when ``v <= t``, that is when fewer
        than ``index(t) + 1`` thresholds lie below it, so equal positions take equal paths."""
        model = self.models[number]
        matrix = feature_matrix(frame, model.feature_names_)
        columns = {}
        for index, thresholds in enumerate(self.points[number]):
            values = matrix[:, index]
            place = np.searchsorted(thresholds, values, side="left").astype(np.int64)
            place[np.isnan(values)] = -1
            columns[f"{number}:{index}"] = place
        return columns

    def of(self, frame: pd.DataFrame) -> NDArray[np.int64]:
        """One code per row of ``frame``."""
        columns: dict[str, NDArray[np.int64]] = {"seed": np.full(len(frame), self.seed, dtype=np.int64)}
        for number in range(len(self.models)):
            columns.update(self.positions(number, frame))
        hashed = pd.util.hash_pandas_object(pd.DataFrame(columns), index=False).to_numpy(dtype=np.uint64)
        codes: NDArray[np.int64] = hashed.view(np.int64).copy()  # pandas hands back a read-only array
        return codes


def with_kept(engine: Engine, sql: str, table: str, columns: Sequence[str], digest: str | None = None) -> str:
    """``sql`` (with a ``uid``) and, where ``table`` holds the person's row from the last run, its
    code, feature digest and ``columns`` as ``_kept_<name>``; with ``digest`` (SQL over ``f``,
    the row of ``sql``) as :data:`DIGEST`."""
    own = f", {digest} AS {DIGEST}" if digest else ""
    stored = {name for name, _ in engine.columns(table)} if engine.has_table(table) else set()
    if not {CODE, *columns} <= stored:  # nothing stored yet, or stored without one of the columns
        return f"SELECT f.*{own} FROM ({sql}) AS f"
    kept = ", ".join(
        f"{'k.' + name if name in stored else 'NULL'} AS {KEPT}{name}" for name in (CODE, DIGEST, *columns)
    )
    return f"SELECT f.*{own}, {kept} FROM ({sql}) AS f LEFT JOIN {table} AS k ON k.uid = f.uid"


def score_keeping(
    codes: LeafCodes,
    batch: pa.RecordBatch,
    frame: pd.DataFrame,
    predict: Callable[[pd.DataFrame], Mapping[str, Any]],
    columns: Mapping[str, pa.DataType],
) -> tuple[dict[str, pa.Array], int]:
    """``columns`` for every row of ``batch`` (``frame`` is its features as the models read
    them): the stored value (from :func:`with_kept`) where the row's code is the stored one,
    else ``predict`` of those rows, one row per distinct code (rows of one code take the same
    path through every tree; at 1M customers the survey scores of a whole run have 43 % fewer
    codes than rows in each batch); with the codes as :data:`CODE`, and how many rows were
    predicted."""
    code = codes.of(frame)
    fresh = np.ones(len(code), dtype=bool)
    if f"{KEPT}{CODE}" in batch.schema.names:
        stored = batch.column(f"{KEPT}{CODE}")
        present = stored.is_valid().to_numpy(zero_copy_only=False)
        fresh[present] = stored.drop_null().to_numpy() != code[present]
    result: dict[str, pa.Array] = {CODE: pa.array(code, pa.int64())}
    # rows of one code reach the same leaves: each distinct code is predicted once
    rows = np.flatnonzero(fresh)
    _, first, spread = np.unique(code[rows], return_index=True, return_inverse=True)
    predicted = (
        predict(frame.iloc[rows[first]]) if len(rows) else {name: pa.array([], kind) for name, kind in columns.items()}
    )
    for name, kind in columns.items():
        values = pa.array(predicted[name], kind).take(pa.array(spread))
        if not fresh.all():
            values = pc.replace_with_mask(batch.column(f"{KEPT}{name}").cast(kind), pa.array(fresh), values)
        result[name] = values
    return result, int(fresh.sum())


def score_into_table_keeping(
    engine: Engine,
    sql: str,
    table: str,
    codes: LeafCodes,
    predict: Callable[[pd.DataFrame], Mapping[str, Any]],
    columns: Mapping[str, pa.DataType],
    *,
    scratch: Path,
) -> tuple[int, int]:
    """:func:`~personae.models.scoring.score_into_table` of ``sql`` (with a ``uid``) into
    ``table`` (``uid``, ``columns``, :data:`CODE` and :data:`DIGEST`), predicting only the rows
    whose code changed since the table was last written; returns (rows predicted, rows written).

    Where the engine hashes rows (DuckDB), a row whose features hash as they did last time
    keeps its stored row in SQL and never reaches Python; the others have their codes compared
    there (:func:`score_keeping`)."""
    schema = pa.schema([("uid", pa.string()), *columns.items(), (CODE, pa.int64()), (DIGEST, pa.int64())])
    predicted = 0

    def score(batch: pa.RecordBatch) -> pa.Table:
        nonlocal predicted
        scores, fresh = score_keeping(codes, batch, steady_frame(batch), predict, columns)
        predicted += fresh
        digests = batch.column(DIGEST) if DIGEST in batch.schema.names else pa.nulls(batch.num_rows, pa.int64())
        return pa.table({"uid": batch.column("uid"), **scores, DIGEST: digests})

    if not has(engine.name, "row_hash"):
        kept = with_kept(engine, sql, table, list(columns))
        written = score_into_table(engine, kept, score, table, schema, scratch=scratch)
        return predicted, written
    # seeded like the codes: another model or setting changes every digest, so nothing is kept
    hashed = ", ".join([str(codes.seed), *(f"f.{identifier(name)}" for name in codes.features)])
    digest = f"CAST(hash({hashed}) >> 1 AS BIGINT)"
    engine.materialise(ROWS, with_kept(engine, sql, table, list(columns), digest))
    try:
        if f"{KEPT}{CODE}" in {name for name, _ in engine.columns(ROWS)}:
            same = f"{KEPT}{DIGEST} = {DIGEST}"
            stored = ", ".join(f"{KEPT}{name} AS {name}" for name in (*columns, CODE))
            unchanged: str | None = f"SELECT uid, {stored}, {DIGEST} FROM {ROWS} WHERE {same}"
            changed = f"SELECT * FROM {ROWS} WHERE NOT coalesce({same}, false)"
        else:  # nothing stored yet
            unchanged, changed = None, f"SELECT * FROM {ROWS}"
        written = score_into_table(engine, changed, score, table, schema, scratch=scratch, scored=unchanged)
    finally:
        engine.drop_table(ROWS)
    return predicted, written
