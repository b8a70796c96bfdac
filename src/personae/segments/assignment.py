"""The segment step: every segmentation assigns every customer, then memberships are diffed.

Order: the built-in core segmentations (RFM, lifecycle) first, then ``kind = "rules"``
segmentations (their rules may use ``in_segment`` on the former), then the opportunistic
rule segments in dependency order (a rule may use ``in_segment('rules', …)`` on another).
A core segmentation must give each UID exactly one segment; if it does not, the run stops
before anything is written and the message names the UIDs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from personae.engine.base import Engine
from personae.engine.sql import literal
from personae.errors import SegmentationError, WorkspaceError
from personae.profiles.build import traits_as_of
from personae.rules import Rule, parse_rule
from personae.segments import behaviour, lifecycle, predictive, rfm
from personae.segments.definitions import compiled, profile_columns, sync_config_segments
from personae.segments.memberships import MembershipResult, apply_assignments
from personae.segments.specs import RULE_SEGMENTS, SegmentationSpec, SegmentConfig

SHOWN_UIDS = 10


@dataclass
class SegmentResult:
    people: int
    segmentations: dict[str, dict[str, int]] = field(default_factory=dict)
    memberships: MembershipResult | None = None
    thresholds: lifecycle.LifecycleThresholds | None = None
    reports: dict[str, Any] = field(default_factory=dict)


def _rule_part(segmentation: str, segment: str, rule: Rule, as_of: date, memberships: str) -> str:
    condition = rule.sql(as_of=as_of, memberships=memberships)
    return (
        f"SELECT uid, {literal(segmentation)} AS segmentation, {literal(segment)} AS segment, "
        f"CAST(NULL AS DOUBLE) AS score FROM profiles WHERE coalesce(({condition}), false)"
    )


def core_problems_sql(segmentation: str, assignments: str) -> str:
    """UIDs of ``profiles`` with no segment or several in ``segmentation``, with their segments."""
    counted = (
        "SELECT p.uid, count(a.segment) AS segments, string_agg(a.segment, ', ' ORDER BY a.segment) AS names "
        f"FROM profiles AS p LEFT JOIN (SELECT * FROM {assignments} WHERE segmentation = {literal(segmentation)}) "
        "AS a ON a.uid = p.uid GROUP BY p.uid"
    )
    return f"SELECT uid, segments, names FROM ({counted}) AS c WHERE segments <> 1 ORDER BY uid"


def _suspect_segmentations(engine: Engine, names: list[str], assignments: str, people: int) -> list[str]:
    """The segmentations among ``names`` that miss someone or put someone in two segments,
    found by one pass over the assignments (the details are looked up only for these)."""
    if not names:
        return []
    listed = ", ".join(literal(name) for name in names)
    per_person = (
        f"SELECT segmentation, uid, count(*) AS n FROM {assignments} "
        f"WHERE segmentation IN ({listed}) GROUP BY segmentation, uid"
    )
    counts = f"SELECT segmentation, count(*), count(*) FILTER (WHERE n > 1) FROM ({per_person}) AS p GROUP BY 1"
    covered = {str(name): (int(found), int(overlapping)) for name, found, overlapping in engine.fetch_rows(counts)}
    return [name for name in names if covered.get(name, (0, 0)) != (people, 0)]


def check_core(engine: Engine, specs: list[SegmentationSpec], assignments: str, people: int) -> None:
    """Stop the run when a core segmentation misses one of the ``people`` profiles or puts
    one in two segments, naming the UIDs."""
    messages = []
    core = [spec.name for spec in specs if spec.core]
    for name in _suspect_segmentations(engine, core, assignments, people):
        rows = engine.fetch_rows(core_problems_sql(name, assignments))
        if not rows:
            continue
        missing = [uid for uid, count, _ in rows if count == 0]
        overlapping = [f"{uid} ({names})" for uid, count, names in rows if count > 1]
        parts = []
        if overlapping:
            parts.append(f"{len(overlapping)} in several segments: {', '.join(overlapping[:SHOWN_UIDS])}")
        if missing:
            parts.append(f"{len(missing)} in none: {', '.join(missing[:SHOWN_UIDS])}")
        messages.append(f"core segmentation {name!r} is not exhaustive and exclusive: {'; '.join(parts)}")
    if messages:
        raise SegmentationError(
            "\n".join(messages) + "\nfix the segment rules so each customer meets exactly one, or set core = false"
        )


def _rule_levels(rules: Mapping[str, Rule]) -> list[list[str]]:
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


def _union(parts: list[str]) -> str:
    empty = "SELECT CAST(NULL AS VARCHAR) AS uid, CAST(NULL AS VARCHAR) AS segmentation, "
    empty += "CAST(NULL AS VARCHAR) AS segment, CAST(NULL AS DOUBLE) AS score WHERE false"
    return " UNION ALL ".join(parts) if parts else empty


def assign_segments(engine: Engine, config: SegmentConfig, as_of: date) -> SegmentResult:
    """Assign every segmentation and rule segment as of a day and record the memberships.

    Returns the sizes, the membership changes, the learnt lifecycle thresholds and each
    segmentation's report; the step keeps the last two as files beside the models."""
    columns = profile_columns(engine)
    stored = traits_as_of(engine)
    if stored != as_of:
        raise WorkspaceError(
            f"profiles hold traits as of {stored}, not {as_of}: run `personae run --as-of {as_of}` "
            "(or `--only traits` first)"
        )
    result = SegmentResult(people=int(engine.scalar("SELECT count(*) FROM profiles")))
    core_parts: list[str] = []
    for spec in config.segmentations:
        if spec.kind == "rfm":
            engine.create_table("rfm_scores", rfm.scores_sql("profiles"))
            core_parts.append(rfm.assignments_sql(config.rfm.cells, spec.name, "profiles", "rfm_scores"))
        elif spec.kind == "lifecycle":
            thresholds = lifecycle.learn_thresholds(engine, config.lifecycle, as_of)
            result.thresholds = thresholds
            core_parts.append(lifecycle.assignments_sql(thresholds, spec.name))
        elif spec.kind in predictive.KINDS:
            has_predictions = engine.has_table(predictive.PREDICTIONS)
            core_parts.append(
                predictive.assignments_sql(spec.kind, spec.name, config.models, has_predictions=has_predictions)
            )
        elif spec.kind == "subscription":
            core_parts.append(behaviour.subscription_sql(config.subscription, spec.name))
            result.reports[spec.name] = behaviour.subscription_report(engine, config.subscription)
        elif spec.kind == "triggers":
            core_parts.append(behaviour.triggers_sql(config.triggers, spec.name))
            result.reports[spec.name] = behaviour.triggers_report(engine, config.triggers)
    engine.materialise("_built_in", _union(core_parts))
    rule_parts = [
        _rule_part(spec.name, segment, parse_rule(text, columns, name=f"{spec.name}.{segment}"), as_of, "_built_in")
        for spec in config.segmentations
        if spec.kind == "rules"
        for segment, text in spec.segments.items()
    ]
    engine.materialise("_core", _union(["SELECT * FROM _built_in", *rule_parts]))
    check_core(engine, list(config.segmentations), "_core", result.people)

    sync_config_segments(engine, config.segments, columns)
    rules = compiled(engine, columns)
    known = "_core"
    for index, level in enumerate(_rule_levels(rules)):
        parts = [_rule_part(RULE_SEGMENTS, name, rules[name], as_of, known) for name in level]
        engine.materialise(f"_level{index}", f"SELECT * FROM {known} UNION ALL {_union(parts)}")
        known = f"_level{index}"
    engine.materialise("_assignments", f"SELECT * FROM {known}")
    for segmentation, segment, count in engine.fetch_rows(
        "SELECT segmentation, segment, count(*) FROM _assignments GROUP BY segmentation, segment ORDER BY 1, 2"
    ):
        result.segmentations.setdefault(segmentation, {})[segment] = int(count)
    result.memberships = apply_assignments(engine, "_assignments", as_of)
    return result
