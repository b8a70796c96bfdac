"""The uplift statistics against known values: a Wald difference of proportions worked by hand,
Welch's interval against scipy's own, and no claim where the arms are too small."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from personae.activation.uplift import (
    NO_EFFECT,
    SIGNIFICANT_DROP,
    SIGNIFICANT_UPLIFT,
    TOO_SMALL,
    Arm,
    conversion_uplift,
    revenue_uplift,
)


def test_difference_of_proportions_by_hand() -> None:
    """0.6 of 100 against 0.5 of 100: SE = sqrt(.24/100 + .25/100) = 0.07, so 0.1 ± 1.959964 × 0.07."""
    result = conversion_uplift(Arm(100, 0.6), Arm(100, 0.5))
    assert result.estimate == pytest.approx(0.1)
    assert (result.low, result.high) == pytest.approx((0.1 - 1.959964 * 0.07, 0.1 + 1.959964 * 0.07), abs=1e-6)
    assert result.p_value == pytest.approx(2 * stats.norm.sf(0.1 / 0.07))
    assert result.verdict == NO_EFFECT


def test_a_clear_difference_of_proportions_either_way() -> None:
    assert conversion_uplift(Arm(400, 0.30), Arm(400, 0.20)).verdict == SIGNIFICANT_UPLIFT
    assert conversion_uplift(Arm(400, 0.20), Arm(400, 0.30)).verdict == SIGNIFICANT_DROP


def test_welch_equals_scipy() -> None:
    rng = np.random.default_rng(4)
    treated, held_out = rng.gamma(2.0, 60.0, 180), rng.gamma(2.0, 45.0, 70)
    result = revenue_uplift(
        Arm(len(treated), treated.mean(), treated.var(ddof=1)),
        Arm(len(held_out), held_out.mean(), held_out.var(ddof=1)),
    )
    reference = stats.ttest_ind(treated, held_out, equal_var=False)
    interval = reference.confidence_interval(0.95)
    assert (result.low, result.high) == pytest.approx((interval.low, interval.high), rel=1e-9)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    assert result.estimate == pytest.approx(treated.mean() - held_out.mean())


def test_small_arms_are_too_small_to_tell_even_when_the_interval_excludes_zero() -> None:
    result = conversion_uplift(Arm(20, 0.9), Arm(20, 0.1))
    assert result.low is not None and result.low > 0
    assert result.verdict == TOO_SMALL
    assert "the treated arm has 20 people; at least 30 are needed" in result.reasons
    rare = conversion_uplift(Arm(500, 0.008), Arm(500, 0.0))
    assert rare.verdict == TOO_SMALL and any("converters" in reason for reason in rare.reasons)
    assert revenue_uplift(Arm(0, 0.0), Arm(50, 1.0, 1.0)).estimate is None
    flat = revenue_uplift(Arm(40, 0.0, 0.0), Arm(40, 0.0, 0.0))
    assert flat.verdict == TOO_SMALL and "no spread" in flat.reasons[-1]
