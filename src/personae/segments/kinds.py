"""Every kind of segmentation, by the name ``kind = "…"`` uses in ``personae.toml`` (DESIGN §6).

One line per kind; each lives in a module of its own (see
:class:`~personae.segments.segmentation.Segmentation`).
"""

from __future__ import annotations

from personae.errors import ConfigError
from personae.segments import behaviour, imported, lifecycle, predictive, rfm, rule_segments
from personae.segments.segmentation import Segmentation
from personae.spec import did_you_mean

SEGMENTATIONS: dict[str, Segmentation] = {
    "rfm": rfm.SEGMENTATION,
    "lifecycle": lifecycle.SEGMENTATION,
    "lifestyle": predictive.LIFESTYLE,
    "churn_risk": predictive.CHURN_RISK,
    "high_value": predictive.HIGH_VALUE,
    "clv_tier": predictive.CLV_TIER,
    "survey": predictive.SURVEY,
    "subscription": behaviour.SUBSCRIPTION,
    "triggers": behaviour.TRIGGERS_KIND,
    "rules": rule_segments.SEGMENTATION,
    "imported": imported.SEGMENTATION,
}


def segmentation_kind(kind: str) -> Segmentation:
    """The kind named ``kind``; a ConfigError with the nearest name otherwise."""
    try:
        return SEGMENTATIONS[kind]
    except KeyError:
        raise ConfigError(
            f"no segmentation kind {kind!r}{did_you_mean(kind, SEGMENTATIONS)}; kinds are {', '.join(SEGMENTATIONS)}"
        ) from None
