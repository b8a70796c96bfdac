"""Two workspaces built from one demo world and seed (issue 11, "Trust the batch").

Their UID salts differ, so everything keyed on the UID differs between them; the models
and the predictive segments must not. On a copy of one twin: a rerun on unchanged data
reuses every model without fitting, and a survey answer with no signal (answers shuffled
between respondents) gives no survey predictions, with a warning that says why.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pyarrow as pa
import pytest

from personae import Workspace
from personae.models.bgnbd import BetaGeo
from personae.models.boosting import BoostedClassifier
from personae.models.gamma_gamma import GammaGamma
from personae.models.lifestyle import LifestyleModel
from personae.models.reports import MODEL_FILES
from personae.segments.predictive import KINDS

pytestmark = pytest.mark.slow

AS_OF = date(2025, 12, 31)


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, Workspace]]:
    root = tmp_path_factory.mktemp("twins")
    built = []
    for name in ("one", "two"):
        workspace = Workspace.init(root / name, demo=True, customers=2_000, seed=7)
        assert workspace.run(as_of=AS_OF).errors == []
        built.append(workspace)
    yield built[0], built[1]


def _copy(workspace: Workspace, target: Path) -> Workspace:
    shutil.copytree(workspace.root, target)
    return Workspace(target)


def _timeless(data: Any) -> Any:
    """A model file's data without the fits' wall times (``seconds``), at any depth."""
    if isinstance(data, dict):
        return {key: _timeless(value) for key, value in data.items() if key != "seconds"}
    if isinstance(data, list):
        return [_timeless(value) for value in data]
    return data


def _models(workspace: Workspace) -> dict[str, dict[str, Any]]:
    return {
        name: _timeless(json.loads((workspace.root / "models" / f"{name}.json").read_text())) for name in MODEL_FILES
    }


def _sizes(workspace: Workspace) -> dict[str, dict[str, int]]:
    rows = workspace.sql(
        "SELECT segmentation, segment, count(*) AS n FROM memberships WHERE exited_at IS NULL "
        f"AND segmentation IN ({', '.join(repr(kind) for kind in KINDS)}) GROUP BY ALL"
    ).to_pylist()
    sizes: dict[str, dict[str, int]] = {}
    for row in rows:
        sizes.setdefault(row["segmentation"], {})[row["segment"]] = row["n"]
    return sizes


def _members(workspace: Workspace) -> set[tuple[str, str, str]]:
    """(person key, segmentation, segment) of every open predictive membership: the key names
    the person in both twins, where their UIDs differ."""
    rows = workspace.sql(
        "SELECT x.person_key, m.segmentation, m.segment FROM memberships AS m JOIN predictions AS x ON x.uid = m.uid "
        f"WHERE m.exited_at IS NULL AND m.segmentation IN ({', '.join(repr(kind) for kind in KINDS)})"
    ).to_pylist()
    return {(row["person_key"], row["segmentation"], row["segment"]) for row in rows}


def test_same_data_and_seed_give_the_same_models_and_segments(twins: tuple[Workspace, Workspace]) -> None:
    one, two = twins
    salts = [w.sql("SELECT value FROM workspace_settings WHERE key = 'uid_salt'").column(0)[0].as_py() for w in twins]
    assert salts[0] != salts[1]  # so every UID differs between the twins
    models = _models(one)
    assert models == _models(two)
    assert all(model["input_digest"] for model in models.values())
    assert {"churn_risk", "high_value", "survey", "lifestyle", "clv_tier"} <= set(_sizes(one))
    assert _sizes(one) == _sizes(two)
    members = _members(one)
    assert len({key for key, _, _ in members}) == one.sql("SELECT count(*) FROM profiles").column(0)[0].as_py()
    assert members == _members(two)  # each person in the same segments, ties in CLV included


def test_a_real_model_still_assigns_segments(twins: tuple[Workspace, Workspace]) -> None:
    one, _ = twins
    found = {item.model: item for item in one.models()}
    assert found["churn"].used and "beats chance" in found["churn"].why
    churn_risk = _sizes(one)["churn_risk"]
    assert churn_risk.get("unknown", 0) == 0 and {"low", "high"} <= set(churn_risk)


def _refuse(*args: Any, **kwargs: Any) -> NoReturn:
    raise AssertionError("a model was refitted on unchanged data")


def test_an_unchanged_rerun_reuses_every_model(
    twins: tuple[Workspace, Workspace], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = _copy(twins[0], tmp_path / "again")
    before = workspace.sql("SELECT * FROM predictions ORDER BY uid")
    for estimator in (BoostedClassifier, LifestyleModel, BetaGeo, GammaGamma):
        monkeypatch.setattr(estimator, "fit", _refuse)
    report = workspace.run(as_of=AS_OF, only="models")
    assert report.errors == []
    result = report.steps[0].details["models"]
    assert result.fitted == []
    assert set(result.reused) == set(MODEL_FILES)
    reasons = result.reused.values()
    assert all(reason.startswith("inputs unchanged since its fit as of 2025-12-31") for reason in reasons)
    assert workspace.sql("SELECT * FROM predictions ORDER BY uid").equals(before)


def _shuffle_survey_answers(workspace: Workspace, seed: int) -> None:
    """Deal the respondents' answers out again at random: the answer no longer says anything about the person."""
    with workspace.engine(write=True) as engine:
        rows = engine.fetch_arrow("SELECT source, record_id, segment FROM survey_responses ORDER BY source, record_id")
        answers = np.random.default_rng(seed).permutation(rows.column("segment").to_numpy(zero_copy_only=False))
        engine.register_arrow("_shuffled", rows.set_column(2, "segment", pa.array(answers, pa.string())))
        engine.execute(
            "UPDATE survey_responses AS s SET segment = x.segment FROM _shuffled AS x "
            "WHERE x.source = s.source AND x.record_id = s.record_id"
        )


def test_a_look_alike_of_shuffled_answers_assigns_nobody(twins: tuple[Workspace, Workspace], tmp_path: Path) -> None:
    workspace = _copy(twins[0], tmp_path / "shuffled")
    _shuffle_survey_answers(workspace, seed=3)
    models = workspace.run(as_of=AS_OF, only="models")
    assert models.errors == [] and "survey" in models.steps[0].details["models"].fitted
    warning = next(w for w in models.steps[0].warnings if w.startswith("model survey: not used:"))
    assert "cross-validated accuracy" in warning and "majority class" in warning
    summary = next(item for item in workspace.models() if item.model == "survey")
    assert not summary.used and "majority class" in summary.why and summary.quality.startswith("NOT USED")
    assert workspace.run(as_of=AS_OF, only="segment").errors == []
    rows = workspace.sql(
        "SELECT m.uid, m.segment, a.segment AS answer, x.survey_confidence FROM memberships AS m "
        "JOIN predictions AS x ON x.uid = m.uid LEFT JOIN (SELECT DISTINCT ON (r.uid) r.uid, s.segment "
        "FROM survey_responses AS s JOIN record_map AS r USING (source, record_id) ORDER BY r.uid, s.ts DESC, "
        "s.record_id DESC) AS a ON a.uid = m.uid WHERE m.segmentation = 'survey' AND m.exited_at IS NULL"
    ).to_pandas()
    others = rows[rows.answer.isna()]
    assert len(others) > 1_000
    assert (others.segment == "unknown").all() and others.survey_confidence.isna().all()
    respondents = rows[rows.answer.notna()]
    assert len(respondents) > 50 and (respondents.segment == respondents.answer).all()  # their own (shuffled) answers


def _scores_a_day_later(workspace: Workspace) -> tuple[int, int]:
    """(people whose churn or survey score moved, people) from AS_OF to the next day, with no new data."""
    columns = "uid, churn_probability, survey_confidence"
    before = {row["uid"]: row for row in workspace.sql(f"SELECT {columns} FROM predictions").to_pylist()}
    assert workspace.run(as_of=date(2026, 1, 1)).errors == []
    after = workspace.sql(f"SELECT {columns} FROM predictions").to_pylist()
    return sum(row != before[row["uid"]] for row in after), len(after)


def test_day_bins_keep_most_scores_still_from_one_day_to_the_next(
    twins: tuple[Workspace, Workspace], tmp_path: Path
) -> None:
    """In exact days the days-since features cross some tree's split every day (at 1M, 50–70 % of
    the scores moved); in bins, fewer than half as many scores move here."""
    binned = _copy(twins[0], tmp_path / "binned")
    saved = json.loads((binned.root / "models" / "churn.json").read_text())["metadata"]["binned"]
    edges = [7, 14, 30, 60, 90, 120, 180, 270, 365, 540, 730, 1095]
    assert saved == {
        name: edges for name in ("days_since_last_order", "days_since_first_order", "days_since_last_seen")
    }
    exact = _copy(twins[0], tmp_path / "exact")
    for workspace, settings in ((binned, ""), (exact, "days_since_bins = []\n")):
        with (workspace.root / "personae.toml").open("a", encoding="utf-8") as toml:
            toml.write(f"\n[models]\nrefit_every_days = 30\n{settings}")
    exact = Workspace(exact.root)  # the settings read again
    assert exact.run(as_of=AS_OF).errors == []  # refitted in exact days
    assert json.loads((exact.root / "models" / "churn.json").read_text())["metadata"]["binned"] == {}
    moved_exact, scored = _scores_a_day_later(exact)
    moved_binned, _ = _scores_a_day_later(Workspace(binned.root))
    assert moved_binned * 2 < moved_exact < scored  # 45 against 103 of 2,902 when written
