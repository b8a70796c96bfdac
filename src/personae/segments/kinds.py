"""Every kind of segmentation, by the name ``kind = "…"`` uses in ``personae.toml`` (DESIGN §6).

One line per kind; each lives in a module of its own (see
:class:`~personae.segments.segmentation.Segmentation`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from personae.errors import ConfigError, InvalidRule
from personae.rules import Rule
from personae.segments import behaviour, lifecycle, predictive, rfm, rule_segments
from personae.segments.segmentation import Segmentation
from personae.segments.specs import RULE_SEGMENTS, SegmentConfig
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
}


def segmentation_kind(kind: str) -> Segmentation:
    """The kind named ``kind``; a ConfigError with the nearest name otherwise."""
    try:
        return SEGMENTATIONS[kind]
    except KeyError:
        raise ConfigError(
            f"no segmentation kind {kind!r}{did_you_mean(kind, SEGMENTATIONS)}; kinds are {', '.join(SEGMENTATIONS)}"
        ) from None


def known_segments(
    config: SegmentConfig,
    assigned: Mapping[str, Iterable[str]] | None = None,
    rule_segments: Iterable[str] | None = None,
) -> dict[str, frozenset[str] | None]:
    """Segmentation -> the segments a rule may name in ``in_segment`` (None: not known yet).

    A kind whose segments the data decides (lifestyle, survey) takes them from ``assigned``
    (segmentation -> its current segments) when there are some; the rule segments (``rules``)
    are ``rule_segments`` when given."""
    known: dict[str, frozenset[str] | None] = {}
    for spec in config.segmentations:
        names = segmentation_kind(spec.kind).segment_names(config, spec)
        if names is None and assigned and spec.name in assigned:
            names = frozenset(assigned[spec.name])
        known[spec.name] = names
    known[RULE_SEGMENTS] = frozenset(rule_segments) if rule_segments is not None else None
    return known


def check_references(rule: Rule, known: Mapping[str, frozenset[str] | None]) -> None:
    """Every ``in_segment`` of ``rule`` names a segmentation and a segment that exist."""
    label = f"rule {rule.name!r}" if rule.name else f"rule {rule.text!r}"
    for segmentation, segment in sorted(rule.segments):
        call = f"in_segment({segmentation!r}, {segment!r})"
        if segmentation not in known:
            raise InvalidRule(
                f"{label}: {call}: no segmentation {segmentation!r}{did_you_mean(segmentation, known)}; "
                f"segmentations are {', '.join(sorted(known))}"
            )
        names = known[segmentation]
        if names is not None and segment not in names:
            raise InvalidRule(
                f"{label}: {call}: {segmentation!r} has no segment {segment!r}{did_you_mean(segment, names)}; "
                f"its segments are {', '.join(sorted(names)) or 'none yet'}"
            )
