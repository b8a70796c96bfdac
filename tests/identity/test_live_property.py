"""Live identity equals batch, event by event, on random streams (DESIGN §2.7, §8).

Identifiers are drawn from small pools, so that merges, per-type limit breaks, blocked,
invalid and shared values happen often. Two copies of one store start alike: empty, or
resolved by a batch run over a random history. Each record of a random stream is then

- resolved live on the first, whose changes are written back at random points;
- loaded into ``events`` of the second (as ingest does) and resolved by a batch run.

After every record, live gives the UID batch gives, and the merges batch records. At the
end the two stores hold the same ``identity_map``, ``record_map`` and ``merges`` (UIDs and
times included), and a batch run over the live store (in the other mode, incremental or
full, than the reference) changes nothing.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from personae.engine import DuckDBEngine
from personae.identity.fuzzy_settings import FuzzySettings
from personae.identity.live import LiveIdentity, LiveRecord
from personae.identity.specs import DEFAULT_PRIORITY, IdentitySettings
from tests.identity.live_stores import REGION, load_events, new_store, run_batch, state, uid_of

EXTRA = ("member_no",)
POOLS: dict[str, list[str]] = {
    "user_id": ["u1", "u2", " u1 ", "u3", "null"],  # " u1 " trims to u1; "null" is blocked by a pattern
    "anonymous_id": ["a1", "a2", "a3"],
    "email": ["ann@mail.net", " ANN@Mail.net", "bob@mail.net", "test@example.com", "junk@shop.io", "no-at-sign"],
    "phone": ["555-000-1111", "+1 (555) 000-1111", "555-000-2222", "123", "0000000000"],
    "loyalty_id": ["L1", "L2", "L3"],
    "crm_id": ["c1", "c2", "c3"],
    "member_no": ["m1", "m2", ""],
}
LIMITS = (
    {"user_id": 1, "crm_id": 3, "loyalty_id": 2},
    {"user_id": 1, "email": 1, "member_no": 1},
    {"phone": 1, "loyalty_id": 1, "anonymous_id": 2},
    {},
)
START = datetime(2024, 1, 1)
RESOLVED = datetime(2024, 6, 1)


@st.composite
def streams(draw: st.DrawFn, prefix: str, most: int) -> list[LiveRecord]:
    records = []
    for number in range(draw(st.integers(0 if prefix == "h" else 1, most))):
        types = draw(st.lists(st.sampled_from(sorted(POOLS)), min_size=1, max_size=4, unique=True))
        identifiers = {id_type: draw(st.sampled_from(POOLS[id_type])) for id_type in types}
        ts = START + timedelta(hours=draw(st.integers(0, 96)))
        records.append(LiveRecord(draw(st.sampled_from(["web", "app"])), f"{prefix}{number}", ts, identifiers))
    return records


identity_settings = st.builds(
    lambda shared_max, limits, priority, incremental: IdentitySettings(
        fuzzy=FuzzySettings(enabled=False),
        shared_max=shared_max,
        limits=limits,
        priority=priority,
        blocked=("junk@shop.io",),
        incremental=incremental,
    ),
    shared_max=st.integers(1, 2),
    limits=st.sampled_from(LIMITS),
    priority=st.one_of(st.just(DEFAULT_PRIORITY), st.permutations([*DEFAULT_PRIORITY, "member_no"]).map(tuple)),
    incremental=st.booleans(),
)


@pytest.mark.slow
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    rules=identity_settings,
    history=streams("h", 5),
    stream=streams("s", 6),
    flushes=st.lists(st.booleans(), min_size=6, max_size=6),
)
def test_live_equals_batch_event_by_event(
    rules: IdentitySettings, history: list[LiveRecord], stream: list[LiveRecord], flushes: list[bool]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        store = new_store(root / "live.duckdb")
        if history:
            load_events(store, history, EXTRA)
            run_batch(store, rules, EXTRA, START, root)
        store.close()
        shutil.copy(root / "live.duckdb", root / "batch.duckdb")
        with DuckDBEngine(root / "live.duckdb") as store, DuckDBEngine(root / "batch.duckdb") as batch:
            live = LiveIdentity.load(store, rules, extra_types=EXTRA, phone_region=REGION)
            for number, record in enumerate(stream):
                at = RESOLVED + timedelta(minutes=number)
                resolution = live.resolve(record, at=at)
                load_events(batch, [record], EXTRA)
                run_batch(batch, rules, EXTRA, at, root)
                assert resolution.uid == uid_of(batch, record), f"record {number}: {record}"
                recorded = batch.fetch_rows(f"SELECT old_uid, new_uid, reason FROM merges WHERE \"at\" = '{at}'")
                assert sorted(recorded) == sorted((c.old_uid, c.new_uid, c.reason) for c in resolution.changes)
                _note(resolution.changes, resolution.refused)
                if flushes[number]:
                    live.write_back(store)
            live.write_back(store)
            expected = state(batch)
            assert state(store) == expected
            load_events(store, stream, EXTRA)  # the journal reaches the store: the next batch run keeps it all
            other = rules.model_copy(update={"incremental": not rules.incremental})  # both modes in each example
            run_batch(store, other, EXTRA, RESOLVED, root)
            assert state(store) == expected


def _note(changes: Any, refused: Any) -> None:
    """Hypothesis statistics (``--hypothesis-show-statistics``): which rules the examples hit."""
    for change in changes:
        event(change.reason)
    for refusal in refused:
        event(f"refused: {refusal.reason}")
