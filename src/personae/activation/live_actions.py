"""A person's next best action per channel now, for the profile API: the batch decision's twin.

The profile API answers between batch runs, after live processing has changed a person's
traits, so it cannot just read ``next_actions``. :func:`decide` applies the rules of
:mod:`personae.activation.actions` to one profile row with the rules' Python evaluator (equal
to their SQL): the same eligibility, caps and cool-downs over the exposures before the
profile's as-of day, the same ranking and ties, the same holdout hash. Over an unchanged
profile it gives what the batch run of that day wrote (a test checks it for everyone). It
records no exposure: only a batch decision is an exposure.

>>> from personae.rules import parse_rule
>>> spec = ActionSpec(name="thanks", rule="orders > 2", priority=1, cooldown_days=7)
>>> rule = parse_rule(spec.rule, {"orders": "BIGINT"})
>>> decide([(spec, rule)], "p1", {"orders": 3}, {}, [], as_of=date(2025, 1, 31))[0].action
'thanks'
>>> decide([(spec, rule)], "p1", {"orders": 3}, {}, [("thanks", date(2025, 1, 28))], as_of=date(2025, 1, 31))
[]
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from personae.activation.action_specs import ActionSpec, parse_action_rule
from personae.activation.holdout import is_held_out
from personae.engine.base import Engine
from personae.engine.sql import literal
from personae.profiles.build import AS_OF_COLUMN
from personae.rules import Rule
from personae.segments.people import PEOPLE, profile_columns


@dataclass(frozen=True)
class NextAction:
    """One channel's action for one person."""

    channel: str
    action: str
    priority: int | None
    expected_value: float | None
    held_out: bool
    """In the control arm: recorded by batch runs, never sent."""
    as_of: date


def blocked(spec: ActionSpec, exposures: Sequence[tuple[str, date]], as_of: date) -> bool:
    """Whether a cap or a cool-down keeps the person from ``spec`` on ``as_of`` (exposures: action, day)."""
    days = [day for action, day in exposures if action == spec.name and day < as_of]
    if spec.cap is not None and sum(day > as_of - timedelta(days=spec.cap_days) for day in days) >= spec.cap:
        return True
    return spec.cooldown_days > 0 and bool(days) and max(days) > as_of - timedelta(days=spec.cooldown_days)


def expected_value(spec: ActionSpec, profile: Mapping[str, Any]) -> float | None:
    if spec.score is None or spec.value is None:
        return None
    score = profile.get(spec.score)
    value = profile.get(spec.value) if isinstance(spec.value, str) else spec.value
    return None if score is None or value is None else float(score) * float(value)


def decide(
    actions: Sequence[tuple[ActionSpec, Rule]],
    uid: str,
    profile: Mapping[str, Any],
    segments: Mapping[str, Collection[str]],
    exposures: Sequence[tuple[str, date]],
    *,
    as_of: date,
) -> list[NextAction]:
    """The best eligible action per channel for one profile, by channel (``segments``:
    segmentation -> the person's segments; ``exposures``: their (action, day) exposures)."""
    best: dict[str, tuple[tuple[int, float, int], NextAction]] = {}
    for position, (spec, rule) in enumerate(actions):
        if not rule.evaluate(profile, as_of=as_of, segments=segments) or blocked(spec, exposures, as_of):
            continue
        worth = expected_value(spec, profile)
        rank = float(spec.priority) if spec.priority is not None else worth
        key = (0 if rank is not None else 1, -(rank or 0.0), position)  # higher first, NULL last, then declared
        held_out = is_held_out(uid, spec.name, spec.holdout)
        found = NextAction(spec.channel, spec.name, spec.priority, worth, held_out, as_of)
        if spec.channel not in best or key < best[spec.channel][0]:
            best[spec.channel] = (key, found)
    return [best[channel][1] for channel in sorted(best)]


def person_actions(engine: Engine, actions: Sequence[ActionSpec], uid: str) -> list[NextAction]:
    """``uid``'s next actions from the store now: their profile row with the scores, the segments
    they are in, and their exposures (empty when they have no profile or nothing is declared)."""
    if not actions:
        return []
    columns = profile_columns(engine)
    if not columns:
        return []
    found = engine.fetch_arrow(f"SELECT * FROM {PEOPLE} WHERE uid = {literal(uid)}").to_pylist()
    if not found:
        return []
    profile = found[0]
    as_of = profile.get(AS_OF_COLUMN)
    if not isinstance(as_of, date):
        return []
    segments: dict[str, set[str]] = {}
    if engine.has_table("memberships"):
        for segmentation, segment in engine.fetch_rows(
            f"SELECT segmentation, segment FROM memberships WHERE uid = {literal(uid)} AND exited_at IS NULL"
        ):
            segments.setdefault(str(segmentation), set()).add(str(segment))
    exposures: list[tuple[str, date]] = []
    if engine.has_table("action_exposures"):
        rows = engine.fetch_rows(f"SELECT action, as_of FROM action_exposures WHERE uid = {literal(uid)}")
        exposures = [(str(action), day) for action, day in rows]
    checked = [(spec, parse_action_rule(spec, columns)) for spec in actions]
    return decide(checked, uid, profile, segments, exposures, as_of=as_of)
