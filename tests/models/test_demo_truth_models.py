"""Models and behavioural segments against the demo world's planted truth (10,000 customers).

Measured on seed 7: churn AUC 0.83 against the planted churners; promo-driven precision
0.93 and recall 0.89 (base rate 0.22); seasonal precision 0.56 and recall 0.74 (base rate
0.12); survey look-alike used (cross-validated accuracy 0.377 on 422 respondents against
0.299 for the majority answer) and 0.57 accuracy on its 1,866 confident non-respondents
(4 segments, majority 0.30). The thresholds below leave room for other seeds.

The world has 10,000 customers, not 3,000 as before, because on 3,000 (116 respondents)
the look-alike scores 0.353 against a majority of 0.319, below the margin a model must
beat to assign segments (``models.min_accuracy_lift``), so it predicts nobody; that case
is tested with shuffled answers in ``test_twin_workspaces.py``. The old test passed or
failed with the workspace's random UID salt, which decided the training rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from personae import Workspace

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, pd.DataFrame]]:
    workspace = Workspace.init(tmp_path_factory.mktemp("truth") / "demo", demo=True, customers=10_000, seed=7)
    report = workspace.run(as_of=date(2025, 12, 31))
    assert report.errors == []
    root = workspace.root
    records = pd.read_csv(root / "truth/records.csv", dtype=str)
    people = pd.read_csv(root / "truth/people.csv", dtype=str)
    mapped = workspace.sql("SELECT source, record_id, uid FROM record_map").to_pandas().merge(records)
    owner = mapped.groupby("uid").person_id.agg(lambda s: s.value_counts().index[0]).rename("person_id")
    profiles = workspace.sql(
        "SELECT p.uid, p.orders AS order_count, x.churn_probability, x.survey_segment AS predicted_survey, "
        "x.survey_confidence FROM profiles AS p JOIN predictions AS x ON x.uid = p.uid"
    ).to_pandas()
    frame = profiles.merge(owner.reset_index(), on="uid").merge(people, on="person_id")
    yield workspace, frame


def _members(workspace: Workspace, segmentation: str, segment: str) -> set[str]:
    rows = workspace.sql(
        f"SELECT uid FROM memberships WHERE exited_at IS NULL AND segmentation = '{segmentation}' "
        f"AND segment = '{segment}'"
    )
    return set(rows.column("uid").to_pylist())


def test_planted_churners_get_higher_churn_probabilities(world: tuple[Workspace, pd.DataFrame]) -> None:
    _, frame = world
    scored = frame[frame.churn_probability.notna()]
    assert len(scored) > 1_000 and 0.05 < (scored.churner == "true").mean() < 0.6
    assert roc_auc_score(scored.churner == "true", scored.churn_probability) >= 0.68


@pytest.mark.parametrize(
    ("segment", "truth", "min_precision_lift", "min_recall"),
    [
        ("promo_driven", "promo_driven", 2.5, 0.7),
        ("seasonal", "seasonal", 2.5, 0.55),
    ],
)
def test_trigger_segments_find_the_planted_buyers(
    world: tuple[Workspace, pd.DataFrame], segment: str, truth: str, min_precision_lift: float, min_recall: float
) -> None:
    workspace, frame = world
    eligible = frame[frame.order_count >= workspace.config.triggers.min_orders]
    planted = eligible[truth] == "true"
    found = eligible.uid.isin(_members(workspace, "triggers", segment))
    precision = (planted & found).sum() / found.sum()
    assert precision >= min_precision_lift * planted.mean()
    assert (planted & found).sum() / planted.sum() >= min_recall


def test_survey_look_alike_beats_chance_where_it_is_confident(world: tuple[Workspace, pd.DataFrame]) -> None:
    workspace, frame = world
    survey = next(item for item in workspace.models() if item.model == "survey")
    assert survey.used, survey.why  # on 3,000 customers (116 respondents) it is not: see the module doc
    respondents = set(
        workspace.sql(
            "SELECT m.uid FROM survey_responses AS s JOIN record_map AS m ON m.source = s.source "
            "AND m.record_id = s.record_id"
        )
        .column("uid")
        .to_pylist()
    )
    answered = frame[frame.uid.isin(respondents)]
    assert (answered.predicted_survey == answered.survey_segment).mean() > 0.95  # their own answers, kept
    confident = frame[~frame.uid.isin(respondents) & (frame.predicted_survey != "unknown")]
    assert len(confident) > 50
    assert (confident.survey_confidence >= workspace.config.models.survey_confidence).all()
    segments = frame.survey_segment.nunique()
    assert (confident.predicted_survey == confident.survey_segment).mean() > 1 / segments + 0.05
    unsure = frame[~frame.uid.isin(respondents) & (frame.predicted_survey == "unknown")]
    assert len(unsure) > len(confident)
