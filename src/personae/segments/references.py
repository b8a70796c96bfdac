"""What a rule's ``in_segment`` may name: the segmentations, and the segments each can assign.

Checked when a rule is given (``personae.toml`` on load, ``personae segment add``), so a
typo such as ``in_segment('rfm', 'Champs')`` is an error with the nearest name, not a rule
that silently selects nobody.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from personae.errors import InvalidRule
from personae.rules import Rule
from personae.segments.kinds import segmentation_kind
from personae.segments.specs import RULE_SEGMENTS, SegmentConfig
from personae.spec import did_you_mean


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
