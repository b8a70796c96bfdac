"""Whether a model may assign segments: it must beat its baseline on held-out data, by a
declared margin and by more than the sample's noise.

A model that is no better than chance still produces confident-looking segments: issue 11
found the survey look-alike at 0.34 cross-validated accuracy against 0.32 for always
answering the majority class, and everyone still got a survey segment. So each model that
assigns segments is checked when it is fitted, and the verdict is saved with it:

- **binary** (churn, high value): the held-out AUC must reach ``0.5 + models.min_auc_lift``
  and its excess over 0.5 must be significant at ``models.lift_confidence`` (one-sided),
  with the Mann–Whitney null variance ``(n1 + n0 + 1) / (12 n1 n0)`` of the AUC;
- **multiclass** (survey look-alike): the cross-validated accuracy (every respondent is
  predicted once, by a model that did not see them) must reach the majority class's share
  plus ``models.min_accuracy_lift``, and its excess must be significant against the
  binomial noise ``sqrt(p0 (1 - p0) / n)`` of an accuracy ``p0`` on ``n`` people;
- **lifestyle**: its own rule, the chosen k's bootstrap stability (mean ARI) reaching the
  model's ``stability_threshold``; when no k does, the clustering changes with the sample
  and is not used.

*Defaults.* A margin of 0.05 (AUC 0.55; five points of accuracy over the majority) rejects
issue 11's survey model (two points over the majority) and leaves room to every model the
demo worlds fit for real: held-out churn AUC 0.91 (20,000 customers) and 0.92 (1M), high
value 0.96 and 0.95, survey 0.40 against 0.30 on the 870 respondents of the 20,000-customer
world and 0.51 against 0.31 on 47,218 in the 1M world. A margin alone is not enough on
small samples: with 130 respondents and a majority of 0.31 the accuracy's noise is 0.041,
so 0.95 confidence asks for 0.377 there, not 0.36.
Below the rule the model is saved with ``used: false`` and the reason, its scores are NULL
and its segments ``unknown``; the run warns and ``personae models`` says why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from personae.models.specs import ModelSettings


@dataclass(frozen=True)
class Verdict:
    """Whether a fitted model assigns segments, and why (saved in its report as ``verdict``)."""

    used: bool
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"used": self.used, "why": self.why}

    @classmethod
    def of(cls, report: Mapping[str, Any]) -> Verdict | None:
        """The verdict saved in a model's report (None for a model saved without one)."""
        saved = report.get("verdict")
        if not isinstance(saved, Mapping) or not isinstance(saved.get("used"), bool):
            return None
        return cls(used=saved["used"], why=str(saved.get("why", "")))


def _critical(confidence: float) -> float:
    return NormalDist().inv_cdf(confidence)


def binary_verdict(validation: Mapping[str, Any] | None, settings: ModelSettings) -> Verdict:
    """Judge a binary classifier by its held-out :func:`~personae.models.evaluation.binary_report`.

    >>> s = ModelSettings()
    >>> binary_verdict({"auc": 0.52, "n": 4000, "positives": 1000}, s).used
    False
    >>> binary_verdict({"auc": 0.62, "n": 40, "positives": 8}, s).used  # above the margin, not above the noise
    False
    >>> binary_verdict({"auc": 0.76, "n": 400, "positives": 100}, s).used
    True
    """
    if not validation:
        return Verdict(
            False,
            "no held-out rows with both outcomes, so nothing shows it beats chance; "
            "its scores are NULL and its segments unknown until more history arrives",
        )
    auc, n, positives = float(validation["auc"]), int(validation["n"]), int(validation["positives"])
    negatives = n - positives
    z = (auc - 0.5) / math.sqrt((n + 1) / (12 * positives * negatives))
    needed, critical = 0.5 + settings.min_auc_lift, _critical(settings.lift_confidence)
    measured = f"held-out AUC {auc:.3f} on {n:,} people ({positives:,} positive)"
    if auc < needed:
        return Verdict(
            False,
            f"{measured} is below {needed:.3f} (chance 0.5 + models.min_auc_lift {settings.min_auc_lift}): "
            "no better than chance, so its scores are NULL and its segments unknown",
        )
    if z < critical:
        return Verdict(
            False,
            f"{measured} is above chance by less than the noise of so few held-out people "
            f"(z {z:.2f} < {critical:.2f} for models.lift_confidence {settings.lift_confidence}), "
            "so its scores are NULL and its segments unknown",
        )
    return Verdict(True, f"{measured} beats chance (0.5) by {auc - 0.5:.3f} (z {z:.1f})")


def multiclass_verdict(accuracy: float, majority: float, n: int, settings: ModelSettings) -> Verdict:
    """Judge a multiclass classifier by its cross-validated accuracy against the majority class's share.

    >>> s = ModelSettings()
    >>> multiclass_verdict(0.34, 0.32, 870, s).used  # issue 11's survey model
    False
    >>> multiclass_verdict(0.37, 0.31, 130, s).used  # a margin of 0.06 is within the noise of 130 people
    False
    >>> multiclass_verdict(0.40, 0.30, 870, s).used
    True
    """
    needed, critical = majority + settings.min_accuracy_lift, _critical(settings.lift_confidence)
    noise = math.sqrt(majority * (1 - majority) / n) if 0 < majority < 1 and n > 0 else math.inf
    z = (accuracy - majority) / noise
    measured = f"cross-validated accuracy {accuracy:.3f} on {n:,} people against {majority:.3f} for the majority class"
    if accuracy < needed:
        return Verdict(
            False,
            f"{measured}: below {needed:.3f} (models.min_accuracy_lift {settings.min_accuracy_lift}), "
            "no better than always guessing the majority, so its predictions are NULL and its segments unknown",
        )
    if z < critical:
        return Verdict(
            False,
            f"{measured}: above it by less than the noise of so few people (z {z:.2f} < {critical:.2f} for "
            f"models.lift_confidence {settings.lift_confidence}), so its predictions are NULL and its "
            "segments unknown",
        )
    return Verdict(True, f"{measured}: beats it by {accuracy - majority:.3f} (z {z:.1f})")


def stability_verdict(report: Mapping[str, Any]) -> Verdict:
    """Judge a lifestyle clustering by its own rule: the chosen k must be stable under resampling."""
    chosen = next((score for score in report.get("per_k", []) if score.get("k") == report.get("chosen_k")), None)
    threshold = report.get("stability_threshold")
    if chosen is None or threshold is None:
        return Verdict(False, "the report names no chosen k with its stability; refit")
    measured = f"k {chosen['k']}: mean bootstrap ARI {chosen['ari_mean']:.3f}"
    if not chosen["stable"]:
        return Verdict(
            False,
            f"no k reached the stability threshold {threshold} ({measured} at best): the clusters change with "
            "the sample, so its lifestyles are NULL and its segments unknown",
        )
    return Verdict(True, f"{measured} reaches the stability threshold {threshold}")
