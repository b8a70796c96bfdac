"""Segments defined by rules: ``kind = "rules"`` segmentations and the opportunistic
``[[segments]]`` (and ``personae segment add``), in the rule language (:mod:`personae.rules`).

A rule may read the segments assigned before it with ``in_segment``: a rules segmentation
sees the other kinds' assignments; an opportunistic segment sees those and the segments of
earlier dependency levels (``in_segment('rules', …)`` on another rule segment).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from personae.engine.sql import literal
from personae.errors import SegmentationError
from personae.rules import Rule, parse_rule
from personae.segments.people import PEOPLE
from personae.segments.segmentation import Assignment, SegmentationContext, assignment_sql
from personae.segments.specs import RULE_SEGMENTS, SegmentationSpec, SegmentConfig


def rule_part_sql(segmentation: str, segment: str, rule: Rule, as_of: date, memberships: str) -> str:
    """``uid, segmentation, segment, score`` of the people a rule selects (score NULL); reads
    ``_scored_profiles`` (see :func:`personae.segments.definitions.profile_columns`)."""
    condition = rule.sql(as_of=as_of, memberships=memberships)
    return assignment_sql(segmentation, literal(segment), "NULL", f"{PEOPLE} WHERE coalesce(({condition}), false)")


def union_sql(parts: list[str]) -> str:
    """The parts one after the other (an empty assignment relation when there are none)."""
    empty = "SELECT CAST(NULL AS VARCHAR) AS uid, CAST(NULL AS VARCHAR) AS segmentation, "
    empty += "CAST(NULL AS VARCHAR) AS segment, CAST(NULL AS DOUBLE) AS score WHERE false"
    return " UNION ALL ".join(parts) if parts else empty


def rule_levels(rules: Mapping[str, Rule]) -> list[list[str]]:
    """Rule segment names in dependency order (each level uses only earlier levels)."""
    pending = dict(rules)
    levels: list[list[str]] = []
    done: set[str] = set()
    while pending:
        level = sorted(
            name
            for name, rule in pending.items()
            if all(seg in done for segmentation, seg in rule.segments if segmentation == RULE_SEGMENTS)
        )
        if not level:
            raise SegmentationError(f"rule segments depend on each other in a cycle: {', '.join(sorted(pending))}")
        levels.append(level)
        done.update(level)
        for name in level:
            del pending[name]
    return levels


class Rules:
    """The ``rules`` kind: a segmentation whose segments are rules over the profile."""

    reads_segments = True

    def assign(self, context: SegmentationContext, spec: SegmentationSpec) -> Assignment:
        parts = [
            rule_part_sql(
                spec.name,
                segment,
                parse_rule(text, context.columns, name=f"{spec.name}.{segment}"),
                context.as_of,
                context.assigned,
            )
            for segment, text in spec.segments.items()
        ]
        return Assignment(union_sql(parts))

    def segment_names(self, config: SegmentConfig, spec: SegmentationSpec) -> frozenset[str] | None:
        return frozenset(spec.segments)


SEGMENTATION = Rules()
