"""Lifestyle segments: k-means over category shares, k by silhouette and bootstrap stability.

Unit tests use a Dirichlet mixture with planted clusters; the slow test recovers the demo
world's planted lifestyles from the pipeline's ``trait_shares`` (ARI against the truth).
"""

from __future__ import annotations

import json
import tracemalloc
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import sqlglot
from sklearn.metrics import adjusted_rand_score, silhouette_score

from personae import Workspace
from personae.engine.dialects import transpile
from personae.errors import ModelFitError
from personae.models.clustering import SILHOUETTE_MEMORY_MIB, mean_silhouette
from personae.models.lifestyle import (
    GENERALISTS,
    UNCLASSIFIED,
    LifestyleModel,
    cluster_names,
    pivot_shares,
    share_matrix_sql,
)

CATEGORIES = ("grocery", "kitchen", "home", "outdoor", "sports", "apparel", "toys", "beauty")
PLANTED = {"cook": ("kitchen", "grocery"), "active": ("outdoor", "sports"), "style": ("apparel",), "kids": ("toys",)}
SYNTHETIC_ARI_FLOOR = 0.95
DEMO_ARI_FLOOR = 0.8


def dirichlet_mixture(rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Share vectors from four planted mixes (weight 12 on each planted category, 1 elsewhere) and their labels."""
    rng = np.random.default_rng(seed)
    alphas = np.ones((len(PLANTED), len(CATEGORIES)))
    for cluster, favourites in enumerate(PLANTED.values()):
        for category in favourites:
            alphas[cluster, CATEGORIES.index(category)] = 12.0
    labels = rng.integers(0, len(PLANTED), size=rows)
    shares = np.vstack([rng.dirichlet(alphas[label] * 0.8) for label in labels])
    index = pd.Index([f"u{i:05d}" for i in range(rows)], name="uid")
    return pd.DataFrame(shares, index=index, columns=list(CATEGORIES)), labels


@pytest.fixture(scope="module")
def synthetic() -> tuple[pd.DataFrame, np.ndarray, LifestyleModel]:
    shares, labels = dirichlet_mixture(800, seed=3)
    return shares, labels, LifestyleModel(k_range=(2, 7), bootstraps=6).fit(shares, seed=5, as_of="2025-12-31")


def test_recovers_the_planted_clusters(synthetic: tuple[pd.DataFrame, np.ndarray, LifestyleModel]) -> None:
    shares, labels, model = synthetic
    assert model.params_["k"] == len(PLANTED) == model.report_["chosen_k"]
    assert adjusted_rand_score(labels, model.predict(shares)) >= SYNTHETIC_ARI_FLOOR
    chosen = next(score for score in model.report_["per_k"] if score["k"] == len(PLANTED))
    assert chosen["stable"] and chosen["ari_min"] >= 0.9
    assert sorted(model.params_["sizes"], reverse=True) == model.params_["sizes"]
    assert sum(model.params_["sizes"]) == len(shares)


def test_clusters_are_named_after_their_distinctive_categories(
    synthetic: tuple[pd.DataFrame, np.ndarray, LifestyleModel],
) -> None:
    _, _, model = synthetic
    named = {frozenset(name.removesuffix(" lovers").split(" & ")) for name in model.names_}
    assert named == {frozenset(favourites) for favourites in PLANTED.values()}


def test_json_round_trip_gives_identical_predictions(
    synthetic: tuple[pd.DataFrame, np.ndarray, LifestyleModel], tmp_path: Path
) -> None:
    shares, _, model = synthetic
    model.save(tmp_path / "lifestyle.json")
    data = json.loads((tmp_path / "lifestyle.json").read_text(encoding="utf-8"))
    assert (data["model"], data["version"], data["as_of"]) == ("lifestyle", 1, "2025-12-31")
    assert set(data["report"]) >= {"chosen_k", "rule", "per_k"}
    restored = LifestyleModel.load(tmp_path / "lifestyle.json")
    np.testing.assert_array_equal(restored.predict(shares), model.predict(shares))
    pd.testing.assert_frame_equal(restored.assign(shares), model.assign(shares))
    assert restored.to_dict() == model.to_dict()


def test_reproducible_from_the_seed() -> None:
    shares, _ = dirichlet_mixture(300, seed=8)
    first = LifestyleModel(k_range=(2, 6), bootstraps=4).fit(shares, seed=11)
    second = LifestyleModel(k_range=(2, 6), bootstraps=4).fit(shares, seed=11)
    assert first.to_dict() == second.to_dict()


def test_assign_names_scores_and_leaves_unknown_baskets_unclassified(
    synthetic: tuple[pd.DataFrame, np.ndarray, LifestyleModel],
) -> None:
    shares, _, model = synthetic
    extra = pd.DataFrame({"garden": [1.0]}, index=pd.Index(["new"], name="uid"))
    both = pd.concat([shares.head(20), extra]).fillna(0.0)
    assigned = model.assign(both)
    assert list(assigned.columns) == ["uid", "segment", "score"]
    assert assigned["uid"].tolist() == both.index.tolist()
    assert set(assigned["segment"][:20]) <= set(model.names_)
    assert assigned["segment"].iloc[-1] == UNCLASSIFIED and assigned["score"].iloc[-1] == 0.0
    assert ((assigned["score"] >= 0) & (assigned["score"] <= 1)).all()
    assert model.predict(both)[-1] == -1


def test_the_silhouette_takes_its_distances_in_bounded_chunks() -> None:
    """5,000 points have 190 MiB of pairwise distances; scikit-learn's default took them at once."""
    rng = np.random.default_rng(2)
    points, labels = rng.random((5_000, 8)), rng.integers(0, 4, size=5_000).astype(np.int32)
    tracemalloc.start()
    try:
        score = mean_silhouette(points, labels)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * SILHOUETTE_MEMORY_MIB * 2**20
    assert score == silhouette_score(points, labels)


def test_too_little_data_is_refused() -> None:
    shares, _ = dirichlet_mixture(30, seed=1)
    with pytest.raises(ModelFitError, match="too little data: 30 buyer"):
        LifestyleModel().fit(shares)
    single = pd.DataFrame({"grocery": np.ones(80), "toys": np.zeros(80)})
    with pytest.raises(ModelFitError, match="at least 2 needed"):
        LifestyleModel().fit(single)


def test_bad_shares_are_refused() -> None:
    shares, _ = dirichlet_mixture(60, seed=1)
    shares.iloc[3, 2] = np.nan
    with pytest.raises(ModelFitError, match="finite and >= 0"):
        LifestyleModel().fit(shares)
    shares.iloc[3] = 0.0
    with pytest.raises(ModelFitError, match="1 row"):
        LifestyleModel().fit(shares)


def test_load_refuses_other_models_and_malformed_parameters(
    synthetic: tuple[pd.DataFrame, np.ndarray, LifestyleModel],
) -> None:
    _, _, model = synthetic
    data = model.to_dict()
    with pytest.raises(ModelFitError, match="not a saved lifestyle model"):
        LifestyleModel.from_dict({**data, "model": "bgnbd"})
    with pytest.raises(ModelFitError, match="format version"):
        LifestyleModel.from_dict({**data, "version": 2})
    broken = {**data["params"], "centroids": data["params"]["centroids"][:-1]}
    with pytest.raises(ModelFitError, match="centroids"):
        LifestyleModel.from_dict({**data, "params": broken})
    with pytest.raises(ModelFitError, match="not fitted"):
        LifestyleModel().predict(pd.DataFrame({"toys": [1.0]}))


def test_names_are_unique_even_when_the_top_categories_clash() -> None:
    mean = np.full(4, 0.25)
    profiles = np.array([[0.7, 0.1, 0.1, 0.1], [0.7, 0.0, 0.3, 0.0], [0.7, 0.3, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]])
    names = cluster_names(profiles, mean, ["a", "b", "c", "d"])
    assert names == ["a lovers", "a & c", "a & b", GENERALISTS]
    twins = cluster_names(np.array([[0.7, 0.1, 0.1, 0.1]] * 2), mean, ["a", "b", "c", "d"])
    assert twins == ["a lovers 1", "a lovers 2"]


def test_share_matrix_sql_keeps_buyers_with_enough_orders() -> None:
    sql = share_matrix_sql(2)
    assert sql == (
        "SELECT s.uid, s.value AS category, s.share FROM trait_shares AS s JOIN profiles AS p ON p.uid = s.uid "
        "WHERE s.dimension = 'category' AND p.orders >= 2 AND s.share > 0 ORDER BY s.uid, s.value"
    )
    assert transpile(sql, "spark") == (
        "SELECT s.uid, s.value AS category, s.share FROM trait_shares AS s JOIN profiles AS p ON p.uid = s.uid "
        "WHERE s.dimension = 'category' AND p.orders >= 2 AND s.share > 0 ORDER BY s.uid NULLS LAST, s.value NULLS LAST"
    )
    sqlglot.transpile(sql, read="duckdb", write="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)
    db = duckdb.connect()
    db.execute(
        "CREATE TABLE trait_shares AS SELECT * FROM (VALUES ('a', 'category', 'toys', 0.75), "
        "('a', 'category', 'baby', 0.25), ('a', 'channel', 'web', 1.0), ('b', 'category', 'toys', 1.0), "
        "('c', 'category', 'home', 0.0), ('c', 'category', 'toys', 1.0)) AS t(uid, dimension, value, share)"
    )
    db.execute("CREATE TABLE profiles AS SELECT * FROM (VALUES ('a', 3), ('b', 1), ('c', 2)) AS t(uid, orders)")
    rows = db.execute(sql).df()
    assert rows.values.tolist() == [["a", "baby", 0.25], ["a", "toys", 0.75], ["c", "toys", 1.0]]
    matrix = pivot_shares(rows)
    assert matrix.columns.tolist() == ["baby", "toys"]
    assert matrix.loc["c"].tolist() == [0.0, 1.0]
    with pytest.raises(ValueError, match="min_orders=0"):
        share_matrix_sql(0)


@pytest.mark.slow
def test_demo_world_lifestyles_are_recovered(tmp_path: Path) -> None:
    """Fit on a 3,000-customer demo world; score each buyer's cluster against their planted lifestyle."""
    workspace = Workspace.init(tmp_path / "shop", demo=True, customers=3000, seed=7)
    first_line = (workspace.root / "personae.toml").read_text(encoding="utf-8").splitlines()[0]
    as_of = date.fromisoformat(first_line.split("up to ")[1][:10])
    for step in ("ingest", "identity", "golden", "traits"):
        assert workspace.run(as_of=as_of, only=step).errors == []
    truth = workspace.root / "truth"
    with workspace.engine(write=False) as store:
        shares = pivot_shares(store.fetch_arrow(share_matrix_sql()).to_pandas())
        # each uid's person: the one owning most of its shop and in-store orders
        owners = store.fetch_arrow(
            "SELECT m.uid, t.person_id, count(*) AS n FROM record_map AS m "
            f"JOIN read_csv('{truth / 'records.csv'}', all_varchar = true) AS t "
            "ON t.source = m.source AND t.record_id = m.record_id "
            "WHERE m.source IN ('pos', 'shop') GROUP BY m.uid, t.person_id"
        ).to_pandas()
    owners = owners.sort_values(["n", "person_id"], ascending=[False, True]).drop_duplicates("uid")
    people = pd.read_csv(truth / "people.csv", usecols=["person_id", "lifestyle"])
    planted = owners.merge(people, on="person_id").set_index("uid")["lifestyle"].reindex(shares.index)
    assert planted.notna().mean() > 0.99

    model = LifestyleModel().fit(shares, seed=7, as_of=as_of)
    assigned = model.assign(shares)
    known = planted.notna().to_numpy()
    ari = adjusted_rand_score(planted[known], assigned["segment"][known])
    chosen = next(score for score in model.report_["per_k"] if score["k"] == model.params_["k"])
    assert model.params_["k"] == 6, model.report_
    assert ari >= DEMO_ARI_FLOOR, f"ARI {ari:.3f}, report {model.report_}"
    assert chosen["ari_mean"] >= 0.9
    assert "electronics lovers" in model.names_ and "apparel lovers" in model.names_
