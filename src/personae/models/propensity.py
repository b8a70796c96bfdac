"""Churn and high-value propensity on a time split, in the models step.

With ``h = models.horizon_days`` and ``T`` the as-of day: features are every numeric
trait and the top category shares as of ``T − h`` (computed by the traits SQL for that
day); the labels come from ``(T − h, T]``: **churned** = no order in the window, **high
value** = window revenue in the top ``models.high_value_share`` of the buyers of ``T − h``
(and above zero). The training rows are the buyers of ``T − h`` (at most
``models.max_training_rows``, a uniform sample by UID); UIDs ending in 0–2 (3/16) are held
out for the validation report (AUC, calibration and lift by decile). The model is then
applied to the buyers of ``T`` with their traits as of ``T``, in bounded batches.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyarrow as pa

from personae.engine.sql import end_of_sql
from personae.errors import ModelFitError
from personae.models.boosting import BoostedClassifier
from personae.models.context import ModelContext, ModelsResult
from personae.models.evaluation import binary_report
from personae.models.features import feature_names, features_sql, numeric_traits, top_categories
from personae.models.scoring import score_into_table
from personae.profiles.build import compute_traits, trait_columns
from personae.profiles.orders import orders_sql

SCORES = "model_scores_propensity"
TARGETS = {"churn": "churned", "high_value": "high_value"}
HOLDOUT = "substr(uid, -1) IN ('0', '1', '2')"
SCHEMA = pa.schema(
    [("uid", pa.string()), ("churn_probability", pa.float64()), ("high_value_probability", pa.float64())]
)


def training_sql(context: ModelContext, features: str) -> str:
    """Features as of ``T − h`` of that day's buyers, with both labels from ``(T − h, T]``."""
    settings = context.settings
    past = context.as_of - timedelta(days=settings.horizon_days)
    window = (
        f"SELECT uid, count(*) AS orders, sum(amount) AS revenue FROM ({orders_sql(context.traits, context.as_of)}) "
        f"AS o WHERE ts >= {end_of_sql(past)} GROUP BY uid"
    )
    labelled = (
        "SELECT f.*, CASE WHEN w.orders IS NULL THEN 1 ELSE 0 END AS churned, coalesce(w.revenue, 0) AS future "
        f"FROM ({features}) AS f JOIN _past_traits AS t ON t.uid = f.uid LEFT JOIN ({window}) AS w ON w.uid = f.uid "
        "WHERE t.orders > 0"
    )
    line = f"quantile_cont(future, {1 - settings.high_value_share!r}) OVER ()"
    return f"SELECT *, CASE WHEN future > 0 AND future >= {line} THEN 1 ELSE 0 END AS high_value FROM ({labelled}) AS l"


def _fit(context: ModelContext, result: ModelsResult, numeric: list[str]) -> dict[str, BoostedClassifier]:
    """Fit both classifiers on the time split; raises ModelFitError when they cannot be."""
    engine, settings = context.engine, context.settings
    past = context.as_of - timedelta(days=settings.horizon_days)
    engine.materialise("_people", "SELECT uid FROM profiles")
    compute_traits(engine, context.traits, past, "_people", "_past_")
    categories = top_categories(engine, "_past_shares")
    names = feature_names(numeric, categories)
    features = features_sql("_past_traits", "_past_shares", numeric, categories)
    engine.materialise("_training", training_sql(context, features))
    frame = engine.fetch_arrow(
        f"SELECT *, {HOLDOUT} AS holdout FROM _training ORDER BY uid LIMIT {settings.max_training_rows}"
    ).to_pandas()
    if frame.empty:
        raise ModelFitError(f"no buyers before {past} to learn from: the history is shorter than the horizon")
    train, held = frame[~frame.holdout], frame[frame.holdout]
    fitted = {}
    for name, label in TARGETS.items():
        model = BoostedClassifier(seed=settings.seed).fit(train[names], train[label].to_numpy(), as_of=context.as_of)
        report: dict[str, Any] = {"training_rows": len(train), "features_as_of": past.isoformat()}
        if len(held) and held[label].nunique() == 2:
            report["validation"] = binary_report(held[label].to_numpy(), model.predict_proba(held[names])[:, 1])
        model.report_ = report
        model.metadata_ = {"categories": categories, "numeric": numeric, "horizon_days": settings.horizon_days}
        fitted[name] = model
    return fitted


def fit_propensity(context: ModelContext, result: ModelsResult) -> str | None:
    """Fit (or reuse) both classifiers, score the current buyers; a ``uid, probabilities`` query."""
    columns = trait_columns(context.traits)
    numeric = numeric_traits(columns, list(columns))
    try:
        models = _fit(context, result, numeric)
        for name, model in models.items():
            model.save(context.folder / f"{name}.json")
            result.fitted.append(name)
    except ModelFitError as error:
        paths = {name: context.folder / f"{name}.json" for name in TARGETS}
        if not all(path.is_file() for path in paths.values()):
            for name in TARGETS:
                result.skipped[name] = str(error)
            return None
        models = {name: BoostedClassifier.load(path) for name, path in paths.items()}
        for name, model in models.items():
            result.reused.append(name)
            result.skipped[name] = f"{error}; scoring with the model saved on {model.as_of_}"
    for name, model in models.items():
        result.reports[name] = model.report_
    churn, high_value = models["churn"], models["high_value"]
    saved = churn.metadata_
    current = features_sql("traits", "trait_shares", list(saved["numeric"]), list(saved["categories"]))

    def score(batch: pa.RecordBatch) -> pa.Table:
        frame = batch.to_pandas()
        return pa.table(
            {
                "uid": batch.column("uid"),
                "churn_probability": churn.predict_proba(frame)[:, 1],
                "high_value_probability": high_value.predict_proba(frame)[:, 1],
            }
        )

    buyers = f"SELECT f.* FROM ({current}) AS f JOIN traits AS t ON t.uid = f.uid WHERE t.orders > 0"
    score_into_table(context.engine, buyers, score, SCORES, SCHEMA, scratch=context.scratch)
    return f"SELECT uid, churn_probability, high_value_probability FROM {SCORES}"
