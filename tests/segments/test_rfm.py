"""RFM scores: quintiles of the buyers, and people equal on every measure share their scores."""

from __future__ import annotations

import pyarrow as pa

from personae.engine import Engine
from personae.segments.rfm import scores_sql


def _scores(engine: Engine, people: list[tuple[str, int, int, float]]) -> dict[str, tuple[int, int, int]]:
    table = pa.table(
        {
            "uid": [p[0] for p in people],
            "days_since_last_order": [p[1] for p in people],
            "orders": [p[2] for p in people],
            "revenue": [p[3] for p in people],
        }
    )
    engine.register_arrow("_people", table)
    rows = engine.fetch_rows(f"SELECT uid, r, f, m FROM ({scores_sql('_people')}) AS s")
    return {str(uid): (int(r), int(f), int(m)) for uid, r, f, m in rows}


def test_people_equal_on_every_measure_share_their_scores_whatever_their_uids(engine: Engine) -> None:
    distinct = [(f"d{n}", 100 - n, 1 + n // 3, 10.0 * n) for n in range(20)]
    twins = [("zz-twin", 50, 3, 99.5), ("aa-twin", 50, 3, 99.5)]
    scores = _scores(engine, distinct + twins)
    assert scores["zz-twin"] == scores["aa-twin"]
    renamed = _scores(engine, [*distinct, ("b", 50, 3, 99.5), ("y", 50, 3, 99.5)])
    assert renamed["b"] == renamed["y"] == scores["aa-twin"]
    assert {uid: s for uid, s in renamed.items() if uid.startswith("d")} == {
        uid: s for uid, s in scores.items() if uid.startswith("d")
    }


def test_each_score_holds_about_a_fifth_of_the_buyers(engine: Engine) -> None:
    people = [(f"p{n}", n, 1 + n % 7, float(n * 37 % 101)) for n in range(100)]
    scores = _scores(engine, people)
    for index in range(3):
        sizes = [sum(1 for s in scores.values() if s[index] == q) for q in range(1, 6)]
        assert sizes == [20, 20, 20, 20, 20], sizes
