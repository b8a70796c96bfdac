"""The segment step: every segmentation assigns every customer, then memberships are diffed.

Order: the kinds that read no segments first (RFM, lifecycle, the predictive ones, the
imported memberships, ...: see :mod:`personae.segments.kinds`), then those that do
(``kind = "rules"``, whose rules may use ``in_segment`` on the former), then the
opportunistic rule segments in dependency order (a rule may use ``in_segment('rules', …)``
on another); a rule segment an import forces (:mod:`personae.segments.conflicts`) is forced
at its level, and the imports' conflicts are settled against what personae assigned itself.
A core segmentation must give each UID exactly one segment; if it does not, the run stops
before anything is written and the message names the UIDs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from personae.engine.base import Engine
from personae.engine.sql import literal, literals
from personae.errors import SegmentationError, WorkspaceError
from personae.profiles.build import traits_as_of
from personae.segments.conflicts import (
    FORCED,
    ISSUES,
    forced_segments,
    forced_sql,
    keep_overrides,
    override_sql,
    settle,
)
from personae.segments.definitions import compiled, definitions, sync_config_segments
from personae.segments.imported import imported_specs, prepare
from personae.segments.kinds import segmentation_kind
from personae.segments.memberships import MembershipResult, apply_assignments
from personae.segments.people import profile_columns
from personae.segments.references import known_segments
from personae.segments.rule_segments import rule_levels, rule_part_sql, union_sql
from personae.segments.segmentation import SegmentationContext
from personae.segments.specs import RULE_SEGMENTS, SegmentationSpec, SegmentConfig

SHOWN_UIDS = 10


@dataclass
class SegmentResult:
    people: int
    segmentations: dict[str, dict[str, int]] = field(default_factory=dict)
    memberships: MembershipResult | None = None
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Segmentation -> what its kind learnt or counted (lifecycle thresholds, trigger counts, ...)."""
    kinds: dict[str, str] = field(default_factory=dict)
    """Segmentation -> its kind."""


def core_problems_sql(segmentation: str, assignments: str) -> str:
    """UIDs of ``profiles`` with no segment or several in ``segmentation``, with their segments."""
    counted = (
        "SELECT p.uid, count(a.segment) AS segments, string_agg(a.segment, ', ' ORDER BY a.segment) AS names "
        f"FROM profiles AS p LEFT JOIN (SELECT * FROM {assignments} WHERE segmentation = {literal(segmentation)}) "
        "AS a ON a.uid = p.uid GROUP BY p.uid"
    )
    return f"SELECT uid, segments, names FROM ({counted}) AS c WHERE segments <> 1 ORDER BY uid"


def _suspect_segmentations(engine: Engine, names: list[str], assignments: str) -> list[str]:
    """The segmentations among ``names`` that miss someone or put someone in two segments.

    Each person once is the same multiset of UIDs as ``profiles``: the same count and the
    same sums of two hashes of the UIDs. Those are streaming sums, where grouping the
    assignments by person built a hash table of every (segmentation, UID): 2.0 s of an
    increment's segment step at 1M customers against 0.4 s (bench/RESULTS.md, 2026-12-07).
    A miss and a repeat cancel in both sums with odds of one in 2^64 or less; the UIDs of
    a suspect are then found exactly (:func:`core_problems_sql`).
    """
    if not names:
        return []
    sums = "count(*), sum(hash(uid)), sum(hash(uid, 1))"
    everyone = tuple(engine.fetch_rows(f"SELECT {sums} FROM profiles")[0])
    listed = ", ".join(literal(name) for name in names)
    counts = f"SELECT segmentation, {sums} FROM {assignments} WHERE segmentation IN ({listed}) GROUP BY 1"
    found = {str(row[0]): tuple(row[1:]) for row in engine.fetch_rows(counts)}
    return [name for name in names if found.get(name) != everyone]


def check_core(engine: Engine, specs: list[SegmentationSpec], assignments: str) -> None:
    """Stop the run when a core segmentation misses a profile or puts one in two segments,
    naming the UIDs."""
    messages = []
    core = [spec.name for spec in specs if spec.core]
    for name in _suspect_segmentations(engine, core, assignments):
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
            "; ".join(messages) + "; fix the segment rules so each customer meets exactly one, or set core = false"
        )


def assign_segments(engine: Engine, config: SegmentConfig, as_of: date, *, full: bool = False) -> SegmentResult:
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
    result = SegmentResult(people=engine.row_count("profiles"))
    context = SegmentationContext(engine, config, as_of, columns, assigned="_built_in")
    imports = imported_specs(config)
    if imports:
        rule_names = [spec.name for spec in config.segments] + [found.name for found in definitions(engine)]
        prepare(engine, config, known_segments(config, rule_segments=rule_names))
    kinds = [(spec, segmentation_kind(spec.kind)) for spec in config.segmentations]
    for reading in (False, True):  # kinds that read segments see the others' assignments
        parts = []
        for spec, kind in kinds:
            if kind.reads_segments != reading:
                continue
            assigned = kind.assign(context, spec)
            parts.append(assigned.sql)
            result.kinds[spec.name] = spec.kind
            if assigned.report is not None:
                result.reports[spec.name] = assigned.report
        if not reading:
            engine.materialise("_built_in", union_sql(parts))
        else:
            engine.materialise("_reading", union_sql(parts))
    # Each relation below is the one before it with the new rows after them: a view over
    # the materialised parts, not a copy of every assignment so far (twelve million rows at
    # a million customers, written again at each level and on Spark as Parquet each time).
    engine.view("_core", "SELECT * FROM _built_in UNION ALL SELECT * FROM _reading")
    check_core(engine, list(config.segmentations), "_core")

    sync_config_segments(engine, config.segments, columns)
    rules = compiled(engine, columns)
    known = "_core"
    forced = {name for spec in imports for name in forced_segments(spec)}
    if forced:
        engine.materialise(FORCED, forced_sql(imports))
    keep_overrides(engine, FORCED if forced else None)  # live processing honours them too
    own = []  # the rule segments an import may force, as their rules assign them
    for index, level in enumerate(rule_levels(rules)):
        parts = [rule_part_sql(RULE_SEGMENTS, name, rules[name], as_of, known) for name in level]
        selected = union_sql(parts)
        if forced & set(level):  # forced here, so the later levels' in_segment see it
            engine.materialise(f"_own{index}", selected)
            own.append(f"SELECT * FROM _own{index}")
            selected = override_sql(f"_own{index}", FORCED, sorted(forced & set(level)))
        engine.materialise(f"_selected{index}", selected)
        engine.view(f"_level{index}", f"SELECT * FROM {known} UNION ALL SELECT * FROM _selected{index}")
        known = f"_level{index}"
    engine.view("_assignments", f"SELECT * FROM {known}")
    if imports or engine.has_table(ISSUES):
        unforced = f"SELECT * FROM _assignments WHERE NOT (segmentation = {literal(RULE_SEGMENTS)} "
        unforced += f"AND segment IN ({literals(sorted(forced))}))" if forced else "AND false)"
        engine.materialise("_owned", union_sql([unforced, *own]))
        for name, counts in settle(engine, imports, "_owned").items():
            result.reports.setdefault(name, {}).update(counts)
    for segmentation, segment, count in engine.fetch_rows(
        "SELECT segmentation, segment, count(*) FROM _assignments GROUP BY segmentation, segment ORDER BY 1, 2"
    ):
        result.segmentations.setdefault(segmentation, {})[segment] = int(count)
    result.memberships = apply_assignments(engine, "_assignments", as_of, rewrite=full)
    return result
