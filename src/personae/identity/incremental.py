"""Incremental identity runs: recompute only the people that changed links touch.

The edges of the last run are kept in ``identity_edges`` (by identifier, since node
numbers are renumbered every run). A link added or removed, an identifier that appears,
disappears or changes status, touches the people (UIDs) its identifiers belonged to; the
components and UIDs of exactly those people (plus the new identifiers) are recomputed,
everyone else keeps their rows. Because UIDs are assigned from the previous map by rules
that only look inside a component, the result equals a full run (tested).

The recomputed people must fill whole components as the links make them *before* the
per-type limits cut them: which links a limit cuts depends on every link of the component
(``limits.rebuild``), so a touched person can take identifiers from an untouched one that a
limit kept apart. The scope is therefore closed over the links: a person linked to a
recomputed one, even by a link that was cut, is recomputed too (:func:`crossing_uids_sql`,
until no link leaves the scope; found by the live-equals-batch property test).
"""

from __future__ import annotations

EDGE_KEYS = (
    "SELECT least(x.id_type || ':' || x.id_value, y.id_type || ':' || y.id_value) AS a_key, "
    "greatest(x.id_type || ':' || x.id_value, y.id_type || ':' || y.id_value) AS b_key "
    "FROM {edges} AS e JOIN {nodes} AS x ON x.node = e.a JOIN {nodes} AS y ON y.node = e.b"
)


def edge_keys_sql(edges: str, nodes: str) -> str:
    """The edges as pairs of ``type:value`` keys, smaller key first."""
    return EDGE_KEYS.format(edges=edges, nodes=nodes)


def key_parts_sql(keys: str) -> str:
    """``id_type, id_value`` of the ``id_key`` column (``type:value``; types never hold a colon) of a query."""
    return (
        "SELECT substr(id_key, 1, instr(id_key, ':') - 1) AS id_type, substr(id_key, instr(id_key, ':') + 1) "
        f"AS id_value FROM ({keys}) AS k"
    )


def touched_uids_sql(current_edges: str, nodes: str, previous: str) -> str:
    """Previous UIDs whose people gained or lost a link or an identifier.

    A changed link names its ends by ``type:value`` key (types are lower-case names, never a
    colon), split back into type and value for a join on the previous map's columns: comparing
    every previous row's key as one concatenated string cost 6 s of an increment at 1M
    customers. An identifier that appeared has no previous UID, so only the ones gone (or no
    longer usable) touch anyone beyond the changed links.

    The changed links are one full join of the two edge sets (both are distinct), read once
    for both ends: two ``EXCEPT`` both ways, written out once per end, computed four set
    differences of every edge (4.5-5.6 s of an identity run at 1M customers, 2.8-3.5 s now)."""
    changed = (
        "SELECT coalesce(c.a_key, p.a_key) AS a_key, coalesce(c.b_key, p.b_key) AS b_key "
        f"FROM {current_edges} AS c FULL JOIN identity_edges AS p ON p.a_key = c.a_key AND p.b_key = c.b_key "
        "WHERE c.a_key IS NULL OR p.a_key IS NULL"
    )
    keys = (
        "SELECT DISTINCT CASE WHEN s.side = 0 THEN c.a_key ELSE c.b_key END AS id_key "
        f"FROM ({changed}) AS c CROSS JOIN (SELECT 0 AS side UNION ALL SELECT 1 AS side) AS s"
    )
    ends = key_parts_sql(keys)
    linked = (
        f"SELECT p.uid FROM {previous} AS p JOIN ({ends}) AS e ON e.id_type = p.id_type AND e.id_value = p.id_value"
    )
    gone = (
        f"SELECT p.uid FROM {previous} AS p LEFT JOIN {nodes} AS n "
        "ON n.id_type = p.id_type AND n.id_value = p.id_value WHERE n.id_type IS NULL"
    )
    return f"SELECT DISTINCT uid FROM ({linked} UNION ALL {gone}) AS t"


def scope_nodes_sql(nodes: str, previous: str, touched: str) -> str:
    """Current nodes to recompute: new identifiers and every member of a touched UID."""
    return (
        f"SELECT n.* FROM {nodes} AS n LEFT JOIN {previous} AS p "
        "ON p.id_type = n.id_type AND p.id_value = n.id_value "
        f"WHERE p.uid IS NULL OR p.uid IN (SELECT uid FROM {touched})"
    )


def scope_edges_sql(edges: str, scope: str) -> str:
    return f"SELECT e.* FROM {edges} AS e WHERE e.a IN (SELECT node FROM {scope}) AND e.b IN (SELECT node FROM {scope})"


def crossing_uids_sql(edges: str, scope: str, nodes: str, previous: str, touched: str) -> str:
    """Previous UIDs, not yet touched, of identifiers linked to the scope (the scope grows by them)."""
    ends = (
        f"SELECT e.b AS node FROM {edges} AS e JOIN {scope} AS s ON s.node = e.a UNION "
        f"SELECT e.a AS node FROM {edges} AS e JOIN {scope} AS s ON s.node = e.b"
    )
    return (
        f"SELECT DISTINCT p.uid FROM ({ends}) AS x JOIN {nodes} AS n ON n.node = x.node "
        f"JOIN {previous} AS p ON p.id_type = n.id_type AND p.id_value = n.id_value "
        f"WHERE p.uid NOT IN (SELECT uid FROM {touched})"
    )
