"""Discounted customer lifetime value from a BG/NBD and a Gamma-Gamma model, whole or batch by batch.

Units. ``frequency``, ``recency`` and ``T`` are in the BG/NBD model's time unit (say weeks).
The horizon is cut into ``horizon_periods`` periods of ``period_length`` time units each
(a month is 4.345 weeks); ``discount_rate`` is per period. Then, as in ``lifetimes``::

    CLV = sum over i = 1..horizon_periods of
          E[M | x, m_x] * (E[Y(i L) | x, t_x, T] - E[Y((i-1) L) | x, t_x, T]) / (1 + d)^i

with L = period_length, d = discount_rate, E[M | x, m_x] the Gamma-Gamma expected spend per
transaction (in the currency of ``monetary_value``) and E[Y(t) | ...] the BG/NBD expected
purchases in the next t time units. The result is in the currency of ``monetary_value``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import ArrayLike

from personae.errors import ModelFitError
from personae.models.bgnbd import BetaGeo
from personae.models.fitting import FloatArray, column
from personae.models.gamma_gamma import GammaGamma

#: the input roles :func:`score_customers` reads, and the column each is read from by default
INPUT_COLUMNS: Mapping[str, str] = {
    "frequency": "frequency",
    "recency": "recency",
    "T": "T",
    "monetary_value": "monetary_value",
}
#: the columns :func:`score_customers` appends to each batch
OUTPUT_COLUMNS = ("p_alive", "expected_purchases", "expected_average_profit", "clv")


def _check_horizon(horizon_periods: int, discount_rate: float, period_length: float) -> None:
    if isinstance(horizon_periods, bool) or not isinstance(horizon_periods, int) or horizon_periods < 1:
        raise ModelFitError(f"clv: horizon_periods must be a whole number >= 1, got {horizon_periods!r}")
    if not (math.isfinite(discount_rate) and discount_rate > -1):
        raise ModelFitError(f"clv: discount_rate is per period and must be > -1 (0.01 = 1 %), got {discount_rate!r}")
    if not (math.isfinite(period_length) and period_length > 0):
        raise ModelFitError(
            f"clv: period_length is the length of one period in the model's time unit (4.345 weeks per month) "
            f"and must be > 0, got {period_length!r}"
        )


def customer_lifetime_value(
    bgnbd: BetaGeo,
    gamma_gamma: GammaGamma,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary_value: ArrayLike,
    *,
    horizon_periods: int,
    discount_rate: float,
    period_length: float,
) -> FloatArray:
    """Discounted CLV over ``horizon_periods`` periods of ``period_length`` model time units (see the module doc).

    ``monetary_value`` is the average value of the customer's repeat transactions (ignored
    when ``frequency`` is 0: those get the population mean spend).
    """
    _check_horizon(horizon_periods, discount_rate, period_length)
    x = column("clv", "frequency", frequency)
    spend = gamma_gamma.conditional_expected_average_profit(x, monetary_value)
    purchases = _cumulative_purchases(bgnbd, x, recency, T, horizon_periods, period_length)
    per_period = np.diff(purchases, axis=0, prepend=0.0)
    discount = (1.0 + discount_rate) ** -np.arange(1, horizon_periods + 1, dtype=np.float64)
    return np.asarray(spend * (discount @ per_period), dtype=np.float64)


def _cumulative_purchases(
    bgnbd: BetaGeo, x: FloatArray, recency: ArrayLike, T: ArrayLike, periods: int, period_length: float
) -> FloatArray:
    """E[Y(i L) | ...] for i = 1..periods, shape (periods, customers)."""
    return np.stack(
        [
            bgnbd.conditional_expected_number_of_purchases_up_to_time(i * period_length, x, recency, T)
            for i in range(1, periods + 1)
        ]
    )


def score_customers(
    batches: Iterable[pa.RecordBatch | pd.DataFrame],
    bgnbd: BetaGeo,
    gamma_gamma: GammaGamma,
    *,
    horizon_periods: int,
    discount_rate: float,
    period_length: float,
    columns: Mapping[str, str] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Score customers batch by batch: each input batch yields one output batch, nothing more is held.

    Each batch (Arrow record batch or pandas frame) needs the columns named by ``columns``
    (role -> column, defaults :data:`INPUT_COLUMNS`); it comes back as an Arrow record batch
    with its own columns plus ``p_alive``, ``expected_purchases`` (over the whole horizon,
    ``horizon_periods * period_length`` time units), ``expected_average_profit`` and ``clv``
    (as :func:`customer_lifetime_value`).
    """
    _check_horizon(horizon_periods, discount_rate, period_length)
    names = {**INPUT_COLUMNS, **(columns or {})}
    unknown = set(names) - set(INPUT_COLUMNS)
    if unknown:
        raise ModelFitError(f"score_customers: unknown role(s) {sorted(unknown)}; roles are {list(INPUT_COLUMNS)}")
    discount = (1.0 + discount_rate) ** -np.arange(1, horizon_periods + 1, dtype=np.float64)
    for batch in batches:
        table = pa.RecordBatch.from_pandas(batch, preserve_index=False) if isinstance(batch, pd.DataFrame) else batch
        missing = [name for name in names.values() if name not in table.schema.names]
        if missing:
            raise ModelFitError(
                f"score_customers: batch has no column(s) {missing}; it has {table.schema.names}; "
                "name the columns with columns={'frequency': ..., 'recency': ..., 'T': ..., 'monetary_value': ...}"
            )
        clash = [name for name in OUTPUT_COLUMNS if name in table.schema.names]
        if clash:
            raise ModelFitError(f"score_customers: batch already has column(s) {clash}; drop or rename them first")
        values = {role: table.column(name).to_numpy(zero_copy_only=False) for role, name in names.items()}
        x, recency, age = values["frequency"], values["recency"], values["T"]
        spend = gamma_gamma.conditional_expected_average_profit(x, values["monetary_value"])
        purchases = _cumulative_purchases(
            bgnbd, column("clv", "frequency", x), recency, age, horizon_periods, period_length
        )
        clv = spend * (discount @ np.diff(purchases, axis=0, prepend=0.0))
        scores = {
            "p_alive": bgnbd.conditional_probability_alive(x, recency, age),
            "expected_purchases": purchases[-1],
            "expected_average_profit": spend,
            "clv": clv,
        }
        arrays = [*table.columns, *(pa.array(scores[name], type=pa.float64()) for name in OUTPUT_COLUMNS)]
        yield pa.RecordBatch.from_arrays(arrays, names=[*table.schema.names, *OUTPUT_COLUMNS])
