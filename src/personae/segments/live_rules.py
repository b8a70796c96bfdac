"""Rule segments for one person at a time, in the order and with the visibility batch gives them.

Batch assigns rule segments in SQL (:func:`personae.segments.assignment.assign_segments`):
the ``rules`` kind's segmentations see the segmentations that read no segments (RFM,
lifecycle, ...); the opportunistic segments (``[[segments]]`` and ``personae segment add``)
see those and the ``rules`` kinds, level by level of their dependencies. :class:`LiveRules`
evaluates the same checked rules with their Python twin (:meth:`personae.rules.Rule.evaluate`,
equal to the SQL) for one person's profile, reading the batch segmentations as the person
holds them now: live processing changes traits, not RFM or lifecycle, which batch assigns
over the whole population.

>>> from personae.rules import parse_rule
>>> rules = LiveRules(
...     segmentations=(("tiers", (("big", parse_rule("orders > 2", {"orders": "BIGINT"})),)),),
...     levels=((("fans", parse_rule("in_segment('tiers', 'big')", {})),),),
... )
>>> rules.assign({"orders": 3}, {"lifecycle": {"active"}}, as_of=date(2025, 1, 31))
{'tiers': {'big'}, 'rules': {'fans'}}

An import that forces someone out of a rule segment (``theirs``) wins over the rule:

>>> from dataclasses import replace
>>> replace(rules, forced={"u1": {"fans": False}}).assign({"orders": 3}, {}, as_of=date(2025, 1, 31), uid="u1")
{'tiers': {'big'}, 'rules': set()}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from personae.engine.base import Engine
from personae.rules import Rule, parse_rule
from personae.segments.conflicts import overrides
from personae.segments.definitions import compiled
from personae.segments.kinds import segmentation_kind
from personae.segments.rule_segments import rule_levels
from personae.segments.specs import RULE_SEGMENTS, SegmentConfig

Rules = tuple[tuple[str, Rule], ...]
"""(segment, rule) pairs."""


@dataclass(frozen=True)
class LiveRules:
    """The rule segments in force, ready to assign one profile."""

    segmentations: tuple[tuple[str, Rules], ...] = ()
    """The ``rules`` kind's segmentations: name and its segments' rules."""
    levels: tuple[Rules, ...] = ()
    """The opportunistic rule segments, by level of dependency (each reads only earlier ones)."""
    forced: Mapping[str, Mapping[str, bool]] = field(default_factory=dict)
    """uid -> {rule segment: in or out}: what imports force (``theirs``), as batch applies it."""

    @property
    def owned(self) -> frozenset[str]:
        """The segmentations these rules decide (the others are batch's)."""
        return frozenset({*(name for name, _ in self.segmentations), RULE_SEGMENTS})

    @property
    def columns(self) -> frozenset[str]:
        """Every profile column some rule reads."""
        rules = [rule for _, rules in self.segmentations for _, rule in rules]
        rules += [rule for level in self.levels for _, rule in level]
        return frozenset(column for rule in rules for column in rule.columns)

    def assign(
        self, profile: Mapping[str, Any], held: Mapping[str, set[str]], *, as_of: date, uid: str = ""
    ) -> dict[str, set[str]]:
        """segmentation -> the segments ``profile`` is in, for every segmentation in :attr:`owned`;
        ``held`` is what the person holds now (only the batch segmentations are read); a rule
        segment an import forces for ``uid`` takes the forced state, at its level as in batch."""
        forced = self.forced.get(uid, {})
        seen: dict[str, set[str]] = {name: set(segments) for name, segments in held.items() if name not in self.owned}
        assigned: dict[str, set[str]] = {}
        for name, rules in self.segmentations:
            assigned[name] = {segment for segment, rule in rules if rule.evaluate(profile, as_of=as_of, segments=seen)}
        seen.update(assigned)
        opportunistic: set[str] = set()
        for level in self.levels:
            visible = {**seen, RULE_SEGMENTS: set(opportunistic)}
            opportunistic |= {name for name, rule in level if rule.evaluate(profile, as_of=as_of, segments=visible)}
            for name, _ in level:
                if forced.get(name) is True:
                    opportunistic.add(name)
                elif forced.get(name) is False:
                    opportunistic.discard(name)
        assigned[RULE_SEGMENTS] = opportunistic
        return assigned


def live_rules(engine: Engine, config: SegmentConfig, columns: Mapping[str, str]) -> LiveRules:
    """The rule segments in force in the store (and the config's ``rules`` segmentations),
    parsed against the profile ``columns`` (name -> type)."""
    segmentations = tuple(
        (
            spec.name,
            tuple(
                (segment, parse_rule(text, columns, name=f"{spec.name}.{segment}"))
                for segment, text in spec.segments.items()
            ),
        )
        for spec in config.segmentations
        if segmentation_kind(spec.kind).reads_segments
    )
    rules = compiled(engine, columns)
    levels = tuple(tuple((name, rules[name]) for name in level) for level in rule_levels(rules))
    return LiveRules(segmentations, levels, overrides(engine))
