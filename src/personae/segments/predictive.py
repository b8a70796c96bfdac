"""Segments from the models step's ``predictions``: lifestyle, churn risk, likely high
value, CLV tiers and the survey look-alike. Every UID gets one segment of each (core);
people a model could not score are ``unknown``, and so is everyone a model would score when
that model does not beat its baseline (:mod:`personae.models.verdict`: its scores are NULL);
people without an order are in the segment that says so.

- ``churn_risk``: ``low`` / ``medium`` / ``high`` by the churn probability against
  ``models.churn_cutoffs``; ``no orders`` for people who never ordered;
- ``high_value``: ``likely high value`` when the propensity reaches
  ``models.high_value_cutoff``, else ``other``;
- ``clv_tier``: ``high`` for the top ``clv_tiers[0]`` of buyers by CLV, ``medium`` for the
  next ones up to ``clv_tiers[1]``, ``low`` for the rest (ranked by CLV, then person key);
- ``lifestyle``: the cluster name; ``unclassified`` for buyers with too few orders; ``unknown``
  for buyers when there is no lifestyle model, or it is not stable enough to be used;
- ``survey``: the attitudinal segment (respondents' own answer, others' prediction when
  confident enough), else ``unknown``.
"""

from __future__ import annotations

from personae.engine.sql import literal
from personae.models.specs import ModelSettings
from personae.segments.segmentation import Assignment, SegmentationContext, assignment_sql
from personae.segments.specs import SegmentationSpec, SegmentConfig

PREDICTIONS = "predictions"
KINDS = ("lifestyle", "churn_risk", "high_value", "clv_tier", "survey")
UNKNOWN = "unknown"


def _segment_sql(kind: str, settings: ModelSettings) -> tuple[str, str]:
    """(segment expression, score expression) over ``p`` (profiles) and ``x`` (predictions)."""
    if kind == "churn_risk":
        low, high = settings.churn_cutoffs
        segment = (
            "CASE WHEN p.orders = 0 THEN 'no orders' WHEN x.churn_probability IS NULL THEN 'unknown' "
            f"WHEN x.churn_probability < {low!r} THEN 'low' WHEN x.churn_probability < {high!r} THEN 'medium' "
            "ELSE 'high' END"
        )
        return segment, "x.churn_probability"
    if kind == "high_value":
        segment = (
            "CASE WHEN x.high_value_probability IS NULL THEN 'unknown' "
            f"WHEN x.high_value_probability >= {settings.high_value_cutoff!r} THEN 'likely high value' "
            "ELSE 'other' END"
        )
        return segment, "x.high_value_probability"
    if kind == "clv_tier":
        top, middle = settings.clv_tiers
        share = "CAST(x.clv_rank AS DOUBLE) / x.clv_ranked"
        segment = (
            "CASE WHEN p.orders = 0 THEN 'no orders' WHEN x.clv IS NULL THEN 'unknown' "
            f"WHEN {share} <= {top!r} THEN 'high' WHEN {share} <= {middle!r} THEN 'medium' ELSE 'low' END"
        )
        return segment, "x.clv"
    if kind == "lifestyle":
        segment = "CASE WHEN p.orders = 0 THEN 'no orders' ELSE coalesce(x.lifestyle, 'unknown') END"
        return segment, "x.lifestyle_score"
    if kind == "survey":
        return "coalesce(x.survey_segment, 'unknown')", "x.survey_confidence"
    raise ValueError(f"no predictive segmentation kind {kind!r}; kinds are {', '.join(KINDS)}")


def assignments_sql(
    kind: str, segmentation: str, settings: ModelSettings, *, has_predictions: bool, keyed: bool = True
) -> str:
    """``uid, segmentation, segment, score`` for every profile.

    Equal CLVs (people who bought once on the same day are many) are ranked by the person
    key the models step writes (``keyed``), so two copies of a workspace put the same people
    in each tier; the UID, a salted hash, breaks the ties of predictions written without one.
    """
    if not has_predictions:
        return assignment_sql(segmentation, literal(UNKNOWN), "NULL", "profiles")
    segment, score = _segment_sql(kind, settings)
    ties = "person_key, uid" if keyed else "uid"
    ranked = (
        f"SELECT *, row_number() OVER (ORDER BY clv DESC, {ties}) AS clv_rank, "
        "count(clv) OVER () AS clv_ranked FROM predictions"
    )
    return assignment_sql(
        segmentation, segment, score, f"profiles AS p LEFT JOIN ({ranked}) AS x ON x.uid = p.uid", uid="p.uid"
    )


class Predicted:
    """A kind read from the models step's ``predictions`` (``unknown`` where a model could not score)."""

    reads_segments = False

    def __init__(self, kind: str, names: frozenset[str] | None) -> None:
        self.kind = kind
        self.names = names

    def segment_names(self, config: SegmentConfig, spec: SegmentationSpec) -> frozenset[str] | None:
        return self.names

    def assign(self, context: SegmentationContext, spec: SegmentationSpec) -> Assignment:
        scored = context.engine.has_table(PREDICTIONS)
        keyed = scored and "person_key" in {name for name, _ in context.engine.columns(PREDICTIONS)}
        sql = assignments_sql(self.kind, spec.name, context.config.models, has_predictions=scored, keyed=keyed)
        return Assignment(sql)


LIFESTYLE = Predicted("lifestyle", None)  # the clusters the data gives
CHURN_RISK = Predicted("churn_risk", frozenset({"no orders", UNKNOWN, "low", "medium", "high"}))
HIGH_VALUE = Predicted("high_value", frozenset({UNKNOWN, "likely high value", "other"}))
CLV_TIER = Predicted("clv_tier", frozenset({"no orders", UNKNOWN, "high", "medium", "low"}))
SURVEY = Predicted("survey", None)  # the answers the survey gives
