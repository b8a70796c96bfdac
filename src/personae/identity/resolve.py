"""The identity step: identifiers → graph → components → stable UIDs, written to the store.

Tables written (DESIGN §4):

- ``identifiers(id_type, id_value, first_seen, last_seen, records, status, rank)``:
  every identifier seen; ``status`` is ``ok``, ``blocked`` or ``shared``;
- ``identity_map(id_type, id_value, uid)`` for the usable identifiers;
- ``record_map(source, record_id, uid)``: the person behind each record and event;
- ``merges(old_uid, new_uid, at, reason)``: ``merge``, ``split`` or ``removed``, appended;
- ``identity_cuts``: links cut to keep a per-type limit, for the report.

An incremental run recomputes only the people that changed links touch
(:mod:`personae.identity.incremental`); on DuckDB, when rows were only added since the last
run, it first tries to fold the stored graph forward over them (:mod:`personae.identity.fold`)
and builds the graph from every record only when it cannot.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from personae.engine.base import Engine
from personae.engine.dialects import has
from personae.engine.sql import literal
from personae.engine.tables import ensure_tables, step_tables
from personae.identity import fold, fold_state, fuzzy_reuse, graph, incremental
from personae.identity.components import LOCAL_NODES, components_by_scipy, components_by_sql
from personae.identity.limits import cuts_sql, enforce_limits, register_cuts
from personae.identity.matching import MODEL_FILE, FuzzyEdges, fuzzy_edges, links_unchanged
from personae.identity.specs import IdentitySettings
from personae.identity.uids import assignment_sql, changes_sql


@dataclass(frozen=True)
class IdentityResult:
    identifiers: int
    blocked: int
    shared: int
    links: int
    fuzzy_links: int
    cuts: int
    people: int
    merges: int
    splits: int
    recomputed: int
    """Usable identifiers whose people were recomputed: all of them unless ``scoped``."""
    scoped: bool = False
    """An incremental run: only the people that changed links touch were recomputed
    (:mod:`personae.identity.incremental`)."""
    fuzzy_kept: bool = False
    """The last run's fuzzy pairs were kept: the customer records, model and settings they
    came from are unchanged (:mod:`personae.identity.fuzzy_reuse`)."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall-clock seconds of each phase: ``graph`` (identifiers and links from the store),
    ``fuzzy``, ``components`` (links out of the engine, connected components, labels back
    in), ``uids`` (limits, stable UIDs) and ``write`` (the tables), of which ``map`` is the
    ``identity_map`` table's part."""
    warnings: tuple[str, ...] = ()
    """What the run should tell the user (fuzzy matching skipped, a model retrained)."""
    folded: int | None = None
    """The records with new rows the stored graph was folded forward over
    (:mod:`personae.identity.fold`); None when the graph was built from every record."""
    rebuilt_because: str = ""
    """Why an incremental run built the graph from every record instead of folding."""


@contextmanager
def _phase(seconds: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started


def workspace_salt(engine: Engine) -> str:
    """The workspace's secret salt for derived UIDs (created on first use)."""
    value = engine.scalar("SELECT max(value) FROM workspace_settings WHERE key = 'uid_salt'")
    if value:
        return str(value)
    salt = secrets.token_hex(16)
    engine.insert("workspace_settings", ["key", "value"], f"SELECT 'uid_salt', {literal(salt)}")
    return salt


def resolve_identities(
    engine: Engine,
    settings: IdentitySettings,
    *,
    extra_types: Sequence[str],
    phone_region: str,
    at: str,
    models: Path,
) -> IdentityResult:
    """Rebuild the identity tables from the store's records and events. ``extra_types`` are the
    identifier types the sources declare beyond the built-in ones; ``at`` stamps the merges."""
    ensure_tables(engine, step_tables("identity"))
    salt = workspace_salt(engine)
    seconds: dict[str, float] = {}
    rebuilt_because = ""
    if settings.incremental and fold_state.can_fold(engine):
        folded = _fold(engine, settings, extra_types, phone_region, models, salt, at, seconds)
        if isinstance(folded, IdentityResult):
            return folded
        rebuilt_because = folded
    with _phase(seconds, "graph"):
        engine.materialise("_occ", graph.occurrences_sql(extra_types))
        # Relations read by one statement, and filters of a materialised one, are views: on
        # Spark each materialisation is a job and a Parquet write of its own, and a view is
        # planned into the statements that read it.
        engine.view("_shared", graph.shared_sql("_occ", settings))
        engine.materialise("_ids", graph.identifiers_sql("_occ", "_shared", settings))
        engine.materialise("_record_nodes", graph.record_nodes_sql("_occ", "_ids"))
    with _phase(seconds, "fuzzy"):
        matched = (
            fuzzy_edges(
                engine,
                settings.fuzzy,
                models,
                phone_region,
                blocked=(settings.blocked, settings.blocked_patterns),
                reuse=settings.incremental,
            )
            if settings.fuzzy.enabled
            else FuzzyEdges(None, [])
        )
        fuzzy, warnings = matched.table, matched.warnings
    with _phase(seconds, "graph"):
        engine.materialise("_anchors", graph.anchors_sql("_record_nodes"))
        edges = graph.edges_sql("_record_nodes", "_anchors")
        if fuzzy is not None:
            edges += f" UNION SELECT a, b, rank FROM {fuzzy}"
        engine.materialise("_edges", edges)
        engine.view("_nodes", "SELECT node, id_type, id_value, first_seen FROM _ids WHERE status = 'ok'")
        engine.materialise("_previous", "SELECT id_type, id_value, uid FROM identity_map")
        scoped = settings.incremental and engine.has_table("identity_edges") and bool(engine.row_count("_previous"))
        # read by the identity_edges write, and first by the scope of a scoped run
        keep_keys = engine.materialise if scoped else engine.view
        keep_keys("_edge_keys", incremental.edge_keys_sql("_edges", "_nodes"))
    nodes, edges, previous = "_nodes", "_edges", "_previous"
    if scoped:
        engine.materialise("_touched", incremental.touched_uids_sql("_edge_keys", "_nodes", "_previous"))
        engine.materialise("_scope_nodes", incremental.scope_nodes_sql("_nodes", "_previous", "_touched"))
        while True:  # close the scope over links: whole components, as limits need them
            crossing = incremental.crossing_uids_sql("_edges", "_scope_nodes", "_nodes", "_previous", "_touched")
            engine.materialise("_crossing", crossing)
            if not engine.row_count("_crossing"):
                break
            engine.materialise("_touched_more", "SELECT uid FROM _touched UNION SELECT uid FROM _crossing")
            engine.materialise("_touched", "SELECT uid FROM _touched_more")
            engine.materialise("_scope_nodes", incremental.scope_nodes_sql("_nodes", "_previous", "_touched"))
        engine.materialise("_scope_edges", incremental.scope_edges_sql("_edges", "_scope_nodes"))
        engine.materialise("_scope_previous", "SELECT * FROM _previous WHERE uid IN (SELECT uid FROM _touched)")
        nodes, edges, previous = "_scope_nodes", "_scope_edges", "_scope_previous"
    with _phase(seconds, "components"):
        size = int(engine.scalar("SELECT coalesce(max(node), -1) + 1 FROM _nodes"))
        if has(engine.name, "local_components") or size <= LOCAL_NODES:
            if scoped:
                components_by_scipy(engine, edges, size, "_all_labels")
                engine.materialise("_labels", f"SELECT l.* FROM _all_labels AS l JOIN {nodes} AS n ON n.node = l.node")
            else:  # every usable identifier is a node, numbered 0 .. size - 1
                components_by_scipy(engine, edges, size, "_labels")
        else:
            components_by_sql(engine, edges, nodes, "_labels")
    with _phase(seconds, "uids"):
        rebuilt = enforce_limits(engine, nodes, edges, "_labels", settings.limits)
        engine.materialise("_assigned", assignment_sql(nodes, "_labels", previous, salt))
        engine.materialise("_changes", changes_sql(nodes, "_labels", previous, "_assigned", at))
        register_cuts(engine, rebuilt.cuts, "_cuts")
        # Every node's UID: the recomputed ones from their component; in a scoped run the
        # others keep theirs (an untouched UID's identifiers are exactly the nodes left out).
        node_uids = "SELECT l.node, a.uid FROM _labels AS l JOIN _assigned AS a ON a.component = l.component"
        if scoped:
            node_uids += (
                " UNION ALL SELECT n.node, p.uid FROM _nodes AS n JOIN _previous AS p "
                "ON p.id_type = n.id_type AND p.id_value = n.id_value WHERE p.uid NOT IN (SELECT uid FROM _touched)"
            )
        engine.materialise("_node_uids", node_uids)
        # read once, by the identity_map write: no second copy of every row
        engine.view(
            "_map", "SELECT n.id_type, n.id_value, u.uid FROM _nodes AS n JOIN _node_uids AS u ON u.node = n.node"
        )
    links = engine.row_count("_edges")
    fuzzy_links = engine.row_count(fuzzy) if fuzzy else 0
    with _phase(seconds, "write"), engine.transaction():
        engine.create_table("identifiers", f"SELECT {fold.STATS} FROM _ids")
        with _phase(seconds, "map"):
            engine.create_table("identity_map", "SELECT * FROM _map")
        engine.create_table("record_map", _record_map_sql())
        engine.insert("merges", ["old_uid", "new_uid", "at", "reason"], "SELECT * FROM _changes")
        engine.create_table("identity_edges", "SELECT * FROM _edge_keys")
        fuzzy_reuse.store(engine, matched.fingerprint)
        _write_cuts(engine, scoped)
        if fold_state.can_fold(engine):
            fold_state.save(engine, fold_state.current(engine, settings, extra_types, links, fuzzy_links))
    counts = _identifier_counts(engine)
    changes = dict(engine.fetch_rows("SELECT reason, count(*) FROM _changes GROUP BY reason"))
    result = IdentityResult(
        identifiers=counts[0],
        blocked=counts[1],
        shared=counts[2],
        links=links,
        fuzzy_links=fuzzy_links,
        cuts=len(rebuilt.cuts),
        people=int(engine.scalar("SELECT count(DISTINCT uid) FROM identity_map")),
        merges=int(changes.get("merge", 0)),
        splits=int(changes.get("split", 0)),
        recomputed=engine.row_count(nodes),
        scoped=scoped,
        fuzzy_kept=matched.kept,
        seconds=seconds,
        warnings=tuple(warnings),
        rebuilt_because=rebuilt_because if scoped else "",
    )
    for name in (
        "_occ",
        "_shared",
        "_ids",
        "_record_nodes",
        "_anchors",
        "_node_uids",
        "_edges",
        "_nodes",
        "_labels",
        "_previous",
        "_edge_keys",
        "_touched",
        "_crossing",
        "_touched_more",
        "_scope_nodes",
        "_scope_edges",
        "_scope_previous",
        "_all_labels",
        "_map",
        "_all_cuts",
        "_assigned",
        "_changes",
        "_cuts",
        "_cuts_arrow",
        "_fuzzy_edges",
    ):
        engine.drop_table(name)
    return result


def _identifier_counts(engine: Engine) -> tuple[int, int, int]:
    """Identifiers in all, blocked and shared."""
    counts = engine.fetch_rows(
        "SELECT count(*), count(*) FILTER (WHERE status = 'blocked'), "
        "count(*) FILTER (WHERE status = 'shared') FROM identifiers"
    )[0]
    return int(counts[0]), int(counts[1]), int(counts[2])


def _fold(
    engine: Engine,
    settings: IdentitySettings,
    extra_types: Sequence[str],
    phone_region: str,
    models: Path,
    salt: str,
    at: str,
    seconds: dict[str, float],
) -> IdentityResult | str:
    """The run folded forward from the stored graph (:mod:`personae.identity.fold`), or why it cannot be."""
    state = fold_state.load(engine)
    why = fold_state.why_not(engine, state, settings, extra_types)
    blocked = (settings.blocked, settings.blocked_patterns)
    warnings: list[str] = []
    if not why and settings.fuzzy.enabled:
        with _phase(seconds, "fuzzy"):
            if not links_unchanged(engine, settings.fuzzy, models, phone_region, warnings, blocked=blocked):
                why = "the customer records, the fuzzy model or its settings changed"
    if why or state is None:
        return why
    try:
        folded = fold.fold_forward(
            engine, settings, state, extra_types=extra_types, salt=salt, at=at, phase=lambda name: _phase(seconds, name)
        )
        if isinstance(folded, str):
            return folded
        changes = dict(engine.fetch_rows(f"SELECT reason, count(*) FROM {fold.PREFIX}changes GROUP BY reason"))
    finally:
        for name in fold.scratch():
            engine.drop_table(name)
    counts = _identifier_counts(engine)
    seconds.setdefault("fuzzy", 0.0)
    return IdentityResult(
        identifiers=counts[0],
        blocked=counts[1],
        shared=counts[2],
        links=folded.links,
        fuzzy_links=folded.fuzzy_links,
        cuts=folded.cuts,
        people=int(engine.scalar("SELECT count(DISTINCT uid) FROM identity_map")),
        merges=int(changes.get("merge", 0)),
        splits=int(changes.get("split", 0)),
        recomputed=folded.recomputed,
        scoped=True,
        fuzzy_kept=settings.fuzzy.enabled and (models / MODEL_FILE).exists(),
        seconds=seconds,
        warnings=tuple(warnings),
        folded=folded.records,
    )


def _record_map_sql() -> str:
    """Each record's UID: the UID of its anchor, its most trusted usable identifier (joined
    by node number, not by type and value)."""
    return "SELECT a.source, a.record_id, m.uid FROM _anchors AS a JOIN _node_uids AS m ON m.node = a.anchor"


def _write_cuts(engine: Engine, scoped: bool) -> None:
    """``identity_cuts``: this run's cuts, plus, when scoped, the earlier cuts of untouched people."""
    fresh = cuts_sql("_cuts", "_nodes")
    if scoped and engine.has_table("identity_cuts"):
        # the cuts of the people not recomputed, by their previous UID: a touched person can
        # come out under a new UID, and the new map then kept their old cuts beside the fresh ones
        kept = (
            "SELECT c.* FROM identity_cuts AS c JOIN _previous AS p ON p.id_type = c.a_type "
            "AND p.id_value = c.a_value WHERE p.uid NOT IN (SELECT uid FROM _touched)"
        )
        engine.materialise("_all_cuts", f"{kept} UNION ALL {fresh}")
        engine.create_table("identity_cuts", "SELECT * FROM _all_cuts")
    else:
        engine.create_table("identity_cuts", fresh)
