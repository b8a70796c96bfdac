"""The Spark session a :class:`~personae.engine.spark.SparkEngine` runs on, for each master form.

``[engine.spark] master`` takes three forms (:data:`~personae.engine.specs.MASTER_FORMS`):

- ``local[N]``: Spark inside this process's JVM, the default.
- ``spark://host:port``: a standalone cluster. The driver stays in this process (on
  127.0.0.1 when the master is local to the machine); the executors run on the workers and
  read and write the warehouse themselves, so its path must be one every worker reaches (the
  same folder on one machine; a shared mount, S3 or HDFS on a real cluster).
- ``sc://host:port``: Spark Connect. The session is a thin gRPC client (pyspark's ``connect``
  extra: grpcio, grpcio-status, googleapis-common-protos, zstandard); the server runs the
  plans and reads and writes the warehouse, so it too must reach the warehouse's path.

A cluster that does not answer is an error naming the URL within seconds
(:data:`PROBE_SECONDS`): Spark's own client retries a dead standalone master for a minute
and more before it gives up, and a Connect client waits for its channel.
"""

from __future__ import annotations

import os
import socket
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from personae.engine.specs import machine_memory, master_form
from personae.errors import EngineError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

PROBE_SECONDS = 10.0
"""How long a cluster's address may take to accept a TCP connection before the run stops."""

SESSION_CONF = {"spark.sql.session.timeZone": "UTC", "spark.sql.ansi.enabled": "false"}
"""Settings of the SQL session, which a Connect client may set too."""

DRIVER_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}
"""Settings of a driver in this process (local mode and standalone clusters only)."""

LOCAL_DRIVER_MEMORY_SHARE = 0.25
"""The share of the machine's memory a local-mode driver's heap may take (``spark.driver.memory``)
unless ``[engine.spark] conf`` sets it. In local mode the driver's JVM does all the work, and
Spark's default heap is 1 GB: with it, the 20,000-customer demo's golden step ran for more than
12 minutes; with 4 GB, the whole run took 7 (bench/RESULTS.md)."""


def local_driver_memory() -> str:
    """:data:`LOCAL_DRIVER_MEMORY_SHARE` of the machine's memory, at least Spark's own 1 GB (``"5886m"``)."""
    return f"{max(1024, int(machine_memory() * LOCAL_DRIVER_MEMORY_SHARE) // 2**20)}m"


def cluster_address(master: str) -> list[tuple[str, int]]:
    """The host:port pairs of a ``spark://`` or ``sc://`` master (empty for local mode)."""
    form = master_form(master)
    if form == "local":
        return []
    rest = master.split("://", 1)[1].split("/", 1)[0]
    pairs = []
    for part in rest.split(","):
        host, _, port = part.partition(":")
        pairs.append((host, int(port) if port else 15002))
    return pairs


def check_reachable(master: str, timeout: float = PROBE_SECONDS) -> None:
    """An EngineError naming ``master`` unless one of its addresses accepts a connection."""
    failures = []
    for host, port in cluster_address(master):
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return
        except OSError as error:
            failures.append(f"{host}:{port}: {error.strerror or error}")
    if failures:
        raise EngineError(
            f"spark master {master!r} is unreachable ({'; '.join(failures)}); start the cluster or fix "
            "[engine.spark] master in personae.toml"
        )


def open_session(master: str, warehouse: Path, conf: dict[str, str]) -> SparkSession:
    """A Spark session on ``master`` with personae's settings and ``conf`` on top."""
    from pyspark.sql import SparkSession

    form = master_form(master)
    check_reachable(master)
    if form == "connect":
        return _connect_session(master, conf)
    _leave_connect_mode()
    _stop_other_master(master)
    builder = SparkSession.builder.master(master).appName("personae")
    settings = {
        **SESSION_CONF,
        **DRIVER_CONF,
        "spark.sql.warehouse.dir": str(warehouse / "_catalog"),
        "spark.driver.extraJavaOptions": "-Dderby.system.home=" + str(warehouse),
    }
    if form == "local":  # read when the JVM starts: the first session of the process
        settings["spark.driver.memory"] = local_driver_memory()
    if form == "local" or cluster_address(master)[0][0] in {"127.0.0.1", "localhost"}:
        settings |= {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"}
    if form == "standalone":
        settings["spark.pyspark.python"] = sys.executable  # the workers' Python, when one is needed
    for key, value in {**settings, **conf}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def _leave_connect_mode() -> None:
    """Forget an earlier Spark Connect session of this process: pyspark marks the whole process
    as a Connect client (``SPARK_CONNECT_MODE_ENABLED`` in its environment) once one is made,
    and would then refuse to build a classic session on a local or standalone master."""
    if "SPARK_CONNECT_MODE_ENABLED" not in os.environ:
        return
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    active = ConnectSession.getActiveSession()
    if active is not None:
        active.stop()
    os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)


def _leave_classic_mode() -> None:
    """Stop this process's classic session and context: pyspark refuses to build a Spark
    Connect session while either is alive (``SESSION_ALREADY_EXIST``)."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    if SparkSession._instantiatedSession is not None:
        SparkSession._instantiatedSession.stop()
    if SparkContext._active_spark_context is not None:
        SparkContext._active_spark_context.stop()


def _stop_other_master(master: str) -> None:
    """Stop this process's session when it runs on another master: ``getOrCreate`` would
    otherwise hand it back, and a run meant for a cluster would run where the last one did."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and active.sparkContext.master != master:
        active.stop()


def _import_connect_client() -> ModuleType:
    """``pyspark.sql.connect.utils``, imported so that pyspark cannot end the process.

    On import, pyspark's Connect package takes a ``__main__`` module with neither a file nor a
    spec for its own doctest runner and calls ``sys.exit(0)`` when a dependency is not fully
    supported (pandas 3 is not, in pyspark 4.3). ``python -c`` and pytest-xdist's workers have
    such a ``__main__``; for the length of the import, ``sys.ps1`` marks the process as one that
    is not a doctest run, which the check honours.
    """
    marked = not hasattr(sys, "ps1")
    if marked:
        sys.ps1 = "personae> "  # any prompt: pyspark only asks whether there is one
    try:
        with warnings.catch_warnings():
            # Under ``-W error``, this warning would make pyspark decide, once per process, that
            # Connect's dependencies are missing and leave its function module empty.
            warnings.filterwarnings("ignore", "PySpark does not yet fully support", FutureWarning)
            from pyspark.sql.connect import session, utils  # noqa: F401  (session: its functions module too)
    finally:
        if marked:
            del sys.ps1
    return utils


def _connect_session(master: str, conf: dict[str, str]) -> SparkSession:
    try:
        utils = _import_connect_client()
        utils.require_minimum_grpc_version()
        utils.require_minimum_grpcio_status_version()
        utils.require_minimum_googleapis_common_protos_version()
        utils.require_minimum_zstandard_version()
    except ImportError as missing:
        raise EngineError(
            f"spark master {master!r} is Spark Connect, which needs pyspark's connect client: "
            f"install it with `pip install 'pyspark[connect]>=4,<5'` ({missing})"
        ) from None
    from pyspark.errors import PySparkException
    from pyspark.sql import SparkSession

    _leave_classic_mode()
    builder = SparkSession.builder.remote(master).appName("personae")
    for key, value in {**SESSION_CONF, **conf}.items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except PySparkException as error:
        raise EngineError(f"spark master {master!r}: Spark Connect refused the session: {error}") from error
