"""The BG/NBD model of repeat buying (Fader, Hardie & Lee 2005, "Counting your customers the easy way").

While alive, a customer buys at a Poisson rate lambda ~ Gamma(r, alpha); after each purchase
they drop out with probability p ~ Beta(a, b). Per customer the model needs three numbers,
all in one time unit (weeks in the paper):

- ``frequency`` x: repeat purchases (purchases after the first; same-day purchases count once);
- ``recency`` t_x: time from the first purchase to the last one (0 when x = 0);
- ``T``: time from the first purchase to the end of the calibration period.

On the CDNOW sample (39 weeks) the fit reproduces the published r = 0.243, alpha = 4.414,
a = 0.793, b = 2.426.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import digamma, expit, gammaln, hyp2f1

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

MODEL = "bgnbd"
XLevels = tuple[FloatArray, NDArray[np.intp]]


def _sql_number(value: float) -> str:
    """A float as an SQL literal that round-trips exactly (``repr`` is the shortest exact form)."""
    return f"CAST({value!r} AS DOUBLE)"


class BetaGeo(ParametricModel):
    """BG/NBD estimator: ``BetaGeo().fit(frequency, recency, T).params_`` -> r, alpha, a, b.

    ``penalizer`` adds ``penalizer * (r² + alpha² + a² + b²)`` to the mean negative
    log-likelihood, as ``lifetimes`` does; 0 gives the maximum-likelihood estimate.
    ``min_repeat_buyers`` is the fewest customers with frequency > 0 a fit accepts.

    ``expected_purchases_sql`` is not offered: the conditional expectation needs the Gauss
    hypergeometric function 2F1, which no SQL engine has and whose series needs hundreds of
    terms for long horizons; score with :func:`personae.models.score_customers` instead.
    """

    MODEL = MODEL
    PARAM_NAMES = ("r", "alpha", "a", "b")

    def __init__(self, penalizer: float = 0.0, *, min_repeat_buyers: int = 10) -> None:
        super().__init__(penalizer)
        self.min_repeat_buyers = min_repeat_buyers

    def _inputs(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> tuple[FloatArray, ...]:
        x = column(MODEL, "frequency", frequency)
        tx = column(MODEL, "recency", recency)
        age = column(MODEL, "T", T)
        same_length(MODEL, frequency=x, recency=tx, T=age)
        fractional = x != np.floor(x)
        if fractional.any():
            raise ModelFitError(
                f"{MODEL}: frequency has {int(fractional.sum())} value(s) that are not whole numbers; "
                "frequency counts repeat purchases"
            )
        late = tx > age * (1 + 1e-12)
        if late.any():
            raise ModelFitError(
                f"{MODEL}: recency exceeds T for {int(late.sum())} customer(s); recency is the time from the "
                "first to the last purchase and T the time from the first purchase to the end of the period"
            )
        return x, tx, age

    def fit(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        *,
        as_of: dt.date | str | None = None,
    ) -> BetaGeo:
        """Fit r, alpha, a, b by maximum likelihood; ``as_of`` (the calibration end) is saved with the model."""
        x, tx, age = self._inputs(frequency, recency, T)
        require_repeat_buyers(MODEL, x, self.min_repeat_buyers)
        penalizer, n = self.penalizer, x.size
        x, tx, age, weight = _compress(x, tx, age)
        x_levels = np.unique(x, return_inverse=True)

        def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
            params = np.exp(log_params)
            ll, grad = _log_likelihood(params, x, tx, age, x_levels)
            value = -(weight @ ll) / n + penalizer * float(np.sum(params**2))
            gradient = -(grad @ weight) / n * params + 2 * penalizer * params**2
            return float(value), gradient

        self.params_, self.fit_ = maximise_likelihood(MODEL, self.PARAM_NAMES, objective, n)
        self.as_of_ = as_of_text(as_of)
        return self

    def log_likelihood(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """Each customer's log-likelihood under the fitted parameters."""
        x, tx, age = self._inputs(frequency, recency, T)
        return _log_likelihood(np.array(self._fitted()), x, tx, age)[0]

    def conditional_probability_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """P(alive at T | x, t_x, T): 1 for x = 0, else 1 / (1 + a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x))."""
        r, alpha, a, b = self._fitted()
        x, tx, age = self._inputs(frequency, recency, T)
        return np.where(x > 0, expit(-_log_odds_dead(r, alpha, a, b, x, tx, age)), 1.0)

    def expected_number_of_purchases_up_to_time(self, t: ArrayLike) -> FloatArray:
        """E[X(t)]: purchases a new customer makes in a period of length t (eq. 9 of the paper)."""
        r, alpha, a, b = self._fitted()
        time = column(MODEL, "t", t)
        z = time / (alpha + time)
        hyp = _hyp2f1(r, b, a + b - 1, z)
        return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + time)) ** r * hyp)

    def conditional_expected_number_of_purchases_up_to_time(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """E[Y(t) | x, t_x, T]: purchases in the next t time units (eq. 10 of the paper); t scalar or per customer."""
        r, alpha, a, b = self._fitted()
        x, tx, age = self._inputs(frequency, recency, T)
        time = column(MODEL, "t", t)
        z = time / (alpha + age + time)
        log_hyp = np.log(_hyp2f1(r + x, b + x, a + b + x - 1, z))
        growth = 1 - np.exp(log_hyp + (r + x) * np.log((alpha + age) / (alpha + age + time)))
        with np.errstate(over="ignore"):
            dead = np.where(x > 0, np.exp(_log_odds_dead(r, alpha, a, b, x, tx, age)), 0.0)
        return np.asarray((a + b + x - 1) / (a - 1) * growth / (1 + dead), dtype=np.float64)

    def p_alive_sql(self, frequency: str, recency: str, T: str) -> str:
        """A DuckDB expression for P(alive) over columns ``frequency``, ``recency``, ``T``, parameters inlined.

        Written in the log domain so long-lapsed customers give 0, not an overflow; uses only
        CASE, LN and EXP, so sqlglot transpiles it to Spark unchanged in meaning.
        """
        r, alpha, a, b = (_sql_number(v) for v in self._fitted())
        x, tx, age = frequency, recency, T
        # GREATEST keeps LN's argument positive on rows the CASE sends to the x = 0 branch
        log_odds = (
            f"(LN({a} / ({b} + GREATEST({x}, 1) - 1)) + ({r} + {x}) * (LN({alpha} + {age}) - LN({alpha} + {tx})))"
        )
        return (
            f"(CASE WHEN {x} = 0 THEN CAST(1.0 AS DOUBLE) "
            f"WHEN {log_odds} > 700 THEN CAST(0.0 AS DOUBLE) "
            f"ELSE 1.0 / (1.0 + EXP({log_odds})) END)"
        )

    def expected_purchases_sql(self, t: float, frequency: str, recency: str, T: str) -> str:
        """Not available: E[Y(t) | x, t_x, T] needs 2F1, which SQL engines lack; raises :class:`ModelFitError`."""
        raise ModelFitError(
            f"{MODEL}: the conditional expected number of purchases needs the hypergeometric function 2F1, "
            "which SQL engines do not have; score batches with personae.models.score_customers instead"
        )


def _compress(x: FloatArray, tx: FloatArray, age: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Customers without repeat purchases depend on T alone: one row per distinct T, with a count as weight.

    They are most customers in most data sets, and T takes few values (whole days), so this
    shrinks the arrays the likelihood is evaluated on several-fold.
    """
    once = x == 0
    ages, counts = np.unique(age[once], return_counts=True)
    zeros = np.zeros(ages.size)
    return (
        np.concatenate([x[~once], zeros]),
        np.concatenate([tx[~once], zeros]),
        np.concatenate([age[~once], ages]),
        np.concatenate([np.ones(int((~once).sum())), counts.astype(np.float64)]),
    )


def _log_odds_dead(
    r: float, alpha: float, a: float, b: float, x: FloatArray, tx: FloatArray, age: FloatArray
) -> FloatArray:
    """ln[a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x)], meaningful where x > 0."""
    xm = np.maximum(x, 1.0)
    return np.asarray(
        np.log(a) - np.log(b + xm - 1) + (r + x) * (np.log(alpha + age) - np.log(alpha + tx)), dtype=np.float64
    )


def _hyp2f1(a: FloatArray | float, b: FloatArray | float, c: FloatArray | float, z: FloatArray) -> FloatArray:
    """2F1(a, b; c; z) for 0 <= z < 1, through Euler's transformation where the direct series overflows."""
    value = np.asarray(hyp2f1(a, b, c, z), dtype=np.float64)
    bad = ~np.isfinite(value)
    if bad.any():
        a_, b_, c_, z_ = (np.broadcast_to(np.asarray(v, dtype=np.float64), value.shape)[bad] for v in (a, b, c, z))
        value[bad] = hyp2f1(c_ - a_, c_ - b_, c_, z_) * (1 - z_) ** (c_ - a_ - b_)
    return value


def _log_likelihood(
    params: FloatArray, x: FloatArray, tx: FloatArray, age: FloatArray, x_levels: XLevels | None = None
) -> tuple[FloatArray, FloatArray]:
    """Per-customer log-likelihood (eq. 6 of the paper) and its gradient in (r, alpha, a, b), shape (4, n).

    The gamma and digamma terms depend on x alone, so they are computed once per distinct x
    (``x_levels``: the distinct values and each row's index into them) and gathered.
    """
    r, alpha, a, b = (float(v) for v in params)
    levels, index = x_levels if x_levels is not None else np.unique(x, return_inverse=True)
    psi_ab = digamma(a + b)
    psi_abx = digamma(a + b + levels)
    per_level = np.vstack(
        [
            # ln Gamma(r+x) - ln Gamma(r) + r ln alpha + ln B(a, b+x) - ln B(a, b)
            gammaln(r + levels)
            - gammaln(r)
            + r * np.log(alpha)
            + gammaln(b + levels)
            - gammaln(a + b + levels)
            + gammaln(a + b)
            - gammaln(b),
            np.log(a) - np.log(b + np.maximum(levels, 1.0) - 1),
            digamma(r + levels) - digamma(r) + np.log(alpha),
            psi_ab - psi_abx,
            digamma(b + levels) - digamma(b) + psi_ab - psi_abx,
            1 / (b + np.maximum(levels, 1.0) - 1),
        ]
    )[:, index]
    constant, log_odds_base, d_r0, d_a0, d_b0, inv_b = per_level
    log_alpha_t = np.log(alpha + age)
    log_alpha_tx = np.log(alpha + tx)
    # d = ln(dropped out after the last purchase) - ln(alive at T): the two terms of the likelihood
    d = np.where(x > 0, log_odds_base + (r + x) * (log_alpha_t - log_alpha_tx), -np.inf)
    ll = constant - (r + x) * log_alpha_t + np.logaddexp(0.0, d)
    w = expit(d)  # posterior weight of "dropped out after the last purchase"
    d_r = d_r0 - (1 - w) * log_alpha_t - w * log_alpha_tx
    d_alpha = r / alpha - (r + x) * ((1 - w) / (alpha + age) + w / (alpha + tx))
    return ll, np.vstack([d_r, d_alpha, d_a0 + w / a, d_b0 - w * inv_b])
