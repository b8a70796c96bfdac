"""Churn and high-value propensity on a time split, in the models step.

With ``h = models.horizon_days`` and ``T`` the as-of day: features are every numeric
trait and the top category shares as of ``T − h`` (computed by the traits SQL for that
day); the labels come from ``(T − h, T]``: **churned** = no order in the window, **high
value** = window revenue in the top ``models.high_value_share`` of the buyers of ``T − h``
(and above zero). The training rows are the buyers of ``T − h`` (at most
``models.max_training_rows``, the first by person key: a uniform sample that depends on
the data and the seed, see :mod:`personae.models.features`), and their traits as of
``T − h`` are computed for them alone; the top categories are those of their revenue, while
the high-value line is drawn over every buyer (labels read only orders). People whose key starts with
0–2 (3/16) are held out for the validation report (AUC, calibration and lift by decile),
which also decides whether the model is used (:mod:`personae.models.verdict`). The two
models are fitted, reused and judged one by one: a high-value label too rare to fit no
longer takes the churn model down with it. A used model is applied to the buyers of ``T``
with their traits as of ``T``, in bounded batches; an unused one scores NULL.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from functools import cache, partial
from typing import Any

import pandas as pd
import pyarrow as pa

from personae.engine.sql import end_of_sql
from personae.errors import ModelFitError
from personae.models.boosting import BoostedClassifier
from personae.models.context import ModelContext, ModelsResult, Plan, fit_or_reuse, input_digest
from personae.models.evaluation import binary_report
from personae.models.features import (
    KEY,
    PERSON_KEYS,
    day_bins,
    feature_names,
    features_sql,
    holdout_sql,
    numeric_traits,
    steady_frame,
    top_categories,
)
from personae.models.score_reuse import LeafCodes, score_into_table_keeping
from personae.models.verdict import Verdict, binary_verdict
from personae.profiles.build import compute_traits, trait_columns
from personae.profiles.orders import orders_sql

SCORES = "model_scores_propensity"
TARGETS = {"churn": "churned", "high_value": "high_value"}
COLUMNS = {"churn": "churn_probability", "high_value": "high_value_probability"}
SAMPLE = "_training_people"
"""The sampled buyers of ``T − h`` the classifiers learn from, with their labels."""


def labels_sql(context: ModelContext) -> str:
    """Every buyer of ``T − h`` (a person with a counted order by then) with their person key and
    both labels from ``(T − h, T]``: labels read orders only, so they cost no traits, and the
    high-value line is drawn over all of them, however few are sampled to learn from."""
    settings = context.settings
    past = context.as_of - timedelta(days=settings.horizon_days)
    cut = end_of_sql(past)
    # one pass over the orders as of T: those before the cutoff make a buyer, those after the labels
    orders = (
        f"SELECT uid, count(*) FILTER (WHERE ts < {cut}) AS orders_before, "
        f"count(*) FILTER (WHERE ts >= {cut}) AS orders_after, "
        f"sum(amount) FILTER (WHERE ts >= {cut}) AS revenue FROM ({orders_sql(context.traits, context.as_of)}) AS o "
        "GROUP BY uid"
    )
    labelled = (
        f"SELECT o.uid, k.{KEY}, CASE WHEN o.orders_after = 0 THEN 1 ELSE 0 END AS churned, "
        "coalesce(o.revenue, 0) AS future "
        f"FROM ({orders}) AS o JOIN profiles AS p ON p.uid = o.uid JOIN {PERSON_KEYS} AS k ON k.uid = o.uid "
        "WHERE o.orders_before > 0"
    )
    line = f"quantile_cont(future, {1 - settings.high_value_share!r}) OVER ()"
    return f"SELECT *, CASE WHEN future > 0 AND future >= {line} THEN 1 ELSE 0 END AS high_value FROM ({labelled}) AS l"


def sample_sql(labels: str, limit: int) -> str:
    """The first ``limit`` rows of ``labels`` by person key, with the holdout flag: the people learnt from."""
    return f"SELECT *, {holdout_sql()} AS holdout FROM {labels} ORDER BY {KEY} LIMIT {int(limit)}"


@dataclasses.dataclass(frozen=True)
class Training:
    """The training frame (buyers of ``T − h`` in person-key order) and what it was built from."""

    frame: pd.DataFrame
    names: list[str]
    categories: list[str]
    numeric: list[str]
    binned: dict[str, list[int]]


def training_frame(context: ModelContext, numeric: list[str]) -> Training:
    """Features as of ``T − h`` with both labels and the holdout flag; raises when nobody bought before ``T − h``.

    Traits as of ``T − h`` are computed for the sampled people only (at most
    ``models.max_training_rows``): at 1M customers the step computed them for all 1.45M
    profiles to learn from 200,000. The top categories are those of the sample's revenue."""
    engine, settings = context.engine, context.settings
    past = context.as_of - timedelta(days=settings.horizon_days)
    engine.materialise("_past_labels", labels_sql(context))
    engine.materialise(SAMPLE, sample_sql("_past_labels", settings.max_training_rows))
    compute_traits(engine, context.traits, past, SAMPLE, "_past_", scope=SAMPLE, gap_counts=False)
    categories = top_categories(engine, "_past_shares")
    binned = day_bins(context.traits, settings, numeric)
    features = features_sql("_past_traits", "_past_shares", numeric, categories, binned)
    labels = ", ".join(f"s.{column}" for column in ("churned", "high_value", KEY, "holdout"))
    training = f"SELECT f.*, {labels} FROM ({features}) AS f JOIN {SAMPLE} AS s ON s.uid = f.uid ORDER BY s.{KEY}"
    frame = steady_frame(engine.fetch_arrow(training))
    if frame.empty:
        raise ModelFitError(f"no buyers before {past} to learn from: the history is shorter than the horizon")
    return Training(frame, feature_names(numeric, categories), categories, numeric, binned)


def _plan(context: ModelContext, built: Callable[[], Training], name: str) -> Plan[BoostedClassifier]:
    """The fit of one target on the training rows, keyed by its inputs."""
    settings, label, training = context.settings, TARGETS[name], built()
    frame, names = training.frame, training.names
    make = BoostedClassifier(seed=settings.seed)
    digest = input_digest(
        frame[[*names, label, "holdout"]],
        {"model": name, "models": settings.model_dump(mode="json"), "boosting": dataclasses.asdict(make.settings)},
    )

    def fit() -> BoostedClassifier:
        train, held = frame[~frame.holdout], frame[frame.holdout]
        model = make.fit(train[names], train[label].to_numpy(), as_of=context.as_of)
        past = context.as_of - timedelta(days=settings.horizon_days)
        report: dict[str, Any] = {"training_rows": len(train), "features_as_of": past.isoformat()}
        if len(held) and held[label].nunique() == 2:
            report["validation"] = binary_report(held[label].to_numpy(), model.predict_proba(held[names])[:, 1])
        report["verdict"] = binary_verdict(report.get("validation"), settings).to_dict()
        model.report_ = report
        model.metadata_ = {
            "categories": training.categories,
            "numeric": training.numeric,
            "binned": training.binned,
            "horizon_days": settings.horizon_days,
        }
        return model

    return Plan(digest, fit)


def _one_binning(models: dict[str, BoostedClassifier]) -> dict[str, list[int]]:
    """The day bins both models were fitted with (one feature table scores both)."""
    binnings = {name: model.metadata_.get("binned", {}) for name, model in models.items()}
    first: dict[str, list[int]] = next(iter(binnings.values()), {})
    if any(binned != first for binned in binnings.values()):
        raise ModelFitError(
            f"the saved propensity models were fitted with different day bins ({binnings}); "
            "refit them with `personae run --full`"
        )
    return first


def fit_propensity(context: ModelContext, result: ModelsResult) -> str | None:
    """Fit (or reuse) both classifiers, score the current buyers with the used ones; a ``uid, probabilities`` query."""
    columns = trait_columns(context.traits)
    numeric = numeric_traits(columns, list(columns))

    @cache
    def training() -> Training:  # built once for both models: their digests read it too
        return training_frame(context, numeric)

    models: dict[str, BoostedClassifier] = {}
    for name in TARGETS:
        model = fit_or_reuse(
            name,
            context.folder / f"{name}.json",
            partial(_plan, context, training, name),
            BoostedClassifier.load,
            result,
            keep_saved=context.keep_saved,
        )
        if model is None:
            continue
        result.reports[name] = model.report_
        verdict = Verdict.of(model.report_) or binary_verdict(model.report_.get("validation"), context.settings)
        if verdict.used:
            models[name] = model
        else:
            result.unused[name] = verdict.why
    if not models:
        return None
    needed = [model.metadata_ for model in models.values()]
    current = features_sql(
        "traits",
        "trait_shares",
        list(dict.fromkeys(name for saved in needed for name in saved["numeric"])),
        list(dict.fromkeys(category for saved in needed for category in saved["categories"])),
        _one_binning(models),
    )

    def predict(frame: pd.DataFrame) -> dict[str, pa.Array]:
        scores = {column: pa.nulls(len(frame), pa.float64()) for column in COLUMNS.values()}
        for name, model in models.items():
            scores[COLUMNS[name]] = pa.array(model.predict_proba(frame)[:, 1], pa.float64())
        return scores

    codes = LeafCodes(list(models.values()), settings=",".join(models))
    buyers = f"SELECT f.* FROM ({current}) AS f JOIN traits AS t ON t.uid = f.uid WHERE t.orders > 0"
    columns = {column: pa.float64() for column in COLUMNS.values()}
    result.scored["propensity"] = score_into_table_keeping(
        context.engine, buyers, SCORES, codes, predict, columns, scratch=context.scratch
    )
    return f"SELECT uid, {', '.join(COLUMNS.values())} FROM {SCORES}"
