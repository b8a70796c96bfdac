"""Imported rows that name a segment personae owns: the declared policy, applied and counted.

A row of an imported segmentation (:mod:`personae.segments.imported`) may name a segment
personae computes itself: by its external id (a list personae exported comes back edited)
or by name (``rfm``/``Champions``, ``segments``/``big_spenders``). When the row says what
personae says (in and in, out and out) the two agree; otherwise they conflict, and the
imported segmentation's policy decides:

- ``ours`` (the default, for every owned segment): personae's state stays; the row is kept
  in ``import_issues`` with outcome ``ours`` and counted, never applied.
- ``theirs``, for the rule segments listed in ``theirs = ["rules/NAME", …]``: the latest
  row forces the person into the segment (``member`` true) or out of it (false), whatever the
  rule says, until a newer row says otherwise; kept in ``import_issues`` with outcome
  ``theirs``. Rule segments that read this one with ``in_segment('rules', …)`` see the forced
  state: the override is applied at the rule's dependency level.

*Decision: theirs only for rule segments, named one by one.* A core segmentation (RFM,
lifecycle, …) is exhaustive and exclusive: every customer is in exactly one of its segments,
so a row forcing someone into ``rfm/Champions`` would leave them in two segments and one
forcing them out would leave them in none; the config refuses it with that reason. Other
kinds' segments are recomputed from the data every run by their own method; only a rule
segment is a plain set a person may be added to or taken from. Listing the segments makes
the policy readable in ``personae.toml`` and shown by ``personae status`` (``ours`` or ``ours;
theirs for segments/vip``), with the conflicts counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from personae.engine.base import Engine
from personae.engine.sql import literal, literals
from personae.engine.tables import columns_of, ensure_tables
from personae.segments.imported import latest_relation, rows_relation
from personae.segments.specs import IMPORTED, RULE_SEGMENTS, RULE_SEGMENTS_OUTSIDE, SegmentationSpec
from personae.spec import did_you_mean

ISSUES = "import_issues"
FORCED = "_imported_forced"
OURS = "ours"
THEIRS = "theirs"
UNRESOLVED = "unresolved"


def policy(spec: SegmentationSpec) -> str:
    """The policy as ``personae status`` shows it."""
    return OURS if not spec.theirs else f"{OURS}; {THEIRS} for {', '.join(spec.theirs)}"


def forced_segments(spec: SegmentationSpec) -> list[str]:
    """The rule segments ``spec`` may force (``theirs``), by name."""
    return [item.split("/", 1)[1] for item in spec.theirs]


def check_theirs(spec: SegmentationSpec, segmentations: Sequence[SegmentationSpec]) -> None:
    """Every ``theirs`` entry names a rule segment; the error for anything else says why."""
    by_name = {other.name: other for other in segmentations}
    for item in spec.theirs:
        where = f"segmentation {spec.name!r}: theirs = {item!r}"
        segmentation, _, segment = item.partition("/")
        if not segment or "/" in segment or not segmentation:
            raise ValueError(f"{where}: name a rule segment as 'rules/NAME', e.g. 'rules/big_spenders'")
        if segmentation in (RULE_SEGMENTS_OUTSIDE, RULE_SEGMENTS):
            continue
        other = by_name.get(segmentation)
        if other is None:
            names = [RULE_SEGMENTS_OUTSIDE, *by_name]
            raise ValueError(f"{where}: no segmentation {segmentation!r}{did_you_mean(segmentation, names)}")
        if other.kind == IMPORTED:
            raise ValueError(
                f"{where}: {segmentation!r} is imported, not owned by personae; its rows are its own "
                "and conflict with nothing"
            )
        if other.core:
            raise ValueError(
                f"{where}: {segmentation!r} is a core segmentation, exhaustive and exclusive (every customer is "
                f"in exactly one of its segments): forcing someone into {segment!r} would put them in two "
                "segments, forcing them out would leave them in none. Only rule segments ('rules/NAME') "
                f"can follow theirs; rows for {segmentation!r} keep personae's state (ours)"
            )
        raise ValueError(
            f"{where}: the segments of {segmentation!r} (kind {other.kind!r}) are recomputed from the data "
            "each run; only rule segments ('rules/NAME') can follow theirs"
        )


def forced_sql(specs: Sequence[SegmentationSpec]) -> str:
    """``uid, segment, member``: the latest row per (person, rule segment) among the imported
    segmentations that list the segment in ``theirs``."""
    parts = [
        f"SELECT uid, segment, member, ts, {literal(spec.name)} AS imported FROM {latest_relation(spec.name)} "
        f"WHERE segmentation = {literal(RULE_SEGMENTS)} AND segment IN ({literals(forced_segments(spec))})"
        for spec in specs
        if spec.theirs
    ]
    ranked = (
        "SELECT *, row_number() OVER (PARTITION BY uid, segment ORDER BY ts DESC, imported) AS position "
        f"FROM ({' UNION ALL '.join(parts)}) AS f"
    )
    return f"SELECT uid, segment, member FROM ({ranked}) AS r WHERE position = 1"


OVERRIDES = "imported_overrides"
"""The rule segments imports force, kept for live processing (``uid, segment, member``)."""


def keep_overrides(engine: Engine, forced: str | None) -> None:
    """Keep ``forced`` (or nothing) as :data:`OVERRIDES`, so that live processing, which
    re-evaluates a person's rule segments at each event, keeps a forced state as batch does."""
    ensure_tables(engine, [OVERRIDES])
    with engine.transaction():
        engine.delete_where(OVERRIDES, "true")
        if forced is not None:
            engine.insert(OVERRIDES, ["uid", "segment", "member"], f"SELECT uid, segment, member FROM {forced}")


def overrides(engine: Engine) -> dict[str, dict[str, bool]]:
    """uid -> {rule segment: forced in (True) or out (False)}, as the last run left them."""
    if not engine.has_table(OVERRIDES):
        return {}
    found: dict[str, dict[str, bool]] = {}
    for uid, segment, member in engine.fetch_rows(f"SELECT uid, segment, member FROM {OVERRIDES}"):
        found.setdefault(str(uid), {})[str(segment)] = bool(member)
    return found


def override_sql(own: str, forced: str, segments: Sequence[str]) -> str:
    """The rule segments ``own`` assigns (``uid, segmentation, segment, score``), with the
    forced rows of ``segments`` in their place: out when ``member`` is false, in when true."""
    chosen = f"(SELECT * FROM {forced} WHERE segment IN ({literals(list(segments))}))"
    kept = (
        f"SELECT o.* FROM {own} AS o WHERE NOT EXISTS (SELECT 1 FROM {chosen} AS f "
        f"WHERE f.uid = o.uid AND f.segment = o.segment AND o.segmentation = {literal(RULE_SEGMENTS)})"
    )
    entered = (
        f"SELECT f.uid, {literal(RULE_SEGMENTS)} AS segmentation, f.segment, CAST(NULL AS DOUBLE) AS score "
        f"FROM {chosen} AS f WHERE f.member"
    )
    return f"{kept} UNION ALL {entered}"


def compared_sql(spec: SegmentationSpec, owned: str) -> str:
    """The latest rows of ``spec`` that name an owned segment, with ``ours``: whether
    personae's own assignment (``owned``) holds the person in it."""
    ours = (
        f"EXISTS (SELECT 1 FROM {owned} AS o WHERE o.uid = l.uid AND o.segmentation = l.segmentation "
        "AND o.segment = l.segment)"
    )
    return (
        f"SELECT l.*, {ours} AS ours FROM {latest_relation(spec.name)} AS l "
        f"WHERE l.segmentation <> {literal(spec.name)}"
    )


def issues_sql(spec: SegmentationSpec, owned: str) -> str:
    """``import_issues`` rows of ``spec``: its unresolved rows and its conflicts."""
    target = "segmentation || '/' || segment"
    unresolved = (
        f"SELECT {literal(spec.name)} AS segmentation, source, record_id, uid, "
        "CASE WHEN segmentation IS NULL THEN segment_id ELSE segmentation || '/' || segment END AS target, "
        f"member, ts, {literal(UNRESOLVED)} AS outcome, reason FROM {rows_relation(spec.name)} "
        "WHERE reason IS NOT NULL"
    )
    theirs = f"segmentation = {literal(RULE_SEGMENTS)} AND segment IN ({literals(forced_segments(spec))})"
    if not spec.theirs:
        theirs = "false"
    said = "CASE WHEN member THEN 'in' ELSE 'out' END"
    reason = (
        f"CASE WHEN {theirs} THEN 'the row forces the person ' || {said} || ' (theirs); the rule says ' || "
        "CASE WHEN ours THEN 'in' ELSE 'out' END "
        f"ELSE 'personae owns ' || {target} || ' and keeps its state (ours): the row says ' || {said} || "
        "', personae says ' || CASE WHEN ours THEN 'in' ELSE 'out' END END"
    )
    conflicts = (
        f"SELECT {literal(spec.name)} AS segmentation, source, record_id, uid, {target} AS target, member, ts, "
        f"CASE WHEN {theirs} THEN {literal(THEIRS)} ELSE {literal(OURS)} END AS outcome, {reason} AS reason "
        f"FROM ({compared_sql(spec, owned)}) AS c WHERE member <> ours"
    )
    return f"{unresolved} UNION ALL {conflicts}"


def settle(engine: Engine, specs: Sequence[SegmentationSpec], owned: str) -> dict[str, dict[str, Any]]:
    """Rewrite ``import_issues`` for ``specs`` and count, per imported segmentation: its rows,
    members, rows that agree with an owned segment, conflicts kept ours, rows applied as
    theirs, and rows unresolved. ``owned`` holds personae's own assignments (before any
    forcing)."""
    ensure_tables(engine, [ISSUES])
    columns = [name for name, _ in columns_of(ISSUES)]
    counts: dict[str, dict[str, Any]] = {}
    with engine.transaction():
        engine.delete_where(ISSUES, "true")
        for spec in specs:
            engine.insert(ISSUES, columns, issues_sql(spec, owned))
    for spec in specs:
        name = literal(spec.name)
        agreed = int(engine.scalar(f"SELECT count(*) FROM ({compared_sql(spec, owned)}) AS c WHERE member = ours"))
        members = int(
            engine.scalar(f"SELECT count(*) FROM {latest_relation(spec.name)} WHERE segmentation = {name} AND member")
        )
        outcomes = dict(
            engine.fetch_rows(f"SELECT outcome, count(*) FROM {ISSUES} WHERE segmentation = {name} GROUP BY 1")
        )
        counts[spec.name] = {
            "policy": policy(spec),
            "members": members,
            "agreed": agreed,
            "conflicts": int(outcomes.get(OURS, 0)) + int(outcomes.get(THEIRS, 0)),
            "kept_ours": int(outcomes.get(OURS, 0)),
            "forced_theirs": int(outcomes.get(THEIRS, 0)),
            "unresolved": int(outcomes.get(UNRESOLVED, 0)),
        }
    return counts


def import_warnings(name: str, report: dict[str, Any]) -> list[str]:
    """What a run says of an imported segmentation's conflicts and unresolved rows."""
    warnings = []
    if report.get("kept_ours"):
        warnings.append(
            f"segmentation {name!r}: {report['kept_ours']} imported rows conflict with segments personae owns "
            f"and were not applied (policy: {report['policy']}); see the table import_issues"
        )
    if report.get("forced_theirs"):
        warnings.append(
            f"segmentation {name!r}: {report['forced_theirs']} imported rows overrode rule segments "
            f"(policy: {report['policy']}); see the table import_issues"
        )
    if report.get("unresolved"):
        warnings.append(
            f"segmentation {name!r}: {report['unresolved']} imported rows name no person or no known segment; "
            "the reasons are in the table import_issues"
        )
    return warnings
