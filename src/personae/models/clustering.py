"""k-means with k chosen by silhouette and bootstrap stability, for share vectors.

:func:`scan_k` scores each candidate k on (a sample of) the points: the silhouette of a
k-means fit, and the stability of the clustering under resampling, measured as the mean
(and smallest) adjusted Rand index between the clusterings of bootstrap resamples,
compared pair by pair on the rows both resamples hold. The same resamples serve every k.
:func:`nearest` assigns points to centroids with numpy alone, so a model restored from
JSON scores without scikit-learn objects.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import TypedDict

import numpy as np
import sklearn
from numpy.typing import NDArray
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # ships no type hints

FloatArray = NDArray[np.float64]
TRANSFORMS = frozenset({"sqrt", "none"})
"""``sqrt``: Hellinger (square roots of the shares); ``none``: the shares as they are."""
_SEED_LIMIT = 2**31 - 1
_THREADED_ROWS = 200_000
"""Below this many rows k-means runs on one thread: on small data OpenMP's spinning threads cost more
than they save, and on a busy machine made a 1,200-row fit 20x slower (0.02 s -> 0.4 s)."""
SILHOUETTE_MEMORY_MIB = 64
"""How much memory the silhouette's distances may take at once (scikit-learn's ``working_memory``).
scikit-learn computes them in chunks of up to 1 GiB by default: all 10,000 x 10,000 of a scan's
sample at once, 763 MiB, which set the 1M run's peak RSS above the DuckDB limit's headroom
(bench/RESULTS.md, 2026-12-06). In chunks of 64 MiB the score is the same to the last bit
and took 0.94 s where one chunk took 2.06 s (10,000 x 12 points, one thread)."""


def _threads(rows: int) -> int | None:
    return 1 if rows < _THREADED_ROWS else None


class KScore(TypedDict):
    k: int
    silhouette: float
    ari_mean: float
    ari_min: float
    stable: bool


@dataclass(frozen=True)
class KChoice:
    """The chosen k, the rule that chose it, and every candidate's scores."""

    k: int
    rule: str
    scores: list[KScore]


def transform_shares(values: FloatArray, transform: str) -> FloatArray:
    """Rows of shares in the space k-means works in."""
    if transform == "sqrt":
        return np.sqrt(values)
    if transform == "none":
        return values
    raise ValueError(f"transform={transform!r}: choose one of {sorted(TRANSFORMS)}")


def fit_centroids(points: FloatArray, k: int, *, seed: int, n_init: int) -> tuple[FloatArray, NDArray[np.intp]]:
    """k-means centroids and labels, clusters renumbered largest first."""
    with threadpool_limits(_threads(len(points))):
        model = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(points)
    labels = np.asarray(model.labels_, dtype=np.intp)
    sizes = np.bincount(labels, minlength=k)
    order = np.argsort(-sizes, kind="stable")
    rank = np.empty(k, dtype=np.intp)
    rank[order] = np.arange(k)
    centroids = np.asarray(model.cluster_centers_, dtype=np.float64)[order]
    return centroids, rank[labels]


def nearest(points: FloatArray, centroids: FloatArray) -> tuple[NDArray[np.intp], FloatArray]:
    """Each point's nearest centroid and ``1 - d1 / d2`` (distance to it over distance to the runner-up)."""
    squared = (
        np.einsum("ij,ij->i", points, points)[:, None]
        - 2.0 * points @ centroids.T
        + np.einsum("ij,ij->i", centroids, centroids)[None, :]
    )
    distances = np.sqrt(np.maximum(squared, 0.0))
    labels = np.argmin(distances, axis=1)
    if centroids.shape[0] < 2:
        return labels, np.ones(len(points))
    two = np.partition(distances, 1, axis=1)[:, :2]
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(two[:, 1] > 0, 1.0 - two[:, 0] / two[:, 1], 0.0)
    return labels, score


def scan_k(
    points: FloatArray,
    ks: Iterable[int],
    rng: np.random.Generator,
    *,
    threshold: float,
    bootstraps: int,
    sample: int,
    n_init: int,
) -> KChoice:
    """Score every k and choose: the best silhouette among the k whose mean ARI reaches ``threshold``.

    When no k is that stable, the most stable one is chosen. Scores are computed on a random
    sample of at most ``sample`` points.
    """
    if len(points) > sample:
        points = points[np.sort(rng.choice(len(points), size=sample, replace=False))]
    n = len(points)
    resamples = [rng.integers(0, n, size=n) for _ in range(bootstraps)]
    held = [np.bincount(index, minlength=n) > 0 for index in resamples]
    with threadpool_limits(_threads(n)):
        scores = [_score_k(points, k, rng, resamples, held, threshold=threshold, n_init=n_init) for k in ks]
    if not scores:
        raise ValueError("scan_k: no k to try")
    stable = [score for score in scores if score["stable"]]
    if stable:
        best = max(stable, key=lambda score: score["silhouette"])
        rule = f"best silhouette among k with mean bootstrap ARI >= {threshold}"
    else:
        best = max(scores, key=lambda score: score["ari_mean"])
        rule = f"no k reached mean bootstrap ARI {threshold}; chose the most stable k"
    return KChoice(k=best["k"], rule=rule, scores=scores)


def mean_silhouette(points: FloatArray, labels: NDArray[np.int32]) -> float:
    """The mean silhouette, its distance matrix computed :data:`SILHOUETTE_MEMORY_MIB` at a time."""
    with sklearn.config_context(working_memory=SILHOUETTE_MEMORY_MIB):
        return float(silhouette_score(points, labels))


def _score_k(
    points: FloatArray,
    k: int,
    rng: np.random.Generator,
    resamples: list[NDArray[np.int64]],
    held: list[NDArray[np.bool_]],
    *,
    threshold: float,
    n_init: int,
) -> KScore:
    """Silhouette of a fit on all ``points``; ARI of the resamples' fits, pair by pair on their common rows."""
    seed = int(rng.integers(_SEED_LIMIT))
    labels = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(points)
    silhouette = mean_silhouette(points, labels) if len(set(labels.tolist())) > 1 else -1.0
    clusterings = []
    for index in resamples:
        model = KMeans(n_clusters=k, n_init=n_init, random_state=int(rng.integers(_SEED_LIMIT)))
        clusterings.append(model.fit(points[index]).predict(points))
    aris = [
        float(adjusted_rand_score(clusterings[a][held[a] & held[b]], clusterings[b][held[a] & held[b]]))
        for a, b in combinations(range(len(resamples)), 2)
    ]
    mean = float(np.mean(aris))
    return KScore(k=k, silhouette=silhouette, ari_mean=mean, ari_min=float(np.min(aris)), stable=mean >= threshold)
