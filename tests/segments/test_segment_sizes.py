"""The sizes the summaries step writes: a stay counts on the recorded days ``d`` with
``entered_at <= d < exited_at``, computed in one pass over the stays (each start adds one,
each end takes one away) and checked here against that definition, day by day."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from personae.engine import DuckDBEngine
from personae.engine.tables import ensure_tables
from personae.steps.summaries import sizes_sql

START = date(2026, 1, 1)
SEGMENTS = [("rfm", "Champions"), ("rfm", "Lost"), ("lifecycle", "new")]

stays = st.lists(
    st.tuples(
        st.integers(0, 5),  # person
        st.sampled_from(SEGMENTS),
        st.integers(0, 8),  # day entered
        st.one_of(st.none(), st.integers(1, 6)),  # days stayed; None: still there
    ),
    max_size=25,
)


def _expected(rows: list[tuple[int, tuple[str, str], int, int | None]], days: list[int], known: set[int]) -> Counter:
    found: Counter = Counter()
    for person, (segmentation, segment), entered, stayed in rows:
        for day in days:
            if entered <= day and (stayed is None or day < entered + stayed):
                found[(START + timedelta(days=day), segmentation, segment, person in known)] += 1
    return found


@settings(max_examples=60, deadline=None)
@given(stays, st.sets(st.integers(0, 12), min_size=1, max_size=6), st.sets(st.integers(0, 5)))
def test_each_recorded_day_counts_the_stays_held_then(
    rows: list[tuple[int, tuple[str, str], int, int | None]], days: set[int], known: set[int]
) -> None:
    store = DuckDBEngine()
    try:
        at = [(START + timedelta(days=day)).isoformat() for day in sorted(days)]
        store.create_table("membership_days", " UNION ALL ".join(f"SELECT DATE '{day}' AS as_of" for day in at))
        store.create_table(
            "profiles",
            " UNION ALL ".join(f"SELECT 'p{n}' AS uid, {str(n in known).lower()} AS known_customer" for n in range(6)),
        )
        ensure_tables(store, ["memberships"])
        for person, (segmentation, segment), entered, stayed in rows:
            start = datetime.combine(START + timedelta(days=entered), datetime.min.time())
            end = "NULL" if stayed is None else f"TIMESTAMP '{start + timedelta(days=stayed)}'"
            store.execute(
                f"INSERT INTO memberships VALUES ('p{person}', '{segmentation}', '{segment}', NULL, "
                f"TIMESTAMP '{start}', {end})"
            )
        found: Counter = Counter()
        for day, segmentation, segment, customers, anonymous in store.fetch_rows(sizes_sql()):
            assert customers + anonymous > 0  # a segment empty that day has no row
            found[(day, segmentation, segment, True)] += customers
            found[(day, segmentation, segment, False)] += anonymous
        assert +found == _expected(rows, sorted(days), known)
    finally:
        store.close()
