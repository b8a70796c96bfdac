"""The Gamma-Gamma model of spend per transaction (Fader & Hardie 2013, "The Gamma-Gamma Model of Monetary Value").

A customer's transaction values are Gamma(p, nu) with nu ~ Gamma(q, gamma) across customers,
so their mean spend is p/nu and the population mean is p*gamma/(q-1). Per customer the model
needs ``frequency`` x (the number of transactions averaged: the repeat purchases) and
``monetary_value`` (the average value of those x transactions). It is fitted on customers
with x > 0 only; others are ignored by :meth:`GammaGamma.fit` and get the population mean
from :meth:`GammaGamma.conditional_expected_average_profit`.

On the CDNOW sample's 946 repeat buyers (39-week calibration) the fit reproduces the
published p = 6.25, q = 3.74, gamma = 15.44.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import digamma, gammaln

from personae.errors import ModelFitError
from personae.models.fitting import (
    FloatArray,
    ParametricModel,
    column,
    maximise_likelihood,
    require_repeat_buyers,
    same_length,
)
from personae.models.saved import as_of_text

MODEL = "gamma_gamma"


class GammaGamma(ParametricModel):
    """Gamma-Gamma spend estimator: ``GammaGamma().fit(frequency, monetary_value).params_`` -> p, q, gamma.

    ``penalizer`` adds ``penalizer * (p² + q² + gamma²)`` to the mean negative log-likelihood,
    as ``lifetimes`` does. The model assumes spend is independent of purchase frequency;
    check the correlation of ``frequency`` and ``monetary_value`` before relying on it.
    """

    MODEL = MODEL
    PARAM_NAMES = ("p", "q", "gamma")

    def __init__(self, penalizer: float = 0.0, *, min_repeat_buyers: int = 10) -> None:
        super().__init__(penalizer)
        self.min_repeat_buyers = min_repeat_buyers

    def _inputs(self, frequency: ArrayLike, monetary_value: ArrayLike) -> tuple[FloatArray, FloatArray]:
        x = column(MODEL, "frequency", frequency)
        m = column(MODEL, "monetary_value", monetary_value)
        same_length(MODEL, frequency=x, monetary_value=m)
        free = (x > 0) & (m == 0)
        if free.any():
            raise ModelFitError(
                f"{MODEL}: monetary_value is 0 for {int(free.sum())} customer(s) with frequency > 0; "
                "the model needs positive average spend (drop zero-value transactions or those customers)"
            )
        return x, m

    def fit(self, frequency: ArrayLike, monetary_value: ArrayLike, *, as_of: dt.date | str | None = None) -> GammaGamma:
        """Fit p, q, gamma by maximum likelihood on the customers with frequency > 0."""
        x, m = self._inputs(frequency, monetary_value)
        require_repeat_buyers(MODEL, x, self.min_repeat_buyers)
        repeat = x > 0
        x, m = x[repeat], m[repeat]
        penalizer = self.penalizer

        def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
            params = np.exp(log_params)
            ll, grad = _log_likelihood(params, x, m)
            value = -ll.mean() + penalizer * float(np.sum(params**2))
            gradient = -grad.mean(axis=1) * params + 2 * penalizer * params**2
            return float(value), gradient

        self.params_, self.fit_ = maximise_likelihood(MODEL, self.PARAM_NAMES, objective, x.size)
        self.as_of_ = as_of_text(as_of)
        return self

    def log_likelihood(self, frequency: ArrayLike, monetary_value: ArrayLike) -> FloatArray:
        """Each customer's log-likelihood of their average spend (customers with frequency > 0 only)."""
        x, m = self._inputs(frequency, monetary_value)
        repeat = x > 0
        return _log_likelihood(np.array(self._fitted()), x[repeat], m[repeat])[0]

    def conditional_expected_average_profit(self, frequency: ArrayLike, monetary_value: ArrayLike) -> FloatArray:
        """E[M | x, m_x] = p (gamma + x m_x) / (p x + q - 1): the population mean p gamma / (q - 1) for x = 0."""
        p, q, gamma = self._fitted()
        x, m = self._inputs(frequency, monetary_value)
        if q <= 1:
            raise ModelFitError(
                f"{MODEL}: q = {q:g} <= 1, so the population mean spend p*gamma/(q-1) is infinite; "
                "refit with more customers or a penalizer"
            )
        return np.asarray(p * (gamma + x * m) / (p * x + q - 1), dtype=np.float64)


def _log_likelihood(params: FloatArray, x: FloatArray, m: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per-customer log-likelihood of the average spend m over x transactions, and its gradient in (p, q, gamma)."""
    p, q, gamma = (float(v) for v in params)
    px = p * x
    log_m = np.log(m)
    log_x = np.log(x)
    log_gxm = np.log(gamma + m * x)
    psi_pxq = digamma(px + q)
    ll = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * log_m
        + px * log_x
        - (px + q) * log_gxm
    )
    d_p = x * (psi_pxq - digamma(px) + log_m + log_x - log_gxm)
    d_q = psi_pxq - digamma(q) + np.log(gamma) - log_gxm
    d_gamma = q / gamma - (px + q) / (gamma + m * x)
    return ll, np.vstack([d_p, d_q, d_gamma])
