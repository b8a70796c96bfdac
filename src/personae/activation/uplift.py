"""The uplift of a treated arm over a held-out one, with a confidence interval: pure statistics.

Two outcomes, two textbook intervals, both from summary numbers (the store sums, this module
never sees a row):

- a **conversion** (did the person order in the window): the difference of two proportions
  with the unpooled (Wald) standard error, ``sqrt(p1 q1 / n1 + p2 q2 / n2)``;
- a **revenue** (what they spent in the window): the difference of two means with Welch's
  standard error and Welch–Satterthwaite degrees of freedom, as
  ``scipy.stats.ttest_ind(equal_var=False)`` (a test checks they agree).

Both are large-sample intervals, so they are only trusted when each arm is big enough:
at least :data:`MIN_ARM` people, and for a conversion at least :data:`MIN_OUTCOMES`
converters and non-converters in each arm (the usual rule for the normal approximation of
a proportion). Below that the verdict is *too small to tell*, whatever the interval says:
an effect is claimed only when the interval excludes 0 and the arms are big enough.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

CONFIDENCE = 0.95
MIN_ARM = 30
"""People per arm below which no interval is trusted."""
MIN_OUTCOMES = 5
"""Converters and non-converters per arm below which a conversion interval is not trusted."""

SIGNIFICANT_UPLIFT = "significant uplift"
SIGNIFICANT_DROP = "significant drop"
NO_EFFECT = "no significant effect"
TOO_SMALL = "too small to tell"


@dataclass(frozen=True)
class Arm:
    """One arm in summary: its size, the outcome's mean (a rate for a conversion) and sample variance."""

    size: int
    mean: float
    variance: float = 0.0
    """The sample variance (n - 1 in the denominator); unused for a conversion."""


@dataclass(frozen=True)
class Uplift:
    """Treated minus held out: the estimate, its interval, and what can be said of it."""

    estimate: float | None
    low: float | None
    high: float | None
    p_value: float | None
    verdict: str
    reasons: list[str] = field(default_factory=list)
    """Why the verdict is *too small to tell*, in words."""


def _verdict(low: float, high: float, reasons: list[str]) -> str:
    if reasons:
        return TOO_SMALL
    if low > 0:
        return SIGNIFICANT_UPLIFT
    if high < 0:
        return SIGNIFICANT_DROP
    return NO_EFFECT


def _sizes(treated: Arm, held_out: Arm) -> list[str]:
    return [
        f"the {name} arm has {arm.size} people; at least {MIN_ARM} are needed"
        for name, arm in (("treated", treated), ("held-out", held_out))
        if arm.size < MIN_ARM
    ]


def conversion_uplift(treated: Arm, held_out: Arm, confidence: float = CONFIDENCE) -> Uplift:
    """The difference of the arms' conversion rates (``mean``) with a Wald interval.

    >>> result = conversion_uplift(Arm(100, 0.6), Arm(100, 0.5))
    >>> round(result.estimate, 4), round(result.low, 4), round(result.high, 4), result.verdict
    (0.1, -0.0372, 0.2372, 'no significant effect')
    """
    if treated.size == 0 or held_out.size == 0:
        return Uplift(None, None, None, None, TOO_SMALL, _sizes(treated, held_out))
    reasons = _sizes(treated, held_out)
    for name, arm in (("treated", treated), ("held-out", held_out)):
        converted = round(arm.mean * arm.size)
        if min(converted, arm.size - converted) < MIN_OUTCOMES:
            reasons.append(
                f"the {name} arm has {converted} converters and {arm.size - converted} others; "
                f"at least {MIN_OUTCOMES} of each are needed"
            )
    from scipy import stats  # loaded only to report (the command line starts without it)

    estimate = treated.mean - held_out.mean
    error = math.sqrt(
        treated.mean * (1 - treated.mean) / treated.size + held_out.mean * (1 - held_out.mean) / held_out.size
    )
    return _interval(estimate, error, float(stats.norm.ppf(0.5 + confidence / 2)), reasons, normal=True)


def revenue_uplift(treated: Arm, held_out: Arm, confidence: float = CONFIDENCE) -> Uplift:
    """The difference of the arms' mean revenue with Welch's interval.

    >>> result = revenue_uplift(Arm(50, 12.0, 16.0), Arm(40, 10.0, 25.0))
    >>> round(result.estimate, 3), round(result.low, 3), round(result.high, 3), result.verdict
    (2.0, 0.063, 3.937, 'significant uplift')
    """
    if treated.size < 2 or held_out.size < 2:
        return Uplift(None, None, None, None, TOO_SMALL, _sizes(treated, held_out))
    reasons = _sizes(treated, held_out)
    parts = (treated.variance / treated.size, held_out.variance / held_out.size)
    error = math.sqrt(sum(parts))
    estimate = treated.mean - held_out.mean
    if error == 0:
        reasons.append("every person in both arms has the same outcome, so there is no spread to measure")
        return Uplift(estimate, estimate, estimate, None, TOO_SMALL, reasons)
    from scipy import stats

    freedom = sum(parts) ** 2 / (parts[0] ** 2 / (treated.size - 1) + parts[1] ** 2 / (held_out.size - 1))
    return _interval(estimate, error, float(stats.t.ppf(0.5 + confidence / 2, freedom)), reasons, freedom=freedom)


def _interval(
    estimate: float, error: float, quantile: float, reasons: list[str], *, normal: bool = False, freedom: float = 0.0
) -> Uplift:
    if error == 0:
        reasons = [*reasons, "both arms convert at 0% or 100%, so there is no spread to measure"]
        return Uplift(estimate, estimate, estimate, None, TOO_SMALL, reasons)
    from scipy import stats

    low, high = estimate - quantile * error, estimate + quantile * error
    statistic = abs(estimate) / error
    p_value = float(2 * (stats.norm.sf(statistic) if normal else stats.t.sf(statistic, freedom)))
    return Uplift(estimate, low, high, p_value, _verdict(low, high, reasons), reasons)
