"""The live index and the store: loading it, and writing back what live resolution changed.

**Loading** runs the batch step's own SQL for the graph (``graph.occurrences_sql``,
``shared_sql``, ``identifiers_sql``): identifiers with their status and first-seen stamp,
the distinct identifier sets of records (signatures), and the UIDs of ``identity_map``.
Fuzzy links are the record-to-record links of ``identity_edges`` (the last batch run's).
The store must be resolved: ``identity_map`` holds exactly the usable identifiers of the
stored records, or loading refuses (run the identity step first).

**Writing back** keeps the store what the next batch run would compute, so that run keeps
every UID (it starts from ``identity_map``, and live gave each person the UID batch gives):

- ``identity_map``: the rows of identifiers that are new, changed person or stopped being
  usable (replaced or deleted);
- ``merges``: the rows batch would append (merge, split, removed), stamped with the time
  each event was resolved;
- ``record_map``: a row per live record (its anchor's UID); rows of stored records follow
  their people: a person that moved whole to another UID is one ``UPDATE``; the records of
  a person that split, or whose identifiers stopped being usable, are recomputed from their
  identifiers (the batch anchor rule in SQL, over the new ``identity_map``);
- ``identity_edges`` is left as the last batch run wrote it, so an incremental batch run
  recomputes exactly the people live touched (and, live being batch, changes nothing).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa

from personae.engine.base import Engine
from personae.engine.sql import matching_sql
from personae.engine.tables import ensure_tables, step_tables
from personae.errors import UsageError
from personae.identity import graph
from personae.identity.live_graph import LiveGraph
from personae.identity.specs import IdentitySettings
from personae.identity.uids import Change

MergeRow = tuple[str, str | None, datetime, str]
RecordKey = tuple[str, str]
_LOAD_TABLES = ("_live_occ", "_live_shared", "_live_ids")
_WRITE_TABLES = ("_lw_keys", "_lw_recheck_keys", "_lw_occ")


def load_graph(
    engine: Engine, settings: IdentitySettings, extra_types: Sequence[str], seconds: dict[str, float]
) -> LiveGraph:
    """The store's identifiers, signatures and UIDs in memory (see the module docstring);
    ``seconds`` gets the time of each phase: ``sql`` (the graph), ``fetch`` (to Arrow),
    ``memory`` (Python and numpy structures)."""
    started = time.perf_counter()
    ensure_tables(engine, step_tables("identity"))
    engine.materialise("_live_occ", graph.occurrences_sql(extra_types))
    engine.materialise("_live_shared", graph.shared_sql("_live_occ", settings))
    identifiers = graph.identifiers_sql("_live_occ", "_live_shared", settings)
    number = "CAST(row_number() OVER (ORDER BY id_type, id_value) - 1 AS INTEGER) AS id"
    engine.materialise("_live_ids", f"SELECT *, {number} FROM ({identifiers}) AS i")
    stale = int(
        engine.scalar(
            "SELECT count(*) FROM (SELECT id_type, id_value FROM _live_ids WHERE status = 'ok') AS n "
            "FULL OUTER JOIN identity_map AS m ON m.id_type = n.id_type AND m.id_value = n.id_value "
            "WHERE n.id_type IS NULL OR m.id_type IS NULL"
        )
    )
    if stale:
        raise UsageError(
            f"cannot load the live identity index: identity_map and the stored records disagree on {stale} "
            "identifiers (records were loaded after the last identity run); run the identity step "
            "(`personae run`) first"
        )
    seconds["sql"] = time.perf_counter() - started
    started = time.perf_counter()
    rows = engine.fetch_arrow(
        "SELECT i.id_type, i.id_value, i.first_seen, i.status, m.uid FROM _live_ids AS i "
        "LEFT JOIN identity_map AS m ON m.id_type = i.id_type AND m.id_value = i.id_value ORDER BY i.id"
    )
    sets = (
        "SELECT list_sort(list(DISTINCT i.id)) AS ids FROM _live_occ AS o JOIN _live_ids AS i "
        "ON i.id_type = o.id_type AND i.id_value = o.id_value GROUP BY o.source, o.record_id"
    )
    signatures = f"SELECT ids FROM ({sets}) AS r WHERE len(ids) > 1 GROUP BY ids"
    if engine.has_table("identity_edges"):
        prefix = graph.RECORD_TYPE + ":"
        signatures += (  # fuzzy links: the only links between two record nodes
            " UNION ALL SELECT [least(a.id, b.id), greatest(a.id, b.id)] FROM identity_edges AS e "
            f"JOIN _live_ids AS a ON a.id_type = '{graph.RECORD_TYPE}' AND '{prefix}' || a.id_value = e.a_key "
            f"JOIN _live_ids AS b ON b.id_type = '{graph.RECORD_TYPE}' AND '{prefix}' || b.id_value = e.b_key "
            f"WHERE starts_with(e.a_key, '{prefix}') AND starts_with(e.b_key, '{prefix}')"
        )
    sets_of_ids = engine.fetch_arrow(signatures).column("ids")
    for name in _LOAD_TABLES:
        engine.drop_table(name)
    seconds["fetch"] = time.perf_counter() - started
    started = time.perf_counter()
    loaded = LiveGraph(lambda id_type: graph.type_rank(settings, id_type))
    loaded.load(rows, sets_of_ids)
    seconds["memory"] = time.perf_counter() - started
    return loaded


@dataclass(frozen=True)
class WriteBack:
    """What live resolution changed since the last write-back, as rows for the store."""

    identity_map: list[tuple[str, str, str]]
    """(id_type, id_value, uid) rows to insert, after ``deleted``."""
    deleted: list[tuple[str, str]]
    """(id_type, id_value) whose row goes: identifiers that changed person or stopped being
    usable (identifiers new since the last write-back have no row to delete)."""
    record_map: list[tuple[str, str, str | None]]
    """(source, record_id, uid) of live records; None: the record links to nobody (no row)."""
    merges: list[MergeRow]
    """(old_uid, new_uid, at, reason) appended to ``merges``."""
    renamed: dict[str, str] = field(default_factory=dict)
    """Stored records: every ``record_map`` row of a UID moves to another (a person merged whole)."""
    recheck: frozenset[str] = frozenset()
    """Stored records of these UIDs get their UID from their identifiers again (a person split)."""

    @property
    def retired(self) -> list[str]:
        """UIDs that no longer name anyone (merged into another, or left without identifiers)."""
        return sorted({old for old, _, _, reason in self.merges if reason in ("merge", "removed")})


class WriteBackLog:
    """What changed since the last write-back: identifiers, live records, merges, and where
    the records of each UID the store held then have gone.

    ``target`` maps a UID of the last write-back to the UID its records carry now (None:
    they must be recomputed); a UID not in it has not moved. ``holders`` is its inverse.
    """

    def __init__(self) -> None:
        self.nodes: set[int] = set()
        self.born: set[int] = set()
        self.records: list[RecordKey] = []
        self.merges: list[MergeRow] = []
        self.target: dict[str, str | None] = {}
        self.holders: dict[str, set[str]] = {}

    def observe(
        self, before: Mapping[int, str | None], after: Mapping[int, str | None], changes: Sequence[Change], at: datetime
    ) -> None:
        """One event's recomputation: each identifier's UID before and after (None: none)."""
        self.nodes.update(node for node, uid in before.items() if after[node] != uid)
        self.merges += [(old, new, at, reason) for old, new, reason in changes]
        found: dict[str, set[str | None]] = {}
        for node, uid in before.items():
            if uid is not None:
                found.setdefault(uid, set()).add(after[node])
        moves = []
        for uid, targets in found.items():
            starts = self.holders.pop(uid, set())
            if uid not in self.target:  # untouched since the last write-back: its records carry it
                starts.add(uid)
            whole = len(targets) == 1 and None not in targets
            moves.append((starts, next(iter(targets)) if whole else None))
        for starts, goes in moves:
            for start in starts:
                self.target[start] = goes
                if goes is not None:
                    self.holders.setdefault(goes, set()).add(start)

    def clear(self) -> None:
        self.nodes, self.born, self.records, self.merges = set(), set(), [], []
        self.target, self.holders = {}, {}


def write(engine: Engine, back: WriteBack, settings: IdentitySettings, extra_types: Sequence[str]) -> list[RecordKey]:
    """Write ``back`` except the live records' ``record_map`` rows (:func:`write_records`);
    returns the records of ``recheck`` the store holds no identifiers for (live ones)."""
    if back.deleted:
        _register(engine, "_lw_keys_in", ["id_type", "id_value"], back.deleted)
        engine.materialise("_lw_keys", "SELECT * FROM _lw_keys_in")
        engine.delete_where("identity_map", matching_sql("_lw_keys", "identity_map", ("id_type", "id_value")))
    if back.identity_map:
        _register(engine, "_lw_map", ["id_type", "id_value", "uid"], back.identity_map)
        engine.insert("identity_map", ["id_type", "id_value", "uid"], "SELECT id_type, id_value, uid FROM _lw_map")
    if back.renamed:
        _register(engine, "_lw_renamed", ["old_uid", "new_uid"], sorted(back.renamed.items()))
        engine.execute("UPDATE record_map SET uid = r.new_uid FROM _lw_renamed AS r WHERE record_map.uid = r.old_uid")
    leftover = _recheck(engine, back.recheck, settings, extra_types) if back.recheck else []
    if back.merges:
        columns = ("old_uid", "new_uid", "at", "reason")
        types = (pa.string(), pa.string(), pa.timestamp("us"), pa.string())
        table = pa.table(
            {name: [row[i] for row in back.merges] for i, name in enumerate(columns)},
            schema=pa.schema(list(zip(columns, types, strict=True))),
        )
        engine.register_arrow("_lw_merges", table)
        engine.insert(
            "merges", ["old_uid", "new_uid", "at", "reason"], 'SELECT old_uid, new_uid, "at", reason FROM _lw_merges'
        )
    for name in _WRITE_TABLES:
        engine.drop_table(name)
    return leftover


def write_records(engine: Engine, rows: Sequence[tuple[str, str, str | None]]) -> None:
    """Replace the ``record_map`` rows of these records (no row where the UID is None)."""
    if not rows:
        return
    _register(engine, "_lw_records", ["source", "record_id", "uid"], rows)
    engine.delete_where("record_map", matching_sql("_lw_records", "record_map", ("source", "record_id")))
    engine.insert(
        "record_map",
        ["source", "record_id", "uid"],
        "SELECT source, record_id, uid FROM _lw_records WHERE uid IS NOT NULL",
    )


def _recheck(
    engine: Engine, uids: frozenset[str], settings: IdentitySettings, extra_types: Sequence[str]
) -> list[RecordKey]:
    """The batch anchor rule for the stored records of ``uids``: each takes the UID of its most
    trusted identifier in ``identity_map`` (no row when none is left)."""
    _register(engine, "_lw_recheck", ["uid"], [(uid,) for uid in sorted(uids)])
    engine.materialise(
        "_lw_recheck_keys",
        "SELECT DISTINCT r.source, r.record_id FROM record_map AS r JOIN _lw_recheck AS u ON u.uid = r.uid",
    )
    engine.materialise(
        "_lw_occ",
        f"SELECT o.source, o.record_id, o.id_type, o.id_value FROM ({graph.occurrences_sql(extra_types)}) AS o "
        "JOIN _lw_recheck_keys AS k ON k.source = o.source AND k.record_id = o.record_id",
    )
    leftover = engine.fetch_rows(
        "SELECT source, record_id FROM _lw_recheck_keys EXCEPT SELECT source, record_id FROM _lw_occ"
    )
    engine.delete_where("record_map", matching_sql("_lw_occ", "record_map", ("source", "record_id")))
    ranked = (
        "SELECT o.source, o.record_id, m.uid, row_number() OVER (PARTITION BY o.source, o.record_id "
        f"ORDER BY {graph.rank_sql(settings, 'o.id_type')}, o.id_type, o.id_value) AS k "
        "FROM _lw_occ AS o JOIN identity_map AS m ON m.id_type = o.id_type AND m.id_value = o.id_value"
    )
    engine.insert(
        "record_map", ["source", "record_id", "uid"], f"SELECT source, record_id, uid FROM ({ranked}) AS a WHERE k = 1"
    )
    return [(str(source), str(record_id)) for source, record_id in leftover]


def _register(engine: Engine, name: str, columns: list[str], rows: Sequence[tuple[str | None, ...]]) -> None:
    data = {column: [row[i] for row in rows] for i, column in enumerate(columns)}
    engine.register_arrow(name, pa.table(data, schema=pa.schema([(column, pa.string()) for column in columns])))
