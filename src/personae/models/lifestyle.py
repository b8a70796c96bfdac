"""Lifestyles: clusters of what people buy, from their category shares (the estimator and
its part in the models step; the ``lifestyle`` segmentation reads its scores from ``predictions``).

Each buyer with enough orders is a vector of category shares (share of line revenue per
category, summing to 1). :class:`LifestyleModel` clusters the vectors with k-means after a
square-root (Hellinger) transform, which weighs a small category going from 0 to 5 % more
than a big one going from 60 to 65 %, as compositional data need. k is chosen from a range:

1. every k is fitted on a sample of at most ``sample`` rows and scored by its silhouette;
2. its stability is the mean adjusted Rand index (ARI) between the clusterings of
   ``bootstraps`` bootstrap resamples, compared pairwise on the rows both resamples hold;
3. the chosen k has the best silhouette among those whose mean ARI reaches
   ``stability_threshold``; when none does, the most stable k is chosen and the report says so,
   and in the models step such a model is saved but not used: its clusters change with the
   sample, so nobody gets a lifestyle from it (``unknown``, see :mod:`personae.models.verdict`).

In the models step the buyers are taken in person-key order (:mod:`personae.models.features`),
so the sample, the bootstrap resamples and k-means's starts depend on the data and the seed,
not on the UID salt.

The final centroids are refitted on every row. Clusters are numbered largest first and
named from their distinctive categories: those whose mean share in the cluster most
exceeds their mean share over everyone (lift), such as ``"kitchen & grocery"``. The fitted
model is plain JSON, and :meth:`LifestyleModel.predict` needs numpy only::

    {"model": "lifestyle", "version": 1, "as_of": "2025-12-31",
     "params": {"k": 6, "transform": "sqrt", "categories": [...], "centroids": [[...], ...],
                "names": [...], "profiles": [[...], ...], "mean_shares": [...], "sizes": [...]},
     "report": {"chosen_k": 6, "rule": "...", "per_k": [{"k": 2, "silhouette": 0.22, ...}, ...]}}
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from functools import partial
from typing import Any, Self

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray

from personae.engine.sql import literal
from personae.errors import ModelFitError
from personae.models.clustering import TRANSFORMS, FloatArray, KChoice, fit_centroids, nearest, scan_k, transform_shares
from personae.models.context import ModelContext, ModelsResult, Plan, fit_or_reuse, input_digest
from personae.models.features import KEY, category_column, keyed_sql, steady_frame
from personae.models.saved import SavedModel, as_of_text
from personae.models.scoring import score_into_table
from personae.models.verdict import Verdict, stability_verdict

MODEL = "lifestyle"
FORMAT_VERSION = 1
UNCLASSIFIED = "unclassified"
"""The segment of people with too few orders, or no share in any category the model knows."""
GENERALISTS = "all-rounders"
"""The name of a cluster that no category distinguishes (no lift of at least ``MIN_LIFT``)."""
MIN_LIFT = 1.5
NAME_CATEGORIES = 2
PARAM_KEYS = frozenset({"k", "transform", "categories", "centroids", "names", "profiles", "mean_shares", "sizes"})


def share_matrix_sql(min_orders: int = 2, *, shares: str = "trait_shares", people: str = "profiles") -> str:
    """``uid, category, share`` of every buyer in ``people`` with at least ``min_orders`` orders.

    Rows come from the ``category`` dimension of ``shares`` (share of line revenue) and only
    positive shares are kept; pivot them with :func:`pivot_shares`. People left out get the
    segment :data:`UNCLASSIFIED`.
    """
    if min_orders < 1:
        raise ValueError(f"min_orders={min_orders}: a lifestyle needs at least one order")
    return (
        f"SELECT s.uid, s.value AS category, s.share FROM {shares} AS s "
        f"JOIN {people} AS p ON p.uid = s.uid "
        f"WHERE s.dimension = {literal('category')} AND p.orders >= {int(min_orders)} AND s.share > 0 "
        "ORDER BY s.uid, s.value"
    )


def pivot_shares(rows: pd.DataFrame) -> pd.DataFrame:
    """Long ``uid, category, share`` rows (from :func:`share_matrix_sql`) as a matrix: index uid, a column
    per category (sorted), 0 where a person has no share."""
    matrix = rows.pivot_table(index="uid", columns="category", values="share", aggfunc="sum", fill_value=0.0)
    matrix.columns.name = None
    return matrix.sort_index(axis=1).astype(np.float64)


class LifestyleModel(SavedModel):
    """k-means lifestyles: ``LifestyleModel().fit(shares).params_`` -> k, centroids, names.

    ``shares`` has one row per person (index uid) and a column per category; rows are
    renormalised to sum to 1. ``k_range`` is the inclusive range of k tried; ``transform``
    is ``"sqrt"`` (Hellinger, the default) or ``"none"``. Fewer than ``min_rows`` people or
    fewer than two categories raise :class:`~personae.errors.ModelFitError`.
    """

    MODEL = MODEL
    FORMAT_VERSION = FORMAT_VERSION

    def __init__(
        self,
        *,
        k_range: tuple[int, int] = (2, 10),
        transform: str = "sqrt",
        stability_threshold: float = 0.8,
        bootstraps: int = 10,
        sample: int = 10_000,
        n_init: int = 10,
        min_rows: int = 50,
    ) -> None:
        low, high = k_range
        if not 2 <= low <= high:
            raise ValueError(f"k_range={k_range}: need 2 <= low <= high")
        if transform not in TRANSFORMS:
            raise ValueError(f"transform={transform!r}: choose one of {sorted(TRANSFORMS)}")
        if bootstraps < 2:
            raise ValueError(f"bootstraps={bootstraps}: stability compares resamples, so at least 2 are needed")
        self.k_range = (low, high)
        self.transform = transform
        self.stability_threshold = stability_threshold
        self.bootstraps = bootstraps
        self.sample = sample
        self.n_init = n_init
        self.min_rows = min_rows
        self.params_: dict[str, Any] = {}
        self.report_: dict[str, Any] = {}
        self.as_of_: str | None = None

    def __repr__(self) -> str:
        if not self.params_:
            return "LifestyleModel(not fitted)"
        return f"LifestyleModel(k={self.params_['k']}, names={self.params_['names']})"

    @property
    def names_(self) -> list[str]:
        """The cluster names, in cluster order (largest cluster first)."""
        names: list[str] = self._fitted()["names"]
        return names

    def fit(self, shares: pd.DataFrame, *, seed: int = 7, as_of: dt.date | str | None = None) -> LifestyleModel:
        """Choose k, fit the centroids and name the clusters; ``as_of`` is saved with the model."""
        categories, values = _checked(shares, self.min_rows)
        rng = np.random.default_rng(seed)
        points = transform_shares(values, self.transform)
        low, high = self.k_range
        high = min(high, len(points) - 1)
        if high < low:
            raise ModelFitError(f"{MODEL}: too little data: {len(points)} people cannot hold {low} clusters")
        choice = scan_k(
            points,
            range(low, high + 1),
            rng,
            threshold=self.stability_threshold,
            bootstraps=self.bootstraps,
            sample=self.sample,
            n_init=self.n_init,
        )
        centroids, labels = fit_centroids(points, choice.k, seed=int(rng.integers(2**31 - 1)), n_init=self.n_init)
        profiles = np.vstack([values[labels == c].mean(axis=0) for c in range(choice.k)])
        mean_shares = values.mean(axis=0)
        self.params_ = {
            "k": choice.k,
            "transform": self.transform,
            "categories": categories,
            "centroids": centroids.tolist(),
            "names": cluster_names(profiles, mean_shares, categories),
            "profiles": profiles.tolist(),
            "mean_shares": mean_shares.tolist(),
            "sizes": np.bincount(labels, minlength=choice.k).tolist(),
        }
        self.report_ = _report(choice, self.stability_threshold, len(points), seed)
        self.as_of_ = as_of_text(as_of)
        return self

    def predict(self, shares: pd.DataFrame) -> NDArray[np.intp]:
        """The cluster of each row (nearest centroid); -1 for rows with no share in a known category."""
        return self._nearest(shares)[0]

    def assign(self, shares: pd.DataFrame) -> pd.DataFrame:
        """``uid, segment, score`` per row: the cluster's name and how clearly the person belongs to it.

        ``score`` is ``1 - d1 / d2`` with d1, d2 the distances to the nearest and the second
        nearest centroid: 1 at the centroid, 0 on the border with another cluster. Rows with
        no share in a category the model knows get :data:`UNCLASSIFIED` and score 0.
        """
        labels, score = self._nearest(shares)
        names = np.array([*self.names_, UNCLASSIFIED], dtype=object)
        return pd.DataFrame(
            {"uid": shares.index.to_numpy(), "segment": names[labels], "score": score},
        )

    def _nearest(self, shares: pd.DataFrame) -> tuple[NDArray[np.intp], FloatArray]:
        params = self._fitted()
        values = shares.reindex(columns=params["categories"], fill_value=0.0).to_numpy(dtype=np.float64, copy=True)
        if not np.isfinite(values).all() or (values < 0).any():
            raise ModelFitError(f"{MODEL}: shares must be finite and >= 0; drop or fill the rows with NaN first")
        totals = values.sum(axis=1)
        known = totals > 0
        values[known] /= totals[known, None]
        points = transform_shares(values, params["transform"])
        labels, score = nearest(points, np.array(params["centroids"], dtype=np.float64))
        return np.where(known, labels, -1), np.where(known, score, 0.0)

    def _fitted(self) -> dict[str, Any]:
        if not self.params_:
            raise ModelFitError(f"{MODEL}: the model is not fitted; call fit(...) or load(path) first")
        return self.params_

    def _payload(self) -> dict[str, Any]:
        return {
            "params": dict(self._fitted()),
            "report": dict(self.report_),
        }

    @classmethod
    def _from_payload(cls, data: Mapping[str, Any]) -> Self:
        params = data.get("params")
        if not isinstance(params, Mapping) or set(params) != PARAM_KEYS:
            raise ModelFitError(f"saved {MODEL} model: 'params' must have exactly the keys {sorted(PARAM_KEYS)}")
        _check_params(params)
        model = cls(transform=str(params["transform"]))
        model.params_ = dict(params)
        report = data.get("report")
        model.report_ = dict(report) if isinstance(report, Mapping) else {}
        return model


def cluster_names(profiles: FloatArray, mean_shares: FloatArray, categories: list[str]) -> list[str]:
    """A unique name per cluster from its distinctive categories (highest lift first).

    A category names a cluster when its mean share there is more than :data:`MIN_LIFT` times
    its mean share over everyone; up to :data:`NAME_CATEGORIES` are joined with `` & ``,
    and one alone reads ``"<category> lovers"``; a cluster without one is :data:`GENERALISTS`.
    Clusters whose names clash take further categories with a lift above 1, then a number.
    """
    lift = profiles / np.maximum(mean_shares, 1e-12)
    order = np.argsort(-lift, axis=1, kind="stable")

    def name(cluster: int, size: int, floor: float) -> str:
        picked = [categories[i] for i in order[cluster] if lift[cluster, i] > floor][:size]
        if not picked:
            return GENERALISTS
        return f"{picked[0]} lovers" if len(picked) == 1 else " & ".join(picked)

    names = [name(c, NAME_CATEGORIES, MIN_LIFT) for c in range(len(profiles))]
    for size in range(NAME_CATEGORIES, len(categories) + 1):
        clashes = {n for n in names if names.count(n) > 1}
        if not clashes:
            break
        names = [name(c, size, 1.0) if n in clashes else n for c, n in enumerate(names)]
    seen: dict[str, int] = {}
    unique = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        unique.append(n if names.count(n) == 1 else f"{n} {seen[n]}")
    return unique


def _checked(shares: pd.DataFrame, min_rows: int) -> tuple[list[str], FloatArray]:
    """The category names and the row-normalised share matrix, refusing what cannot be clustered."""
    values = shares.to_numpy(dtype=np.float64, copy=True)
    if not np.isfinite(values).all() or (values < 0).any():
        raise ModelFitError(f"{MODEL}: shares must be finite and >= 0; drop or fill the rows with NaN first")
    totals = values.sum(axis=1)
    empty = int((totals <= 0).sum())
    if empty:
        raise ModelFitError(f"{MODEL}: {empty} row(s) have no share in any category; leave them out of the fit")
    if len(values) < min_rows:
        raise ModelFitError(
            f"{MODEL}: too little data: {len(values)} buyer(s) with enough orders, at least {min_rows} needed; "
            "lower min_orders in share_matrix_sql or wait for more orders"
        )
    used = (values > 0).any(axis=0)
    if int(used.sum()) < 2:
        raise ModelFitError(
            f"{MODEL}: too little data: {int(used.sum())} category with any share, at least 2 needed to "
            "tell lifestyles apart"
        )
    return [str(c) for c in shares.columns], values / totals[:, None]


def _report(choice: KChoice, threshold: float, rows: int, seed: int) -> dict[str, Any]:
    return {
        "chosen_k": choice.k,
        "rule": choice.rule,
        "stability_threshold": threshold,
        "rows": rows,
        "seed": seed,
        "per_k": [dict(score) for score in choice.scores],
    }


def _check_params(params: Mapping[str, Any]) -> None:
    try:
        k = int(params["k"])
        categories = [str(c) for c in params["categories"]]
        arrays = {key: np.array(params[key], dtype=np.float64) for key in ("centroids", "profiles")}
        names = [str(n) for n in params["names"]]
    except (TypeError, ValueError) as error:
        raise ModelFitError(f"saved {MODEL} model: malformed parameters ({error})") from None
    shapes_ok = all(array.shape == (k, len(categories)) for array in arrays.values())
    if not shapes_ok or len(names) != k or len(set(names)) != k or params["transform"] not in TRANSFORMS:
        raise ModelFitError(
            f"saved {MODEL} model: expected {k} centroids and profiles over {len(categories)} categories, "
            f"{k} unique names and a transform in {sorted(TRANSFORMS)}"
        )
    if not all(math.isfinite(v) for array in arrays.values() for v in array.ravel()):
        raise ModelFitError(f"saved {MODEL} model: centroids and profiles must be finite numbers")


# -- in the models step: fit on buyers' shares, assign everyone in bounded batches --------

LIFESTYLE_FILE = "lifestyle.json"
SCORES = "model_scores_lifestyle"
SCHEMA = pa.schema([("uid", pa.string()), ("lifestyle", pa.string()), ("lifestyle_score", pa.float64())])
MIN_ORDERS = 2


def _wide_sql(categories: list[str]) -> str:
    columns = ", ".join(
        f"coalesce(max(CASE WHEN category = {literal(c)} THEN share END), 0.0) AS {category_column(c)}"
        for c in categories
    )
    return f"SELECT uid, {columns} FROM ({share_matrix_sql(MIN_ORDERS)}) AS s GROUP BY uid"


def _plan(context: ModelContext) -> Plan[LifestyleModel]:
    """The shares of the buyers with enough orders (the first by person key), keyed, and the fit on them."""
    settings = context.settings
    buyers = keyed_sql(f"SELECT uid FROM profiles WHERE orders >= {MIN_ORDERS}", limit=settings.max_training_rows)
    rows = steady_frame(
        context.engine.fetch_arrow(
            f"SELECT s.*, b.{KEY} FROM ({share_matrix_sql(MIN_ORDERS)}) AS s JOIN ({buyers}) AS b ON b.uid = s.uid"
        )
    )
    # pivot_shares sorts people by UID, a salted hash: put them back in person-key order, which
    # the sample inside the fit, its bootstrap resamples and k-means's starts all depend on.
    order = rows.drop_duplicates("uid").sort_values(KEY)["uid"]
    shares = pivot_shares(rows.drop(columns=KEY)).loc[order]
    estimator = LifestyleModel()
    digest = input_digest(
        shares,
        {
            "model": MODEL,
            "models": settings.model_dump(mode="json"),
            "lifestyle": {key: value for key, value in vars(estimator).items() if not key.endswith("_")},
        },
    )

    def fit() -> LifestyleModel:
        model = estimator.fit(shares, seed=settings.seed, as_of=context.as_of)
        model.report_["verdict"] = stability_verdict(model.report_).to_dict()
        return model

    return Plan(digest, fit)


def fit_lifestyles(context: ModelContext, result: ModelsResult) -> str | None:
    """Fit (or reuse) the lifestyles; a ``uid, lifestyle, lifestyle_score`` query over every buyer
    (``unclassified`` for buyers the model cannot place), or None when there is no used model."""
    model = fit_or_reuse(
        "lifestyle",
        context.folder / LIFESTYLE_FILE,
        partial(_plan, context),
        LifestyleModel.load,
        result,
        keep_saved=context.keep_saved,
    )
    if model is None:
        return None
    result.reports["lifestyle"] = {"names": model.names_, **model.report_} if model.report_ else {"names": model.names_}
    verdict = Verdict.of(model.report_) or stability_verdict(model.report_)
    if not verdict.used:
        result.unused["lifestyle"] = verdict.why
        return None
    categories = list(model.params_["categories"])
    renamed = {category_column(c): c for c in categories}

    def score(batch: pa.RecordBatch) -> pa.Table:
        frame = steady_frame(batch).set_index("uid").rename(columns=renamed)
        assigned = model.assign(frame)
        return pa.table(
            {"uid": assigned["uid"], "lifestyle": assigned["segment"], "lifestyle_score": assigned["score"]}
        )

    score_into_table(context.engine, _wide_sql(categories), score, SCORES, SCHEMA, scratch=context.scratch)
    return (
        f"SELECT p.uid, coalesce(s.lifestyle, {literal(UNCLASSIFIED)}) AS lifestyle, s.lifestyle_score "
        f"FROM profiles AS p LEFT JOIN {SCORES} AS s ON s.uid = p.uid WHERE p.orders > 0"
    )
