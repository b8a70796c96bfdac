"""The subscription programme: trials, conversions and cancellations as tracking events.

Some people with a web-shop account start a free trial (how many depends on their survey
segment); after :data:`TRIAL_DAYS` days a share of them convert to a paid plan, and some
subscribers cancel later (churners at their churn day). Each step is a Segment ``track``
event with the ``userId`` and the plan: ``Trial Started``, ``Subscription Started``,
``Subscription Cancelled``, written to ``data/subscriptions/events.jsonl`` in time order.
A person's state on the last day is one of :data:`STATES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from personae.demo.catalog import SURVEY_SEGMENTS
from personae.demo.people import People
from personae.demo.text import SECONDS_PER_DAY, concat, pick, timestamps, write_lines
from personae.demo.timeline import Timeline, clock
from personae.demo.tokens import uuids
from personae.demo.truth import Truth

SOURCE = "subscriptions"
STATES = ("none", "trial", "trial_expired", "active", "cancelled")
NONE, TRIAL, TRIAL_EXPIRED, ACTIVE, CANCELLED = range(len(STATES))
PLANS = ("monthly", "annual")
TRIAL_DAYS = 14
_EVENTS = ("Trial Started", "Subscription Started", "Subscription Cancelled")


def specs() -> list[dict[str, Any]]:
    return [
        {
            "name": SOURCE,
            "kind": "events",
            "path": "data/subscriptions/events.jsonl",
            "description": "subscription programme events (Segment spec)",
        }
    ]


@dataclass(frozen=True)
class Subscriptions:
    state: np.ndarray
    """Index into :data:`STATES`, one per person."""
    plan: np.ndarray
    """Index into :data:`PLANS` (meaningful when the person ever subscribed or trialled)."""
    trial_day: np.ndarray
    start_day: np.ndarray
    cancel_day: np.ndarray


def draw_subscriptions(rng: np.random.Generator, people: People, timeline: Timeline) -> Subscriptions:
    count = people.count
    days = timeline.days
    chance = np.array([s.trial for s in SURVEY_SEGMENTS])[people.segment]
    trial = (people.user > 0) & (rng.random(count) < chance)
    low = people.active_from.astype(np.int64)
    high = people.active_until.astype(np.int64)
    trial_day = np.where(trial, low + (rng.random(count) * (high - low)).astype(np.int64), -1)
    start_day = np.where(trial, trial_day + TRIAL_DAYS, -1)
    ended = trial & (start_day < days)
    gone = people.churner & (people.churned <= start_day)
    converted = ended & ~gone & (rng.random(count) < 0.55)
    churn_cancel = converted & people.churner & (people.churned > start_day)
    later = start_day + 1 + (rng.random(count) * np.maximum(days - start_day - 1, 1)).astype(np.int64)
    chosen_cancel = converted & ~churn_cancel & (rng.random(count) < 0.25) & (later < days)
    cancel_day = np.where(churn_cancel, people.churned, np.where(chosen_cancel, later, -1))
    state = np.full(count, NONE, dtype=np.int8)
    state[trial & ~ended] = TRIAL
    state[ended & ~converted] = TRIAL_EXPIRED
    state[converted] = ACTIVE
    state[converted & (cancel_day >= 0)] = CANCELLED
    return Subscriptions(
        state=state,
        plan=(rng.random(count) < 0.3).astype(np.int8),
        trial_day=trial_day,
        start_day=np.where(converted, start_day, -1),
        cancel_day=cancel_day,
    )


def write_subscriptions(
    folder: Path,
    rng: np.random.Generator,
    subscriptions: Subscriptions,
    people: People,
    timeline: Timeline,
    truth: Truth,
) -> list[Path]:
    """Write the programme's events; returns the file written."""
    days = [subscriptions.trial_day, subscriptions.start_day, subscriptions.cancel_day]
    person = np.concatenate([np.flatnonzero(d >= 0) for d in days])
    step = np.concatenate([np.full(int((d >= 0).sum()), i) for i, d in enumerate(days)])
    day = np.concatenate([d[d >= 0] for d in days])
    ts = timeline.first_second + day * SECONDS_PER_DAY + clock(rng, len(day), in_store=False)
    millis = rng.integers(0, 1000, size=len(day))
    order = np.lexsort((step, person, millis, ts))
    person, step, ts, millis = person[order], step[order], ts[order], millis[order]
    message = uuids(rng, len(person))
    plan = pick(PLANS, subscriptions.plan[person])
    line = concat(
        '{"messageId":"',
        message,
        '","type":"track","userId":"',
        people.user_ids(person),
        '","event":"',
        pick(_EVENTS, step),
        '","properties":{"plan":"',
        plan,
        '"},"timestamp":"',
        timestamps(ts, millis=millis),
        '"}',
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "events.jsonl"
    with path.open("wb") as out:
        write_lines(out, line if len(line) else pa.array([], pa.string()))
    truth.add(SOURCE, message, person)
    return [path]
