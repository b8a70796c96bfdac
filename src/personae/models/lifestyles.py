"""Lifestyles in the models step: fit the clusters on buyers' category shares, assign in batches.

The fit reads the share vectors of at most ``models.max_training_rows`` buyers (a uniform
sample by UID); assignment pivots the shares in SQL, one column per category the model
knows, and reads them in bounded batches.
"""

from __future__ import annotations

import pyarrow as pa

from personae.engine.sql import literal
from personae.models.context import ModelContext, ModelsResult, fit_or_reuse
from personae.models.features import category_column
from personae.models.scoring import score_into_table
from personae.segments.lifestyle import LifestyleModel, pivot_shares, share_matrix_sql

LIFESTYLE_FILE = "lifestyle.json"
SCORES = "model_scores_lifestyle"
SCHEMA = pa.schema([("uid", pa.string()), ("lifestyle", pa.string()), ("lifestyle_score", pa.float64())])
MIN_ORDERS = 2


def _wide_sql(categories: list[str]) -> str:
    columns = ", ".join(
        f"coalesce(max(CASE WHEN category = {literal(c)} THEN share END), 0.0) AS {category_column(c)}"
        for c in categories
    )
    return f"SELECT uid, {columns} FROM ({share_matrix_sql(MIN_ORDERS)}) AS s GROUP BY uid"


def fit_lifestyles(context: ModelContext, result: ModelsResult) -> str | None:
    engine, settings = context.engine, context.settings

    def fit() -> LifestyleModel:
        sample = (
            f"SELECT s.* FROM ({share_matrix_sql(MIN_ORDERS)}) AS s JOIN (SELECT DISTINCT uid FROM profiles "
            f"WHERE orders >= {MIN_ORDERS} ORDER BY uid LIMIT {settings.max_training_rows}) AS u ON u.uid = s.uid"
        )
        shares = pivot_shares(engine.fetch_arrow(sample).to_pandas())
        return LifestyleModel().fit(shares, seed=settings.seed, as_of=context.as_of)

    model = fit_or_reuse("lifestyle", context.folder / LIFESTYLE_FILE, fit, LifestyleModel.load, result)
    if model is None:
        return None
    result.reports["lifestyle"] = {"names": model.names_, **model.report_} if model.report_ else {"names": model.names_}
    categories = list(model.params_["categories"])
    renamed = {category_column(c): c for c in categories}

    def score(batch: pa.RecordBatch) -> pa.Table:
        frame = batch.to_pandas().set_index("uid").rename(columns=renamed)
        assigned = model.assign(frame)
        return pa.table(
            {"uid": assigned["uid"], "lifestyle": assigned["segment"], "lifestyle_score": assigned["score"]}
        )

    score_into_table(engine, _wide_sql(categories), score, SCORES, SCHEMA, scratch=context.scratch)
    return f"SELECT uid, lifestyle, lifestyle_score FROM {SCORES}"
