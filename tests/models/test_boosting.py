"""Boosted classifiers saved as JSON trees: exact agreement with scikit-learn (binary and
multiclass, with NaNs), persistence, reproducibility, input errors, and the validation
reports against independent computations."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedKFold

from personae.errors import ModelFitError
from personae.models.boosting import BoostedClassifier, export_params
from personae.models.evaluation import (
    binary_report,
    confident_labels,
    cross_validated_accuracy,
    multiclass_report,
)
from personae.models.trees import CHUNK_ROWS

FEATURES = [f"f{i}" for i in range(6)]


def _features(rng: np.random.Generator, n: int, scale: float = 1.0) -> pd.DataFrame:
    X = rng.normal(size=(n, len(FEATURES))) * scale
    X[rng.random(X.shape) < 0.15] = np.nan
    X[:, 4] = np.where(rng.random(n) < 0.5, np.nan, 1.0)  # only missingness carries information
    X[:, 5] = rng.integers(0, 2, n)  # a 0/1 flag
    return pd.DataFrame(X, columns=FEATURES)


def _score(frame: pd.DataFrame) -> np.ndarray:
    values = frame.to_numpy()
    score: np.ndarray = np.nan_to_num(values[:, 0]) - 0.7 * np.nan_to_num(values[:, 1])
    score += 1.2 * np.isnan(values[:, 4]) - 0.6
    return score


def _binary(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, np.ndarray]:
    frame = _features(rng, n)
    return frame, (_score(frame) + rng.normal(size=n) > 0).astype(np.int64)


def _multiclass(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, np.ndarray]:
    frame = _features(rng, n)
    bins = np.digitize(_score(frame) + rng.normal(size=n) * 0.7, [-1.0, 0.0, 1.0])
    return frame, np.array(["adventurer", "homebody", "saver", "trendsetter"])[bins]


@pytest.fixture(scope="module")
def binary() -> tuple[pd.DataFrame, np.ndarray, BoostedClassifier]:
    frame, y = _binary(np.random.default_rng(1), 3000)
    return frame, y, BoostedClassifier(max_iter=60, seed=3).fit(frame, y, as_of="2024-06-30")


@pytest.fixture(scope="module")
def multiclass() -> tuple[pd.DataFrame, np.ndarray, BoostedClassifier]:
    frame, y = _multiclass(np.random.default_rng(2), 3000)
    return frame, y, BoostedClassifier(max_iter=40, seed=3).fit(frame, y)


@pytest.fixture(scope="module")
def unseen() -> pd.DataFrame:
    """Wider than the training data, NaN in every column, and infinities; more rows than one
    slice of the tree walk (trees.CHUNK_ROWS), the last slice a partial one."""
    frame = _features(np.random.default_rng(9), 2 * CHUNK_ROWS + 808, scale=3.0)
    frame.iloc[:50, 0] = np.inf
    frame.iloc[50:100, 1] = -np.inf
    return frame


def _sklearn_twin(model: BoostedClassifier, frame: pd.DataFrame, y: np.ndarray) -> HistGradientBoostingClassifier:
    return model.sklearn_estimator().fit(frame.to_numpy(), y)


@pytest.mark.parametrize("case", ["binary", "multiclass"])
def test_probabilities_equal_sklearn(case: str, request: pytest.FixtureRequest, unseen: pd.DataFrame) -> None:
    frame, y, model = request.getfixturevalue(case)
    estimator = _sklearn_twin(model, frame, y)
    for X in (frame, unseen):
        expected = estimator.predict_proba(X.to_numpy())
        assert np.abs(model.predict_proba(X) - expected).max() <= 1e-9
        assert np.array_equal(model.predict(X), estimator.predict(X.to_numpy()))
    # The export alone (same sklearn object, no refit) reproduces it bit for bit.
    exported = BoostedClassifier.from_dict({**model.to_dict(), "params": export_params(estimator, FEATURES)})
    assert np.array_equal(exported.predict_proba(unseen), estimator.predict_proba(unseen.to_numpy()))
    assert list(model.classes_) == list(estimator.classes_)


def test_export_covers_missing_value_splits(binary: tuple[pd.DataFrame, np.ndarray, BoostedClassifier]) -> None:
    trees = [tree for round_ in binary[2].params_["trees"] for tree in round_]
    internal = [
        (threshold, missing_left)
        for tree in trees
        for feature, threshold, missing_left in zip(
            tree["feature"], tree["threshold"], tree["missing_left"], strict=True
        )
        if feature >= 0
    ]
    assert any(threshold is None for threshold, _ in internal), "a split on NaN (infinite threshold)"
    assert {missing_left for _, missing_left in internal} == {0, 1}
    leaves = [(tree["left"][i], tree["right"][i]) for tree in trees for i, f in enumerate(tree["feature"]) if f < 0]
    assert set(leaves) == {(-1, -1)}


def test_fitted_state_is_json_only(binary: tuple[pd.DataFrame, np.ndarray, BoostedClassifier]) -> None:
    model = binary[2]
    assert not any(isinstance(value, BaseEstimator) for value in vars(model).values())
    json.dumps(model.params_, allow_nan=False)
    assert model.feature_names_ == FEATURES
    assert model.fit_ is not None and model.fit_["n"] == 3000
    assert sum(model.fit_["class_counts"].values()) == 3000


def test_json_round_trip(
    multiclass: tuple[pd.DataFrame, np.ndarray, BoostedClassifier], unseen: pd.DataFrame, tmp_path: Path
) -> None:
    model = multiclass[2]
    model.report_ = {"accuracy": 0.5}
    model.metadata_ = {"categories": ["books"]}
    path = tmp_path / "survey.json"
    model.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert {key: data[key] for key in ("model", "version", "as_of")} == {
        "model": "boosted_classifier",
        "version": 1,
        "as_of": None,
    }
    loaded = BoostedClassifier.load(path)
    assert np.array_equal(loaded.predict_proba(unseen), model.predict_proba(unseen))
    assert loaded.report_ == {"accuracy": 0.5} and loaded.metadata_ == {"categories": ["books"]}
    assert loaded.settings == model.settings and loaded.to_dict() == data


def test_as_of_saved(binary: tuple[pd.DataFrame, np.ndarray, BoostedClassifier]) -> None:
    assert BoostedClassifier.from_dict(binary[2].to_dict()).as_of_ == "2024-06-30"


def test_refuses_other_models_and_versions(
    binary: tuple[pd.DataFrame, np.ndarray, BoostedClassifier], tmp_path: Path
) -> None:
    data = binary[2].to_dict()
    with pytest.raises(ModelFitError, match="not a saved boosted_classifier model: 'model' is 'bgnbd'"):
        BoostedClassifier.from_dict({**data, "model": "bgnbd"})
    with pytest.raises(ModelFitError, match="format version 2"):
        BoostedClassifier.from_dict({**data, "version": 2})
    broken = json.loads(json.dumps(data))
    broken["params"]["trees"][0][0]["left"][0] = 0
    with pytest.raises(ModelFitError, match="corrupt"):
        BoostedClassifier.from_dict(broken)
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelFitError, match="invalid JSON"):
        BoostedClassifier.load(tmp_path / "bad.json")


def test_reproducible_from_seed(binary: tuple[pd.DataFrame, np.ndarray, BoostedClassifier]) -> None:
    frame, y, model = binary
    again = BoostedClassifier(max_iter=60, seed=3).fit(frame, y, as_of="2024-06-30")
    assert again.params_ == model.params_
    other = BoostedClassifier(max_iter=60, seed=4).fit(frame, y)
    assert other.params_ != model.params_


def test_batches_and_input_kinds(binary: tuple[pd.DataFrame, np.ndarray, BoostedClassifier]) -> None:
    frame, _, model = binary
    whole = model.predict_proba(frame)
    batches = list(model.predict_proba_batches(frame.iloc[i : i + 700] for i in range(0, len(frame), 700)))
    assert [len(batch) for batch in batches] == [700] * 4 + [200]
    assert np.array_equal(np.vstack(batches), whole)
    # Extra and reordered columns are ignored; nullable and boolean columns read as numbers.
    mixed = frame[FEATURES[::-1]].assign(uid="x")
    mixed["f5"] = frame["f5"].astype("boolean")
    mixed["f2"] = pd.Series([None if np.isnan(v) else v for v in frame["f2"]], dtype=object)
    assert np.array_equal(model.predict_proba(mixed), whole)
    assert np.array_equal(model.predict_proba(frame.to_numpy()), whole)


def test_too_little_data() -> None:
    frame, y = _binary(np.random.default_rng(5), 40)
    with pytest.raises(ModelFitError, match=r"40 row\(s\).*at least 50 needed"):
        BoostedClassifier().fit(frame, y)
    frame, _ = _binary(np.random.default_rng(5), 200)
    with pytest.raises(ModelFitError, match=r"1 class\(es\) with counts \{'0': 200\}; at least 2 classes"):
        BoostedClassifier().fit(frame, np.zeros(200, dtype=int))
    rare = np.where(np.arange(200) < 3, "rare", "common")
    with pytest.raises(ModelFitError, match=r"'rare': 3.*5 row\(s\) each"):
        BoostedClassifier().fit(frame, rare)


def test_small_fit_has_stumps_and_still_agrees() -> None:
    frame, y = _binary(np.random.default_rng(6), 60)
    model = BoostedClassifier(max_iter=5, min_samples_leaf=30).fit(frame, y)
    assert any(len(round_[0]["value"]) == 1 for round_ in model.params_["trees"])  # a leaf-only tree
    expected = _sklearn_twin(model, frame, y).predict_proba(frame.to_numpy())
    assert np.array_equal(model.predict_proba(frame), expected)
    assert model.predict_proba(frame.iloc[:0]).shape == (0, 2)
    with pytest.raises(ModelFitError, match=r"scikit-learn could not fit: .*learning_rate"):
        BoostedClassifier(learning_rate=-1.0).fit(frame, y)


def test_bad_inputs(binary: tuple[pd.DataFrame, np.ndarray, BoostedClassifier]) -> None:
    frame, y, model = binary
    text = frame.assign(city="Lyon", joined=pd.Timestamp("2024-01-01"))
    with pytest.raises(
        ModelFitError, match=r"non-numeric feature column\(s\) \{'city': '(str|object)', 'joined': 'datetime64"
    ):
        BoostedClassifier().fit(text, y)
    with pytest.raises(ModelFitError, match=r"lacks the feature column\(s\) \['f3'\]"):
        model.predict_proba(frame.drop(columns="f3"))
    with pytest.raises(ModelFitError, match="missing label"):
        BoostedClassifier().fit(frame, np.where(np.arange(len(y)) == 0, np.nan, y))
    with pytest.raises(ModelFitError, match=r"infinite values"):
        BoostedClassifier().fit(frame.assign(f0=np.inf), y)
    with pytest.raises(ModelFitError, match="not fitted"):
        BoostedClassifier().predict_proba(frame)


def test_binary_report_perfect_ranking() -> None:
    y = np.r_[np.ones(100, dtype=int), np.zeros(900, dtype=int)]
    p = np.linspace(0.99, 0.01, 1000)
    report = binary_report(y, p)
    assert report["auc"] == 1.0 and report["base_rate"] == 0.1 and report["n"] == 1000
    lifts = [row["lift"] for row in report["deciles"]]
    assert lifts == pytest.approx([10.0] + [0.0] * 9)
    assert report["deciles"][1]["cumulative_lift"] == pytest.approx(5.0)
    assert report["deciles"][-1]["cumulative_lift"] == pytest.approx(1.0)
    assert report["brier"] == pytest.approx(np.mean((p - y) ** 2))


def test_binary_report_known_case_and_calibration() -> None:
    report = binary_report([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert report["auc"] == pytest.approx(0.75)  # 3 of the 4 positive-negative pairs ordered right
    rng = np.random.default_rng(0)
    p = rng.random(1234)
    y = (rng.random(1234) < p).astype(int)
    report = binary_report(y, p)
    deciles = report["deciles"]
    assert sum(row["count"] for row in deciles) == 1234
    assert [row["count"] for row in deciles] == [124] * 4 + [123] * 6
    order = np.argsort(-p)
    top = order[:124]
    assert deciles[0]["mean_predicted"] == pytest.approx(p[top].mean())
    assert deciles[0]["observed_rate"] == pytest.approx(y[top].mean())
    assert all(a["min_predicted"] >= b["max_predicted"] for a, b in itertools.pairwise(deciles))
    # Calibrated by construction: each decile's observed rate is near its mean prediction.
    assert all(abs(row["observed_rate"] - row["mean_predicted"]) < 0.15 for row in deciles)
    with pytest.raises(ModelFitError, match="both outcomes"):
        binary_report([1, 1, 1], [0.2, 0.3, 0.4])


def test_multiclass_report_numbers() -> None:
    truth = ["a", "a", "b", "b", "c", "c"]
    predicted = ["a", "b", "b", "b", "a", "c"]
    proba = np.array(
        [[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.5, 0.2, 0.3], [0.1, 0.1, 0.8]]
    )
    report = multiclass_report(truth, predicted, proba, np.array(["a", "b", "c"]))
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert report["per_class"]["a"] == {"precision": 0.5, "recall": 0.5, "support": 2}
    assert report["per_class"]["b"] == {"precision": pytest.approx(2 / 3), "recall": 1.0, "support": 2}
    expected_loss = -np.mean(np.log([0.8, 0.3, 0.8, 0.7, 0.3, 0.8]))  # probability of the true class
    assert report["log_loss"] == pytest.approx(expected_loss)
    with pytest.raises(ModelFitError, match=r"label\(s\) \['z'\]"):
        multiclass_report(["z"], ["a"], [[1.0, 0.0, 0.0]], ["a", "b", "c"])


class _FirstFeatureSign:
    """A model whose per-fold accuracy is easy to recompute: 'pos' when f0 > 0."""

    def fit(self, X: pd.DataFrame, y: Any) -> _FirstFeatureSign:
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.where(X["f0"].to_numpy() > 0, "pos", "neg")


def test_cross_validated_accuracy() -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"f0": rng.normal(size=300)})
    y = np.where(frame["f0"] + rng.normal(size=300) * 0.5 > 0, "pos", "neg")
    result = cross_validated_accuracy(_FirstFeatureSign, frame, y, folds=4, seed=11)
    hits = np.where(frame["f0"] > 0, "pos", "neg") == y
    folds = StratifiedKFold(n_splits=4, shuffle=True, random_state=11).split(frame, y)
    expected = [hits[test].mean() for _, test in folds]
    assert result["per_fold"] == pytest.approx(expected)
    assert result["mean"] == pytest.approx(np.mean(expected)) and result["std"] == pytest.approx(np.std(expected))
    assert cross_validated_accuracy(_FirstFeatureSign, frame, y, folds=4, seed=11) == result
    with pytest.raises(ModelFitError, match="5 folds need at least 2 classes with 5 row"):
        cross_validated_accuracy(_FirstFeatureSign, frame.iloc[:4], ["pos", "neg", "pos", "neg"])


def test_cross_validated_boosting(multiclass: tuple[pd.DataFrame, np.ndarray, BoostedClassifier]) -> None:
    frame, y, _ = multiclass
    result = cross_validated_accuracy(lambda: BoostedClassifier(max_iter=15), frame, y, folds=3)
    assert len(result["per_fold"]) == 3 and 0.5 < result["mean"] <= 1.0


def test_confident_labels_threshold() -> None:
    proba = np.array([[0.6, 0.3, 0.1], [0.4, 0.35, 0.25], [0.1, 0.2, 0.7], [0.5, 0.5, 0.0]])
    labels, confidence = confident_labels(proba, np.array(["a", "b", "c"]), 0.5)
    assert labels.tolist() == ["a", "unknown", "c", "a"]  # 0.5 reaches the threshold; ties take the first class
    assert confidence.tolist() == [0.6, 0.4, 0.7, 0.5]
    assert confident_labels(proba, ["a", "b", "c"], 0.0)[0].tolist() == ["a", "a", "c", "a"]
    assert set(confident_labels(proba, ["a", "b", "c"], 1.0)[0]) == {"unknown"}
    assert confident_labels(proba[:, :2], [0, 1], 0.45)[0].tolist() == ["0", "unknown", "unknown", "0"]
    with pytest.raises(ModelFitError, match="threshold must be in"):
        confident_labels(proba, ["a", "b", "c"], 1.5)
