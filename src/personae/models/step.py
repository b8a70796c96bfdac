"""The models step: fit every model as of the run's date, save it as JSON, score everyone.

Models: CLV (BG/NBD + Gamma-Gamma), churn and high-value propensity (gradient boosting on
a time split), lifestyle clusters, and the survey look-alike. Each is fitted on its own;
a model whose inputs have not changed since its saved fit is reused, not refitted
(:mod:`personae.models.context`); when one cannot be fitted (too little history, a
singular fit) the step says why, scores with the previous saved model if there is one, and
goes on with the others; one that does not beat its baseline scores nothing
(:mod:`personae.models.verdict`). Rows are sampled and ordered by a salt-free person key
(:mod:`personae.models.features`). The scores land in ``predictions`` (one row per UID,
with the person key), which the segment step reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path

from personae.engine.base import Engine
from personae.errors import ModelFitError
from personae.models import clv_step
from personae.models.context import ModelContext, ModelsResult, fit_or_reuse
from personae.models.features import KEY, PERSON_KEYS, build_person_keys
from personae.models.lifestyle import fit_lifestyles
from personae.models.lookalike import fit_lookalike
from personae.models.propensity import fit_propensity
from personae.models.refits import record_refit, refit_due
from personae.models.scoring import native_pools, native_threads
from personae.models.specs import OUTPUTS, ModelSettings
from personae.profiles.build import traits_as_of
from personae.profiles.specs import TraitsConfig
from personae.progress import Progress, silent

PREDICTIONS = "predictions"


def _clv(context: ModelContext, result: ModelsResult) -> str | None:
    models = fit_or_reuse(
        "clv",
        context.folder / clv_step.CLV_FILE,
        partial(clv_step.clv_plan, context.engine, context.settings, context.as_of),
        clv_step.ClvModels.load,
        result,
        keep_saved=context.keep_saved,
    )
    if models is None:
        return None
    result.reports["clv"] = {"bgnbd": models.bgnbd.to_dict(), "gamma_gamma": models.gamma_gamma.to_dict()}
    clv_step.score_clv(context.engine, context.settings, models, context.scratch)
    context.engine.materialise("_p_alive", clv_step.p_alive_sql(models))
    return (
        "SELECT s.uid, a.p_alive, s.expected_orders, s.expected_value, s.clv "
        f"FROM {clv_step.SCORES} AS s JOIN _p_alive AS a ON a.uid = s.uid"
    )


ModelPart = Callable[[ModelContext, ModelsResult], "str | None"]
PARTS: tuple[tuple[str, ModelPart, tuple[tuple[str, str], ...]], ...] = (
    ("clv", _clv, OUTPUTS["clv"]),
    ("propensity", fit_propensity, OUTPUTS["propensity"]),
    ("lifestyle", fit_lifestyles, OUTPUTS["lifestyle"]),
    ("survey", fit_lookalike, OUTPUTS["survey"]),
)
"""name -> (fit-and-score function returning a ``uid, <columns>`` query, its columns)."""
LABELS = {
    "clv": "CLV (BG/NBD and Gamma-Gamma)",
    "propensity": "churn and high value",
    "lifestyle": "lifestyles",
    "survey": "survey look-alike",
}
"""What the progress callback is told each part is."""


def fit_models(
    engine: Engine,
    settings: ModelSettings,
    traits: TraitsConfig,
    as_of: date,
    folder: Path,
    *,
    progress: Progress = silent,
    duckdb_threads: int | None = None,
    full: bool = False,
) -> ModelsResult:
    """Fit (or reuse) every model as of a day, save each under ``folder``, and write ``predictions``.

    ``progress`` hears of each part as it starts (``models: churn and high value``, 1 of 4)
    and of the end. Native thread pools are capped for the whole step
    (:func:`~personae.models.scoring.native_threads`, at most ``duckdb_threads`` when the
    DuckDB engine has that setting). Saved models are kept without a refit while one is not
    due (:mod:`personae.models.refits`; never with ``full``).
    """
    traits_as_of(engine)  # raises when there are no traits to model
    folder.mkdir(parents=True, exist_ok=True)
    due = refit_due(folder, settings, traits, as_of, full=full)
    context = ModelContext(engine, settings, traits, as_of, folder, keep_saved=not due)
    result = ModelsResult()
    select = ["p.uid"]
    joins = []
    with native_pools(native_threads(duckdb_threads)):
        build_person_keys(engine, settings.seed)
        for index, (name, part, outputs) in enumerate(PARTS):
            progress(f"models: {LABELS[name]}", index, len(PARTS))
            started = time.perf_counter()
            try:
                query = part(context, result)
            except ModelFitError as error:
                result.skipped[name] = f"cannot score: {error}"
                query = None
            result.seconds[name] = time.perf_counter() - started
            alias = f"m{index}"
            if query is None:
                select += [f"CAST(NULL AS {type_}) AS {column}" for column, type_ in outputs]
                continue
            engine.materialise(f"_model_{index}", query)
            select += [f"{alias}.{column}" for column, _ in outputs]
            joins.append(f"LEFT JOIN _model_{index} AS {alias} ON {alias}.uid = p.uid")
        progress("models: predictions", len(PARTS), len(PARTS))
        # The person key goes along, so the segments break ties between equal scores by data, not by the salt.
        select.insert(1, f"k.{KEY}")
        joins.insert(0, f"LEFT JOIN {PERSON_KEYS} AS k ON k.uid = p.uid")
        engine.create_table(PREDICTIONS, f"SELECT {', '.join(select)} FROM profiles AS p {' '.join(joins)}")
    result.people = engine.row_count(PREDICTIONS)
    if due:
        record_refit(folder, settings, traits, as_of)
    return result
