"""Lifecycle stages with thresholds learnt from the data (each can be overridden).

Learnt from ``profiles`` and ``order_gaps`` (how many repeat order days came after each gap),
both written by the traits step as of the run's date:

- **average purchase frequency**: mean days between consecutive order days, and orders per buyer;
- **loyalty point**: with ``p(k)`` the share of people with ``k`` orders who place another,
  the smallest ``k ≥ 2`` after which ``p`` rises by less than ``loyalty_gain``;
- **VIP line**: the ``1 − vip_share`` quantile of ``revenue_365d`` (value × frequency over
  the last year) among people who ordered in that year;
- **at-risk and dormancy points**: ``S(d)``, the share of observed gaps between order days
  longer than ``d`` days, is the chance that a returning customer is still to come back
  after ``d`` quiet days; at risk from the first ``d`` with ``S(d) < at_risk_chance``,
  dormant from the first with ``S(d) < dormant_chance``. Open gaps are censored and not
  counted, so the points are a lower bound for young customer bases.

Stages, first match wins: ``lead`` (known, no order), ``dormant``, ``at_risk``,
``reactivated`` (the latest order ended a gap longer than the dormancy point), ``vip``,
``loyal`` (at least the loyalty point's orders), ``new`` (one order), ``active``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from itertools import pairwise
from typing import Any

from personae.engine.base import Engine
from personae.errors import WorkspaceError
from personae.golden.survivorship import KNOWN
from personae.segments.segmentation import Assignment, SegmentationContext, assignment_sql
from personae.segments.specs import LifecycleSettings, SegmentationSpec, SegmentConfig

ANONYMOUS = "anonymous"
"""The stage of people seen only through anonymous ids: visitors, not leads (a lead is a known contact)."""
STAGES = frozenset({ANONYMOUS, "lead", "new", "active", "loyal", "vip", "at_risk", "dormant", "reactivated"})
MIN_SUPPORT = 30
"""People needed at an order count before its repeat chance is trusted."""


@dataclass(frozen=True)
class Threshold:
    name: str
    value: float
    unit: str
    learnt: bool
    basis: str


@dataclass(frozen=True)
class LifecycleThresholds:
    as_of: date
    mean_gap_days: float | None
    orders_per_buyer: float | None
    buyers: int
    dormant_days: Threshold
    at_risk_days: Threshold
    loyal_orders: Threshold
    vip_value: Threshold
    repeat_curve: list[tuple[int, int, float]] = field(default_factory=list)
    gap_survival: list[tuple[int, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["as_of"] = self.as_of.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LifecycleThresholds:
        """Thresholds from :meth:`to_dict` output (as the segment step keeps them)."""
        return cls(
            as_of=date.fromisoformat(str(data["as_of"])),
            mean_gap_days=data["mean_gap_days"],
            orders_per_buyer=data["orders_per_buyer"],
            buyers=int(data["buyers"]),
            **{key: Threshold(**data[key]) for key in ("dormant_days", "at_risk_days", "loyal_orders", "vip_value")},
            repeat_curve=[(int(k), int(n), float(p)) for k, n, p in data["repeat_curve"]],
            gap_survival=[(int(d), float(p)) for d, p in data["gap_survival"]],
        )


def _repeat_curve(counts: dict[int, int]) -> list[tuple[int, int, float]]:
    """(k, people with ≥ k orders, share of them with ≥ k + 1) for supported k."""
    curve = []
    top = max(counts, default=0)
    at_least = {k: sum(n for orders, n in counts.items() if orders >= k) for k in range(1, top + 2)}
    for k in range(1, top + 1):
        if at_least[k] < MIN_SUPPORT:
            break
        curve.append((k, at_least[k], at_least[k + 1] / at_least[k]))
    return curve


def loyalty_point(curve: list[tuple[int, int, float]], gain: float) -> int:
    """The order count after which the chance of another order stops rising."""
    for (k, _, chance), (_, _, following) in pairwise(curve):
        if k >= 2 and following - chance < gain:
            return k
    return max(2, curve[-1][0]) if curve else 2


def _survival(gaps: dict[int, int]) -> list[tuple[int, float]]:
    total = sum(gaps.values())
    longer = total
    points = []
    for days in sorted(gaps):
        longer -= gaps[days]
        points.append((days, longer / total))
    return points


def _milestones(points: list[tuple[int, float]], marked: set[int]) -> list[tuple[int, float]]:
    """The survival curve at every 30 days up to two years, and at the marked days."""
    wanted = {*range(0, 731, 30), *marked}
    found: list[tuple[int, float]] = []
    for day in sorted(wanted):
        below = [share for days, share in points if days <= day]
        if below:
            found.append((day, below[-1]))
            if below[-1] == 0:
                break
    return found


def _first_below(points: list[tuple[int, float]], level: float) -> int | None:
    for days, share in points:
        if share < level:
            return max(days, 1)
    return None


def chosen(
    name: str, override: float | None, learnt: float | None, fallback: float, unit: str, basis: str
) -> Threshold:
    """The configured value if any, else the learnt one, else a stated default."""
    if override is not None:
        return Threshold(name, float(override), unit, False, "set in personae.toml [lifecycle]")
    if learnt is None:
        return Threshold(name, fallback, unit, False, f"too little data to learn it; default {fallback:g}")
    return Threshold(name, float(learnt), unit, True, basis)


def learn_thresholds(
    engine: Engine, settings: LifecycleSettings, as_of: date, histogram: str = "order_gaps"
) -> LifecycleThresholds:
    """Learn the thresholds from ``profiles`` and a gap histogram (``gap, repeats``)."""
    if not engine.has_table(histogram):
        raise WorkspaceError(f"no {histogram} table: run the traits step first (`personae run --only traits`)")
    counts = {int(k): int(n) for k, n in engine.fetch_rows("SELECT orders, count(*) FROM profiles GROUP BY orders")}
    counts.pop(0, None)
    gaps = {int(days): int(n) for days, n in engine.fetch_rows(f"SELECT gap, repeats FROM {histogram}")}
    buyers = sum(counts.values())
    curve = _repeat_curve(counts)
    survival = _survival(gaps) if gaps else []
    mean_gap = sum(d * n for d, n in gaps.items()) / sum(gaps.values()) if gaps else None
    vip_line = engine.scalar(
        f"SELECT quantile_cont(revenue_365d, {1 - settings.vip_share}) FROM profiles WHERE orders_365d > 0"
    )

    dormant = chosen(
        "dormant_days",
        settings.dormant_days,
        _first_below(survival, settings.dormant_chance),
        365,
        "days",
        f"fewer than {settings.dormant_chance:.0%} of repeat orders came after a longer gap",
    )
    at_risk = chosen(
        "at_risk_days",
        settings.at_risk_days,
        _first_below(survival, settings.at_risk_chance),
        180,
        "days",
        f"fewer than {settings.at_risk_chance:.0%} of repeat orders came after a longer gap",
    )
    if at_risk.value >= dormant.value:
        at_risk = Threshold("at_risk_days", max(1.0, dormant.value // 2), "days", False, "half the dormancy point")
    return LifecycleThresholds(
        as_of=as_of,
        mean_gap_days=mean_gap,
        orders_per_buyer=sum(k * n for k, n in counts.items()) / buyers if buyers else None,
        buyers=buyers,
        dormant_days=dormant,
        at_risk_days=at_risk,
        loyal_orders=chosen(
            "loyal_orders",
            settings.loyal_orders,
            loyalty_point(curve, settings.loyalty_gain) if curve else None,
            3,
            "orders",
            f"the chance of another order rises by less than {settings.loyalty_gain:.0%} after it",
        ),
        vip_value=chosen(
            "vip_value",
            settings.vip_value,
            float(vip_line) if vip_line is not None else None,
            1000,
            "revenue_365d",
            f"top {settings.vip_share:.0%} of last year's buyers by revenue (value × frequency)",
        ),
        repeat_curve=curve,
        gap_survival=_milestones(survival, {int(at_risk.value), int(dormant.value)}),
    )


def assignments_sql(thresholds: LifecycleThresholds, segmentation: str, people: str = "profiles") -> str:
    """``uid, segmentation, segment, score`` (score: days since the last order)."""
    dormant = int(thresholds.dormant_days.value)
    at_risk = int(thresholds.at_risk_days.value)
    stage = (
        f"CASE WHEN NOT {KNOWN} THEN '{ANONYMOUS}' WHEN orders = 0 THEN 'lead' "
        f"WHEN days_since_last_order > {dormant} THEN 'dormant' "
        f"WHEN days_since_last_order > {at_risk} THEN 'at_risk' "
        f"WHEN orders >= 2 AND last_gap_days > {dormant} THEN 'reactivated' "
        f"WHEN revenue_365d >= {thresholds.vip_value.value!r} THEN 'vip' "
        f"WHEN orders >= {int(thresholds.loyal_orders.value)} THEN 'loyal' "
        "WHEN orders = 1 THEN 'new' ELSE 'active' END"
    )
    return assignment_sql(segmentation, stage, "days_since_last_order", people)


class Lifecycle:
    """The ``lifecycle`` kind: thresholds learnt from the data (reported), then the stages."""

    reads_segments = False

    def assign(self, context: SegmentationContext, spec: SegmentationSpec) -> Assignment:
        thresholds = learn_thresholds(context.engine, context.config.lifecycle, context.as_of)
        return Assignment(assignments_sql(thresholds, spec.name), report=thresholds.to_dict())

    def segment_names(self, config: SegmentConfig, spec: SegmentationSpec) -> frozenset[str] | None:
        return STAGES


SEGMENTATION = Lifecycle()
