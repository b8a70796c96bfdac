"""What the CLV estimators share: input checks, the likelihood maximiser and JSON persistence.

Every estimator is fitted by maximum likelihood on the logarithms of its parameters (so they
stay positive) with L-BFGS-B and an analytic gradient, then checked: the optimiser must
report convergence, no parameter may sit at the edge of the search box, and the Hessian of
the negative log-likelihood must be positive definite. A fitted model saves as JSON::

    {"model": "bgnbd", "version": 1, "as_of": "1997-09-30", "penalizer": 0.0,
     "params": {"r": 0.243, ...},
     "fit": {"log_likelihood": -9582.4, "n": 2357, "iterations": 31, "converged": true, "seconds": 0.01}}
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # ships no type hints

from personae.errors import ModelFitError
from personae.models.saved import SavedModel

FloatArray = NDArray[np.float64]
Objective = Callable[[FloatArray], tuple[float, FloatArray]]

# Parameters are searched in [1e-8, 1e8]; a fit that ends on this edge is reported as singular.
LOG_BOUND = math.log(1e8)
_EDGE = 1e-6


@dataclasses.dataclass(frozen=True)
class FitReport:
    """How a fit went: total log-likelihood at the optimum, rows used, optimiser iterations, wall time."""

    log_likelihood: float
    n: int
    iterations: int
    converged: bool
    seconds: float


def column(model: str, name: str, values: ArrayLike) -> FloatArray:
    """``values`` as a 1-d float array, refusing NaN, infinite and negative entries."""
    array = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if array.ndim != 1:
        raise ModelFitError(f"{model}: {name} must be one-dimensional, got shape {array.shape}")
    bad = ~np.isfinite(array)
    if bad.any():
        raise ModelFitError(
            f"{model}: {name} has {int(bad.sum())} NaN or infinite value(s) of {array.size}; "
            "drop or fill those customers first"
        )
    negative = array < 0
    if negative.any():
        raise ModelFitError(
            f"{model}: {name} has {int(negative.sum())} negative value(s) of {array.size} "
            f"(smallest {array.min():g}); {name} must be >= 0"
        )
    return array


def same_length(model: str, **arrays: FloatArray) -> int:
    """The common length of ``arrays``; a mismatch names every input's length."""
    sizes = {name: array.size for name, array in arrays.items()}
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{name}={size}" for name, size in sizes.items())
        raise ModelFitError(f"{model}: inputs differ in length ({listed}); pass one value per customer")
    return next(iter(sizes.values()))


def require_repeat_buyers(model: str, frequency: FloatArray, needed: int) -> None:
    """Refuse to fit on fewer than ``needed`` customers with at least one repeat purchase."""
    have = int((frequency > 0).sum())
    if have < needed:
        raise ModelFitError(
            f"{model}: too little data: {have} customer(s) with a repeat purchase (frequency > 0), "
            f"at least {needed} needed; widen the calibration period or lower min_repeat_buyers"
        )


LOG_SE_LIMIT = 2.0
"""Largest standard error of a fit's log-parameters (along the flattest direction) accepted:
beyond it a parameter is uncertain by more than a factor of e² ≈ 7."""
STALL_GRADIENT = 1e-6
"""Largest gradient (mean log-likelihood, per log-parameter) accepted when L-BFGS-B stops on a failed line search."""


def maximise_likelihood(
    model: str, names: Sequence[str], objective: Objective, n: int
) -> tuple[dict[str, float], FitReport]:
    """Minimise ``objective`` (mean negative log-likelihood and its gradient, in log-parameters).

    Returns the parameters and a report whose log-likelihood is the total over ``n`` rows
    (penalty included, as minimised). Raises :class:`ModelFitError` when the optimiser fails
    or the optimum is singular.
    """
    start = time.perf_counter()
    x0 = np.zeros(len(names))
    # Four parameters: BLAS threads only add overhead, and on a busy machine their spinning
    # made L-BFGS-B's tiny matrix steps 30x slower (0.004 s -> 0.12 s on CDNOW).
    with threadpool_limits(1, user_api="blas"), np.errstate(all="ignore"):
        result = minimize(
            objective,
            x0,
            jac=True,
            method="L-BFGS-B",
            bounds=[(-LOG_BOUND, LOG_BOUND)] * len(names),
            options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9},
        )
    # At a flat optimum the line search can fail on rounding ("ABNORMAL") with the gradient
    # a few times above gtol; whether it does depends on the data's row order. That is an
    # optimum, and the Hessian check below still rejects a singular one.
    stalled_at_optimum = "ABNORMAL" in str(result.message) and np.abs(result.jac).max() < STALL_GRADIENT
    if not (result.success or stalled_at_optimum):
        raise ModelFitError(
            f"{model}: the optimiser did not converge after {result.nit} iterations ({result.message}); "
            "check the inputs' units or try a small penalizer such as 0.001"
        )
    log_params = np.asarray(result.x, dtype=np.float64)
    params = {name: float(math.exp(value)) for name, value in zip(names, log_params, strict=True)}
    with threadpool_limits(1, user_api="blas"):
        _check_regular(model, params, log_params, np.asarray(result.jac, dtype=np.float64), objective, n)
    seconds = time.perf_counter() - start
    report = FitReport(
        log_likelihood=-float(result.fun) * n,
        n=n,
        iterations=int(result.nit),
        converged=True,
        seconds=seconds,
    )
    return params, report


def _check_regular(
    model: str,
    params: Mapping[str, float],
    log_params: FloatArray,
    gradient: FloatArray,
    objective: Objective,
    n: int,
) -> None:
    """Raise when a parameter is not finite, sits on the search edge, the Hessian is not
    positive definite, or the likelihood is so flat along some direction that the fit is a
    point on a ridge (its standard error on the log scale exceeds :data:`LOG_SE_LIMIT`)."""
    for (name, value), log_value in zip(params.items(), log_params, strict=True):
        if not math.isfinite(value) or abs(abs(log_value) - LOG_BOUND) < _EDGE:
            raise ModelFitError(
                f"{model}: singular fit: parameter {name} = {value:g} ran to the edge of [1e-8, 1e8]; "
                "the data cannot identify it (too few customers, or no variation); try a penalizer such as 0.01"
            )
    step = 1e-5
    columns = []
    with np.errstate(all="ignore"):
        for i in range(log_params.size):
            shift = np.zeros_like(log_params)
            shift[i] = step
            columns.append((objective(log_params + shift)[1] - gradient) / step)
    hessian = np.array(columns)
    hessian = (hessian + hessian.T) / 2
    if not np.all(np.isfinite(hessian)) or (flattest := float(np.linalg.eigvalsh(hessian).min())) <= 0:
        raise ModelFitError(
            f"{model}: singular fit: the Hessian of the log-likelihood is not positive definite at "
            f"{dict(params)}; the parameters are not identified by these data; try a penalizer such as 0.01"
        )
    # The objective is the mean over n rows, so the total's curvature is n times this.
    standard_error = 1 / math.sqrt(n * flattest)
    if standard_error > LOG_SE_LIMIT:
        raise ModelFitError(
            f"{model}: singular fit: the log-likelihood is nearly flat along a ridge through {dict(params)} "
            f"(standard error {standard_error:.1f} on the log scale); the data cannot tell these parameters "
            "apart (too few customers, or too little variation between them); try a penalizer such as 0.001"
        )


class ParametricModel(SavedModel):
    """Base of the CLV estimators: fitted state in ``params_``, persistence as JSON."""

    PARAM_NAMES: ClassVar[tuple[str, ...]]

    def __init__(self, penalizer: float = 0.0) -> None:
        if not (math.isfinite(penalizer) and penalizer >= 0):
            raise ModelFitError(f"{self.MODEL}: penalizer must be a finite number >= 0, got {penalizer!r}")
        self.penalizer = float(penalizer)
        self.params_: dict[str, float] = {}
        self.fit_: FitReport | None = None
        self.as_of_: str | None = None

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value:.4g}" for name, value in self.params_.items()) or "not fitted"
        return f"{type(self).__name__}({shown})"

    def _fitted(self) -> tuple[float, ...]:
        """The parameters in ``PARAM_NAMES`` order; raises when the model is not fitted."""
        if not self.params_:
            raise ModelFitError(f"{self.MODEL}: the model is not fitted; call fit(...) or load(path) first")
        return tuple(self.params_[name] for name in self.PARAM_NAMES)

    def _payload(self) -> dict[str, Any]:
        self._fitted()
        return {
            "penalizer": self.penalizer,
            "params": dict(self.params_),
            "fit": dataclasses.asdict(self.fit_) if self.fit_ is not None else None,
        }

    @classmethod
    def _from_payload(cls, data: Mapping[str, Any]) -> Self:
        params = data.get("params")
        if not isinstance(params, Mapping) or set(params) != set(cls.PARAM_NAMES):
            raise ModelFitError(f"saved {cls.MODEL} model: 'params' must have exactly the keys {list(cls.PARAM_NAMES)}")
        values = {name: float(params[name]) for name in cls.PARAM_NAMES}
        if not all(math.isfinite(value) and value > 0 for value in values.values()):
            raise ModelFitError(f"saved {cls.MODEL} model: every parameter must be a positive number, got {values}")
        model = cls(penalizer=float(data.get("penalizer", 0.0)))
        model.params_ = values
        fit = data.get("fit")
        fields = {field.name for field in dataclasses.fields(FitReport)}
        if fit is not None and (not isinstance(fit, Mapping) or set(fit) != fields):
            raise ModelFitError(
                f"saved {cls.MODEL} model: 'fit' must be null or have exactly the keys {sorted(fields)}"
            )
        model.fit_ = FitReport(**fit) if fit is not None else None
        return model
