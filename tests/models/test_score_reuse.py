"""Kept scores: a row whose features reach the same leaves keeps its stored score, which is the
score a prediction gives to the last bit; a row that crosses a threshold is predicted again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from personae.engine import DuckDBEngine
from personae.models import score_reuse
from personae.models.boosting import BoostedClassifier
from personae.models.features import steady_frame
from personae.models.score_reuse import CODE, DIGEST, KEPT, LeafCodes, score_into_table_keeping, score_keeping


def _fitted(rows: int = 800) -> tuple[BoostedClassifier, pd.DataFrame]:
    rng = np.random.default_rng(11)
    features = pd.DataFrame(
        {
            "days_since_last_order": rng.integers(0, 400, rows).astype(float),
            "revenue": rng.gamma(2.0, 80.0, rows),
            "share": rng.uniform(0, 1, rows),
        }
    )
    features.loc[::13, "share"] = np.nan
    signal = features.revenue / 160 - features.days_since_last_order / 200 + rng.normal(scale=0.4, size=rows)
    model = BoostedClassifier(seed=7, max_iter=40).fit(features, (signal > 0).to_numpy().astype(int))
    return model, features


def test_rows_with_one_code_get_one_score_to_the_last_bit() -> None:
    model, features = _fitted()
    later = features.copy()
    later["days_since_last_order"] += 3  # three days on: some cross a split, most do not
    codes = LeafCodes([model])
    same = codes.of(features) == codes.of(later)
    before, after = model.predict_proba(features)[:, 1], model.predict_proba(later)[:, 1]
    assert 0 < same.sum() < len(same)  # both kinds occur
    assert np.array_equal(before[same], after[same])  # bit for bit, not approximately
    assert (before[~same] != after[~same]).any()
    missing = features.iloc[[0]].copy()  # row 0's share is missing; a value in its place is another path
    missing["share"] = 0.5
    assert codes.of(features.iloc[[0]])[0] != codes.of(missing)[0]
    assert LeafCodes([model], settings="threshold=0.6").of(features.iloc[[1]])[0] != codes.of(features.iloc[[1]])[0]


def test_score_keeping_predicts_only_the_rows_whose_code_changed() -> None:
    model, features = _fitted()
    codes = LeafCodes([model])
    rows = features.iloc[:6].reset_index(drop=True)
    stored = codes.of(rows)
    stored[1] += 1  # row 1 was stored under another code; rows 4 and 5 were not stored at all
    kept_code = pa.array([*stored[:4].tolist(), None, None], pa.int64())
    sentinel = pa.array([0.25, 0.25, 0.25, None, None, None], pa.float64())  # what the store holds
    batch = pa.record_batch(
        {
            "uid": [f"p{n}" for n in range(6)],
            **{name: rows[name] for name in rows.columns},
            f"{KEPT}{CODE}": kept_code,
            f"{KEPT}churn": sentinel,
            f"{KEPT}label": pa.array(["kept", "kept", "kept", "kept", None, None], pa.string()),
        }
    )
    asked: list[int] = []

    def predict(frame: pd.DataFrame) -> dict[str, pa.Array]:
        asked.append(len(frame))
        return {"churn": pa.array(model.predict_proba(frame)[:, 1], pa.float64()), "label": ["new"] * len(frame)}

    values, predicted = score_keeping(codes, batch, rows, predict, {"churn": pa.float64(), "label": pa.string()})
    fresh = model.predict_proba(rows)[:, 1]
    assert predicted == 3 and asked == [3]
    churn = values["churn"].to_pylist()
    assert churn[0] == churn[2] == 0.25 and churn[3] is None  # kept as stored, NULL included
    assert churn[1] == fresh[1] and churn[4] == fresh[4] and churn[5] == fresh[5]
    assert values["label"].to_pylist() == ["kept", "new", "kept", "kept", "new", "new"]
    assert values[CODE].to_pylist() == codes.of(rows).tolist()


def test_rows_of_one_code_are_predicted_once_and_each_gets_the_score_of_its_own_prediction() -> None:
    model, features = _fitted()
    codes = LeafCodes([model])
    rows = features.iloc[[0, 1, 0, 2, 1, 0, 3]].reset_index(drop=True)  # three rows alike, two alike
    rows.loc[6, "revenue"] += 1e-9  # row 3's twin by a hair: the same leaves unless a split lies between
    batch = pa.record_batch({"uid": [f"p{n}" for n in range(len(rows))], **{name: rows[name] for name in rows.columns}})
    asked: list[pd.DataFrame] = []

    def predict(frame: pd.DataFrame) -> dict[str, pa.Array]:
        asked.append(frame)
        return {"churn": pa.array(model.predict_proba(frame)[:, 1], pa.float64())}

    values, predicted = score_keeping(codes, batch, rows, predict, {"churn": pa.float64()})
    distinct = len(set(codes.of(rows).tolist()))
    assert predicted == len(rows) and len(asked) == 1 and len(asked[0]) == distinct <= 4
    assert values["churn"].to_pylist() == model.predict_proba(rows)[:, 1].tolist()  # every row, to the last bit


def test_rows_whose_features_hash_as_before_stay_in_sql_and_the_table_equals_scoring_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, features = _fitted()
    engine = DuckDBEngine(tmp_path / "store.duckdb")
    rows = features.assign(uid=[f"p{n:04d}" for n in range(len(features))])
    engine.register_arrow("_rows", pa.Table.from_pandas(rows, preserve_index=False))
    engine.execute("CREATE TABLE features AS SELECT * FROM _rows")
    seen: list[int] = []
    real = score_reuse.score_keeping

    def counting(codes: LeafCodes, batch: pa.RecordBatch, *args: Any) -> Any:
        seen.append(batch.num_rows)
        return real(codes, batch, *args)

    monkeypatch.setattr(score_reuse, "score_keeping", counting)

    def predict(frame: pd.DataFrame) -> dict[str, pa.Array]:
        return {"churn": pa.array(model.predict_proba(frame)[:, 1], pa.float64())}

    def score() -> tuple[int, int]:
        return score_into_table_keeping(
            engine,
            "SELECT * FROM features",
            "scores",
            LeafCodes([model]),
            predict,
            {"churn": pa.float64()},
            scratch=tmp_path / "scratch",
        )

    assert score() == (800, 800) and sum(seen) == 800
    engine.execute("UPDATE features SET days_since_last_order = days_since_last_order + 3 WHERE right(uid, 1) = '0'")
    engine.execute("INSERT INTO features SELECT 1.0, 10.0, 0.5, 'p9999'")  # a new person
    seen.clear()
    predicted, written = score()
    assert sum(seen) == 81 and written == 801  # only the 80 moved rows and the new one reached Python
    assert 0 < predicted < 81  # and of those, only the rows whose leaves changed were predicted
    now = steady_frame(engine.fetch_arrow("SELECT * FROM features ORDER BY uid"))  # as the models read features
    table = engine.fetch_arrow(f"SELECT uid, churn, {DIGEST} FROM scores").to_pandas()
    assert table.uid.tolist() == now.uid.tolist()  # in UID order
    assert table.churn.tolist() == model.predict_proba(now)[:, 1].tolist()  # to the last bit
    assert table[DIGEST].notna().all()
    other = BoostedClassifier(seed=8, max_iter=20).fit(features, (features.revenue > 150).to_numpy().astype(int))
    model = other  # a refit: every row is predicted again, however its features stayed
    seen.clear()
    assert score() == (801, 801) and sum(seen) == 801
    table = engine.fetch_arrow("SELECT churn FROM scores ORDER BY uid").to_pandas()
    assert table.churn.tolist() == other.predict_proba(now)[:, 1].tolist()
