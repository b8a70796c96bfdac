"""The survey look-alike: learn respondents' attitudinal segment from their behaviour,
predict it for everyone else with a confidence.

Labels are the ``segment`` of each person's latest survey response. Features are the
numeric traits and top category shares as of the run's day (as for propensity). The
classifier's accuracy is cross-validated (stratified folds) and saved with the model.
Respondents keep their own answer (confidence 1); others get the predicted segment when
its probability reaches ``models.survey_confidence``, else ``unknown``.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from personae.errors import ModelFitError
from personae.models.boosting import BoostedClassifier
from personae.models.context import ModelContext, ModelsResult, fit_or_reuse
from personae.models.evaluation import confident_labels, cross_validated_accuracy
from personae.models.features import feature_names, features_sql, numeric_traits, top_categories
from personae.models.scoring import score_into_table
from personae.profiles.build import trait_columns

SURVEY_FILE = "survey.json"
SCORES = "model_scores_survey"
SCHEMA = pa.schema([("uid", pa.string()), ("survey_segment", pa.string()), ("survey_confidence", pa.float64())])
ANSWERS = (
    "SELECT uid, segment FROM (SELECT m.uid, s.segment, row_number() OVER (PARTITION BY m.uid "
    "ORDER BY s.ts DESC, s.record_id DESC) AS position FROM survey_responses AS s JOIN record_map AS m "
    "ON m.source = s.source AND m.record_id = s.record_id WHERE s.segment IS NOT NULL) AS a WHERE position = 1"
)
"""``uid, segment``: each respondent's latest answer."""


def _fit(context: ModelContext, features: str, names: list[str]) -> BoostedClassifier:
    settings = context.settings
    if not context.engine.has_table("survey_responses"):
        raise ModelFitError("no survey responses loaded: add a source of kind 'survey' with a segment column")
    frame = context.engine.fetch_arrow(
        f"SELECT f.*, a.segment AS answer FROM ({features}) AS f JOIN ({ANSWERS}) AS a ON a.uid = f.uid "
        f"ORDER BY f.uid LIMIT {settings.max_training_rows}"
    ).to_pandas()
    labels = frame["answer"].astype(str).to_numpy()

    def make() -> BoostedClassifier:
        return BoostedClassifier(seed=settings.seed)

    model = make().fit(frame[names], labels, as_of=context.as_of)
    model.report_ = {
        "respondents": len(frame),
        "cross_validated_accuracy": cross_validated_accuracy(make, frame[names], labels, folds=5, seed=settings.seed),
        "majority_share": float(pd.Series(labels).value_counts(normalize=True).iloc[0]),
        "confidence_threshold": settings.survey_confidence,
    }
    return model


def fit_lookalike(context: ModelContext, result: ModelsResult) -> str | None:
    """Fit (or reuse) the survey classifier; a ``uid, survey_segment, survey_confidence`` query."""
    columns = trait_columns(context.traits)
    numeric = numeric_traits(columns, list(columns))
    categories = top_categories(context.engine, "trait_shares")

    def fit() -> BoostedClassifier:
        features = features_sql("traits", "trait_shares", numeric, categories)
        model = _fit(context, features, feature_names(numeric, categories))
        model.metadata_ = {"categories": categories, "numeric": numeric}
        return model

    model = fit_or_reuse("survey", context.folder / SURVEY_FILE, fit, BoostedClassifier.load, result)
    if model is None:
        return None
    result.reports["survey"] = model.report_
    current = features_sql(
        "traits", "trait_shares", list(model.metadata_["numeric"]), list(model.metadata_["categories"])
    )
    threshold = context.settings.survey_confidence

    def score(batch: pa.RecordBatch) -> pa.Table:
        labels, confidence = confident_labels(model.predict_proba(batch.to_pandas()), model.classes_, threshold)
        return pa.table({"uid": batch.column("uid"), "survey_segment": labels, "survey_confidence": confidence})

    score_into_table(context.engine, current, score, SCORES, SCHEMA, scratch=context.scratch)
    return (
        "SELECT s.uid, coalesce(a.segment, s.survey_segment) AS survey_segment, "
        f"CASE WHEN a.segment IS NOT NULL THEN 1.0 ELSE s.survey_confidence END AS survey_confidence "
        f"FROM {SCORES} AS s LEFT JOIN ({ANSWERS}) AS a ON a.uid = s.uid"
    )
