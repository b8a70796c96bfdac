"""Next-best actions in batch: each person's best eligible action per channel, as of a day.

**An exposure** is a person being chosen for an action by a batch run: one row of
``action_exposures`` per (person, action, as-of day), written for the winner of each channel
only, and for held-out people as well as treated ones. Held-out people are the control arm:
they go through the same caps and cool-downs as if they had been sent the action, so the two
arms stay alike for as long as the experiment runs (counting only the people actually sent
would let the control arm be chosen more often than the treated one). Rerunning a day
replaces that day's exposures; caps and cool-downs read only the days before it.

- **Cap**: with ``cap = n`` and ``cap_days = d``, a person exposed ``n`` times on the ``d - 1``
  days before the as-of day is not eligible that day (so never more than ``n`` in any ``d``
  consecutive days).
- **Cool-down**: with ``cooldown_days = c``, a person last exposed on day ``L`` is eligible
  again from day ``L + c``.
- **Ranking**: within a channel, the higher rank value wins: ``priority``, or the expected
  value ``score × value`` (a NULL expected value ranks below every number); ties go to the
  action declared first in ``personae.toml``. So a priority is a fixed expected value, in the
  same unit as the channel's other actions.

``next_actions`` holds the decisions of the latest as-of day whose segments were recorded; a
run at an earlier day (a backfill) records its exposures but leaves it alone, and the later
days are not recomputed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from personae.activation.action_specs import ActionSpec
from personae.activation.holdout import held_out_sql
from personae.engine.base import Engine
from personae.engine.sql import day_sql, literal, timestamp_sql
from personae.engine.tables import ensure_tables
from personae.rules import Rule
from personae.segments.memberships import recorded_days, state_sql
from personae.segments.people import PEOPLE

MEMBERS = "_action_members"
"""The memberships held at the end of the as-of day, for the rules' ``in_segment``."""
CANDIDATES = "_action_candidates"
CHOSEN = "_action_chosen"
DECISION_COLUMNS = ("uid", "channel", "action", "priority", "expected_value", "held_out")


@dataclass
class ActionResult:
    """What a batch decision did."""

    as_of: date
    people: int
    """People with at least one action."""
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    """Action -> ``{"treated": n, "held_out": m}`` among the winners."""
    blocked: int = 0
    """Eligible (person, action) pairs left out by a cap or a cool-down."""
    backfill: bool = False
    """The day came before the latest recorded one: exposures recorded, ``next_actions`` unchanged."""


def blocked_sql(spec: ActionSpec, as_of: date) -> str:
    """The UIDs a cap or a cool-down keeps from ``spec`` on ``as_of`` (reads ``action_exposures``)."""
    conditions = []
    if spec.cap is not None:
        since = day_sql(as_of - timedelta(days=spec.cap_days))
        conditions.append(f"count(*) FILTER (WHERE as_of > {since}) >= {spec.cap}")
    if spec.cooldown_days > 0:
        conditions.append(f"max(as_of) > {day_sql(as_of - timedelta(days=spec.cooldown_days))}")
    if not conditions:
        return "SELECT uid FROM action_exposures WHERE false"
    return (
        f"SELECT uid FROM action_exposures WHERE action = {literal(spec.name)} AND as_of < {day_sql(as_of)} "
        f"GROUP BY uid HAVING {' OR '.join(conditions)}"
    )


def expected_value_sql(spec: ActionSpec) -> str:
    """``score × value`` as a DOUBLE (NULL when either is); ``CAST(NULL AS DOUBLE)`` for a priority."""
    if spec.score is None or spec.value is None:
        return "CAST(NULL AS DOUBLE)"
    value = spec.value if isinstance(spec.value, str) else repr(float(spec.value))
    return f"CAST({spec.score} AS DOUBLE) * CAST({value} AS DOUBLE)"


def candidates_sql(spec: ActionSpec, position: int, rule: Rule, as_of: date, *, capped: bool) -> str:
    """``uid, channel, action, position, priority, expected_value, held_out, blocked`` of the
    people ``rule`` selects; reads ``_scored_profiles`` and :data:`MEMBERS`."""
    condition = rule.sql(as_of=as_of, memberships=MEMBERS)
    priority = str(spec.priority) if spec.priority is not None else "NULL"
    blocked = f"uid IN ({blocked_sql(spec, as_of)})" if capped else "false"
    return (
        f"SELECT uid, {literal(spec.channel)} AS channel, {literal(spec.name)} AS action, {position} AS position, "
        f"CAST({priority} AS BIGINT) AS priority, {expected_value_sql(spec)} AS expected_value, "
        f"{held_out_sql('uid', spec.name, spec.holdout)} AS held_out, {blocked} AS blocked "
        f"FROM {PEOPLE} WHERE coalesce(({condition}), false)"
    )


def chosen_sql(candidates: str) -> str:
    """The best unblocked candidate per person and channel: the highest rank value, then the
    earliest declared action; ``uid, channel, action, priority, expected_value, held_out``."""
    ranked = (
        "SELECT *, row_number() OVER (PARTITION BY uid, channel ORDER BY "
        "coalesce(CAST(priority AS DOUBLE), expected_value) DESC NULLS LAST, position) AS place "
        f"FROM {candidates} WHERE NOT blocked"
    )
    return f"SELECT {', '.join(DECISION_COLUMNS)} FROM ({ranked}) AS r WHERE place = 1"


def choose_actions(
    engine: Engine, actions: Sequence[tuple[ActionSpec, Rule]], as_of: date, decided_at: str
) -> ActionResult:
    """Decide every person's next action per channel as of a day, record the exposures, and
    (unless the day is before the latest decided one) replace ``next_actions``.

    ``actions`` are the specs in declaration order with their rules, checked against the
    profile columns; ``_scored_profiles`` must be defined (:func:`personae.segments.people.profile_columns`)."""
    ensure_tables(engine, ["next_actions", "action_exposures"])
    backfill = any(day > as_of for day in recorded_days(engine))  # the segment step's days, this one included
    engine.materialise(MEMBERS, state_sql(as_of) if engine.has_table("memberships") else _NO_MEMBERS)
    parts = [
        candidates_sql(spec, position, rule, as_of, capped=spec.cap is not None or spec.cooldown_days > 0)
        for position, (spec, rule) in enumerate(actions)
    ]
    engine.materialise(CANDIDATES, " UNION ALL ".join(parts))
    engine.materialise(CHOSEN, chosen_sql(CANDIDATES))
    at = timestamp_sql(decided_at)
    with engine.transaction():
        engine.delete_where("action_exposures", f"as_of = {day_sql(as_of)}")
        engine.insert(
            "action_exposures",
            ["uid", "action", "channel", "as_of", "held_out", "decided_at"],
            f"SELECT uid, action, channel, {day_sql(as_of)}, held_out, {at} FROM {CHOSEN}",
        )
        if not backfill:
            engine.delete_where("next_actions", "true")
            engine.insert(
                "next_actions",
                [*DECISION_COLUMNS, "as_of", "decided_at"],
                f"SELECT {', '.join(DECISION_COLUMNS)}, {day_sql(as_of)}, {at} FROM {CHOSEN}",
            )
    result = ActionResult(as_of, int(engine.scalar(f"SELECT count(DISTINCT uid) FROM {CHOSEN}")), backfill=backfill)
    for action, held_out, count in engine.fetch_rows(
        f"SELECT action, held_out, count(*) FROM {CHOSEN} GROUP BY 1, 2 ORDER BY 1, 2"
    ):
        arms = result.counts.setdefault(str(action), {"treated": 0, "held_out": 0})
        arms["held_out" if held_out else "treated"] = int(count)
    result.blocked = int(engine.scalar(f"SELECT count(*) FROM {CANDIDATES} WHERE blocked"))
    return result


def clear_actions(engine: Engine) -> None:
    """No actions are declared: nobody has a next action (the exposures stay, for experiments)."""
    if engine.has_table("next_actions"):
        engine.delete_where("next_actions", "true")


_NO_MEMBERS = "SELECT CAST(NULL AS VARCHAR) AS uid, CAST(NULL AS VARCHAR) AS segmentation, " + (
    "CAST(NULL AS VARCHAR) AS segment WHERE false"
)


@dataclass(frozen=True)
class ActionCount:
    channel: str
    action: str
    treated: int
    held_out: int


@dataclass(frozen=True)
class ActionPreview:
    """What ``personae actions preview`` shows: ``next_actions`` in brief."""

    as_of: date | None
    """The day the actions were decided as of (None before the first decision)."""
    people: int
    """People with at least one next action."""
    customers: int
    """Every profile, for the share."""
    counts: list[ActionCount]
    sample: list[dict[str, object]]
    """A few rows of ``next_actions``, the same ones on every call (ordered by uid)."""


def preview_actions(engine: Engine, sample: int) -> ActionPreview:
    """Counts per channel and action (treated and held out) and a sample of ``next_actions``."""
    customers = engine.row_count("profiles") if engine.has_table("profiles") else 0
    if not engine.has_table("next_actions"):
        return ActionPreview(None, 0, customers, [], [])
    rows = engine.fetch_rows(
        "SELECT channel, action, count(*) FILTER (WHERE NOT held_out), count(*) FILTER (WHERE held_out) "
        "FROM next_actions GROUP BY 1, 2 ORDER BY 1, 2"
    )
    shown = engine.fetch_arrow(
        f"SELECT {', '.join(DECISION_COLUMNS)} FROM next_actions ORDER BY uid, channel LIMIT {int(sample)}"
    ).to_pylist()
    as_of = engine.scalar("SELECT max(as_of) FROM next_actions")
    return ActionPreview(
        as_of=as_of,
        people=int(engine.scalar("SELECT count(DISTINCT uid) FROM next_actions")),
        customers=customers,
        counts=[ActionCount(str(c), str(a), int(t), int(h)) for c, a, t, h in rows],
        sample=shown,
    )
