"""What the server benchmarks share: a server subprocess on a free port, one wrk run with its
summary as JSON, and the CPU that the server, wrk and everyone else used meanwhile.

Factored out of ``bench/server_stack.py`` when ``bench/server.py`` needed the same machinery
for the real ``personae serve``: two scripts that measured "server CPU" or "other load" in
two ways could not be compared.

The Lua scripts print wrk's summary as one ``WRKJSON {...}`` line (``bench/wrk/common.lua``'s
``done``), so nothing parses wrk's human output.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psutil

BENCH = Path(__file__).resolve().parent
WRK_DIR = BENCH / "wrk"
SERVER_CORE = "0"
WRK_CORE = "1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(port: int, path: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Return once ``GET path`` answers 200; raise if the server exits or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before it answered")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not answer {path} within {timeout} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT (a graceful stop for every server measured), then SIGKILL after 15 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def get_json(port: int, path: str, headers: Mapping[str, str] | None = None) -> Any:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=dict(headers or {}))
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def process_cpu_seconds(proc: psutil.Process) -> float:
    """User + system CPU of a process and its children, in seconds."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            times = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def run_wrk(
    script: Path,
    url: str,
    *,
    connections: int,
    duration: float,
    threads: int = 1,
    core: str | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One wrk run; its summary line plus wrk's own CPU use (from the child's rusage).

    ``core`` pins wrk with taskset; the script's environment carries its parameters
    (the Lua scripts read ``WRK_*`` variables, since wrk passes no options to them)."""
    threads = min(threads, connections)
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency", "--timeout", "10s"]
    argv += ["-s", str(script), url]
    if core is not None:
        argv = ["taskset", "-c", core, *argv]
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(env or os.environ))
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read().decode()
    err = proc.stderr.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    line = next((ln for ln in out.splitlines() if ln.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {' '.join(argv)}\n{out}\n{err}")
    result: dict[str, Any] = json.loads(line.removeprefix("WRKJSON "))
    result["wrk_cpu"] = (usage.ru_utime + usage.ru_stime) / wall
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = sum(
        result[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    return result


class OtherLoad:
    """Samples the CPU used by every process outside this script's tree (other users of the machine).

    Reported as cores (1.0 = one core busy) averaged over the measured run, so a run that shared
    the machine with someone's test suite shows it. Process CPU only: softirq time spent in the
    kernel's loopback networking is charged to no process and is not counted here or in the
    server/wrk CPU columns.
    """

    def __init__(self, interval: float = 0.5) -> None:
        self._interval = interval
        self._stop = threading.Event()
        self._seconds = 0.0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = time.monotonic()

    def __enter__(self) -> OtherLoad:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def cores(self) -> float:
        return self._seconds / max(time.monotonic() - self._started, 1e-9)

    def _sample(self) -> dict[int, float]:
        me = psutil.Process()
        mine = {me.pid, *(child.pid for child in me.children(recursive=True))}
        times: dict[int, float] = {}
        for proc in psutil.process_iter():
            if proc.pid in mine:
                continue
            try:
                cpu = proc.cpu_times()
            except psutil.Error:
                continue
            times[proc.pid] = cpu.user + cpu.system
        return times

    def _run(self) -> None:
        previous = self._sample()
        while not self._stop.wait(self._interval):
            current = self._sample()
            self._seconds += sum(t - previous[pid] for pid, t in current.items() if pid in previous)
            previous = current


def measure_wrk(server: psutil.Process, script: Path, url: str, **wrk: Any) -> dict[str, Any]:
    """A wrk run with the server's CPU (cores, over the run) and the other load around it."""
    cpu_before = process_cpu_seconds(server)
    started = time.monotonic()
    with OtherLoad() as other:
        result = run_wrk(script, url, **wrk)
    wall = time.monotonic() - started
    result["other_cpu"] = other.cores
    result["server_cpu"] = (process_cpu_seconds(server) - cpu_before) / wall
    return result


def machine(packages: Sequence[str]) -> str:
    """One line: cores, memory, kernel, Python, wrk and the versions of ``packages``."""
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln),
        platform.processor(),
    )
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()
    versions = ", ".join(f"{name} {version(name)}" for name in packages)
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; {wrk[0].split(' Copyright')[0] if wrk else 'wrk'}; {versions}"
    )
