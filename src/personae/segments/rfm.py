"""RFM: recency, frequency and monetary scores of 1–5 and the named cells, as SQL.

Scores are quintiles over the buyers (people with an order by the as-of day): the fifth of
the buyers a person's rank falls in, so each score holds about a fifth of them. Ties are
broken by the other two measures: among people with equally many orders, the one who spent
more scores F at least as high. People equal on all three share a score, whatever their
UIDs (which are salted per workspace). Recency ranks the longest-ago order first (score 1).
FM is the rounded-up mean of F and M; the cell map (``[rfm] cells``) is a partition of the
R × FM grid. People without an order are ``Prospect``.
"""

from __future__ import annotations

from collections.abc import Sequence

from personae.engine.sql import literal
from personae.segments.segmentation import Assignment, SegmentationContext, assignment_sql
from personae.segments.specs import PROSPECT, RfmCell, SegmentationSpec, SegmentConfig

RECENCY = "days_since_last_order DESC"
FREQUENCY = "orders ASC"
MONETARY = "revenue ASC"
RFM_ORDER = {
    "r": (RECENCY, FREQUENCY, MONETARY),
    "f": (FREQUENCY, MONETARY, RECENCY),
    "m": (MONETARY, FREQUENCY, RECENCY),
}
"""Each score's sort order: its measure, then the others to break ties."""


def quintile_sql(order: tuple[str, ...]) -> str:
    """The 1–5 score in the given order among the rows of the query it is used in: the fifth
    of the rows a row's rank falls in. People tied on every measure share a score (``ntile``
    would split them by UID, which is salted per workspace: the same data would give other
    segments)."""
    return f"1 + floor(5 * (rank() OVER (ORDER BY {', '.join(order)}) - 1) / count(*) OVER ())"


def scores_sql(people: str = "profiles") -> str:
    """``uid, recency_days, frequency, monetary, r, f, m, fm`` for every buyer of ``people``."""
    scores = ", ".join(f"CAST({quintile_sql(order)} AS BIGINT) AS {name}" for name, order in RFM_ORDER.items())
    scored = (
        "SELECT uid, days_since_last_order AS recency_days, orders AS frequency, revenue AS monetary, "
        f"{scores} FROM {people} WHERE orders > 0"
    )
    return f"SELECT *, CAST(floor((f + m + 1) / 2) AS BIGINT) AS fm FROM ({scored}) AS s"


def cell_sql(cells: Sequence[RfmCell], recency: str = "r", frequency_monetary: str = "fm") -> str:
    """A CASE naming the cell of an (R, FM) pair."""
    whens = " ".join(
        f"WHEN {recency} BETWEEN {cell.recency[0]} AND {cell.recency[1]} AND {frequency_monetary} "
        f"BETWEEN {cell.frequency_monetary[0]} AND {cell.frequency_monetary[1]} THEN {literal(cell.name)}"
        for cell in cells
    )
    return f"CASE {whens} END"


def assignments_sql(cells: Sequence[RfmCell], segmentation: str, people: str, scores: str) -> str:
    """``uid, segmentation, segment, score`` for everyone in ``people`` (score = R·100 + F·10 + M)."""
    return assignment_sql(
        segmentation,
        f"coalesce({cell_sql(cells, 's.r', 's.fm')}, {literal(PROSPECT)})",
        "s.r * 100 + s.f * 10 + s.m",
        f"{people} AS p LEFT JOIN {scores} AS s ON s.uid = p.uid",
        uid="p.uid",
    )


class Rfm:
    """The ``rfm`` kind: quintile scores over the buyers, then the cell map."""

    reads_segments = False

    def assign(self, context: SegmentationContext, spec: SegmentationSpec) -> Assignment:
        context.engine.create_table("rfm_scores", scores_sql("profiles"))
        return Assignment(assignments_sql(context.config.rfm.cells, spec.name, "profiles", "rfm_scores"))

    def segment_names(self, config: SegmentConfig, spec: SegmentationSpec) -> frozenset[str] | None:
        return frozenset({*(cell.name for cell in config.rfm.cells), PROSPECT})


SEGMENTATION = Rfm()
