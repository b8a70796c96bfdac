"""Per-type limits: at most N distinct values of an identifier type per person.

Components are found first with every usable link. The (rare) components that break a
limit are rebuilt link by link, most trusted links first (a link is as trusted as the
less trusted of its two identifiers), skipping any link that would make a part break a
limit. The skipped links are the cuts ``personae identity report`` lists.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa

from personae.engine.base import Engine
from personae.engine.sql import literal


@dataclass
class Rebuilt:
    """New component labels for nodes of over-limit components, and the links cut."""

    labels: dict[int, int] = field(default_factory=dict)
    cuts: list[tuple[int, int]] = field(default_factory=list)


def over_limit_sql(nodes: str, labels: str, limits: Mapping[str, int]) -> str:
    """Components with more distinct values of a limited type than its limit."""
    if not limits:
        return "SELECT CAST(NULL AS BIGINT) AS component WHERE FALSE"
    cases = " ".join(f"WHEN {literal(t)} THEN {n}" for t, n in limits.items())
    return (
        f"SELECT DISTINCT l.component FROM {nodes} AS n JOIN {labels} AS l ON n.node = l.node "
        f"WHERE n.id_type IN ({', '.join(literal(t) for t in limits)}) "
        f"GROUP BY l.component, n.id_type HAVING count(*) > max(CASE n.id_type {cases} END)"
    )


class _Parts:
    """Union-find that keeps, per part, how many values of each limited type it holds."""

    def __init__(self, types: Mapping[int, str], limits: Mapping[str, int]) -> None:
        self.parent = {node: node for node in types}
        self.counts = {node: Counter({types[node]: 1}) for node in types}
        self.limits = limits

    def find(self, node: int) -> int:
        root = node
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[node] != root:
            self.parent[node], node = root, self.parent[node]
        return root

    def join(self, a: int, b: int) -> bool:
        """Join the parts of a and b unless that breaks a limit; False when cut."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        merged = self.counts[ra] + self.counts[rb]
        if any(merged[t] > limit for t, limit in self.limits.items()):
            return False
        small, large = (ra, rb) if ra > rb else (rb, ra)
        self.parent[small] = large
        self.counts[large] = merged
        del self.counts[small]
        return True


def rebuild(nodes: pa.Table, edges: pa.Table, limits: Mapping[str, int]) -> Rebuilt:
    """Rebuild over-limit components from ``nodes`` (node, id_type) and ``edges`` (a, b, rank)."""
    types = dict(zip(nodes.column("node").to_pylist(), nodes.column("id_type").to_pylist(), strict=True))
    parts = _Parts(types, limits)
    result = Rebuilt()
    ordered = sorted(
        zip(
            edges.column("rank").to_pylist(),
            edges.column("a").to_pylist(),
            edges.column("b").to_pylist(),
            strict=True,
        )
    )
    for _, a, b in ordered:
        if not parts.join(a, b):
            result.cuts.append((a, b))
    members: dict[int, list[int]] = {}
    for node in types:
        members.setdefault(parts.find(node), []).append(node)
    for group in members.values():
        smallest = min(group)
        result.labels.update({node: smallest for node in group})
    return result


def enforce_limits(engine: Engine, nodes: str, edges: str, labels: str, limits: Mapping[str, int]) -> Rebuilt:
    """Relabel the over-limit components in the temporary table ``labels``; returns the cuts."""
    offending = f"({over_limit_sql(nodes, labels, limits)})"
    count = int(engine.scalar(f"SELECT count(*) FROM {offending} AS o"))
    if not count:
        return Rebuilt()
    inside = f"SELECT l.node FROM {labels} AS l WHERE l.component IN (SELECT component FROM {offending} AS o)"
    node_rows = engine.fetch_arrow(f"SELECT node, id_type FROM {nodes} WHERE node IN ({inside})")
    edge_rows = engine.fetch_arrow(f"SELECT a, b, rank FROM {edges} WHERE a IN ({inside})")
    rebuilt = rebuild(node_rows, edge_rows, limits)
    engine.register_arrow(
        "_relabelled",
        pa.table(
            {"node": list(rebuilt.labels), "component": list(rebuilt.labels.values())},
            schema=pa.schema([("node", pa.int64()), ("component", pa.int64())]),
        ),
    )
    engine.materialise(
        f"{labels}_limited",
        f"SELECT l.node, coalesce(r.component, l.component) AS component FROM {labels} AS l "
        "LEFT JOIN _relabelled AS r ON l.node = r.node",
    )
    engine.materialise(labels, f"SELECT * FROM {labels}_limited")
    engine.drop_table(f"{labels}_limited")
    engine.drop_table("_relabelled")
    return rebuilt


def register_cuts(engine: Engine, cuts: list[tuple[int, int]], name: str) -> None:
    """The view ``name`` of the cut links (a, b), from the Arrow table ``<name>_arrow``."""
    table = pa.table(
        {"a": [a for a, _ in cuts], "b": [b for _, b in cuts]},
        schema=pa.schema([("a", pa.int64()), ("b", pa.int64())]),
    )
    engine.register_arrow(f"{name}_arrow", table)
    engine.view(name, f"SELECT a, b FROM {name}_arrow")


CUT_COLUMNS = ("a_type", "a_value", "b_type", "b_value", "reason")
"""The columns of ``identity_cuts``."""


def cuts_sql(cuts: str, nodes: str) -> str:
    """``identity_cuts`` rows of the cut links ``cuts`` (a, b), their ends named by ``nodes``."""
    return (
        "SELECT x.id_type AS a_type, x.id_value AS a_value, y.id_type AS b_type, y.id_value AS b_value, "
        f"'per-type limit' AS reason FROM {cuts} AS c JOIN {nodes} AS x ON x.node = c.a "
        f"JOIN {nodes} AS y ON y.node = c.b"
    )
