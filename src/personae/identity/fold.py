"""Folding the stored identity graph forward over the rows loaded since the last run.

A scoped run (:mod:`personae.identity.incremental`) recomputes only the touched people but
still builds the graph over every record and rewrites every identity table: at 1M customers
that was 60 s of a 1 % increment. When rows were only added since the last run, the graph of
the full run is the stored one plus what the new rows bring, and this module computes just
that, reading the untouched rows only through filtered scans:

- **records** T: those with a row loaded after the watermark (:mod:`personae.identity.fold_state`),
  with all their rows, old and new;
- **identifiers** of T: the stored counts and first/last seen plus those of the new rows; a
  new identifier's status from T's rows (all its rows are there); a stored usable one
  becomes shared only by values T brings beside it, so its records are read again to count;
- **links**: each record of T links its anchor (most trusted usable identifier) to its
  others; with no row removed, no status changed and no stored record's anchor changed, the
  full run's links are the stored ones plus these, and the people they join are the touched
  ones;
- then the scoped run's rules: the scope closed over links, components, limits and stable
  UIDs (:mod:`personae.identity.uids`) on the scope's nodes, numbered in the order of type
  and value as the full run's are, so every tie breaks the same way.

Anything else (a row deleted or replaced, another fingerprint, an identifier newly shared, a
stored record with a new anchor, changed fuzzy pairs, live writes) falls back to the scoped
run, with the reason in the run's note. Tables are updated in place: the rows of the touched
people, of T and of T's identifiers are deleted and written again, in one transaction.
``tests/identity/test_fold.py`` checks every table against a full run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

from personae.engine.base import Engine
from personae.engine.sql import literal, matching_sql, timestamp_sql
from personae.engine.tables import IDENTIFIER_TYPES
from personae.identity import fold_state, graph
from personae.identity.components import components_by_scipy
from personae.identity.incremental import key_parts_sql
from personae.identity.limits import CUT_COLUMNS, cuts_sql, enforce_limits, register_cuts
from personae.identity.specs import IdentitySettings
from personae.identity.uids import assignment_sql, changes_sql

PREFIX = "_fold_"
EVENT_COLUMNS = ("source", "type", "order_id", "event_id", "ts", "_loaded_at", "extra_ids", *IDENTIFIER_TYPES)
"""The columns of ``events`` that :func:`graph.occurrences_sql` and the fold read."""
STATS = "id_type, id_value, first_seen, last_seen, records, status, rank"
KEY, RECORD = ("id_type", "id_value"), ("source", "record_id")
"""The columns of ``identifiers``."""


@dataclass(frozen=True)
class Folded:
    recomputed: int
    """Usable identifiers whose people were recomputed."""
    records: int
    """Records with new rows."""
    links: int
    fuzzy_links: int
    cuts: int


def _rows_of(engine: Engine, name: str, records: str) -> dict[str, str]:
    """Temporary tables ``<name>_<table>``: every row of the records in ``records`` (source,
    record_id, distinct), with the columns the occurrences read.

    A join, not ``EXISTS``: DuckDB ran the correlated test of an event's record id (a ``CASE``)
    as a nested loop, 47-62 s over the 16M events of the 1M world for 100k records, against
    2 s for the join. Events keep only the columns read (they hold 28), and are read in two
    passes: the join finds the rows by their key columns (``<name>_events_rows``: row ids),
    then only those rows are read whole. The rows of new records sit in the last row groups;
    at 1M customers (39M events) the two passes took 1.05 s against 1.7 s for one join over
    every column, and 1.6 s against 1.9 s for records spread over the table."""
    relations = {}
    for table in graph.ROW_TABLES:
        relation = f"{PREFIX}{name}_{table}"
        matched = (
            f"FROM {table} AS t JOIN {records} AS r "
            f"ON r.source = t.source AND r.record_id = {graph.record_id_sql(table, 't.')}"
        )
        if table == "events":
            columns = ", ".join(f"t.{column}" for column in EVENT_COLUMNS)
            engine.materialise(f"{relation}_rows", f"SELECT t.rowid AS row_id {matched}")
            engine.materialise(
                relation, f"SELECT {columns} FROM events AS t WHERE t.rowid IN (SELECT row_id FROM {relation}_rows)"
            )
        else:
            engine.materialise(relation, f"SELECT t.* {matched}")
        relations[table] = relation
    return relations


def _views(engine: Engine, name: str, relations: dict[str, str], where: str) -> dict[str, str]:
    views = {}
    for table, relation in relations.items():
        views[table] = f"{PREFIX}{name}_{table}"
        engine.view(views[table], f"SELECT * FROM {relation} WHERE {where}")
    return views


def _anchors(occurrences: str, usable: str) -> str:
    """Each record's anchor as a struct (r rank, t type, v value): the smallest, as the full run's order key."""
    return (
        "SELECT o.source, o.record_id, min(struct_pack(r := u.rank, t := o.id_type, v := o.id_value)) AS anchor "
        f"FROM {occurrences} AS o JOIN {usable} AS u ON u.id_type = o.id_type AND u.id_value = o.id_value "
        "GROUP BY o.source, o.record_id"
    )


def _same(a: str, b: str) -> str:
    """Rows ``a`` and ``b`` name the same identifier."""
    return f"{a}.id_type = {b}.id_type AND {a}.id_value = {b}.id_value"


class _Fold:
    """The fold's statements, in the order :func:`fold_forward` runs them; each leaves its
    temporary tables (``_fold_*``) for the next."""

    def __init__(self, engine: Engine, settings: IdentitySettings, extra_types: Sequence[str], watermark: str) -> None:
        self.engine, self.settings, self.extra = engine, settings, extra_types
        self.watermark = timestamp_sql(watermark)

    def occurrences(self, name: str, tables: dict[str, str], only_keys: str | None = None) -> str:
        relation = f"{PREFIX}{name}"
        self.engine.materialise(relation, graph.occurrences_sql(self.extra, tables, only_keys))
        return relation

    def identifiers(self) -> str:
        """``_fold_ids``: T's identifiers with their stats after the new rows; returns why the
        fold cannot go on ('' when it can): a stored usable identifier became shared, and a
        fold cannot drop the links it made."""
        e, s = self.engine, self.settings
        e.materialise(f"{PREFIX}keys", f"SELECT DISTINCT id_type, id_value FROM {PREFIX}occ")
        keys = matching_sql(f"{PREFIX}keys", "s", KEY)
        e.materialise(f"{PREFIX}stored", f"SELECT s.* FROM identifiers AS s WHERE {keys}")
        if s.limits and self._newly_shared():
            return "an identifier became shared"
        fresh = (
            "SELECT id_type, id_value, min(ts) AS first_seen, max(ts) AS last_seen, count(*) AS records "
            f"FROM {PREFIX}new_occ GROUP BY id_type, id_value"
        )
        shared = f"SELECT h.* FROM ({graph.shared_sql(PREFIX + 'occ', s)}) AS h"
        status = (
            f"CASE WHEN {graph.blocked_sql(s, 'k.id_value')} THEN 'blocked' WHEN EXISTS (SELECT 1 FROM ({shared}) AS h "
            "WHERE h.id_type = k.id_type AND h.id_value = k.id_value) THEN 'shared' ELSE 'ok' END"
        )
        e.materialise(
            f"{PREFIX}ids",
            "SELECT k.id_type, k.id_value, least(s.first_seen, f.first_seen) AS first_seen, "
            "greatest(s.last_seen, f.last_seen) AS last_seen, "
            "coalesce(s.records, 0) + coalesce(f.records, 0) AS records, "
            f"coalesce(s.status, {status}) AS status, {graph.rank_sql(s, 'k.id_type')} AS rank, "
            f"s.status IS NULL AS new FROM {PREFIX}keys AS k LEFT JOIN {PREFIX}stored AS s ON {_same('s', 'k')} "
            f"LEFT JOIN ({fresh}) AS f ON {_same('f', 'k')}",
        )
        return ""

    def _newly_shared(self) -> bool:
        """Whether a stored usable identifier that a new row of T pairs with a value of another
        limited type is now seen with too many of them (counted over all its records). A new
        pair has a new row on either side: a stored record that gains a row pairs the new
        row's identifiers with the old rows' ones, both ways."""
        e, s = self.engine, self.settings
        limited = ", ".join(literal(id_type) for id_type in s.limits)
        pairs = " UNION ALL ".join(
            f"SELECT a.id_type, a.id_value FROM {PREFIX}{left} AS a JOIN {PREFIX}{right} AS b "
            "ON a.source = b.source AND a.record_id = b.record_id AND a.id_type <> b.id_type "
            f"WHERE b.id_type IN ({limited}) AND a.id_type <> {literal(graph.RECORD_TYPE)}"
            for left, right in (("occ", "new_occ"), ("new_occ", "occ"))
        )
        e.materialise(
            f"{PREFIX}hub_keys",
            f"SELECT DISTINCT a.id_type, a.id_value FROM ({pairs}) AS a JOIN {PREFIX}stored AS s "
            "ON s.id_type = a.id_type AND s.id_value = a.id_value AND s.status = 'ok'",
        )
        if not e.row_count(f"{PREFIX}hub_keys"):
            return False
        full = self.occurrences("hub_key_occ", {}, only_keys=f"{PREFIX}hub_keys")
        e.materialise(f"{PREFIX}hub_records", f"SELECT DISTINCT source, record_id FROM {full}")
        rows = _rows_of(e, "hub_rows", f"{PREFIX}hub_records")
        occurrences = self.occurrences("hub_occ", rows)
        asked = matching_sql(f"{PREFIX}hub_keys", "h", KEY)
        hubs = f"SELECT h.* FROM ({graph.shared_sql(occurrences, s)}) AS h WHERE {asked}"
        return bool(e.row_count(f"({hubs})"))

    def touched(self) -> str:
        """``_fold_touched``: the previous UIDs at the ends of the new links, closed over links; '' or why not."""
        e = self.engine
        e.view(f"{PREFIX}usable", f"SELECT id_type, id_value, rank FROM {PREFIX}ids WHERE status = 'ok'")
        e.materialise(f"{PREFIX}anchors", _anchors(f"{PREFIX}occ", f"{PREFIX}usable"))
        before = _anchors(f"{PREFIX}old_occ", f"{PREFIX}usable")
        moved = (
            f"SELECT count(*) FROM ({before}) AS b JOIN {PREFIX}anchors AS a "
            "ON a.source = b.source AND a.record_id = b.record_id WHERE a.anchor <> b.anchor"
        )
        if int(e.scalar(moved)):
            return "a stored record's most trusted identifier changed"
        star = (
            "SELECT a.anchor.t || ':' || a.anchor.v AS x, o.id_type || ':' || o.id_value AS y "
            f"FROM {PREFIX}anchors AS a JOIN {PREFIX}occ AS o ON o.source = a.source AND o.record_id = a.record_id "
            f"JOIN {PREFIX}usable AS u ON u.id_type = o.id_type AND u.id_value = o.id_value "
            "WHERE NOT (o.id_type = a.anchor.t AND o.id_value = a.anchor.v)"
        )
        e.materialise(
            f"{PREFIX}new_edges",
            f"SELECT DISTINCT least(x, y) AS a_key, greatest(x, y) AS b_key FROM ({star}) AS s WHERE NOT EXISTS "
            "(SELECT 1 FROM identity_edges AS e WHERE e.a_key = least(s.x, s.y) AND e.b_key = greatest(s.x, s.y))",
        )
        ends = f"SELECT a_key AS id_key FROM {PREFIX}new_edges UNION SELECT b_key FROM {PREFIX}new_edges"
        e.materialise(
            f"{PREFIX}touched",
            f"SELECT DISTINCT m.uid FROM identity_map AS m JOIN ({key_parts_sql(ends)}) AS x "
            "ON x.id_type = m.id_type AND x.id_value = m.id_value",
        )
        e.view(f"{PREFIX}links", f"SELECT a_key, b_key FROM identity_edges UNION ALL SELECT * FROM {PREFIX}new_edges")
        while True:  # whole components, as limits need them (incremental.crossing_uids_sql)
            self._scope_keys()
            crossing = (
                f"SELECT e.b_key AS id_key FROM {PREFIX}links AS e JOIN {PREFIX}scope_keys AS s ON s.id_key = e.a_key "
                f"UNION SELECT e.a_key FROM {PREFIX}links AS e JOIN {PREFIX}scope_keys AS s ON s.id_key = e.b_key"
            )
            e.materialise(
                f"{PREFIX}crossing",
                f"SELECT DISTINCT m.uid FROM ({key_parts_sql(crossing)}) AS x JOIN identity_map AS m "
                f"ON {_same('m', 'x')} WHERE m.uid NOT IN (SELECT uid FROM {PREFIX}touched)",
            )
            if not e.row_count(f"{PREFIX}crossing"):
                return ""
            e.materialise(f"{PREFIX}more", f"SELECT uid FROM {PREFIX}touched UNION SELECT uid FROM {PREFIX}crossing")
            e.materialise(f"{PREFIX}touched", f"SELECT uid FROM {PREFIX}more")

    def _scope_keys(self) -> None:
        """The usable identifiers to recompute: the touched people's and the new ones."""
        self.engine.materialise(
            f"{PREFIX}scope_keys",
            "SELECT id_type, id_value, id_type || ':' || id_value AS id_key FROM (SELECT id_type, id_value FROM "
            f"identity_map WHERE uid IN (SELECT uid FROM {PREFIX}touched) UNION ALL SELECT id_type, id_value "
            f"FROM {PREFIX}ids WHERE new AND status = 'ok') AS k",
        )

    def graph(self) -> int:
        """The scope's nodes (numbered by type and value), previous UIDs and links; returns the node count."""
        e, s = self.engine, self.settings
        e.materialise(
            f"{PREFIX}nodes",
            "SELECT row_number() OVER (ORDER BY k.id_type, k.id_value) - 1 AS node, k.id_type, k.id_value, k.id_key, "
            f"coalesce(f.first_seen, i.first_seen) AS first_seen, {graph.rank_sql(s, 'k.id_type')} AS rank "
            f"FROM {PREFIX}scope_keys AS k LEFT JOIN {PREFIX}ids AS f ON {_same('f', 'k')} "
            f"LEFT JOIN identifiers AS i ON {_same('i', 'k')}",
        )
        e.materialise(
            f"{PREFIX}previous",
            f"SELECT id_type, id_value, uid FROM identity_map WHERE uid IN (SELECT uid FROM {PREFIX}touched)",
        )
        # a link runs from the end earlier in the full run's order key (rank, then node) to the
        # later; fuzzy links join two record nodes (rank graph.RECORD_RANK, the fuzzy links' rank)
        first = "x.rank < y.rank OR (x.rank = y.rank AND x.node < y.node)"
        e.materialise(
            f"{PREFIX}edges",
            f"SELECT CASE WHEN {first} THEN x.node ELSE y.node END AS a, "
            f"CASE WHEN {first} THEN y.node ELSE x.node END AS b, greatest(x.rank, y.rank) AS rank "
            f"FROM {PREFIX}links AS l JOIN {PREFIX}nodes AS x ON x.id_key = l.a_key "
            f"JOIN {PREFIX}nodes AS y ON y.id_key = l.b_key",
        )
        return e.row_count(f"{PREFIX}nodes")

    def records(self) -> None:
        """``_fold_record_uids``: the UID of each record of T and of the touched people, by its anchor."""
        e = self.engine
        in_t = matching_sql(f"{PREFIX}records", "m", RECORD)
        e.materialise(
            f"{PREFIX}moved",
            f"SELECT source, record_id FROM record_map AS m WHERE uid IN (SELECT uid FROM {PREFIX}touched) "
            f"AND NOT {in_t}",
        )
        occurrences = self.occurrences("moved_occ", _rows_of(e, "moved_rows", f"{PREFIX}moved"))
        stored = "(SELECT id_type, id_value, rank FROM identifiers WHERE status = 'ok')"
        anchors = f"SELECT * FROM {PREFIX}anchors UNION ALL {_anchors(occurrences, stored)}"
        e.materialise(
            f"{PREFIX}record_uids",
            "SELECT a.source, a.record_id, coalesce(n.uid, m.uid) AS uid FROM "
            f"({anchors}) AS a LEFT JOIN {PREFIX}node_uids AS n ON n.id_type = a.anchor.t AND n.id_value = a.anchor.v "
            "LEFT JOIN identity_map AS m ON m.id_type = a.anchor.t AND m.id_value = a.anchor.v",
        )


def fold_forward(
    engine: Engine,
    settings: IdentitySettings,
    state: fold_state.FoldState,
    *,
    extra_types: Sequence[str],
    salt: str,
    at: str,
    phase: Callable[[str], AbstractContextManager[None]],
) -> Folded | str:
    """Fold the stored identity tables forward over the new rows (see the module docstring);
    returns why not, with nothing written, when the fold would not equal a full run.
    ``phase(name)`` is a context manager that times a part of the run."""
    fold = _Fold(engine, settings, extra_types, state.watermark)
    with phase("graph"):
        new_rows = _views(engine, "new", {table: table for table in graph.ROW_TABLES}, f"_loaded_at > {fold.watermark}")
        fold.occurrences("new_occ", new_rows)
        engine.materialise(f"{PREFIX}records", f"SELECT DISTINCT source, record_id FROM {PREFIX}new_occ")
        rows = _rows_of(engine, "rows", f"{PREFIX}records")
        fold.occurrences("occ", rows)
        fold.occurrences("old_occ", _views(engine, "old", rows, f"_loaded_at <= {fold.watermark}"))
        why = fold.identifiers() or fold.touched()
        if why:
            return why
        size = fold.graph()
    with phase("components"):
        components_by_scipy(engine, f"{PREFIX}edges", size, f"{PREFIX}labels")
    with phase("uids"):
        nodes, labels, previous = f"{PREFIX}nodes", f"{PREFIX}labels", f"{PREFIX}previous"
        rebuilt = enforce_limits(engine, nodes, f"{PREFIX}edges", labels, settings.limits)
        engine.materialise(f"{PREFIX}assigned", assignment_sql(nodes, labels, previous, salt))
        engine.materialise(f"{PREFIX}changes", changes_sql(nodes, labels, previous, f"{PREFIX}assigned", at))
        register_cuts(engine, rebuilt.cuts, f"{PREFIX}cuts")
        engine.materialise(
            f"{PREFIX}node_uids",
            f"SELECT n.id_type, n.id_value, a.uid FROM {nodes} AS n JOIN {labels} AS l ON l.node = n.node "
            f"JOIN {PREFIX}assigned AS a ON a.component = l.component",
        )
        fold.records()
    new_links = engine.row_count(f"{PREFIX}new_edges")
    with phase("write"), engine.transaction():
        _write(engine)
        with phase("map"):
            engine.delete_where("identity_map", f"uid IN (SELECT uid FROM {PREFIX}touched)")
            engine.insert("identity_map", ["id_type", "id_value", "uid"], f"SELECT * FROM {PREFIX}node_uids")
        links = state.links + new_links
        fold_state.save(engine, fold_state.current(engine, settings, extra_types, links, state.fuzzy_links))
    engine.restore_indexes("identity_map")  # a full run's write makes it; an update in place keeps it
    return Folded(size, engine.row_count(f"{PREFIX}records"), links, state.fuzzy_links, len(rebuilt.cuts))


def _write(engine: Engine) -> None:
    """Every identity table but ``identity_map``: the rows of T, its identifiers and the touched people again."""
    touched = f"uid IN (SELECT uid FROM {PREFIX}touched)"
    engine.delete_where("identifiers", matching_sql(f"{PREFIX}keys", "identifiers", KEY))
    engine.insert("identifiers", STATS.split(", "), f"SELECT {STATS} FROM {PREFIX}ids")
    records = matching_sql(f"{PREFIX}records", "record_map", RECORD)
    engine.delete_where("record_map", f"{touched} OR {records}")
    engine.insert("record_map", ["source", "record_id", "uid"], f"SELECT * FROM {PREFIX}record_uids")
    engine.insert("merges", ["old_uid", "new_uid", "at", "reason"], f"SELECT * FROM {PREFIX}changes")
    engine.insert("identity_edges", ["a_key", "b_key"], f"SELECT * FROM {PREFIX}new_edges")
    scope = f"{PREFIX}nodes"
    engine.delete_where(
        "identity_cuts",
        f"EXISTS (SELECT 1 FROM {scope} AS k WHERE k.id_type = identity_cuts.a_type "
        "AND k.id_value = identity_cuts.a_value)",
    )
    engine.insert("identity_cuts", list(CUT_COLUMNS), cuts_sql(f"{PREFIX}cuts", scope))


def scratch() -> list[str]:
    """The temporary relations a fold may leave, for the step to drop."""
    names = [
        "new_occ", "records", "occ", "old_occ", "keys", "stored", "ids", "hub_keys", "hub_key_occ", "hub_records",
        "hub_occ", "usable", "anchors", "new_edges", "touched", "links", "scope_keys", "crossing", "more", "nodes",
        "previous", "edges", "labels", "assigned", "changes", "cuts", "cuts_arrow", "node_uids", "moved", "moved_occ",
        "record_uids",
    ]  # fmt: skip
    for group in ("new", "old", "rows", "hub_rows", "moved_rows"):
        names += [f"{group}_{table}" for table in graph.ROW_TABLES]
        names.append(f"{group}_events_rows")
    return [PREFIX + name for name in names]
