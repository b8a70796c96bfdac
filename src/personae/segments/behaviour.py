"""Subscription and purchase-trigger segments: rules over the traits, with stated thresholds.

**Subscription** (core; first match wins): ``cancelled`` (the latest subscription event is a
cancellation); for paying subscribers ``at_risk`` (no activity for more than
``subscription.at_risk_days`` — a rule, not a model), ``inactive`` (none for more than
``subscription.inactive_days``: subscribed but inactive), ``converted`` (came from a trial
and started paying in the last ``subscription.converted_days``), ``active``; then
``trial_expired`` (a trial older than ``subscription.trial_days`` that did not convert),
``trial`` and ``none``. The trial-to-paid lag is reported.

**Triggers** (opportunistic: a buyer may be in several; needs ``triggers.min_orders``
orders): ``promo_driven`` (share of orders on promotion ≥ ``triggers.promo_share``),
``seasonal`` (``seasonality`` ≥ ``triggers.seasonality``: the Herfindahl concentration
of orders over calendar months, rescaled so that chance is 0 and a single month 1), ``category_loyalist`` (top
category's share of spend ≥ ``triggers.category_share``).
"""

from __future__ import annotations

from typing import Any

from personae.engine.base import Engine
from personae.engine.sql import literal
from personae.segments.segmentation import Assignment, SegmentationContext, assignment_sql
from personae.segments.specs import SegmentationSpec, SegmentConfig, SubscriptionSettings, TriggerSettings


def subscription_sql(settings: SubscriptionSettings, segmentation: str) -> str:
    paying = "subscription_status = 'active'"
    started = "date_diff('day', CAST(subscribed_at AS DATE), CAST(traits_as_of AS DATE))"
    trial_age = "date_diff('day', CAST(trial_started_at AS DATE), CAST(traits_as_of AS DATE))"
    stage = (
        "CASE WHEN subscription_status = 'cancelled' THEN 'cancelled' "
        f"WHEN {paying} AND coalesce(days_since_last_seen, 0) > {settings.at_risk_days} THEN 'at_risk' "
        f"WHEN {paying} AND coalesce(days_since_last_seen, 0) > {settings.inactive_days} THEN 'inactive' "
        f"WHEN {paying} AND trial_started_at IS NOT NULL AND {started} <= {settings.converted_days} THEN 'converted' "
        f"WHEN {paying} THEN 'active' WHEN subscription_status = 'trial' AND {trial_age} > {settings.trial_days} "
        "THEN 'trial_expired' WHEN subscription_status = 'trial' THEN 'trial' ELSE 'none' END"
    )
    return assignment_sql(segmentation, stage, "days_since_last_seen", "profiles")


def subscription_report(engine: Engine, settings: SubscriptionSettings) -> dict[str, Any]:
    lag = "date_diff('day', CAST(trial_started_at AS DATE), CAST(subscribed_at AS DATE))"
    converted, median, mean = engine.fetch_rows(
        f"SELECT count(*), median({lag}), avg({lag}) FROM profiles "
        "WHERE trial_started_at IS NOT NULL AND subscribed_at >= trial_started_at"
    )[0]
    trials = engine.scalar("SELECT count(*) FROM profiles WHERE trial_started_at IS NOT NULL")
    return {
        "trials": int(trials or 0),
        "converted": int(converted or 0),
        "conversion_rate": (converted / trials) if trials else None,
        "trial_to_paid_median_days": float(median) if median is not None else None,
        "trial_to_paid_mean_days": float(mean) if mean is not None else None,
        "at_risk_rule": f"paying and no activity for more than {settings.at_risk_days} days",
        "inactive_rule": f"paying and no activity for more than {settings.inactive_days} days",
    }


SUBSCRIPTION_STAGES = frozenset(
    {"cancelled", "at_risk", "inactive", "converted", "active", "trial_expired", "trial", "none"}
)

TRIGGERS = {
    "promo_driven": ("promo_share", "promo_share"),
    "seasonal": ("seasonality", "seasonality"),
    "category_loyalist": ("top_category_share", "category_share"),
}
"""segment -> (trait, threshold setting)."""


def triggers_sql(settings: TriggerSettings, segmentation: str) -> str:
    parts = []
    for segment, (trait, setting) in TRIGGERS.items():
        threshold = getattr(settings, setting)
        where = f"profiles WHERE orders >= {settings.min_orders} AND {trait} >= {threshold!r}"
        parts.append(assignment_sql(segmentation, literal(segment), trait, where))
    return " UNION ALL ".join(parts)


def triggers_report(engine: Engine, settings: TriggerSettings) -> dict[str, Any]:
    eligible = f"orders >= {settings.min_orders}"
    report: dict[str, Any] = {
        "min_orders": settings.min_orders,
        "eligible": int(engine.scalar(f"SELECT count(*) FROM profiles WHERE {eligible}") or 0),
    }
    for segment, (trait, setting) in TRIGGERS.items():
        threshold = getattr(settings, setting)
        members, median = engine.fetch_rows(
            f"SELECT count(*) FILTER (WHERE {trait} >= {threshold!r}), median({trait}) FROM profiles WHERE {eligible}"
        )[0]
        report[segment] = {
            "trait": trait,
            "threshold": threshold,
            "members": int(members or 0),
            "median_among_eligible": float(median) if median is not None else None,
        }
    return report


class Subscription:
    """The ``subscription`` kind: the stage of each customer's subscription, and the trial-to-paid report."""

    reads_segments = False

    def assign(self, context: SegmentationContext, spec: SegmentationSpec) -> Assignment:
        settings = context.config.subscription
        return Assignment(subscription_sql(settings, spec.name), report=subscription_report(context.engine, settings))

    def segment_names(self, config: SegmentConfig, spec: SegmentationSpec) -> frozenset[str] | None:
        return SUBSCRIPTION_STAGES


class Triggers:
    """The ``triggers`` kind (overlapping): promo-driven, seasonal and category-loyal buyers."""

    reads_segments = False

    def assign(self, context: SegmentationContext, spec: SegmentationSpec) -> Assignment:
        settings = context.config.triggers
        return Assignment(triggers_sql(settings, spec.name), report=triggers_report(context.engine, settings))

    def segment_names(self, config: SegmentConfig, spec: SegmentationSpec) -> frozenset[str] | None:
        return frozenset(TRIGGERS)


SUBSCRIPTION = Subscription()
TRIGGERS_KIND = Triggers()
