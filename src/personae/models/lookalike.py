"""The survey look-alike: learn respondents' attitudinal segment from their behaviour,
predict it for everyone else with a confidence.

Labels are the ``segment`` of each person's latest survey response. Features are the
numeric traits and top category shares as of the run's day (as for propensity); the
respondents are taken in person-key order (:mod:`personae.models.features`), at most
``models.max_training_rows``. The classifier's accuracy is cross-validated (stratified
folds) and saved with the model; it must beat always guessing the majority answer by
``models.min_accuracy_lift``, significantly (:mod:`personae.models.verdict`), or the model
predicts nothing. Respondents keep their own answer (confidence 1); others get the
predicted segment when its probability reaches ``models.survey_confidence``, else
``unknown``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd
import pyarrow as pa

from personae.errors import ModelFitError
from personae.models.boosting import BoostedClassifier
from personae.models.context import ModelContext, ModelsResult, Plan, fit_or_reuse, input_digest
from personae.models.evaluation import confident_labels, cross_validated_accuracy
from personae.models.features import (
    day_bins,
    feature_names,
    features_sql,
    keyed_sql,
    numeric_traits,
    steady_frame,
    top_categories,
)
from personae.models.score_reuse import LeafCodes, score_into_table_keeping
from personae.models.verdict import Verdict, multiclass_verdict
from personae.profiles.build import trait_columns

SURVEY_FILE = "survey.json"
SCORES = "model_scores_survey"
COLUMNS = {"survey_segment": pa.string(), "survey_confidence": pa.float64()}
ANSWERS = (
    "SELECT uid, segment FROM (SELECT m.uid, s.segment, row_number() OVER (PARTITION BY m.uid "
    "ORDER BY s.ts DESC, s.record_id DESC) AS position FROM survey_responses AS s JOIN record_map AS m "
    "ON m.source = s.source AND m.record_id = s.record_id WHERE s.segment IS NOT NULL) AS a WHERE position = 1"
)
"""``uid, segment``: each respondent's latest answer."""


def _plan(context: ModelContext, features: str, names: list[str], metadata: dict[str, Any]) -> Plan[BoostedClassifier]:
    """The respondents' features and answers (in person-key order), keyed, and the fit on them."""
    settings = context.settings
    if not context.engine.has_table("survey_responses"):
        raise ModelFitError("no survey responses loaded: add a source of kind 'survey' with a segment column")
    answered = f"SELECT f.*, a.segment AS answer FROM ({features}) AS f JOIN ({ANSWERS}) AS a ON a.uid = f.uid"
    frame = steady_frame(context.engine.fetch_arrow(keyed_sql(answered, limit=settings.max_training_rows)))
    labels = frame["answer"].astype(str).to_numpy()

    def make() -> BoostedClassifier:
        return BoostedClassifier(seed=settings.seed)

    digest = input_digest(
        frame[[*names, "answer"]],
        {
            "model": "survey",
            "models": settings.model_dump(mode="json"),
            "boosting": dataclasses.asdict(make().settings),
        },
    )

    def fit() -> BoostedClassifier:
        model = make().fit(frame[names], labels, as_of=context.as_of)
        accuracy = cross_validated_accuracy(make, frame[names], labels, folds=5, seed=settings.seed)
        majority = float(pd.Series(labels).value_counts(normalize=True).iloc[0])
        model.report_ = {
            "respondents": len(frame),
            "cross_validated_accuracy": accuracy,
            "majority_share": majority,
            "confidence_threshold": settings.survey_confidence,
            "verdict": multiclass_verdict(accuracy["mean"], majority, len(frame), settings).to_dict(),
        }
        model.metadata_ = metadata
        return model

    return Plan(digest, fit)


def _verdict_of_old(report: dict[str, Any], context: ModelContext) -> Verdict:
    """The verdict for a model saved before verdicts were (reused only when it cannot be refitted)."""
    accuracy = report.get("cross_validated_accuracy") or {}
    if "mean" not in accuracy or "majority_share" not in report:
        return Verdict(False, "the saved model has no cross-validated accuracy to judge it by; refit")
    return multiclass_verdict(accuracy["mean"], report["majority_share"], int(accuracy["n"]), context.settings)


def fit_lookalike(context: ModelContext, result: ModelsResult) -> str | None:
    """Fit (or reuse) the survey classifier; a ``uid, survey_segment, survey_confidence`` query.

    Respondents keep their own answer whether or not the model is used: it is their data,
    not a prediction. Others get a prediction only from a used model, else NULL.
    """
    columns = trait_columns(context.traits)
    numeric = numeric_traits(columns, list(columns))
    categories = top_categories(context.engine, "trait_shares")
    binned = day_bins(context.traits, context.settings, numeric)
    features = features_sql("traits", "trait_shares", numeric, categories, binned)
    metadata = {"categories": categories, "numeric": numeric, "binned": binned}
    model = fit_or_reuse(
        "survey",
        context.folder / SURVEY_FILE,
        lambda: _plan(context, features, feature_names(numeric, categories), metadata),
        BoostedClassifier.load,
        result,
        keep_saved=context.keep_saved,
    )
    if model is None:
        return None
    result.reports["survey"] = model.report_
    verdict = Verdict.of(model.report_) or _verdict_of_old(model.report_, context)
    if not verdict.used:
        result.unused["survey"] = verdict.why
        return (
            "SELECT p.uid, a.segment AS survey_segment, CASE WHEN a.segment IS NOT NULL THEN 1.0 END "
            f"AS survey_confidence FROM profiles AS p LEFT JOIN ({ANSWERS}) AS a ON a.uid = p.uid"
        )
    saved = model.metadata_
    current = features_sql(
        "traits", "trait_shares", list(saved["numeric"]), list(saved["categories"]), saved.get("binned")
    )
    threshold = context.settings.survey_confidence

    def predict(frame: pd.DataFrame) -> dict[str, Any]:
        labels, confidence = confident_labels(model.predict_proba(frame), model.classes_, threshold)
        return {"survey_segment": labels, "survey_confidence": confidence}

    codes = LeafCodes([model], settings=f"survey_confidence={threshold}")
    result.scored["survey"] = score_into_table_keeping(
        context.engine, current, SCORES, codes, predict, COLUMNS, scratch=context.scratch
    )
    return (
        "SELECT s.uid, coalesce(a.segment, s.survey_segment) AS survey_segment, "
        f"CASE WHEN a.segment IS NOT NULL THEN 1.0 ELSE s.survey_confidence END AS survey_confidence "
        f"FROM {SCORES} AS s LEFT JOIN ({ANSWERS}) AS a ON a.uid = s.uid"
    )
