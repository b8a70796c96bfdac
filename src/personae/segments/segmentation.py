"""What a segmentation is to the segment step: a kind that assigns every customer a segment.

Each kind (RFM, lifecycle, the predictive ones, subscription, triggers, rules) is a
:class:`Segmentation` in a module of its own, listed once in :mod:`personae.segments.kinds`.
Adding a segmentation is that module plus one line there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from personae.engine.base import Engine
from personae.engine.sql import literal
from personae.segments.specs import SegmentationSpec, SegmentConfig

ASSIGNMENT_COLUMNS = ("uid", "segmentation", "segment", "score")


@dataclass(frozen=True)
class SegmentationContext:
    """What a kind may read: the engine (``profiles``, ``predictions``), the step's settings,
    the as-of day, the profile columns, and the assignments made before it."""

    engine: Engine
    config: SegmentConfig
    as_of: date
    columns: Mapping[str, str]
    """Name -> type of the profile columns (what rules may read)."""
    assigned: str = "_built_in"
    """The relation of the assignments of the kinds that do not read segments."""


@dataclass(frozen=True)
class Assignment:
    sql: str
    """``uid, segmentation, segment, score`` for every profile (or for members only, when the
    segmentation is not core)."""
    report: dict[str, Any] | None = None
    """What the kind learnt or counted, kept for ``personae questions``."""


class Segmentation(Protocol):
    reads_segments: bool
    """Assigned after the others, because its rules may use ``in_segment`` on them."""

    def assign(self, context: SegmentationContext, spec: SegmentationSpec) -> Assignment:
        """The segment (and score) of each customer in the segmentation ``spec`` names."""
        ...

    def segment_names(self, config: SegmentConfig, spec: SegmentationSpec) -> frozenset[str] | None:
        """Every segment the segmentation can assign, known before a run; None when the data
        decides them (lifestyle clusters, survey answers)."""
        ...


def assignment_sql(segmentation: str, segment: str, score: str, source: str, *, uid: str = "uid") -> str:
    """``uid, segmentation, segment, score`` from ``source`` (a FROM clause, with joins and a
    WHERE if need be); ``segment`` and ``score`` are SQL expressions over it."""
    return (
        f"SELECT {uid}, {literal(segmentation)} AS segmentation, {segment} AS segment, "
        f"CAST({score} AS DOUBLE) AS score FROM {source}"
    )
