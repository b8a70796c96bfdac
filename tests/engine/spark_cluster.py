"""A real Spark cluster on 127.0.0.1 for tests: a standalone master and one worker, or a
Spark Connect server, started from the pyspark distribution's own launchers.

pyspark's pip package ships ``bin/spark-class`` but not ``sbin/start-master.sh`` or
``start-worker.sh``, so the daemons start as those scripts start them:
``spark-class org.apache.spark.deploy.master.Master`` and ``...worker.Worker``. The Connect
server starts from ``sbin/start-connect-server.sh`` in the foreground (``SPARK_NO_DAEMONIZE``),
so the process this helper holds is the server itself. Every port is a free one, logs and
work folders live under the test's tmp path, and the processes (each in a process group of
its own, with the executors they start) are stopped when the block ends, failed or not.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pyspark

SPARK_HOME = Path(pyspark.__file__).parent
STARTUP_SECONDS = 240.0
"""How long a daemon may take to say it is up: the machine running the suite is shared."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(folder: Path) -> dict[str, str]:
    env = os.environ.copy()
    env |= {
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(folder / "logs"),
        "SPARK_PID_DIR": str(folder / "pids"),
        "SPARK_CONF_DIR": str(folder / "conf"),
        "SPARK_DAEMON_MEMORY": "384m",
        "SPARK_NO_DAEMONIZE": "1",
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",
    }
    return env


@contextmanager
def _daemon(command: list[str], log: Path, env: dict[str, str], ready: str) -> Iterator[str]:
    """Run ``command`` until the block ends; yield the first line of ``log`` matching ``ready``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            found = re.search(ready, log.read_text(errors="replace"))
            if found:
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{command[-1]} did not start ({ready!r} not in {log}):\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield found.group(0)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the process group the daemon leads (its executors with it): TERM, then KILL."""
    for sig, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def standalone_cluster(folder: Path, *, cores: int = 2, memory: str = "1536m") -> Iterator[str]:
    """A standalone master and one worker on 127.0.0.1; yields the ``spark://`` URL."""
    env = _environment(folder)
    (folder / "conf").mkdir(parents=True, exist_ok=True)
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    port = free_port()
    master = ["--host", "127.0.0.1", "--port", str(port), "--webui-port", str(free_port())]
    url = f"spark://127.0.0.1:{port}"
    worker = [
        *("--host", "127.0.0.1", "--cores", str(cores), "--memory", memory),
        *("--work-dir", str(folder / "work"), "--webui-port", str(free_port()), url),
    ]
    with ExitStack() as stack:
        stack.enter_context(
            _daemon(
                [spark_class, "org.apache.spark.deploy.master.Master", *master],
                folder / "logs" / "master.log",
                env,
                r"Starting Spark master at spark://\S+",
            )
        )
        stack.enter_context(
            _daemon(
                [spark_class, "org.apache.spark.deploy.worker.Worker", *worker],
                folder / "logs" / "worker.log",
                env,
                r"Successfully registered with master",
            )
        )
        yield url


@contextmanager
def connect_server(folder: Path) -> Iterator[str]:
    """A Spark Connect server (local mode inside it) on 127.0.0.1; yields the ``sc://`` URL."""
    env = _environment(folder) | {"SPARK_DAEMON_MEMORY": "1g"}  # the server is the driver too
    (folder / "conf").mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [
        str(SPARK_HOME / "sbin" / "start-connect-server.sh"),
        *("--master", "local[2]"),
        *("--conf", f"spark.connect.grpc.binding.port={port}"),
        *("--conf", "spark.connect.grpc.binding.address=127.0.0.1"),
        *("--conf", "spark.ui.enabled=false", "--conf", "spark.sql.session.timeZone=UTC"),
    ]
    with _daemon(command, folder / "logs" / "connect.log", env, r"Spark Connect server started"):
        yield f"sc://127.0.0.1:{port}"
