"""The models step in a run: CLV fitted and saved, P(alive) computed in SQL, and too little
history reported without failing the run (the previous model is kept)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from personae import Workspace
from personae.models.clv_step import ClvModels
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
