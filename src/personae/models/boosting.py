"""Gradient-boosted classifiers fitted with scikit-learn, kept and applied as JSON trees.

    model = BoostedClassifier(seed=7).fit(features, labels, as_of="2024-06-30")
    model.predict_proba(features)        # from params_ (the JSON trees), no sklearn estimator
    model.save(path); BoostedClassifier.load(path)

The fit is ``sklearn.ensemble.HistGradientBoostingClassifier``: it takes NaN natively
(missing values learn their own direction at every split) and fitted 200 rounds on
200 000 rows x 30 features in 2.6 s, where the classic ``GradientBoostingClassifier``
refuses NaN and, on the same rows with NaN as 0, took 22 s for 10 rounds (about 440 s for
200). Right after fitting, the trees are exported (:mod:`personae.models.trees`) and the
sklearn object is dropped: ``params_`` is the model, and probabilities computed from it
equal sklearn's bit for bit (same additions in the same order). Saved as::

    {"model": "boosted_classifier", "version": 1, "as_of": "2024-06-30",
     "settings": {"max_iter": 200, ...}, "params": {"feature_names": [...], "classes": [0, 1],
     "baseline": [-1.2], "learning_rate": 0.1, "trees": [[{...}], ...]},
     "fit": {"n": 5000, "class_counts": {...}, "iterations": 87, "seconds": 1.9},
     "report": {...}, "metadata": {...}}

``trees`` holds one list per boosting round, with one tree per class for three or more
classes (one in all for two). The raw score of class k is ``baseline[k]`` plus the leaf
values of its trees; probabilities are its logistic (two classes) or softmax.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Self

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit
from sklearn.ensemble import HistGradientBoostingClassifier

from personae.errors import ModelFitError
from personae.models.saved import SavedModel, as_of_text
from personae.models.trees import FloatArray, Tree, export_tree, walk_in_chunks

MODEL = "boosted_classifier"
FORMAT_VERSION = 1
_NUMERIC_KINDS = frozenset({"boolean", "integer", "floating", "mixed-integer-float", "decimal", "empty"})


@dataclasses.dataclass(frozen=True)
class BoostingSettings:
    """The hyperparameters of a :class:`BoostedClassifier` (saved with it)."""

    max_iter: int = 200
    learning_rate: float = 0.1
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 20
    l2_regularization: float = 0.0
    early_stopping: bool = True
    validation_fraction: float = 0.2
    n_iter_no_change: int = 10
    seed: int = 7
    min_rows: int = 50
    min_class_rows: int = 5


class BoostedClassifier(SavedModel):
    """Binary or multiclass gradient boosting; fitted state in ``params_``, persistence as JSON.

    ``early_stopping`` holds out ``validation_fraction`` of the rows (stratified, drawn from
    ``seed``) and stops after ``n_iter_no_change`` rounds without improvement of its log
    loss. A fit needs ``min_rows`` rows and at least two classes of ``min_class_rows`` each.
    """

    MODEL = MODEL
    FORMAT_VERSION = FORMAT_VERSION

    def __init__(
        self,
        *,
        max_iter: int = 200,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 31,
        min_samples_leaf: int = 20,
        l2_regularization: float = 0.0,
        early_stopping: bool = True,
        validation_fraction: float = 0.2,
        n_iter_no_change: int = 10,
        seed: int = 7,
        min_rows: int = 50,
        min_class_rows: int = 5,
    ) -> None:
        self.settings = BoostingSettings(
            max_iter=max_iter,
            learning_rate=learning_rate,
            max_leaf_nodes=max_leaf_nodes,
            min_samples_leaf=min_samples_leaf,
            l2_regularization=l2_regularization,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            seed=seed,
            min_rows=min_rows,
            min_class_rows=min_class_rows,
        )
        self.params_: dict[str, Any] = {}
        self.fit_: dict[str, Any] | None = None
        self.report_: dict[str, Any] = {}
        self.metadata_: dict[str, Any] = {}
        self.as_of_: str | None = None
        self._trees: list[list[Tree]] = []

    def __repr__(self) -> str:
        if not self.params_:
            return "BoostedClassifier(not fitted)"
        return (
            f"BoostedClassifier(classes={self.params_['classes']}, features={len(self.params_['feature_names'])}, "
            f"rounds={len(self.params_['trees'])})"
        )

    def sklearn_estimator(self) -> HistGradientBoostingClassifier:
        """The unfitted scikit-learn estimator :meth:`fit` trains (same settings and seed)."""
        s = self.settings
        return HistGradientBoostingClassifier(
            max_iter=s.max_iter,
            learning_rate=s.learning_rate,
            max_leaf_nodes=s.max_leaf_nodes,
            min_samples_leaf=s.min_samples_leaf,
            l2_regularization=s.l2_regularization,
            early_stopping=s.early_stopping,
            validation_fraction=s.validation_fraction if s.early_stopping else None,
            n_iter_no_change=s.n_iter_no_change,
            random_state=s.seed,
        )

    def fit(self, X: pd.DataFrame, y: ArrayLike, *, as_of: dt.date | str | None = None) -> Self:
        """Fit on numeric features ``X`` (NaN allowed) and labels ``y``, then keep only the exported trees."""
        start = time.perf_counter()
        names = _feature_names(X)
        matrix = feature_matrix(X, names)
        if not np.isfinite(matrix[~np.isnan(matrix)]).all():
            infinite = [name for name, col in zip(names, matrix.T, strict=True) if np.isinf(col).any()]
            raise ModelFitError(f"{MODEL}: feature(s) {infinite} have infinite values; replace them with NaN or a cap")
        labels = _labels(y, len(matrix))
        counts = self._check_classes(labels)
        try:
            estimator = self.sklearn_estimator().fit(matrix, labels)
        except ValueError as error:  # scikit-learn's report of a bad setting or an impossible split
            raise ModelFitError(f"{MODEL}: scikit-learn could not fit: {error}") from None
        self.params_ = export_params(estimator, names)
        self._trees = _compile(self.params_)
        self.fit_ = {
            "n": len(matrix),
            "class_counts": counts,
            "iterations": int(estimator.n_iter_),
            "seconds": round(time.perf_counter() - start, 3),
        }
        self.as_of_ = as_of_text(as_of)
        return self

    def _check_classes(self, labels: NDArray[Any]) -> dict[str, int]:
        values, counts = np.unique(labels, return_counts=True)
        table = {str(value): int(count) for value, count in zip(values.tolist(), counts, strict=True)}
        s = self.settings
        if len(labels) < s.min_rows:
            raise ModelFitError(
                f"{MODEL}: too little data: {len(labels)} row(s) ({table}), at least {s.min_rows} needed"
            )
        if len(values) < 2 or counts.min() < s.min_class_rows:
            raise ModelFitError(
                f"{MODEL}: y has {len(values)} class(es) with counts {table}; at least 2 classes with "
                f"{s.min_class_rows} row(s) each are needed; widen the training window or drop rare classes"
            )
        return table

    @property
    def classes_(self) -> NDArray[Any]:
        """The class labels, in the column order of :meth:`predict_proba`."""
        return np.asarray(self._fitted()["classes"])

    @property
    def feature_names_(self) -> list[str]:
        """The feature columns, in the order the model reads them."""
        return list(self._fitted()["feature_names"])

    def _fitted(self) -> dict[str, Any]:
        if not self.params_:
            raise ModelFitError(f"{MODEL}: the model is not fitted; call fit(...) or load(path) first")
        return self.params_

    def decision_function(self, X: pd.DataFrame | ArrayLike) -> FloatArray:
        """Raw scores, shape (rows, 1) for two classes or (rows, classes): baseline plus leaf values."""
        params = self._fitted()
        matrix = feature_matrix(X, params["feature_names"])
        raw = np.zeros((len(matrix), len(params["baseline"])), dtype=np.float64)
        raw += np.asarray(params["baseline"], dtype=np.float64)
        walk_in_chunks(self._trees, matrix, raw)
        return raw

    def predict_proba(self, X: pd.DataFrame | ArrayLike) -> FloatArray:
        """Class probabilities, shape (rows, classes); a DataFrame is read by feature name."""
        raw = self.decision_function(X)
        if raw.shape[1] == 1:
            proba = np.empty((len(raw), 2), dtype=np.float64)
            proba[:, 1] = expit(raw[:, 0])
            proba[:, 0] = 1 - proba[:, 1]
            return proba
        raw -= raw.max(axis=1, keepdims=True)
        np.exp(raw, out=raw)
        raw /= raw.sum(axis=1, keepdims=True)
        return raw

    def predict(self, X: pd.DataFrame | ArrayLike) -> NDArray[Any]:
        """The most probable class of each row."""
        labels: NDArray[Any] = self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        return labels

    def predict_proba_batches(self, batches: Iterable[pd.DataFrame]) -> Iterator[FloatArray]:
        """:meth:`predict_proba` of each batch in turn; holds one batch at a time."""
        for batch in batches:
            yield self.predict_proba(batch)

    def _payload(self) -> dict[str, Any]:
        return {
            "settings": dataclasses.asdict(self.settings),
            "params": self._fitted(),
            "fit": self.fit_,
            "report": self.report_,
            "metadata": self.metadata_,
        }

    @classmethod
    def _from_payload(cls, data: Mapping[str, Any]) -> Self:
        settings = data.get("settings") or {}
        fields = {field.name for field in dataclasses.fields(BoostingSettings)}
        if not isinstance(settings, Mapping) or not set(settings) <= fields:
            raise ModelFitError(f"saved {MODEL} model: 'settings' may only have the keys {sorted(fields)}")
        model = cls(**settings)
        params = data.get("params")
        keys = {"feature_names", "classes", "baseline", "learning_rate", "trees"}
        if not isinstance(params, Mapping) or set(params) != keys:
            raise ModelFitError(f"saved {MODEL} model: 'params' must have exactly the keys {sorted(keys)}")
        model._trees = _compile(params)
        model.params_ = dict(params)
        model.fit_ = data.get("fit")
        model.report_ = dict(data.get("report") or {})
        model.metadata_ = dict(data.get("metadata") or {})
        return model


def export_params(estimator: HistGradientBoostingClassifier, names: list[str]) -> dict[str, Any]:
    """A fitted sklearn estimator's model as JSON-ready ``params_``."""
    return {
        "feature_names": list(names),
        "classes": estimator.classes_.tolist(),
        "baseline": np.asarray(estimator._baseline_prediction, dtype=np.float64).reshape(-1).tolist(),
        "learning_rate": float(estimator.learning_rate),
        "trees": [[export_tree(predictor.nodes) for predictor in round_] for round_ in estimator._predictors],
    }


def _compile(params: Mapping[str, Any]) -> list[list[Tree]]:
    """The trees of ``params`` checked against its features and classes, ready to evaluate."""
    n_features, n_classes = len(params["feature_names"]), len(params["classes"])
    per_round = 1 if n_classes == 2 else n_classes
    if n_classes < 2 or len(params["baseline"]) != per_round:
        raise ModelFitError(
            f"saved {MODEL} model: {n_classes} class(es) need {per_round} baseline value(s), "
            f"got {len(params['baseline'])}; the file is corrupt, refit and save again"
        )
    rounds = params["trees"]
    if any(len(round_) != per_round for round_ in rounds):
        raise ModelFitError(f"saved {MODEL} model: every boosting round must hold {per_round} tree(s)")
    return [[Tree(tree, n_features) for tree in round_] for round_ in rounds]


def _feature_names(X: pd.DataFrame) -> list[str]:
    if not isinstance(X, pd.DataFrame):
        raise ModelFitError(f"{MODEL}: fit needs a pandas DataFrame of features, got {type(X).__name__}")
    names = list(X.columns)
    if not all(isinstance(name, str) for name in names):
        raise ModelFitError(f"{MODEL}: feature columns must be named by text, got {names[:5]}")
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ModelFitError(f"{MODEL}: duplicated feature column(s) {duplicated}; give each feature one column")
    if not names:
        raise ModelFitError(f"{MODEL}: X has no feature columns")
    return names


def feature_matrix(X: pd.DataFrame | ArrayLike, names: list[str]) -> FloatArray:
    """``X`` as a C-contiguous float64 matrix in the order of ``names`` (missing values as NaN).

    A DataFrame is read by column name (extra columns are ignored) and must hold numbers or
    booleans only; any other array must have exactly ``len(names)`` columns.
    """
    if isinstance(X, pd.DataFrame):
        absent = [name for name in names if name not in X.columns]
        if absent:
            raise ModelFitError(
                f"{MODEL}: X lacks the feature column(s) {absent}; pass the columns the model was fitted on"
            )
        frame = X[names]
        bad = [
            name
            for name in names
            if not (pd.api.types.is_numeric_dtype(frame[name]) or pd.api.types.is_bool_dtype(frame[name]))
            and pd.api.types.infer_dtype(frame[name], skipna=True) not in _NUMERIC_KINDS
        ]
        if bad:
            kinds = {name: str(frame[name].dtype) for name in bad}
            raise ModelFitError(f"{MODEL}: non-numeric feature column(s) {kinds}; pass numbers only (booleans as 0/1)")
        try:
            matrix = frame.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as error:
            raise ModelFitError(f"{MODEL}: features are not numeric ({error})") from None
    else:
        matrix = np.asarray(X, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != len(names):
            raise ModelFitError(
                f"{MODEL}: X must have shape (rows, {len(names)}) for features {names}, got shape {matrix.shape}"
            )
    return np.ascontiguousarray(matrix, dtype=np.float64)


def _labels(y: ArrayLike, rows: int) -> NDArray[Any]:
    labels = np.asarray(y)
    if labels.ndim != 1 or len(labels) != rows:
        raise ModelFitError(f"{MODEL}: y must hold one label per row of X ({rows}), got shape {labels.shape}")
    missing = pd.isna(labels)
    if missing.any():
        raise ModelFitError(f"{MODEL}: y has {int(missing.sum())} missing label(s); drop those rows first")
    if labels.dtype == object:
        kinds = {type(value).__name__ for value in labels}
        if len(kinds) > 1 or not kinds <= {"str", "int", "bool"}:
            raise ModelFitError(f"{MODEL}: y holds label types {sorted(kinds)}; use one type (0/1 or strings)")
    if labels.dtype.kind == "f":
        if not np.array_equal(labels, np.round(labels)):
            raise ModelFitError(f"{MODEL}: y has fractional values; labels must be classes such as 0/1 or strings")
        labels = labels.astype(np.int64)
    if labels.dtype.kind not in "biuUO":
        raise ModelFitError(f"{MODEL}: y of dtype {labels.dtype} is not a class label; use 0/1 or strings")
    return labels
