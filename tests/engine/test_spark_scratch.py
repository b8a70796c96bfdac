"""A Spark engine deletes the ``_stage`` folder of a dropped result once no view it made can
read it, and a run's steps leave none behind (they went only when the engine closed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from personae import Workspace
from personae.engine.spark import SparkEngine
from personae.engine.spark_scratch import StageScratch
from tests.profiles.small_world import AS_OF, build

pytestmark = pytest.mark.spark


def _folders(stage: Path) -> list[str]:
    return sorted(path.name for path in stage.iterdir()) if stage.exists() else []


def test_a_retired_folder_goes_only_when_no_view_is_left(tmp_path: Path) -> None:
    scratch = StageScratch(tmp_path)
    first, second, third = (tmp_path / name for name in ("a_1", "a_2", "b_1"))
    for folder in (first, second, third):
        folder.mkdir()
    scratch.made("a", first)
    scratch.made("view_on_a")
    scratch.made("a", second)  # redefined: a view built on the first may still read it
    scratch.made("b", third)
    scratch.dropped("a")
    scratch.dropped("b")
    assert first.exists() and second.exists() and third.exists()
    assert scratch.names == {"view_on_a"}
    scratch.dropped("view_on_a")
    assert scratch.names == set()
    assert not first.exists() and not second.exists() and not third.exists()


@pytest.fixture
def spark(tmp_path: Path) -> Iterator[SparkEngine]:
    engine = SparkEngine(tmp_path / "warehouse", master="local[2]", shuffle_partitions=2)
    try:
        yield engine
    finally:
        engine.close()


def test_a_view_on_a_dropped_result_still_reads_it_until_it_is_dropped(spark: SparkEngine) -> None:
    stage = spark.warehouse / "_stage"
    values = ", ".join(f"({number})" for number in range(10))
    spark.materialise("_numbers", f"SELECT id FROM (VALUES {values}) AS t(id)")
    spark.view("_even", "SELECT id FROM _numbers WHERE id % 2 = 0")
    spark.drop_table("_numbers")
    assert len(_folders(stage)) == 1
    assert spark.fetch_rows("SELECT count(*) FROM _even") == [(5,)]
    assert spark.scratch_names() == {"_even"}
    spark.drop_table("_even")
    assert _folders(stage) == []


def test_the_steps_of_a_spark_run_leave_no_stage_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen as the engine closes (which would delete them all): each step dropped its views."""
    left: list[list[str]] = []
    close = SparkEngine.close

    def closing(engine: SparkEngine) -> None:
        if not engine.read_only:
            left.append(_folders(engine.warehouse / "_stage"))
        close(engine)

    monkeypatch.setattr(SparkEngine, "close", closing)
    shop = build(tmp_path / "shop", customers=12, engine={"spark": {"master": "local[2]", "shuffle_partitions": 2}})
    workspace = Workspace(shop.root, engine="spark")
    for step in ("ingest", "identity"):  # views dropped within a step (each file's), then at its end
        assert workspace.run(as_of=AS_OF, only=step).errors == []
    with workspace.engine(write=False) as store:
        assert int(store.scalar("SELECT count(DISTINCT uid) FROM identity_map")) > 10  # the steps did their work
    assert left == [[], []]
