"""The classifiers' training rows when there are more buyers than ``models.max_training_rows``:
the first buyers of ``T − h`` by person key, with the traits a computation for everyone gives
them, and high-value labels drawn against every buyer's window revenue, not the sample's."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np

from personae import Workspace
from personae.models.context import ModelContext
from personae.models.features import KEY, PERSON_KEYS, build_person_keys, numeric_traits, steady_frame
from personae.models.propensity import training_frame
from personae.profiles.build import compute_traits, trait_columns
from tests.profiles.small_world import AS_OF, build

SAMPLE = 100


def test_the_sample_is_the_first_buyers_by_key_with_everyones_traits(tmp_path: Path) -> None:
    shop = build(tmp_path / "shop", customers=400, seed=11, models={"max_training_rows": SAMPLE})
    workspace = Workspace(shop.root)
    assert workspace.run(as_of=AS_OF).errors == []
    config = workspace.config
    traits, settings = config.traits_config(), config.models
    past = AS_OF - timedelta(days=settings.horizon_days)
    columns = trait_columns(traits)
    numeric = numeric_traits(columns, list(columns))
    with workspace.engine(write=True) as engine:
        build_person_keys(engine, settings.seed)
        context = ModelContext(engine, settings, traits, AS_OF, tmp_path / "models")
        training = training_frame(context, numeric)
        # the same traits computed for everyone, as the step did before it sampled
        engine.materialise("_everyone", "SELECT uid FROM profiles")
        compute_traits(engine, traits, past, "_everyone", "_all_")
        buyers = steady_frame(
            engine.fetch_arrow(
                f"SELECT t.*, k.{KEY} FROM _all_traits AS t JOIN {PERSON_KEYS} AS k ON k.uid = t.uid "
                f"WHERE t.orders > 0 ORDER BY k.{KEY}"
            )
        )
        labels = engine.fetch_arrow("SELECT uid, future, high_value FROM _past_labels").to_pandas()
    assert len(buyers) > 2 * SAMPLE, "the world must have more buyers than the sample for this test to mean anything"
    frame = training.frame
    assert frame.uid.tolist() == buyers.uid.head(SAMPLE).tolist()
    expected = buyers.head(SAMPLE).reset_index(drop=True)
    assert set(training.binned) == {"days_since_last_order", "days_since_first_order", "days_since_last_seen"}
    for name in numeric:
        values = expected[name].to_numpy(float)
        if name in training.binned:  # the lower edge of its bin (models.days_since_bins)
            edges = np.array([0, *training.binned[name]], dtype=float)
            values = np.where(np.isnan(values), np.nan, edges[np.searchsorted(edges, values, side="right") - 1])
        assert np.allclose(frame[name].to_numpy(float), values, equal_nan=True), name
    assert frame.holdout.tolist() == [key[0] in "012" for key in expected[KEY]]
    # labels are drawn over every buyer of T - h: the line is the 90th percentile of all their window revenue
    assert sorted(labels.uid) == sorted(buyers.uid)
    line = np.quantile(labels.future.to_numpy(float), 1 - settings.high_value_share)
    truth = dict(zip(labels.uid, (labels.future > 0) & (labels.future >= line), strict=True))
    assert frame.high_value.tolist() == [int(truth[uid]) for uid in frame.uid]
    assert 0 < frame.high_value.sum() < SAMPLE
