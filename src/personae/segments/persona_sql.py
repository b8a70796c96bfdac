"""The queries behind persona cards, each for several segmentations at once.

Every query groups by ``segmentation`` as well as ``segment``, so the cards of all a run's
segmentations cost the same handful of queries as one segmentation's. On Spark each query is
a job with a fixed cost of a few tenths of a second; asked once per segmentation, the nine
segmentations of the demo took 70-odd jobs and most of the summaries step (bench/RESULTS.md).

The queries read two relations that :func:`personae.segments.personas.card_members`
materialises, each computed once: the current known members (:func:`members_sql`) and the same
with their revenue and key traits (:func:`traited_sql`). Each query joined ``memberships`` to
``profiles`` again before: at 1M customers each such join cost Spark 14-20 s (113 s of the
summaries step's 152 s), and as views on DuckDB the example and the statistics took 11 s
against 6 s over the materialised members (bench/RESULTS.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from personae.engine.sql import literal
from personae.golden.survivorship import CUSTOMERS, KNOWN


def _among(segmentations: Sequence[str]) -> str:
    return ", ".join(literal(name) for name in segmentations)


def members_sql(segmentations: Sequence[str]) -> str:
    """``segmentation, uid, segment``: the current known members of each segment of the segmentations."""
    return (
        f"SELECT DISTINCT m.segmentation, m.uid, m.segment FROM memberships AS m JOIN {CUSTOMERS} AS c "
        f"ON c.uid = m.uid WHERE m.exited_at IS NULL AND m.segmentation IN ({_among(segmentations)})"
    )


def traited_sql(members: str, traits: Sequence[str]) -> str:
    """``segmentation, segment, uid, revenue, t_0, t_1, ...``: ``members`` (:func:`members_sql`)
    with each one's revenue and key traits as doubles (``t_i`` is ``traits[i]``)."""
    values = "".join(f", CAST(p.{trait} AS DOUBLE) AS t_{i}" for i, trait in enumerate(traits))
    return (
        f"SELECT m.segmentation, m.segment, m.uid, p.revenue{values} "
        f"FROM {members} AS m JOIN profiles AS p ON p.uid = m.uid"
    )


def segment_stats_sql(traited: str, traits: int) -> str:
    """``segmentation, segment, size, total_revenue, mean_0, mean_1, ...`` (the ``traits`` key
    traits' means) over ``traited`` (:func:`traited_sql`)."""
    means = "".join(f", avg(t_{i}) AS mean_{i}" for i in range(traits))
    return (
        f"SELECT segmentation, segment, count(*) AS size, coalesce(sum(revenue), 0) AS total_revenue{means} "
        f"FROM {traited} GROUP BY segmentation, segment"
    )


def base_stats_sql(traits: Sequence[str]) -> str:
    """``customers, total_revenue, anonymous, mean_0, mean_1, ...`` of all known customers, and how
    many anonymous profiles are left out."""
    return (
        f"SELECT count(*) FILTER (WHERE p.{KNOWN}) AS customers, "
        f"coalesce(sum(p.revenue) FILTER (WHERE p.{KNOWN}), 0) AS total_revenue, "
        f"count(*) FILTER (WHERE NOT p.{KNOWN}) AS anonymous"
        + "".join(f", avg(CAST(p.{t} AS DOUBLE)) FILTER (WHERE p.{KNOWN}) AS mean_{i}" for i, t in enumerate(traits))
        + " FROM profiles AS p"
    )


def mix_sql(members: str, dimension: str, weight: str) -> str:
    """``segmentation, segment, value, weight``: each segment's ``trait_shares`` of a dimension
    summed over ``members`` (:func:`members_sql`; ``segmentation`` and ``segment`` are NULL for
    the base of all customers)."""
    where = f"t.dimension = {literal(dimension)}"
    return (
        f"SELECT m.segmentation, m.segment, t.value, sum(t.{weight}) AS weight "
        f"FROM {members} AS m JOIN trait_shares AS t ON t.uid = m.uid WHERE {where} "
        "GROUP BY m.segmentation, m.segment, t.value "
        "UNION ALL SELECT CAST(NULL AS VARCHAR) AS segmentation, CAST(NULL AS VARCHAR) AS segment, t.value, "
        f"sum(t.{weight}) AS weight FROM trait_shares AS t JOIN {CUSTOMERS} AS c ON c.uid = t.uid "
        f"WHERE {where} GROUP BY t.value"
    )


def example_sql(traited: str, traits: Sequence[str], shown: Sequence[str]) -> str:
    """One member per segment, nearest the segment's medians (ties by UID):
    ``segmentation, segment, <shown>, city_customers, <traits>``. ``traited`` is a relation of
    :func:`traited_sql` for these ``traits``.

    The nearest member is a ``min`` of (distance, uid) per segment, a hash aggregate over the
    members with only their traits, and the chosen few are then looked up in full. Numbering
    every member by distance with ``row_number()`` sorted all of them with every shown column
    instead: at 1M customers (8.8M memberships) 24.2 s against 6.4 s (DuckDB, 2 threads).
    """
    centres = ", ".join(f"median(t_{i}) AS c_{i}" for i in range(len(traits)))
    scales = ", ".join(f"stddev_samp(CAST({trait} AS DOUBLE)) AS s_{i}" for i, trait in enumerate(traits))
    terms = [
        f"CASE WHEN c.c_{i} IS NULL THEN (CASE WHEN m.t_{i} IS NULL THEN 0 ELSE 1 END) "
        f"WHEN m.t_{i} IS NULL THEN 1 WHEN coalesce(s.s_{i}, 0) = 0 THEN 0 "
        f"ELSE abs(m.t_{i} - c.c_{i}) / s.s_{i} END"
        for i in range(len(traits))
    ]
    distance = " + ".join(terms) if terms else "0"
    scored = (
        # rounded: a tie in exact arithmetic (0.6 - 0.2 against 1.0 - 0.6) must stay a tie in
        # floating point, whatever order an engine summed the medians and deviations in
        f"SELECT m.segmentation, m.segment, m.uid, round({distance}, 9) AS distance FROM {traited} AS m "
        f"JOIN (SELECT segmentation, segment, {centres or '0 AS c'} FROM {traited} GROUP BY segmentation, segment) "
        "AS c ON c.segmentation = m.segmentation AND c.segment = m.segment "
        f"CROSS JOIN (SELECT {scales or '0 AS s'} FROM {CUSTOMERS} AS c) AS s"
    )
    nearest = (
        "SELECT segmentation, segment, min({'distance': distance, 'uid': uid}) AS nearest "
        f"FROM ({scored}) AS r GROUP BY segmentation, segment"
    )
    columns = "".join(f", p.{name}" for name in [*shown, *traits])
    city, cities = "0", ""
    if "city" in shown:
        counted = f"SELECT c.city, c.country, count(*) AS customers FROM {CUSTOMERS} AS c GROUP BY c.city, c.country"
        city = "k.customers"
        cities = (
            f" JOIN ({counted}) AS k ON k.city IS NOT DISTINCT FROM p.city AND k.country IS NOT DISTINCT FROM p.country"
        )
    return (
        f"SELECT b.segmentation, b.segment{columns}, {city} AS city_customers FROM ({nearest}) AS b "
        f"JOIN {CUSTOMERS} AS p ON p.uid = b.nearest.uid{cities}"
    )


def overlap_sql(members: str, segmentations: Sequence[str]) -> str:
    """``segmentation, overlap``: memberships beyond one per person in ``members`` (more than 0:
    segments overlap), for each of ``segmentations``."""
    return (
        f"SELECT segmentation, count(*) - count(DISTINCT uid) AS overlap FROM {members} "
        f"WHERE segmentation IN ({_among(segmentations)}) GROUP BY segmentation"
    )
