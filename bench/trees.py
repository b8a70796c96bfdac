"""Scoring with the saved boosted trees against scikit-learn's own ``predict_proba``.

    .venv/bin/python bench/trees.py [--rows 1450000] [--features 30] [--trees 200] [--repeat 3]

Fits one ``BoostedClassifier`` (``personae.models.boosting``: 200 rounds, no early stopping)
on 50,000 synthetic rows with 10 % missing values, keeps the fitted sklearn estimator beside
it, and scores ``--rows`` new rows with both, on one native thread (``threadpoolctl``, as the
models step runs on two cores). The baseline is sklearn's ``predict_proba`` on the same rows
in the same process: it walks every tree over the whole matrix in turn. personae rebuilds the
same trees from their JSON and walks them slice by slice (``models/trees.py``). The table
gives the median of ``--repeat`` runs, the ratio to the baseline, and whether the
probabilities are equal to the bit.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from personae.models.boosting import BoostedClassifier


def frame(rng: np.random.Generator, rows: int, features: int) -> pd.DataFrame:
    values = rng.normal(size=(rows, features))
    values[rng.random((rows, features)) < 0.1] = np.nan
    return pd.DataFrame(values, columns=[f"f{i}" for i in range(features)])


def timed(run: Callable[[], np.ndarray], repeat: int) -> tuple[float, list[float], np.ndarray]:
    seconds, result = [], np.empty(0)
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), seconds, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_450_000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--trees", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    train = frame(rng, 50_000, args.features)
    signal = np.nan_to_num(train.f0) + np.nan_to_num(train.f1) * np.nan_to_num(train.f2)
    labels = (signal + rng.normal(size=len(train)) > 0.5).astype(int)
    with threadpool_limits(1):
        model = BoostedClassifier(max_iter=args.trees, early_stopping=False)
        estimator = model.sklearn_estimator().fit(train.to_numpy(), labels)
        model.fit(train, labels)
        rows = frame(rng, args.rows, args.features)
        matrix = rows.to_numpy()
        base, base_runs, expected = timed(lambda: estimator.predict_proba(matrix), args.repeat)
        ours, our_runs, got = timed(lambda: model.predict_proba(rows), args.repeat)
    print(f"\n{args.rows:,} rows x {args.features} features, {args.trees} trees, 1 thread\n")
    print("| scorer | median s | runs s | ratio to sklearn | equal to the bit |")
    print("|---|---:|---|---:|---|")
    for name, median, runs, equal in (
        ("sklearn `predict_proba` (baseline)", base, base_runs, True),
        ("personae JSON trees, slices of 4,096 rows", ours, our_runs, bool(np.array_equal(got, expected))),
    ):
        listed = ", ".join(f"{value:.2f}" for value in runs)
        print(f"| {name} | {median:.2f} | {listed} | {median / base:.2f}× | {'yes' if equal else 'no'} |")


if __name__ == "__main__":
    main()
