"""Which records of the demo world some system can tie to a person: the *evidence truth*.

``truth/records.csv`` says who each record belongs to, but not every record carries
anything that ties it to its person: a receipt scanned with a loyalty card that no other
system holds, or an e-mail contact whose address appears nowhere else, belongs to its
person only in the truth. Scoring identity resolution against the raw truth counts those
as misses that no resolver could avoid. The evidence truth keeps only what the data holds.

Within each true person, two records are connected when

- they share an identifier value (each source's ``identifiers`` mapping, and for Segment
  events ``anonymousId``, ``userId``, the traits' ``email`` and ``phone``), normalised by
  the caller's ``normalise`` (personae's own rule, so ``Jane@Gmail.com `` is
  ``jane@gmail.com``), or
- both are customer-like records that a fuzzy matcher could see as one person: first and
  last name, and both a birth date or both a street.

A person's evidence clusters are the connected components; a record alone in its component
is a singleton (not linking it is no miss). Nothing here reads personae's identity output:
only the demo's files, its source specs and the truth.

The *oracle* links exactly on shared identifier values, across people (no fuzzy matching):
the ceiling of a resolver that never guesses, which :func:`score_pairs` compares with the
evidence and with the raw truth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

Normaliser = Callable[[str, str], str]
"""``(id_type, SQL expression) -> SQL`` giving the normalised identifier, NULL if none."""

SEGMENT_IDENTIFIERS: Mapping[str, str] = {
    "anonymous_id": "coalesce(_raw ->> '$.anonymousId', _raw ->> '$.anonymous_id')",
    "user_id": "coalesce(_raw ->> '$.userId', _raw ->> '$.user_id')",
    "email": "coalesce(_raw ->> '$.traits.email', _raw ->> '$.context.traits.email', _raw ->> '$.properties.email')",
    "phone": "coalesce(_raw ->> '$.traits.phone', _raw ->> '$.context.traits.phone')",
}
"""Identifiers of a Segment message (the Segment spec's fields)."""
_SEGMENT_KEY = "coalesce(_raw ->> '$.messageId', _raw ->> '$.message_id')"
_KEY_COLUMN = {"orders": "order_id"}
"""A source kind whose record id is not ``record_id``."""
FUZZY_NAMES = ("first_name", "last_name")
FUZZY_EITHER = ("birth_date", "street")
"""A customer record a matcher could see carries both names and one of these."""


@dataclass(frozen=True)
class PairScore:
    """Pairs of records scored against a truth.

    ``ignored`` are pairs linked within one person but across two of their evidence
    clusters: right, yet nothing in the data asks for them, so neither counted for nor against.
    """

    true_positives: int
    false_positives: int
    missed: int
    ignored: int

    @property
    def precision(self) -> float:
        linked = self.true_positives + self.false_positives
        return self.true_positives / linked if linked else 1.0

    @property
    def recall(self) -> float:
        actual = self.true_positives + self.missed
        return self.true_positives / actual if actual else 1.0

    @property
    def f1(self) -> float:
        both = self.precision + self.recall
        return 2 * self.precision * self.recall / both if both else 0.0


def evidence_truth(directory: Path, sources: Iterable[Mapping[str, Any]], normalise: Normaliser) -> pa.Table:
    """``source, record_id, person_id, evidence, oracle`` for every record of ``truth/records.csv``.

    ``sources`` are the demo's source specs (:func:`personae.demo.source_specs`), paths
    relative to ``directory``. ``evidence`` labels a record's evidence cluster, ``oracle``
    the cluster that linking on shared identifiers alone gives it.
    """
    truth = Path(directory) / "truth" / "records.csv"
    with duckdb.connect() as connection:
        connection.execute("SET threads = 1")
        connection.execute(
            "CREATE TEMP TABLE truth AS SELECT source, record_id, person_id, "
            "row_number() OVER () - 1 AS node "
            f"FROM read_csv({_string(truth)}, all_varchar = true, header = true)"
        )
        occurrences = [_occurrences_sql(Path(directory), spec, normalise) for spec in sources]
        union = " UNION ALL ".join(sql for sql in occurrences if sql) or (
            "SELECT NULL::VARCHAR AS source, NULL::VARCHAR AS record_id, NULL::VARCHAR AS id_type, "
            "NULL::VARCHAR AS id_value WHERE false"
        )
        connection.execute(
            "CREATE TEMP TABLE occurrences AS SELECT t.node, t.person_id, o.id_type, o.id_value "
            f"FROM ({union}) AS o JOIN truth AS t ON t.source = o.source AND t.record_id = o.record_id "
            "WHERE o.id_value IS NOT NULL"
        )
        records = connection.execute("SELECT count(*) FROM truth").fetchone()
        count = int(records[0]) if records else 0
        # evidence: a person's records meet at (person, identifier) nodes, fuzzy ones at (person, 'fuzzy')
        evidence_edges = _edges(connection, "person_id || chr(31) || id_type || chr(31) || id_value")
        oracle_edges = _edges(connection, "id_type || chr(31) || id_value", where="id_type <> '~fuzzy'")
        table = connection.sql("SELECT source, record_id, person_id FROM truth ORDER BY node").to_arrow_table()
    evidence = _components(evidence_edges, count)
    oracle = _components(oracle_edges, count)
    people = pc.cast(table.column("person_id"), pa.string())
    labels = pc.binary_join_element_wise(people, pa.array(evidence.astype(str)), ":")
    return table.append_column("evidence", labels).append_column("oracle", pa.array(oracle.astype(np.int64)))


def score_pairs(records: pa.Table, predicted: str, truth: str = "evidence") -> PairScore:
    """Pairs of ``records`` linked by column ``predicted`` against clusters in ``truth``
    (``evidence``, or ``person_id`` for the raw truth); records also carry ``person_id``."""
    with duckdb.connect() as connection:
        connection.register("scored", records.select([predicted, truth, "person_id"]))
        linked, linked_same_person = _pairs(connection, predicted), _pairs(connection, predicted, "person_id")
        linked_in_cluster, actual = _pairs(connection, predicted, truth), _pairs(connection, truth)
    return PairScore(
        true_positives=linked_in_cluster,
        false_positives=linked - linked_same_person,
        missed=actual - linked_in_cluster,
        ignored=linked_same_person - linked_in_cluster,
    )


def _pairs(connection: duckdb.DuckDBPyConnection, *by: str) -> int:
    """Pairs of rows of ``scored`` equal on the columns ``by``."""
    columns = ", ".join(_quoted(name) for name in by)
    row = connection.execute(
        f"SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM (SELECT count(*) AS n FROM scored GROUP BY {columns})"
    ).fetchone()
    return int(row[0]) if row else 0


def _occurrences_sql(directory: Path, spec: Mapping[str, Any], normalise: Normaliser) -> str:
    """``source, record_id, id_type, id_value`` of one source's files, or '' if it has no records."""
    kind = str(spec.get("kind", ""))
    name = _string(str(spec["name"]))
    path = _string(str(directory / str(spec["path"])))
    if kind == "events":
        selects = [
            f"SELECT {name} AS source, {_SEGMENT_KEY} AS record_id, {_string(id_type)} AS id_type, "
            f"{normalise(id_type, expression)} AS id_value FROM raw"
            for id_type, expression in SEGMENT_IDENTIFIERS.items()
        ]
        reader = f"SELECT json AS _raw FROM read_json_objects({path}, format = 'newline_delimited')"
        return f"(WITH raw AS ({reader}) {' UNION ALL '.join(selects)})"
    columns: Mapping[str, str] = spec.get("columns", {})
    key = columns.get(_KEY_COLUMN.get(kind, "record_id"))
    identifiers: Mapping[str, str] = spec.get("identifiers", {})
    if key is None:
        return ""
    reader = (
        f"SELECT * FROM read_parquet({path})"
        if str(spec["path"]).endswith(".parquet")
        else f"SELECT * FROM read_csv({path}, all_varchar = true, header = true)"
    )
    selects = [
        f"SELECT {name} AS source, CAST({_quoted(key)} AS VARCHAR) AS record_id, {_string(id_type)} AS id_type, "
        f"{normalise(id_type, f'CAST({_quoted(column)} AS VARCHAR)')} AS id_value FROM raw"
        for id_type, column in identifiers.items()
    ]
    if kind == "customers" and all(field in columns for field in (*FUZZY_NAMES, *FUZZY_EITHER)):
        selects.append(_fuzzy_sql(name, key, columns))
    if not selects:
        return ""
    return f"(WITH raw AS ({reader}) {' UNION ALL '.join(selects)})"


def _fuzzy_sql(name: str, key: str, columns: Mapping[str, str]) -> str:
    """One ``~fuzzy`` occurrence per field a customer record carries beyond its names:
    records of one person meet on ``birth_date`` or on ``street``."""

    def present(field: str) -> str:
        return f"nullif(trim(CAST({_quoted(columns[field])} AS VARCHAR)), '') IS NOT NULL"

    named = " AND ".join(present(field) for field in FUZZY_NAMES)
    return " UNION ALL ".join(
        f"SELECT {name} AS source, CAST({_quoted(key)} AS VARCHAR) AS record_id, '~fuzzy' AS id_type, "
        f"CASE WHEN {named} AND {present(field)} THEN {_string(field)} END AS id_value FROM raw"
        for field in FUZZY_EITHER
    )


def _edges(connection: duckdb.DuckDBPyConnection, node: str, where: str = "true") -> np.ndarray:
    """(record, record) edges: each record to the first record of every node it holds."""
    rows = connection.execute(
        f"WITH keyed AS (SELECT node, {node} AS shared FROM occurrences WHERE {where}) "
        "SELECT k.node, f.first FROM keyed AS k "
        "JOIN (SELECT shared, min(node) AS first FROM keyed GROUP BY shared) AS f USING (shared)"
    ).fetchnumpy()
    return np.stack([np.asarray(rows["node"], dtype=np.int64), np.asarray(rows["first"], dtype=np.int64)])


def _components(edges: np.ndarray, count: int) -> np.ndarray:
    graph = coo_matrix((np.ones(edges.shape[1], dtype=np.int8), (edges[0], edges[1])), shape=(count, count))
    _, labels = connected_components(graph, directed=False)
    return np.asarray(labels)


def _string(text: str | Path) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
