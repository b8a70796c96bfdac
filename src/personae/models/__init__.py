"""CLV models: BG/NBD for purchase counts, Gamma-Gamma for spend, discounted CLV and batch scoring.

    from personae.models import BetaGeo, GammaGamma, customer_lifetime_value

    bgnbd = BetaGeo().fit(frequency, recency, T, as_of="1997-09-30")
    spend = GammaGamma().fit(frequency, monetary_value)
    clv = customer_lifetime_value(bgnbd, spend, frequency, recency, T, monetary_value,
                                  horizon_periods=12, discount_rate=0.01, period_length=4.345)

Fitted models save as JSON (``save(path)`` / ``load(path)``), never as pickles.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from personae.models.bgnbd import BetaGeo
    from personae.models.clv import INPUT_COLUMNS, OUTPUT_COLUMNS, customer_lifetime_value, score_customers
    from personae.models.fitting import FitReport
    from personae.models.gamma_gamma import GammaGamma

_HOMES = {
    "BetaGeo": "bgnbd",
    "GammaGamma": "gamma_gamma",
    "FitReport": "fitting",
    "INPUT_COLUMNS": "clv",
    "OUTPUT_COLUMNS": "clv",
    "customer_lifetime_value": "clv",
    "score_customers": "clv",
}
"""Loaded when first asked for: SciPy and scikit-learn take about 1.5 s to import, which
every command (``personae --help`` too) would pay otherwise."""

__all__ = [
    "INPUT_COLUMNS",
    "OUTPUT_COLUMNS",
    "BetaGeo",
    "FitReport",
    "GammaGamma",
    "customer_lifetime_value",
    "score_customers",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'personae.models' has no attribute {name!r}")
    return getattr(import_module(f"personae.models.{_HOMES[name]}"), name)
