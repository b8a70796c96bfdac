"""The models step in a run: CLV fitted and saved, P(alive) computed in SQL, too little
history reported without failing the run (the previous model is kept), progress for every
part, fits on capped native threads and scoring while no DuckDB query runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute
import pytest
from threadpoolctl import threadpool_info  # type: ignore[import-untyped]  # ships no type hints

from personae import Workspace
from personae.engine import DuckDBEngine
from personae.models.boosting import BoostedClassifier
from personae.models.clv_step import ClvModels
from personae.models.scoring import native_threads, score_into_table
from personae.models.step import LABELS, PARTS
from tests.profiles.small_world import AS_OF, build


def test_clv_is_saved_and_p_alive_in_sql_equals_numpy(tmp_path: Path) -> None:
    shop = build(tmp_path / "shop", customers=120, seed=3)
    workspace = Workspace(shop.root)
    report = workspace.run(as_of=AS_OF)
    assert report.errors == []
    saved = json.loads((shop.root / "models/clv.json").read_text())
    assert saved["bgnbd"]["as_of"] == AS_OF.isoformat() and saved["bgnbd"]["fit"]["converged"]
    models = ClvModels.load(shop.root / "models/clv.json")
    rows = workspace.sql(
        "SELECT s.frequency, s.recency, s.T, p.p_alive, p.clv, p.expected_orders FROM customer_summary AS s "
        "JOIN predictions AS p ON p.uid = s.uid ORDER BY s.uid"
    ).to_pandas()
    assert len(rows) > 80
    expected = models.bgnbd.conditional_probability_alive(rows.frequency, rows.recency / 7, rows["T"] / 7)
    assert np.allclose(rows.p_alive, expected, atol=1e-9)
    assert (rows.clv > 0).all() and (rows.expected_orders >= 0).all()
    buyers = workspace.sql("SELECT count(*) AS n FROM profiles WHERE orders > 0").column("n")[0].as_py()
    tiers = workspace.sql(
        "SELECT segment, count(*) AS n FROM memberships WHERE segmentation = 'clv_tier' AND exited_at IS NULL "
        "GROUP BY segment"
    ).to_pylist()
    counts = {row["segment"]: row["n"] for row in tiers}
    assert counts["high"] == pytest.approx(0.2 * buyers, abs=1)
    assert counts["high"] + counts["medium"] == pytest.approx(0.5 * buyers, abs=1)


def test_too_little_history_keeps_the_previous_model_and_the_run_goes_on(tmp_path: Path) -> None:
    big = build(tmp_path / "big", customers=120, seed=3)
    Workspace(big.root).run(as_of=AS_OF)
    small = build(tmp_path / "small", customers=4, seed=8)
    first = Workspace(small.root).run(as_of=AS_OF)
    assert first.errors == []
    clv_warning = next(w for step in first.steps for w in step.warnings if w.startswith("model clv:"))
    assert "at least 10 needed" in clv_warning
    assert Workspace(small.root).sql("SELECT count(clv) AS n FROM predictions").column("n")[0].as_py() == 0
    unknown = (
        Workspace(small.root)
        .sql("SELECT DISTINCT segment FROM memberships WHERE segmentation = 'clv_tier' AND exited_at IS NULL")
        .column("segment")
    )
    assert set(unknown.to_pylist()) <= {"unknown", "no orders"}

    shutil.copy(big.root / "models/clv.json", small.root / "models/clv.json")
    before = (small.root / "models/clv.json").read_text()
    second = Workspace(small.root).run(as_of=AS_OF)
    assert second.errors == []
    warning = next(w for step in second.steps for w in step.warnings if w.startswith("model clv:"))
    assert f"using the model saved on {AS_OF.isoformat()}" in warning
    assert (small.root / "models/clv.json").read_text() == before
    scored = Workspace(small.root).sql("SELECT count(clv) AS n FROM predictions").column("n")[0].as_py()
    assert scored > 0


def test_models_command_reports_every_saved_model(tmp_path: Path) -> None:
    shop = build(tmp_path / "shop", customers=120, seed=3)
    workspace = Workspace(shop.root)
    report = workspace.run(as_of=AS_OF)
    # churn.json was missing once in CI (not reproduced in 80 local runs): say why if it recurs
    warnings = [warning for step in report.steps for warning in step.warnings]
    assert (shop.root / "models/churn.json").is_file(), f"churn model not saved: {report.errors} {warnings}"
    found = {item.model: item for item in workspace.models()}
    saved = {path.stem for path in (shop.root / "models").glob("*.json")}
    assert set(found) == saved & {"clv", "churn", "high_value", "lifestyle", "survey"}
    assert "clv" in found and found["clv"].as_of == AS_OF.isoformat()
    churn = json.loads((shop.root / "models/churn.json").read_text())
    assert f"AUC {churn['report']['validation']['auc']:.3f}" in found["churn"].quality
    assert found["churn"].rows == churn["report"]["training_rows"]


def test_the_models_step_reports_progress_for_every_part(tmp_path: Path) -> None:
    shop = build(tmp_path / "shop", customers=120, seed=3)
    heard: list[tuple[str, int, int]] = []

    def hear(label: str, done: int, total: int) -> None:
        heard.append((label, done, total))

    report = Workspace(shop.root).run(as_of=AS_OF, progress=hear)
    assert report.errors == []
    parts = [(label, done, total) for label, done, total in heard if label.startswith("models: ")]
    assert [label for label, _, _ in parts] == [f"models: {LABELS[name]}" for name, _, _ in PARTS] + [
        "models: predictions"
    ]
    assert [done for _, done, _ in parts] == list(range(len(PARTS) + 1))
    assert {total for _, _, total in parts} == {len(PARTS)}


def test_fits_run_on_capped_native_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shop = build(tmp_path / "shop", customers=120, seed=3)
    seen: list[int] = []
    fit = BoostedClassifier.fit

    def counting(self: BoostedClassifier, *args: Any, **kwargs: Any) -> BoostedClassifier:
        seen.extend(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "openmp")
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(BoostedClassifier, "fit", counting)
    assert Workspace(shop.root).run(as_of=AS_OF).errors == []
    assert seen and set(seen) == {native_threads()}


def test_scores_are_computed_while_no_query_runs(tmp_path: Path) -> None:
    """A streaming reader is a running query: scoring beside one would share the cores with
    DuckDB's threads, and DuckDB refuses another statement on the connection meanwhile."""
    engine = DuckDBEngine(tmp_path / "store.duckdb")
    engine.execute("CREATE TABLE people AS SELECT 'u' || range AS uid, range AS x FROM range(2500)")
    counts: list[int] = []

    def score(batch: pa.RecordBatch) -> pa.Table:
        counts.append(int(engine.scalar("SELECT count(*) FROM people")))  # fails while a query runs
        return pa.table({"uid": batch.column("uid"), "y": pa.compute.multiply(batch.column("x"), 2)})

    schema = pa.schema([("uid", pa.string()), ("y", pa.int64())])
    written = score_into_table(engine, "SELECT * FROM people", score, "scores", schema, scratch=tmp_path, rows=1000)
    assert written == 2500 and counts == [2500, 2500, 2500]
    assert engine.fetch_rows("SELECT count(*), sum(y) FROM scores") == [(2500, 2 * sum(range(2500)))]
    engine.close()


def test_native_threads_leave_a_core_and_respect_duckdb_threads() -> None:
    assert [native_threads(cores=cores) for cores in (1, 2, 4, 16)] == [1, 1, 3, 15]
    assert native_threads(2, cores=16) == 1 and native_threads(8, cores=4) == 3
