"""Specs for segmentations, rule segments, and the RFM and lifecycle settings.

A segmentation marked ``core`` assigns every customer exactly one segment; the run checks
it. Rule segments (``[[segments]]``) are opportunistic: they may overlap.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from pydantic import Field, model_validator

from personae.models.specs import ModelSettings
from personae.spec import NAME_PATTERN, Spec

RULE_SEGMENTS = "rules"
"""The segmentation that holds the ``[[segments]]`` (opportunistic rule segments)."""
SCORES = range(1, 6)
IMPORTED = "imported"
"""The kind of a segmentation whose memberships come from a ``memberships`` source."""
RULE_SEGMENTS_OUTSIDE = "segments"
"""Another name imported rows may give the rule segments (``segments/big_spenders``), read as
``rules``, the name destinations send (``rules/big_spenders``)."""


def segment_external_id(segmentation: str, segment: str) -> str:
    """The stable id other systems know a segment by: the same for the same names in every
    workspace and every run, so a membership sent out and edited elsewhere comes back to it.

    >>> segment_external_id("rfm", "Champions")
    'seg_137683c3d0a44f0a'
    """
    digest = hashlib.sha256(f"{segmentation}\x1f{segment}".encode()).hexdigest()
    return f"seg_{digest[:16]}"


class RfmCell(Spec):
    """A named RFM cell: a rectangle of recency scores × frequency-monetary scores (1–5)."""

    name: str = Field(min_length=1)
    recency: tuple[int, int]
    frequency_monetary: tuple[int, int]

    @model_validator(mode="after")
    def _ranges(self) -> RfmCell:
        for key, (low, high) in (("recency", self.recency), ("frequency_monetary", self.frequency_monetary)):
            if not 1 <= low <= high <= 5:
                raise ValueError(f"RFM cell {self.name!r}: {key} = [{low}, {high}] must be a range within 1..5")
        return self

    def covers(self, recency: int, frequency_monetary: int) -> bool:
        return (
            self.recency[0] <= recency <= self.recency[1]
            and self.frequency_monetary[0] <= frequency_monetary <= self.frequency_monetary[1]
        )


def _cell(name: str, recency: tuple[int, int], frequency_monetary: tuple[int, int]) -> RfmCell:
    return RfmCell(name=name, recency=recency, frequency_monetary=frequency_monetary)


DEFAULT_RFM_CELLS: tuple[RfmCell, ...] = (
    _cell("Champions", (5, 5), (4, 5)),
    _cell("Loyal", (3, 4), (4, 5)),
    _cell("Potential loyalist", (4, 5), (2, 3)),
    _cell("New customers", (5, 5), (1, 1)),
    _cell("Promising", (4, 4), (1, 1)),
    _cell("Need attention", (3, 3), (3, 3)),
    _cell("About to sleep", (3, 3), (1, 2)),
    _cell("At risk", (1, 2), (3, 4)),
    _cell("Can't lose them", (1, 2), (5, 5)),
    _cell("Hibernating", (2, 2), (1, 2)),
    _cell("Lost", (1, 1), (1, 2)),
)
"""The standard eleven cells over R × FM, FM being the rounded-up mean of F and M."""
PROSPECT = "Prospect"


def cell_problems(cells: Sequence[RfmCell]) -> list[str]:
    """Overlaps and gaps of a cell map over the 5 × 5 grid (empty when it is a partition)."""
    problems = []
    for recency in SCORES:
        for frequency_monetary in SCORES:
            owners = [cell.name for cell in cells if cell.covers(recency, frequency_monetary)]
            if len(owners) > 1:
                problems.append(f"R={recency}, FM={frequency_monetary} is in {len(owners)} cells: {', '.join(owners)}")
            elif not owners:
                problems.append(f"R={recency}, FM={frequency_monetary} is in no cell")
    return problems


class RfmSettings(Spec):
    cells: tuple[RfmCell, ...] = DEFAULT_RFM_CELLS

    @model_validator(mode="after")
    def _partition(self) -> RfmSettings:
        problems = cell_problems(self.cells)
        if problems:
            raise ValueError(
                "rfm.cells must cover each (R, FM) score pair exactly once: "
                + "; ".join(problems[:5])
                + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
            )
        names = [cell.name for cell in self.cells]
        if PROSPECT in names:
            raise ValueError(f"rfm.cells: {PROSPECT!r} is reserved for people without an order")
        return self


class LifecycleSettings(Spec):
    """How lifecycle thresholds are learnt, and overrides for each."""

    dormant_chance: float = Field(0.1, gt=0, lt=1)
    at_risk_chance: float = Field(0.3, gt=0, lt=1)
    loyalty_gain: float = Field(0.02, gt=0, lt=1)
    vip_share: float = Field(0.05, gt=0, lt=1)
    dormant_days: int | None = Field(None, ge=1)
    at_risk_days: int | None = Field(None, ge=1)
    loyal_orders: int | None = Field(None, ge=2)
    vip_value: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> LifecycleSettings:
        if self.at_risk_chance <= self.dormant_chance:
            raise ValueError(
                f"lifecycle.at_risk_chance ({self.at_risk_chance}) must be above "
                f"lifecycle.dormant_chance ({self.dormant_chance}): people are at risk before they are dormant"
            )
        if self.at_risk_days and self.dormant_days and self.at_risk_days >= self.dormant_days:
            raise ValueError("lifecycle.at_risk_days must be below lifecycle.dormant_days")
        return self


class SegmentationSpec(Spec):
    """A segmentation; ``kind = "rules"`` ones list their segments as name = rule."""

    name: str = Field(pattern=NAME_PATTERN)
    kind: str = Field(min_length=1)
    """One of :data:`personae.segments.kinds.SEGMENTATIONS` (checked when the workspace config is assembled)."""
    core: bool = True
    segments: dict[str, str] = Field(default_factory=dict)
    description: str = ""
    source: str | None = None
    """``kind = "imported"``: the ``memberships`` source its rows come from."""
    theirs: tuple[str, ...] = ()
    """``kind = "imported"``: the rule segments (``rules/NAME``) its rows may force people
    into or out of; every other segment personae owns keeps its own state (policy ``ours``)."""

    @model_validator(mode="after")
    def _imported(self) -> SegmentationSpec:
        if self.kind != IMPORTED:
            for key in ("source", "theirs"):
                if key in self.model_fields_set:
                    raise ValueError(f"segmentation {self.name!r}: only kind = 'imported' takes {key!r}")
            return self
        if not self.source:
            raise ValueError(
                f'segmentation {self.name!r}: an imported segmentation names its memberships source: source = "NAME"'
            )
        if self.core and "core" in self.model_fields_set:
            raise ValueError(
                f"segmentation {self.name!r}: imported memberships are not exhaustive (another system lists "
                "some people, not everyone); leave out core or set core = false"
            )
        object.__setattr__(self, "core", False)
        return self

    @model_validator(mode="after")
    def _segments_for_rules(self) -> SegmentationSpec:
        if self.kind == "triggers" and self.core:
            raise ValueError(f"segmentation {self.name!r}: trigger segments overlap; set core = false")
        if self.kind == "rules" and not self.segments:
            raise ValueError(f"segmentation {self.name!r}: a rules segmentation lists its segments (name = rule)")
        if self.kind != "rules" and self.segments:
            raise ValueError(f"segmentation {self.name!r}: only kind = 'rules' takes 'segments'")
        if self.name == RULE_SEGMENTS:
            raise ValueError(f"segmentation name {RULE_SEGMENTS!r} is reserved for the [[segments]] rule segments")
        return self


class SegmentSpec(Spec):
    """An opportunistic rule segment (may overlap others)."""

    name: str = Field(pattern=NAME_PATTERN)
    rule: str = Field(min_length=1)
    description: str = ""


DEFAULT_SEGMENTATIONS: tuple[SegmentationSpec, ...] = (
    SegmentationSpec(name="rfm", kind="rfm"),
    SegmentationSpec(name="lifecycle", kind="lifecycle"),
    SegmentationSpec(name="lifestyle", kind="lifestyle"),
    SegmentationSpec(name="churn_risk", kind="churn_risk"),
    SegmentationSpec(name="high_value", kind="high_value"),
    SegmentationSpec(name="clv_tier", kind="clv_tier"),
    SegmentationSpec(name="subscription", kind="subscription"),
    SegmentationSpec(name="triggers", kind="triggers", core=False),
    SegmentationSpec(name="survey", kind="survey"),
)


class TriggerSettings(Spec):
    """Purchase-trigger segments: thresholds over the buyers with enough orders."""

    min_orders: int = Field(3, ge=2)
    promo_share: float = Field(0.5, gt=0, le=1)
    seasonality: float = Field(0.15, gt=0, le=1)
    category_share: float = Field(0.6, gt=0, le=1)


class SubscriptionSettings(Spec):
    """Subscription segments: the days of inactivity that mark inactive and at-risk subscribers."""

    inactive_days: int = Field(30, ge=1)
    at_risk_days: int = Field(60, ge=1)
    converted_days: int = Field(30, ge=1)
    trial_days: int = Field(14, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> SubscriptionSettings:
        if self.at_risk_days <= self.inactive_days:
            raise ValueError("subscription.at_risk_days must be above subscription.inactive_days")
        return self


def check_segments(segmentations: Sequence[SegmentationSpec], segments: Sequence[SegmentSpec]) -> None:
    """Names are unique within segmentations and within rule segments."""
    for label, names in (
        ("segmentations", [s.name for s in segmentations]),
        ("segments", [s.name for s in segments]),
    ):
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"two {label} are named {repeated[0]!r}; names must be unique")


class SegmentConfig(Spec):
    """What the segment step reads of ``personae.toml``: the segmentations and rule segments,
    each kind's settings, and the models' cut-offs the predictive segmentations apply."""

    segmentations: tuple[SegmentationSpec, ...] = DEFAULT_SEGMENTATIONS
    segments: tuple[SegmentSpec, ...] = ()
    rfm: RfmSettings = RfmSettings()
    lifecycle: LifecycleSettings = LifecycleSettings()
    models: ModelSettings = ModelSettings()
    triggers: TriggerSettings = TriggerSettings()
    subscription: SubscriptionSettings = SubscriptionSettings()
