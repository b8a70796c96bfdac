"""Batch = live on every engine: a fixed random world's traits from DuckDB and from Spark (the
same SQL, transpiled) equal the live updater's, before the last event, at it and a year on."""

from __future__ import annotations

import random
from datetime import timedelta

from personae.engine.base import Engine
from tests.profiles.live_world import batch_traits, differences, live_traits, random_person, write_store


def test_traits_equal_the_live_updater_on_each_engine(engine: Engine) -> None:
    rng = random.Random(11)
    streams = write_store(engine, [random_person(rng) for _ in range(6)])
    assert sum(len(events) for events, _ in streams.values()) > 40
    last = max(event["ts"].date() for events, _ in streams.values() for event in events if event["ts"])
    for as_of in (last - timedelta(days=29), last, last + timedelta(days=365)):
        batch = batch_traits(engine, as_of)
        buyers = 0
        for uid, (events, records) in streams.items():
            got = live_traits(events, records, rng).traits(as_of)
            assert differences(batch[uid], got) == {}, f"{uid} as of {as_of} on {engine.name}"
            buyers += got["orders"] > 0
        assert buyers >= 3
