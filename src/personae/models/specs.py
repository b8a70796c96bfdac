"""Settings of the models step (``[models]`` in ``personae.toml``)."""

from __future__ import annotations

from pydantic import Field, model_validator

from personae.spec import Spec


class ModelSettings(Spec):
    """The models step: CLV, churn and high-value propensity, survey look-alike."""

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

    @model_validator(mode="after")
    def _ordered(self) -> ModelSettings:
        for key, (low, high) in (("churn_cutoffs", self.churn_cutoffs), ("clv_tiers", self.clv_tiers)):
            if not 0 < low < high < 1:
                raise ValueError(f"models.{key} = [{low}, {high}]: give two increasing numbers between 0 and 1")
        return self
