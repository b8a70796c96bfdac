"""Memberships kept by other systems, as a segmentation: ``kind = "imported"``.

A CRM's VIP list or an e-mail tool's unsubscribes come in through a ``memberships`` source
(``imported_memberships``); a segmentation of this kind reads that source's rows::

    [[segmentations]]
    name = "crm"
    kind = "imported"
    source = "crm_lists"

*Decision: a segmentation kind, not a table of its own.* Its rows land in ``memberships``
like any other segmentation's, so they get history and the change feed for free, show on
``personae profile`` and ``GET /v1/profiles/…``, and rules read them with
``in_segment('crm', 'VIP')`` with no new path through the rule language. The kind reads no
segments, so the segment step assigns it with RFM and lifecycle, before every rule.

Each row is resolved to a person and a segment:

- the person: the row's ``uid`` (personae's own, as exported), followed through ``merges``
  to the surviving UID when it was merged away since; else the person identity linked the
  row's identifiers to (``record_map``);
- the segment: ``segment_id`` (the external id, :func:`segment_external_id`), so a list
  personae exported comes back to the same segment whatever the other system calls it;
  else ``segmentation`` and ``segment`` (no segmentation: this one's);
- ``member`` (default true): false takes the person out, e.g. an unsubscribe;
- the latest row per (person, segmentation, segment) by ``ts`` wins (then the later load,
  file and row).

A row naming this segmentation is its own. A row naming a segment personae owns (RFM,
lifecycle, a rule segment, ...) is a conflict, settled by :mod:`personae.segments.conflicts`.
A row with no person or no known segment is never dropped in silence: it goes to
``import_issues`` with the reason, and the run's warnings count it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pyarrow as pa

from personae.engine.base import Engine
from personae.engine.sql import literal, literals
from personae.engine.tables import ensure_tables
from personae.segments.segmentation import Assignment, SegmentationContext, assignment_sql
from personae.segments.specs import (
    IMPORTED,
    RULE_SEGMENTS,
    RULE_SEGMENTS_OUTSIDE,
    SegmentationSpec,
    SegmentConfig,
    segment_external_id,
)

SOURCE_TABLE = "imported_memberships"
MAX_MERGE_HOPS = 32
"""A UID merged into one that was merged again is followed this many times at most."""
SEGMENT_IDS = "_segment_ids"
UIDS = "_imported_uids"


def rows_relation(name: str) -> str:
    """Every row of an imported segmentation's source, resolved, with its ``reason`` (NULL: usable)."""
    return f"_imported_rows_{name}"


def latest_relation(name: str) -> str:
    """The usable rows, the latest per (person, segmentation, segment)."""
    return f"_imported_{name}"


def imported_specs(config: SegmentConfig) -> list[SegmentationSpec]:
    return [spec for spec in config.segmentations if spec.kind == IMPORTED]


def owned_segmentations(config: SegmentConfig) -> list[str]:
    """The segmentations personae computes itself, the rule segments included."""
    return [spec.name for spec in config.segmentations if spec.kind != IMPORTED] + [RULE_SEGMENTS]


def known_pairs(
    engine: Engine, config: SegmentConfig, names: Mapping[str, frozenset[str] | None]
) -> set[tuple[str, str]]:
    """Every (segmentation, segment) an external id may name: ``names`` (segmentation -> the
    segments its kind can assign, the rule segments in force under ``rules``), every pair the
    history holds (what may have been exported), and the segments the imported rows name for
    their own segmentation."""
    pairs = {(segmentation, name) for segmentation, known in names.items() for name in known or ()}
    if engine.has_table("memberships"):
        held = engine.fetch_rows("SELECT DISTINCT segmentation, segment FROM memberships")
        pairs.update((str(segmentation), str(segment)) for segmentation, segment in held)
    for spec in imported_specs(config):
        rows = engine.fetch_rows(
            f"SELECT DISTINCT segment FROM {SOURCE_TABLE} WHERE source = {literal(spec.source or '')} "
            f"AND segment IS NOT NULL AND coalesce(segmentation, {literal(spec.name)}) = {literal(spec.name)}"
        )
        pairs.update((spec.name, str(row[0])) for row in rows)
    return pairs


def segment_ids_table(pairs: Iterable[tuple[str, str]]) -> pa.Table:
    """``segment_id, segmentation, segment``; a rule segment answers to its id under both
    ``rules`` (its name in ``memberships``) and ``segments`` (its name in destination specs)."""
    rows: dict[str, tuple[str, str]] = {}
    for segmentation, segment in sorted(pairs):
        rows[segment_external_id(segmentation, segment)] = (segmentation, segment)
        if segmentation == RULE_SEGMENTS:
            rows[segment_external_id(RULE_SEGMENTS_OUTSIDE, segment)] = (segmentation, segment)
    return pa.table(
        {
            "segment_id": pa.array(list(rows), pa.string()),
            "segmentation": pa.array([pair[0] for pair in rows.values()], pa.string()),
            "segment": pa.array([pair[1] for pair in rows.values()], pa.string()),
        }
    )


def retired_uids_sql() -> str:
    """``old_uid, new_uid``: the latest merge of each UID that is no person any more."""
    latest = (
        'SELECT old_uid, new_uid, row_number() OVER (PARTITION BY old_uid ORDER BY "at" DESC, new_uid) AS position '
        "FROM merges WHERE reason = 'merge' AND new_uid IS NOT NULL"
    )
    return (
        f"SELECT old_uid, new_uid FROM ({latest}) AS l WHERE position = 1 "
        "AND NOT EXISTS (SELECT 1 FROM profiles AS p WHERE p.uid = l.old_uid)"
    )


def follow_merges(engine: Engine, sources: list[str]) -> str:
    """Materialise ``given, uid``: each UID the sources' rows carry and the person it is now
    (NULL when it is no person: never one, or removed). Returns the relation's name."""
    start = (
        f"SELECT DISTINCT uid AS given, uid AS current FROM {SOURCE_TABLE} "
        f"WHERE uid IS NOT NULL AND source IN ({literals(sources)})"
    )
    merges = engine.has_table("merges")
    relation = "_uid_hops0"
    engine.materialise(relation, start)
    if merges:
        engine.materialise("_retired_uids", retired_uids_sql())
    for hop in range(1, MAX_MERGE_HOPS + 1):
        moved = "SELECT count(*) FROM {0} AS u JOIN _retired_uids AS r ON r.old_uid = u.current"
        if not merges or not int(engine.scalar(moved.format(relation))):
            break
        following = f"_uid_hops{hop % 2}"
        engine.materialise(
            following,
            f"SELECT u.given, coalesce(r.new_uid, u.current) AS current FROM {relation} AS u "
            "LEFT JOIN _retired_uids AS r ON r.old_uid = u.current",
        )
        relation = following
    engine.materialise(
        UIDS,
        f"SELECT u.given, p.uid FROM {relation} AS u LEFT JOIN profiles AS p ON p.uid = u.current",
    )
    return UIDS


def resolved_rows_sql(spec: SegmentationSpec, owned: list[str], segment_ids: str, uids: str) -> str:
    """Every row of ``spec``'s source: ``source, record_id, uid, segmentation, segment, member,
    ts, reason`` (plus the row's lineage for the tie-break); ``reason`` is NULL for a row
    that names a person and a known segment."""
    own = literal(spec.name)
    named = f"coalesce(nullif(trim(r.segmentation), ''), {own})"
    named = f"CASE WHEN {named} = {literal(RULE_SEGMENTS_OUTSIDE)} THEN {literal(RULE_SEGMENTS)} ELSE {named} END"
    segmentation = f"CASE WHEN r.segment_id IS NULL THEN {named} ELSE k.segmentation END"
    segment = "CASE WHEN r.segment_id IS NULL THEN r.segment ELSE k.segment END"
    rows = (
        f"SELECT r.source, r.record_id, coalesce(u.uid, m.uid) AS uid, {segmentation} AS segmentation, "
        f"{segment} AS segment, coalesce(r.member, true) AS member, coalesce(r.ts, r._loaded_at) AS ts, "
        "r.segment_id, r.uid AS given_uid, r._loaded_at, r._file, r._row "
        f"FROM {SOURCE_TABLE} AS r LEFT JOIN {segment_ids} AS k ON k.segment_id = r.segment_id "
        f"LEFT JOIN {uids} AS u ON u.given = r.uid "
        "LEFT JOIN record_map AS m ON m.source = r.source AND m.record_id = r.record_id "
        f"WHERE r.source = {literal(spec.source or '')}"
    )
    known = f"EXISTS (SELECT 1 FROM {segment_ids} AS s WHERE s.segmentation = x.segmentation AND s.segment = x.segment)"
    reason = (
        "CASE WHEN x.segment_id IS NOT NULL AND x.segmentation IS NULL THEN 'segment_id ''' || x.segment_id || "
        "''' is no segment personae knows (an id from another workspace, or a segment since removed)' "
        f"WHEN x.segmentation <> {own} AND x.segmentation NOT IN ({literals(owned)}) THEN 'no segmentation ''' "
        f"|| x.segmentation || ''': this source feeds ' || {own} || ', and personae owns {', '.join(owned)}' "
        f"WHEN x.segmentation <> {own} AND NOT {known} THEN 'segmentation ''' || x.segmentation || "
        "''' has no segment ''' || x.segment || '''' "
        "WHEN x.uid IS NULL AND x.given_uid IS NOT NULL THEN 'uid ''' || x.given_uid || "
        "''' is no person (never one, or removed since) and no identifier of the row names one' "
        "WHEN x.uid IS NULL THEN 'no uid and no identifier that names a person: map a uid column or identifiers' END"
    )
    return f"SELECT x.*, {reason} AS reason FROM ({rows}) AS x"


def latest_sql(rows: str) -> str:
    """The usable rows, the latest per (person, segmentation, segment): by ``ts``, then the
    later load, file and row, so a tie has one answer."""
    ranked = (
        "SELECT *, row_number() OVER (PARTITION BY uid, segmentation, segment "
        "ORDER BY ts DESC, _loaded_at DESC, _file DESC, _row DESC) AS position "
        f"FROM {rows} WHERE reason IS NULL"
    )
    return f"SELECT source, record_id, uid, segmentation, segment, member, ts FROM ({ranked}) AS r WHERE position = 1"


def prepare(engine: Engine, config: SegmentConfig, names: Mapping[str, frozenset[str] | None]) -> None:
    """Name what every imported segmentation of a run reads: the external ids of the segments
    (``names``: see :func:`known_pairs`) and the person each carried UID is now."""
    ensure_tables(engine, [SOURCE_TABLE])
    engine.register_arrow(SEGMENT_IDS, segment_ids_table(known_pairs(engine, config, names)))
    follow_merges(engine, [spec.source or "" for spec in imported_specs(config)])


class Imported:
    """The ``imported`` kind: the members another system lists, from a ``memberships`` source."""

    reads_segments = False

    def assign(self, context: SegmentationContext, spec: SegmentationSpec) -> Assignment:
        """Reads what :func:`prepare` named for the run (the segment step calls it first)."""
        engine = context.engine
        rows, latest = rows_relation(spec.name), latest_relation(spec.name)
        owned = owned_segmentations(context.config)
        engine.materialise(rows, resolved_rows_sql(spec, owned, SEGMENT_IDS, UIDS))
        engine.materialise(latest, latest_sql(rows))
        members = f"{latest} WHERE segmentation = {literal(spec.name)} AND member"
        counted = engine.row_count(rows)
        report = {"source": spec.source, "rows": counted}
        return Assignment(assignment_sql(spec.name, "segment", "NULL", members), report)

    def segment_names(self, config: SegmentConfig, spec: SegmentationSpec) -> frozenset[str] | None:
        return None  # the other system decides them


SEGMENTATION = Imported()
