"""Holdout experiments: did people who got an action (or a destination's segments) do better
than the people held out of it, in a window after they entered?

An experiment is a name, a holdout share and an **entry relation** ``uid, entered, held_out``:
the first day each person was chosen for an action (``action_exposures``, treated and held
out alike), or first entered a segment a destination receives (``membership_changes``,
its arm from the stable hash of UID and destination name). The outcome is read from the
orders of ``events`` (each order's UID from ``record_map``, counted statuses only) on the
``window`` days after the entry day; the entry day itself is left out, since the decision
of day D is made over the orders up to the end of D. Only people whose window has ended by
the day the store is computed as of are compared; the others are counted as pending.

Entering is the same event in both arms, so the comparison is fair whatever the rule
selects; the statistics are in :mod:`personae.activation.uplift`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from personae.activation.action_specs import ActionSpec
from personae.activation.holdout import held_out_sql
from personae.activation.specs import DestinationSpec
from personae.activation.uplift import Arm, Uplift, conversion_uplift, revenue_uplift
from personae.engine.base import Engine
from personae.engine.sql import day_sql, days_between_sql, literal
from personae.errors import NotFound
from personae.profiles.orders import orders_sql
from personae.profiles.specs import TraitsConfig
from personae.spec import did_you_mean

Outcome = Literal["conversion", "revenue"]


@dataclass(frozen=True)
class Experiment:
    name: str
    kind: Literal["action", "destination"]
    share: float
    entries: str
    """SQL of ``uid, entered (DATE), held_out (BOOLEAN)``, one row per person."""


@dataclass(frozen=True)
class ArmReport:
    size: int
    converted: int
    """People with at least one order in their window."""
    revenue: float
    """Their orders' total in their windows."""
    mean: float | None
    """The outcome per person: the conversion rate, or the revenue per person."""


@dataclass(frozen=True)
class ExperimentReport:
    """What ``personae experiments report`` prints."""

    experiment: str
    kind: str
    share: float
    outcome: str
    window_days: int
    observed_until: date
    """The day the store is computed as of: windows must end by then."""
    treated: ArmReport
    held_out: ArmReport
    pending: int
    """Entrants whose window has not ended yet (not compared)."""
    uplift: Uplift
    """Treated minus held out, per person (a rate difference for a conversion)."""


def action_entries_sql(action: str) -> str:
    """Each person's first exposure to ``action`` and their arm then."""
    first = (
        "SELECT uid, as_of, held_out, row_number() OVER (PARTITION BY uid ORDER BY as_of) AS n "
        f"FROM action_exposures WHERE action = {literal(action)}"
    )
    return f"SELECT uid, as_of AS entered, held_out FROM ({first}) AS f WHERE n = 1"


def segment_entries_sql(experiment: str, share: float, selected: Sequence[tuple[str, str | None]]) -> str:
    """Each person's first entry into any of the ``selected`` (segmentation, segment or None
    for all of it) in ``membership_changes``, and their arm by the hash of UID and experiment."""
    chosen = " OR ".join(
        f"(segmentation = {literal(segmentation)}"
        + (f" AND segment = {literal(segment)})" if segment is not None else ")")
        for segmentation, segment in selected
    )
    first = (
        "SELECT uid, min(CAST(changed_at AS DATE)) AS entered FROM membership_changes "
        f"WHERE change = 'entered' AND ({chosen or 'false'}) GROUP BY uid"
    )
    return f"SELECT uid, entered, {held_out_sql('uid', experiment, share)} AS held_out FROM ({first}) AS f"


def find_experiment(name: str, actions: Sequence[ActionSpec], destinations: Sequence[DestinationSpec]) -> Experiment:
    """The action or destination named ``name``; a NotFound listing the experiments there are."""
    for action in actions:
        if action.name == name:
            return Experiment(name, "action", action.holdout, action_entries_sql(name))
    for destination in destinations:
        if destination.name == name:
            entries = segment_entries_sql(name, destination.holdout, destination.selected_segments())
            return Experiment(name, "destination", destination.holdout, entries)
    names = [action.name for action in actions] + [destination.name for destination in destinations]
    raise NotFound(
        f"no action or destination named {name!r}{did_you_mean(name, names)}; "
        + (f"experiments are {', '.join(names)}" if names else "declare [[actions]] in personae.toml first")
    )


def outcomes_sql(entries: str, orders: str, window: int, until: date) -> str:
    """``uid, held_out, pending, converted, revenue`` per entrant: ``converted`` is 1 when they
    ordered on one of the ``window`` days after entering, ``revenue`` what they spent then;
    ``pending`` when that window ends after ``until``."""
    within = f"{days_between_sql('e.entered', 'o.ts')} BETWEEN 1 AND {int(window)}"
    return (
        "SELECT e.uid, e.held_out, "
        f"{days_between_sql('e.entered', day_sql(until))} < {int(window)} AS pending, "
        "CASE WHEN count(o.uid) > 0 THEN 1 ELSE 0 END AS converted, "
        "coalesce(sum(CAST(o.amount AS DOUBLE)), 0) AS revenue "
        f"FROM ({entries}) AS e LEFT JOIN ({orders}) AS o ON o.uid = e.uid AND {within} "
        "GROUP BY e.uid, e.held_out, e.entered"
    )


def arms_sql(outcomes: str) -> str:
    """Per arm of the entrants whose window has ended (``outcomes`` names the relation of
    :func:`outcomes_sql`): size, converters, revenue, its mean and variance."""
    return (
        "SELECT held_out, count(*), sum(converted), sum(revenue), avg(revenue), coalesce(var_samp(revenue), 0) "
        f"FROM {outcomes} AS o WHERE NOT pending GROUP BY held_out"
    )


def experiment_report(
    engine: Engine, experiment: Experiment, outcome: Outcome, window: int, config: TraitsConfig, until: date
) -> ExperimentReport:
    """Compare the arms of ``experiment`` on ``outcome`` over ``window`` days after entry, with
    the orders up to ``until`` (the day the store is computed as of)."""
    empty = (0, 0, 0.0, 0.0, 0.0)
    if experiment.kind == "action" and not engine.has_table("action_exposures"):
        arms: dict[bool, tuple[int, int, float, float, float]] = {}
        pending = 0
    else:
        outcomes = outcomes_sql(experiment.entries, orders_sql(config, until), window, until)
        engine.materialise("_experiment_outcomes", outcomes)
        arms = {
            bool(held): (int(n), int(converted or 0), float(total or 0), float(mean or 0), float(variance or 0))
            for held, n, converted, total, mean, variance in engine.fetch_rows(arms_sql("_experiment_outcomes"))
        }
        pending = int(engine.scalar("SELECT count(*) FROM _experiment_outcomes WHERE pending"))
    treated, held_out = arms.get(False, empty), arms.get(True, empty)
    if outcome == "conversion":
        uplift = conversion_uplift(_rate(treated), _rate(held_out))
    else:
        uplift = revenue_uplift(Arm(treated[0], treated[3], treated[4]), Arm(held_out[0], held_out[3], held_out[4]))
    if experiment.share == 0:
        uplift.reasons.insert(0, f"nobody is held out of {experiment.name!r}: give it a holdout share, e.g. 0.1")
    return ExperimentReport(
        experiment=experiment.name,
        kind=experiment.kind,
        share=experiment.share,
        outcome=outcome,
        window_days=window,
        observed_until=until,
        treated=_report(treated, outcome),
        held_out=_report(held_out, outcome),
        pending=pending,
        uplift=uplift,
    )


def _rate(arm: tuple[int, int, float, float, float]) -> Arm:
    return Arm(arm[0], arm[1] / arm[0] if arm[0] else 0.0)


def _report(arm: tuple[int, int, float, float, float], outcome: Outcome) -> ArmReport:
    size, converted, revenue, mean, _ = arm
    shown = (converted / size if outcome == "conversion" else mean) if size else None
    return ArmReport(size, converted, round(revenue, 2), shown)
