"""CLV in the models step: fit BG/NBD and Gamma-Gamma on ``customer_summary``, score in batches.

Time is in weeks for the fit (the summary holds days). The fit reads the four summary
numbers of every buyer (32 bytes each); scoring reads the summary in bounded batches and
writes ``model_scores_clv(uid, expected_orders, expected_value, clv)``; P(alive) is
computed in SQL on the engine from the saved parameters (:meth:`BetaGeo.p_alive_sql`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from personae.engine.base import Engine
from personae.errors import ModelFitError
from personae.models.bgnbd import BetaGeo
from personae.models.clv import customer_lifetime_value
from personae.models.context import Plan, input_digest
from personae.models.features import keyed_sql, steady_frame
from personae.models.gamma_gamma import GammaGamma
from personae.models.saved import SavedModel
from personae.models.scoring import score_into_table
from personae.models.specs import ModelSettings

CLV_FILE = "clv.json"
PENALIZERS = (0.0, 0.001, 0.01)
"""Tried in turn when a fit does not converge or is singular (the penalizer used is saved)."""
RETRIED = ("did not converge", "singular", "edge of", "Hessian")
SCORES = "model_scores_clv"
WEEK = 7.0
WEEKS_PER_MONTH = 4.345
SUMMARY_IN_WEEKS = (
    f"SELECT uid, CAST(frequency AS DOUBLE) AS frequency, recency / {WEEK} AS recency, T / {WEEK} AS T, "
    "CAST(monetary_value AS DOUBLE) AS monetary_value FROM customer_summary"
)
SCORE_SCHEMA = pa.schema(
    [("uid", pa.string()), ("expected_orders", pa.float64()), ("expected_value", pa.float64()), ("clv", pa.float64())]
)


class ClvModels(SavedModel):
    """BG/NBD and Gamma-Gamma, fitted together and saved in one file."""

    MODEL = "clv"

    def __init__(self, bgnbd: BetaGeo, gamma_gamma: GammaGamma) -> None:
        self.bgnbd = bgnbd
        self.gamma_gamma = gamma_gamma
        self.as_of_ = bgnbd.as_of_

    def _payload(self) -> dict[str, Any]:
        return {"bgnbd": self.bgnbd.to_dict(), "gamma_gamma": self.gamma_gamma.to_dict()}

    @classmethod
    def _from_payload(cls, data: Mapping[str, Any]) -> ClvModels:
        try:
            return cls(BetaGeo.from_dict(data["bgnbd"]), GammaGamma.from_dict(data["gamma_gamma"]))
        except (KeyError, TypeError) as error:
            raise ModelFitError(
                f"saved clv model: missing or malformed part ({error!r}); refit and save again"
            ) from None


def clv_plan(engine: Engine, settings: ModelSettings, as_of: date) -> Plan[ClvModels]:
    """Both models' fit on the current customer summary, keyed by its rows. Rows come in
    person-key order (:mod:`personae.models.features`), not UID order: the optimiser sums
    in row order, and the UID order changes with the workspace's salt."""
    summary = steady_frame(
        engine.fetch_arrow(f"SELECT frequency, recency, T, monetary_value FROM ({keyed_sql(SUMMARY_IN_WEEKS)}) AS s")
    )
    digest = input_digest(
        summary, {"model": "clv", "models": settings.model_dump(mode="json"), "penalizers": PENALIZERS}
    )
    return Plan(digest, partial(fit_clv, summary, as_of))


def fit_clv(summary: pd.DataFrame, as_of: date) -> ClvModels:
    """Fit both models on ``frequency, recency, T, monetary_value`` (weeks), trying each of
    :data:`PENALIZERS` in turn; raises ModelFitError when none gives a regular fit."""
    frequency = summary["frequency"].to_numpy(dtype=np.float64)
    recency = summary["recency"].to_numpy(dtype=np.float64)
    age = summary["T"].to_numpy(dtype=np.float64)
    monetary = summary["monetary_value"].to_numpy(dtype=np.float64)
    spenders = (frequency > 0) & (monetary > 0)
    failure: ModelFitError | None = None
    for penalizer in PENALIZERS:
        try:
            bgnbd = BetaGeo(penalizer).fit(frequency, recency, age, as_of=as_of)
            gamma_gamma = GammaGamma(penalizer).fit(frequency[spenders], monetary[spenders], as_of=as_of)
            if gamma_gamma.params_["q"] <= 1:
                raise ModelFitError(
                    f"gamma_gamma: singular fit: q = {gamma_gamma.params_['q']:g} <= 1 makes the mean spend infinite"
                )
        except ModelFitError as error:
            if not any(sign in str(error) for sign in RETRIED):
                raise
            failure = error
            continue
        return ClvModels(bgnbd, gamma_gamma)
    assert failure is not None
    raise failure


def score_clv(engine: Engine, settings: ModelSettings, models: ClvModels, scratch: Path) -> int:
    """Write ``model_scores_clv`` batch by batch; returns the rows scored."""
    horizon = settings.horizon_days / WEEK

    def score(batch: pa.RecordBatch) -> pa.Table:
        frame = steady_frame(batch)  # as the fit reads them: a sum's adding order must not reorder the tiers
        frequency = frame["frequency"].to_numpy(dtype=np.float64)
        recency = frame["recency"].to_numpy(dtype=np.float64)
        age = frame["T"].to_numpy(dtype=np.float64)
        paid = np.clip(frame["monetary_value"].to_numpy(dtype=np.float64), 0.0, None)
        expected = models.bgnbd.conditional_expected_number_of_purchases_up_to_time(horizon, frequency, recency, age)
        value = models.gamma_gamma.conditional_expected_average_profit(frequency, paid)
        clv = customer_lifetime_value(
            models.bgnbd,
            models.gamma_gamma,
            frequency,
            recency,
            age,
            paid,
            horizon_periods=settings.clv_months,
            discount_rate=settings.monthly_discount,
            period_length=WEEKS_PER_MONTH,
        )
        return pa.table({"uid": batch.column("uid"), "expected_orders": expected, "expected_value": value, "clv": clv})

    return score_into_table(engine, SUMMARY_IN_WEEKS, score, SCORES, SCORE_SCHEMA, scratch=scratch)


def p_alive_sql(models: ClvModels) -> str:
    """``uid, p_alive`` from the customer summary, computed on the engine."""
    expression = models.bgnbd.p_alive_sql("frequency", "recency", "T")
    return f"SELECT uid, {expression} AS p_alive FROM ({SUMMARY_IN_WEEKS}) AS s"
