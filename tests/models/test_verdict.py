"""A model assigns segments only when it beats its baseline on held-out data by the declared
margin and by more than the sample's noise (:mod:`personae.models.verdict`)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.metrics import roc_auc_score

from personae import Workspace
from personae.models.specs import ModelSettings
from personae.models.verdict import Verdict, binary_verdict, multiclass_verdict, stability_verdict
from tests.profiles.small_world import AS_OF, build

SETTINGS = ModelSettings()


def test_binary_needs_the_margin_over_chance() -> None:
    big = {"n": 100_000, "positives": 30_000}
    assert binary_verdict({**big, "auc": 0.5 + SETTINGS.min_auc_lift}, SETTINGS).used
    below = binary_verdict({**big, "auc": 0.5 + SETTINGS.min_auc_lift - 0.001}, SETTINGS)
    assert not below.used and "below 0.550" in below.why and "models.min_auc_lift" in below.why
    assert binary_verdict({**big, "auc": 0.52}, ModelSettings(min_auc_lift=0.01)).used


def test_binary_needs_more_than_the_noise_of_its_holdout() -> None:
    """Random scores on a 40-person holdout often clear the margin; the noise test lets through
    about 1 - lift_confidence of them, as a one-sided test at that level should."""
    rng = np.random.default_rng(5)
    y = np.r_[np.ones(8, dtype=int), np.zeros(32, dtype=int)]
    aucs = [float(roc_auc_score(y, rng.random(40))) for _ in range(2_000)]
    over_margin = np.mean([auc >= 0.5 + SETTINGS.min_auc_lift for auc in aucs])
    used = np.mean([binary_verdict({"auc": auc, "n": 40, "positives": 8}, SETTINGS).used for auc in aucs])
    assert over_margin > 0.3  # the margin alone would let a third of these random models assign segments
    assert 0.02 < used < 0.07
    small = binary_verdict({"auc": 0.62, "n": 40, "positives": 8}, SETTINGS)
    assert not small.used and "noise" in small.why and "models.lift_confidence" in small.why


def test_binary_without_a_validation_is_not_used() -> None:
    verdict = binary_verdict(None, SETTINGS)
    assert not verdict.used and "no held-out rows with both outcomes" in verdict.why


def test_multiclass_is_judged_against_the_majority_class() -> None:
    issue = multiclass_verdict(0.34, 0.32, 870, SETTINGS)  # the survey model of issue 11
    assert not issue.used and "0.340" in issue.why and "0.320 for the majority class" in issue.why
    assert not multiclass_verdict(0.37, 0.31, 130, SETTINGS).used  # over the margin, within the noise
    assert multiclass_verdict(0.40, 0.31, 130, SETTINGS).used
    assert multiclass_verdict(0.377, 0.299, 422, SETTINGS).used  # the 10,000-customer demo world
    assert not multiclass_verdict(0.377, 0.299, 422, ModelSettings(min_accuracy_lift=0.1)).used


def test_lifestyles_need_a_stable_k() -> None:
    per_k = [{"k": 2, "ari_mean": 0.62, "stable": False}, {"k": 3, "ari_mean": 0.95, "stable": True}]
    assert stability_verdict({"chosen_k": 3, "stability_threshold": 0.8, "per_k": per_k}).used
    unstable = stability_verdict({"chosen_k": 2, "stability_threshold": 0.8, "per_k": per_k[:1]})
    assert not unstable.used and "no k reached the stability threshold 0.8" in unstable.why


def test_a_verdict_round_trips_through_a_report() -> None:
    verdict = Verdict(False, "why not")
    assert Verdict.of({"verdict": verdict.to_dict()}) == verdict
    assert Verdict.of({}) is None and Verdict.of({"verdict": {"why": "no used"}}) is None


@pytest.mark.parametrize(
    "values", [{"min_auc_lift": 0.5}, {"min_auc_lift": -0.1}, {"min_accuracy_lift": 1.0}, {"lift_confidence": 1.0}]
)
def test_lift_settings_are_checked(values: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        ModelSettings(**values)


def test_models_of_a_world_without_signal_assign_nothing(tmp_path: Path) -> None:
    """The small world's orders are drawn at random: nothing in a buyer's past says whether they
    will buy again, and their baskets have no lifestyles. Those models must not assign segments."""
    shop = build(tmp_path / "shop", customers=120, seed=3)
    workspace = Workspace(shop.root)
    report = workspace.run(as_of=AS_OF)
    assert report.errors == []
    warnings = [warning for step in report.steps for warning in step.warnings]
    assert any(
        re.match(r"model churn: not used: held-out AUC 0\.[0-4]\d* on \d+ people .* below 0\.550", w) for w in warnings
    ), warnings
    assert any(w.startswith("model lifestyle: not used: no k reached the stability threshold") for w in warnings)
    found = {item.model: item for item in workspace.models()}
    assert not found["churn"].used and not found["lifestyle"].used and found["clv"].used
    assert workspace.sql("SELECT count(churn_probability), count(lifestyle) FROM predictions").to_pylist() == [
        {"count(churn_probability)": 0, "count(lifestyle)": 0}
    ]
    segments = workspace.sql(
        "SELECT m.segmentation, m.segment, count(*) AS n FROM memberships AS m JOIN profiles AS p ON p.uid = m.uid "
        "WHERE m.exited_at IS NULL AND p.orders > 0 AND m.segmentation IN ('churn_risk', 'lifestyle') GROUP BY ALL"
    ).to_pylist()
    assert {(row["segmentation"], row["segment"]) for row in segments} == {
        ("churn_risk", "unknown"),
        ("lifestyle", "unknown"),
    }
