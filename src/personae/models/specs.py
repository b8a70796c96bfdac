"""Settings of the models step (``[models]`` in ``personae.toml``)."""

from __future__ import annotations

from pydantic import Field, model_validator

from personae.spec import Spec


class ModelSettings(Spec):
    """The models step: CLV, churn and high-value propensity, survey look-alike.

    The defaults of the three lift settings are argued in :mod:`personae.models.verdict`.
    """

    enabled: bool = True
    seed: int = 7
    horizon_days: int = Field(90, ge=7)
    clv_months: int = Field(12, ge=1)
    monthly_discount: float = Field(0.01, ge=0, lt=1)
    churn_cutoffs: tuple[float, float] = (0.35, 0.65)
    high_value_share: float = Field(0.1, gt=0, lt=1)
    high_value_cutoff: float = Field(0.5, gt=0, lt=1)
    clv_tiers: tuple[float, float] = (0.2, 0.5)
    survey_confidence: float = Field(0.6, gt=0, lt=1)
    max_training_rows: int = Field(200_000, ge=100)
    refit_every_days: int = Field(0, ge=0)
    """Reuse the saved models for this many days after their fit, however the data moved (0:
    refit whenever a model's inputs change). ``personae run --full`` refits all the same."""
    days_since_bins: tuple[int, ...] = (7, 14, 30, 60, 90, 120, 180, 270, 365, 540, 730, 1095)
    """The classifiers see a trait that moves with the as-of day alone (``days_since_last_order``
    …) as the lower edge of its bin (0 below 7 days, 7 until 14, …, 1095 from three years):
    a person's features then change on a dozen days in three years instead of every day, and
    so do their scores (see :mod:`personae.models.features`). Empty: exact days."""
    min_auc_lift: float = Field(0.05, ge=0, lt=0.5)
    """A churn or high-value model assigns segments only when its held-out AUC reaches 0.5 plus this."""
    min_accuracy_lift: float = Field(0.05, ge=0, lt=1)
    """The survey look-alike assigns segments only when its cross-validated accuracy reaches the
    majority class's share plus this."""
    lift_confidence: float = Field(0.95, ge=0.5, lt=1)
    """And only when that lift over the baseline is significant at this one-sided confidence."""

    @model_validator(mode="after")
    def _ordered(self) -> ModelSettings:
        bins = self.days_since_bins
        if any(edge <= 0 for edge in bins) or list(bins) != sorted(set(bins)):
            raise ValueError(
                f"models.days_since_bins = {list(bins)}: give increasing whole numbers of days above 0, "
                "or [] for exact days"
            )
        for key, (low, high) in (("churn_cutoffs", self.churn_cutoffs), ("clv_tiers", self.clv_tiers)):
            if not 0 < low < high < 1:
                raise ValueError(f"models.{key} = [{low}, {high}]: give two increasing numbers between 0 and 1")
        return self


# The columns each model part writes to ``predictions`` (what rules may read of the models),
# here with the settings so that the configuration and the rule checker know them without
# importing the models (SciPy and scikit-learn take about 1.5 s to import).
OUTPUTS: dict[str, tuple[tuple[str, str], ...]] = {
    "clv": (("p_alive", "DOUBLE"), ("expected_orders", "DOUBLE"), ("expected_value", "DOUBLE"), ("clv", "DOUBLE")),
    "propensity": (("churn_probability", "DOUBLE"), ("high_value_probability", "DOUBLE")),
    "lifestyle": (("lifestyle", "VARCHAR"), ("lifestyle_score", "DOUBLE")),
    "survey": (("survey_segment", "VARCHAR"), ("survey_confidence", "DOUBLE")),
}
"""Model part -> the (column, type) pairs it writes, in order."""

PREDICTION_COLUMNS: dict[str, str] = {name: type_ for outputs in OUTPUTS.values() for name, type_ in outputs}
"""Every column of ``predictions`` but ``uid``, with its type."""
