"""``[engine.spark] master``: local mode, a standalone cluster, Spark Connect; anything else
and a master that does not answer are clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from personae.config import parse_config
from personae.engine.spark_session import local_driver_memory
from personae.engine.specs import master_form
from personae.errors import ConfigError, EngineError
from tests.engine.spark_cluster import connect_server, free_port


@pytest.mark.parametrize(
    ("master", "form"),
    [
        ("local", "local"),
        ("local[2]", "local"),
        ("local[*]", "local"),
        ("spark://127.0.0.1:7077", "standalone"),
        ("spark://m1:7077,m2:7077", "standalone"),
        ("sc://localhost:15002", "connect"),
        ("sc://spark.example.com:443/;use_ssl=true;token=x", "connect"),
    ],
)
def test_master_forms(master: str, form: str) -> None:
    assert master_form(master) == form
    assert parse_config({"engine": {"spark": {"master": master}}}, Path("personae.toml")).engine.spark.master == master


@pytest.mark.parametrize("master", ["yarn", "spark://host", "local[0]", "http://host:7077", "k8s://https://h:443", ""])
def test_other_masters_are_config_errors_naming_the_forms(master: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"engine": {"spark": {"master": master}}}, Path("personae.toml"))
    message = str(caught.value)
    assert f"master = {master!r} is not a Spark master" in message
    assert "spark://host:7077" in message and "sc://host:15002" in message and "local[2]" in message


@pytest.mark.spark
@pytest.mark.parametrize("scheme", ["spark", "sc"])
def test_an_unreachable_master_is_an_error_naming_it_within_30_seconds(tmp_path: Path, scheme: str) -> None:
    from personae.engine.spark import SparkEngine

    master = f"{scheme}://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    with pytest.raises(EngineError, match=rf"spark master '{master}' is unreachable .*\[engine\.spark\] master"):
        SparkEngine(tmp_path / "warehouse", master=master)
    assert time.monotonic() - started < 30


@pytest.mark.spark
def test_the_engine_runs_on_spark_connect(tmp_path: Path) -> None:
    """One small step on a Spark Connect server: create, append, read back, replace, drop;
    after a classic local session in the same process (as a test process or a user's notebook
    has), which pyspark would otherwise refuse to leave for Connect."""
    from personae.engine.spark import SparkEngine

    local = SparkEngine(tmp_path / "local", master="local[2]", shuffle_partitions=2)
    assert local.scalar("SELECT 1 + 1") == 2
    local.close()
    with connect_server(tmp_path / "connect") as master:
        engine = SparkEngine(tmp_path / "warehouse", master=master, shuffle_partitions=2)
        try:
            assert type(engine.session).__module__.startswith("pyspark.sql.connect")
            engine.create_empty_table("t", [("id", "BIGINT"), ("note", "VARCHAR")])
            engine.register_arrow("src", pa.table({"i": [1, 2, 3]}))
            assert engine.insert("t", ["id"], "SELECT i * 10 FROM src WHERE i > 1") == 2
            assert sorted(engine.fetch_rows("SELECT id, note FROM t")) == [(20, None), (30, None)]
            engine.create_table("t", "SELECT id + 1 AS id FROM t")
            assert engine.scalar("SELECT sum(id) FROM t") == 52
            assert sorted(path.name for path in (tmp_path / "warehouse").iterdir() if not path.name.startswith("_"))
            assert [batch.num_rows for batch in engine.fetch_batches("SELECT * FROM t")] == [2]
            engine.drop_table("t")
            assert not engine.has_table("t")
        finally:
            engine.close()
            engine.session.stop()


def _driver_heap(tmp_path: Path, conf: dict[str, str]) -> tuple[str, int, str]:
    """``spark.driver.memory`` and the JVM's maximum heap of a local-mode engine in a fresh process
    (the setting is read when the JVM starts, so this process's own JVM cannot show it), and what
    the process wrote to stderr on the way, a query's Arrow result included."""
    script = (
        "import json, sys; from pathlib import Path; from personae.engine.spark import SparkEngine; "
        f"engine = SparkEngine(Path({str(tmp_path / 'warehouse')!r}), master='local[1]', conf={conf!r}); "
        "context = engine.session.sparkContext; engine.fetch_arrow('SELECT 1 AS a'); "
        "print(json.dumps([context.getConf().get('spark.driver.memory'), "
        "context._jvm.java.lang.Runtime.getRuntime().maxMemory()]))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    memory, heap = json.loads(done.stdout.strip().splitlines()[-1])
    return str(memory), int(heap), done.stderr


@pytest.mark.spark
def test_a_local_driver_gets_a_share_of_the_machine_unless_the_config_says(tmp_path: Path) -> None:
    memory, heap, stderr = _driver_heap(tmp_path / "default", {})
    assert memory == local_driver_memory()
    assert "FutureWarning" not in stderr, "pyspark's pandas warning reaches the user's terminal"
    assert heap > 0.8 * int(memory.removesuffix("m")) * 2**20  # the JVM took it (not Spark's 1 GB)
    memory, heap, _ = _driver_heap(tmp_path / "set", {"spark.driver.memory": "700m"})
    assert memory == "700m" and heap <= 700 * 2**20
