"""The columns each model part writes to ``predictions``: what rules may read of the models.

Kept apart from the models themselves (which import scikit-learn and SciPy, about 1.5 s) so
that the configuration and the rule checker can know the columns without loading them; the
models step checks that its parts write exactly these.
"""

from __future__ import annotations

OUTPUTS: dict[str, tuple[tuple[str, str], ...]] = {
    "clv": (("p_alive", "DOUBLE"), ("expected_orders", "DOUBLE"), ("expected_value", "DOUBLE"), ("clv", "DOUBLE")),
    "propensity": (("churn_probability", "DOUBLE"), ("high_value_probability", "DOUBLE")),
    "lifestyle": (("lifestyle", "VARCHAR"), ("lifestyle_score", "DOUBLE")),
    "survey": (("survey_segment", "VARCHAR"), ("survey_confidence", "DOUBLE")),
}
"""Model part -> the (column, type) pairs it writes, in order."""

PREDICTION_COLUMNS: dict[str, str] = {name: type_ for outputs in OUTPUTS.values() for name, type_ in outputs}
"""Every column of ``predictions`` but ``uid``, with its type."""
