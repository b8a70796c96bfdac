"""Validation reports for classifiers, cross-validated accuracy and confident labels.

Every report is plain JSON-ready data, saved with the model it describes:

- :func:`binary_report`: AUC, Brier score, base rate and a table of predicted-probability
  deciles (highest first) with calibration (mean predicted vs observed rate) and lift;
- :func:`multiclass_report`: accuracy, log loss, per-class precision and recall, confusion matrix;
- :func:`cross_validated_accuracy`: stratified k-fold accuracy of a model factory;
- :func:`confident_labels`: the most probable class, or ``"unknown"`` below a confidence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from personae.errors import ModelFitError

FloatArray = NDArray[np.float64]
UNKNOWN = "unknown"
DECILES = 10


class Classifier(Protocol):
    """What :func:`cross_validated_accuracy` needs of a model."""

    def fit(self, X: pd.DataFrame, y: ArrayLike) -> Any: ...

    def predict(self, X: pd.DataFrame) -> NDArray[Any]: ...


def binary_report(y_true: ArrayLike, p: ArrayLike) -> dict[str, Any]:
    """How well probabilities ``p`` of the positive class rank and match the 0/1 outcomes ``y_true``.

    Rows are sorted by ``p``, highest first (ties keep their input order), and cut into ten
    groups of equal size (sizes differ by at most one). For each decile: ``count``, the range
    and ``mean_predicted`` of ``p``, ``observed_rate`` (share of positives), ``lift``
    (observed rate / overall rate) and ``cumulative_lift`` (the same for deciles 1..d together).
    """
    y = np.asarray(y_true)
    if y.dtype == bool:
        y = y.astype(np.int64)
    prob = np.asarray(p, dtype=np.float64)
    if y.ndim != 1 or prob.shape != y.shape:
        raise ModelFitError(f"binary report: y_true {y.shape} and p {prob.shape} must be 1-d of one length")
    if not np.isin(y, (0, 1)).all():
        raise ModelFitError("binary report: y_true must hold 0/1 (or booleans) only")
    if not (np.isfinite(prob).all() and ((prob >= 0) & (prob <= 1)).all()):
        raise ModelFitError("binary report: p must hold probabilities in [0, 1]")
    outcome = y.astype(np.float64)
    n, positives = len(outcome), int(outcome.sum())
    if positives in (0, n):
        raise ModelFitError(
            f"binary report: y_true has {positives} positive(s) of {n}; AUC and lift need both outcomes in the sample"
        )
    base_rate = positives / n
    order = np.argsort(-prob, kind="stable")
    deciles: list[dict[str, Any]] = []
    seen = found = 0
    for number, rows in enumerate(np.array_split(order, DECILES), start=1):
        if rows.size == 0:
            continue
        rate = float(outcome[rows].mean())
        seen += rows.size
        found += int(outcome[rows].sum())
        deciles.append(
            {
                "decile": number,
                "count": int(rows.size),
                "min_predicted": float(prob[rows].min()),
                "max_predicted": float(prob[rows].max()),
                "mean_predicted": float(prob[rows].mean()),
                "observed_rate": rate,
                "lift": rate / base_rate,
                "cumulative_lift": found / seen / base_rate,
            }
        )
    return {
        "n": n,
        "positives": positives,
        "base_rate": base_rate,
        "auc": float(roc_auc_score(y, prob)),
        "brier": float(np.mean((prob - outcome) ** 2)),
        "deciles": deciles,
    }


def multiclass_report(
    y_true: ArrayLike, y_pred: ArrayLike, proba: ArrayLike, classes: Sequence[Any] | NDArray[Any]
) -> dict[str, Any]:
    """Accuracy, log loss, per-class precision/recall/support and the confusion matrix.

    ``proba`` has one column per entry of ``classes``; ``confusion[i][j]`` counts rows of true
    class ``classes[i]`` predicted as ``classes[j]``. Precision of a never-predicted class is null.
    """
    names = [_plain(value) for value in np.asarray(classes).tolist()]
    truth, predicted = _codes("y_true", y_true, names), _codes("y_pred", y_pred, names)
    probabilities = np.asarray(proba, dtype=np.float64)
    n = len(truth)
    if predicted.shape != truth.shape or probabilities.shape != (n, len(names)):
        raise ModelFitError(
            f"multiclass report: y_true {truth.shape}, y_pred {predicted.shape} and proba {probabilities.shape} "
            f"must describe the same {n} rows and {len(names)} classes"
        )
    if n == 0:
        raise ModelFitError("multiclass report: no rows to evaluate")
    confusion = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(confusion, (truth, predicted), 1)
    per_class = {}
    for index, name in enumerate(names):
        hits, support, guessed = (
            int(confusion[index, index]),
            int(confusion[index].sum()),
            int(confusion[:, index].sum()),
        )
        per_class[str(name)] = {
            "precision": hits / guessed if guessed else None,
            "recall": hits / support if support else None,
            "support": support,
        }
    chosen = np.clip(probabilities[np.arange(n), truth], 1e-15, 1.0)
    return {
        "n": n,
        "accuracy": float(np.trace(confusion) / n),
        "log_loss": float(-np.log(chosen).mean()),
        "classes": names,
        "per_class": per_class,
        "confusion": confusion.tolist(),
    }


def cross_validated_accuracy(
    make_model: Callable[[], Classifier], X: pd.DataFrame, y: ArrayLike, folds: int = 5, seed: int = 7
) -> dict[str, Any]:
    """Accuracy of ``make_model()`` fitted on k-1 stratified folds and scored on the k-th, for each fold."""
    labels = np.asarray(y)
    if len(labels) != len(X):
        raise ModelFitError(f"cross-validation: X has {len(X)} rows but y has {len(labels)} labels")
    values, counts = np.unique(labels, return_counts=True)
    if folds < 2 or len(values) < 2 or counts.min() < folds:
        table = {str(value): int(count) for value, count in zip(values.tolist(), counts, strict=True)}
        raise ModelFitError(
            f"cross-validation: {folds} folds need at least 2 classes with {max(folds, 2)} row(s) each; "
            f"class counts are {table}; use fewer folds or drop rare classes"
        )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = []
    for train, test in splitter.split(np.zeros(len(labels)), labels):
        model = make_model()
        model.fit(X.iloc[train], labels[train])
        scores.append(float(np.mean(np.asarray(model.predict(X.iloc[test])) == labels[test])))
    return {
        "folds": folds,
        "seed": seed,
        "n": len(labels),
        "mean": float(np.mean(scores)),
        "std": float(np.std(scores)),
        "per_fold": scores,
    }


def confident_labels(
    proba: ArrayLike, classes: Sequence[Any] | NDArray[Any], threshold: float
) -> tuple[NDArray[np.object_], FloatArray]:
    """The most probable class of each row (as text) and its probability; ``"unknown"`` below ``threshold``.

    A row whose top probability equals ``threshold`` gets its class.
    """
    probabilities = np.asarray(proba, dtype=np.float64)
    names = [str(value) for value in np.asarray(classes).tolist()]
    if probabilities.ndim != 2 or not names or probabilities.shape[1] != len(names):
        raise ModelFitError(f"confident labels: proba {probabilities.shape} must have one column per class {names}")
    if UNKNOWN in names:
        raise ModelFitError(f"confident labels: a class is named {UNKNOWN!r}, which marks low confidence; rename it")
    if not 0 <= threshold <= 1:
        raise ModelFitError(f"confident labels: threshold must be in [0, 1], got {threshold!r}")
    best = np.argmax(probabilities, axis=1)
    confidence = probabilities[np.arange(len(best)), best]
    labels: NDArray[np.object_] = np.asarray(names, dtype=object)[best]
    labels[confidence < threshold] = UNKNOWN
    return labels, confidence


def _plain(value: Any) -> Any:
    """A class label as JSON-ready data (numpy scalars become Python ones)."""
    return value.item() if isinstance(value, np.generic) else value


def _codes(name: str, values: ArrayLike, classes: list[Any]) -> NDArray[np.intp]:
    """``values`` as indices into ``classes``; unknown labels are named."""
    index = {value: position for position, value in enumerate(classes)}
    items = np.asarray(values).tolist()
    strange = sorted({str(item) for item in items if item not in index})
    if strange:
        raise ModelFitError(
            f"multiclass report: {name} has label(s) {strange[:5]} that are not among the classes {classes}"
        )
    return np.asarray([index[item] for item in items], dtype=np.intp)
