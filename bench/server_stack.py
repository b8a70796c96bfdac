"""The server stack for ``personae serve``: ASGI servers, frameworks and JSON libraries under wrk.

Every cell starts the app of ``bench/server_apps.py`` as a subprocess bound to 127.0.0.1 on a free
port and drives it with Debian's ``wrk`` and the Lua scripts in ``bench/wrk/``:

- ``track.lua``: one ~400-byte Segment track event per POST, HTTP Basic auth (the ``/v1/track``
  shape); ``batch.lua``: 100 such events per POST (~40 KB, the ``/v1/batch`` shape);
- ``get.lua``: a bare GET; ``profile.lua``: paced profile lookups.

Stacks are a framework (``raw`` ASGI, ``starlette``, ``fastapi``, and two FastAPI hybrids that keep
OpenAPI for the rest: ``fastapi-route`` = the hot endpoints as Starlette routes inside the FastAPI
router, ``fastapi-front`` = a raw ASGI dispatcher in front of FastAPI) under a server: ``uvicorn``
(httptools + uvloop, 1 worker) or ``granian`` (ASGI, 1 worker; variants: ``granian-asyncio`` =
``--loop asyncio``, ``granian-rt2`` = ``--runtime-threads 2``, ``granian-st`` = ``--runtime-mode st``,
``granian-rust`` = ``--task-impl rust``; plain ``granian`` picks uvloop and 1 runtime thread).

Pinned runs put the server on core 0 and wrk (1 thread) on core 1 with ``taskset``; unpinned runs
let both float over the 2 cores (wrk 2 threads). Each cell runs ``--repeat`` times (the whole
part is repeated, so every cell sees the same spread of machine noise); tables show medians.
Every run starts with a short warm-up (``--warmup`` s) on the same endpoint, not counted.

Parts (``--parts``, comma-separated):

- ``screen``: raw ASGI, bare GET and bare POST (track body), every server variant, 64 connections,
  pinned;
- ``matrix``: raw / starlette / fastapi under uvicorn and ``--granian`` at 64 connections, pinned:
  bare GET, bare POST, JSON parse (stdlib, orjson, msgspec, typed msgspec, pydantic on FastAPI)
  and the group-committed durable write, each with the track and the batch body;
- ``hybrid``: the two FastAPI hybrids on the hot endpoints, both servers, pinned;
- ``sweep``: raw ASGI's durable endpoint at 1 and 8 connections (64 is in ``matrix``), pinned;
- ``unpinned``: bare and durable POSTs at 64 connections without pinning (raw ASGI on every main
  server, ``fastapi-front`` on uvicorn and granian);
- ``profile``: paced profile lookups (at most 1,000 requests/s: 20 connections, each waiting 20 ms
  before each request), pinned;
- ``switch``: raw ASGI's durable endpoint with the GIL switch interval at Python's default (5 ms)
  and at 0.5 ms (server names ending in ``+si``), pinned, 64 connections;
- ``ceiling``: the load generator's own ceiling: wrk against nginx (Debian's, one worker process,
  ``return 200``; no Python anywhere), bare GET and POST, pinned and unpinned.

Columns: req/s and latency percentiles are wrk's (medians over the runs); events/s = req/s × events
per request (100 for batch); "vs bare" ratios are taken run by run within the same repetition (the
same stack's bare endpoint with the same body, or raw ASGI on uvicorn's), then the median; "server
CPU" is the cores the server process tree used (user + system), "server CPU µs/req" its CPU per
request, the figure least moved by other load; "wrk CPU" the generator's; "other load" the cores
used by processes outside this script's tree (someone else's tests, on a shared machine); fsync/s,
requests/fsync (the mean group size) and ms/fsync come from the journal's counters.

Raw runs are appended to ``OUT/runs.jsonl``; at the end the script prints the Markdown tables for
every run in that file (``--report-only`` prints them without running anything).

    .venv/bin/python bench/server_stack.py [--parts screen,matrix,...] [--repeat 3] [--duration 10] \\
        [--warmup 1] [--granian granian] [--out /tmp/personae-server-stack] [--report-only]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import psutil

import wrk_runs
from wrk_runs import (
    BENCH,
    SERVER_CORE,
    WRK_CORE,
    WRK_DIR,
    OtherLoad,
    free_port,
    get_json,
    process_cpu_seconds,
    stop,
    wait_ready,
)

PYTHON = sys.executable
EVENTS_PER_BATCH = 100
PACKAGES = ["uvicorn", "uvloop", "httptools", "granian", "starlette", "fastapi", "pydantic", "orjson", "msgspec"]

FRAMEWORKS: dict[str, str] = {
    "raw": "server_apps:raw_app",
    "starlette": "server_apps:starlette_app",
    "fastapi": "server_apps:fastapi_app",
    "fastapi-route": "server_apps:fastapi_route_app",
    "fastapi-front": "server_apps:fastapi_front_app",
}
GRANIAN_VARIANTS: dict[str, list[str]] = {
    "granian": [],
    "granian-asyncio": ["--loop", "asyncio"],
    "granian-rt2": ["--runtime-threads", "2"],
    "granian-st": ["--runtime-mode", "st"],
    "granian-rust": ["--task-impl", "rust"],
}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    script: str
    body: str  # "none", "track" or "batch"

    @property
    def events(self) -> int:
        return EVENTS_PER_BATCH if self.body == "batch" else 1


ENDPOINTS: dict[str, Endpoint] = {
    "GET bare": Endpoint("GET", "/bare", "get.lua", "none"),
    "POST bare track": Endpoint("POST", "/bare", "track.lua", "track"),
    "POST bare batch": Endpoint("POST", "/bare", "batch.lua", "batch"),
    "json stdlib track": Endpoint("POST", "/json/stdlib", "track.lua", "track"),
    "json stdlib batch": Endpoint("POST", "/json/stdlib", "batch.lua", "batch"),
    "json orjson track": Endpoint("POST", "/json/orjson", "track.lua", "track"),
    "json orjson batch": Endpoint("POST", "/json/orjson", "batch.lua", "batch"),
    "json msgspec track": Endpoint("POST", "/json/msgspec", "track.lua", "track"),
    "json msgspec batch": Endpoint("POST", "/json/msgspec", "batch.lua", "batch"),
    "typed msgspec track": Endpoint("POST", "/typed/msgspec", "track.lua", "track"),
    "typed msgspec batch": Endpoint("POST", "/typed/msgspec", "batch.lua", "batch"),
    "pydantic track": Endpoint("POST", "/pydantic", "track.lua", "track"),
    "pydantic batch": Endpoint("POST", "/pydantic", "batch.lua", "batch"),
    "durable track": Endpoint("POST", "/durable", "track.lua", "track"),
    "durable batch": Endpoint("POST", "/durable", "batch.lua", "batch"),
    "profile": Endpoint("GET", "/v1/profiles/", "profile.lua", "none"),
}
BARE_OF_BODY = {"none": "GET bare", "track": "POST bare track", "batch": "POST bare batch"}


@dataclass(frozen=True)
class Cell:
    part: str
    framework: str
    server: str
    endpoint: str
    connections: int
    pinned: bool


# --- the parts ----------------------------------------------------------------------------------


def part_cells(part: str, granian: str) -> list[Cell]:
    servers = ["uvicorn", granian]
    cells: list[Cell] = []
    if part == "screen":
        for server in ["uvicorn", *GRANIAN_VARIANTS]:
            cells += [Cell(part, "raw", server, e, 64, True) for e in ("GET bare", "POST bare track")]
    elif part == "matrix":
        common = ["GET bare", "POST bare track", "POST bare batch"]
        parse = [f"json {lib} {body}" for lib in ("stdlib", "orjson", "msgspec") for body in ("track", "batch")]
        durable = ["durable track", "durable batch"]
        per_framework = {
            "raw": [*common, *parse, "typed msgspec track", "typed msgspec batch", *durable],
            "starlette": [*common, "json orjson track", "json orjson batch", *durable],
            "fastapi": [
                *common,
                "json orjson track",
                "json orjson batch",
                "pydantic track",
                "pydantic batch",
                *durable,
            ],
        }
        for server in servers:
            for framework, endpoints in per_framework.items():
                cells += [Cell(part, framework, server, e, 64, True) for e in endpoints]
    elif part == "hybrid":
        hot = ["POST bare track", "json orjson track", "durable track", "POST bare batch", "durable batch"]
        for server in servers:
            for framework in ("fastapi-route", "fastapi-front"):
                cells += [Cell(part, framework, server, e, 64, True) for e in hot]
    elif part == "sweep":
        for server in servers:
            for connections in (1, 8):
                cells += [Cell(part, "raw", server, e, connections, True) for e in ("durable track", "durable batch")]
    elif part == "unpinned":
        stacks = [("raw", s) for s in ("uvicorn", granian, "granian-rt2")]
        stacks += [("fastapi-front", s) for s in servers]
        for framework, server in dict.fromkeys(stacks):
            cells += [
                Cell(part, framework, server, e, 64, False)
                for e in ("POST bare track", "durable track", "POST bare batch", "durable batch")
            ]
    elif part == "profile":
        for server in servers:
            for framework in ("raw", "fastapi"):
                cells.append(Cell(part, framework, server, "profile", 20, True))
    elif part == "switch":
        for server in servers:
            for variant in (server, f"{server}+si"):
                cells += [Cell(part, "raw", variant, e, 64, True) for e in ("durable track", "durable batch")]
    elif part == "ceiling":
        for pinned in (True, False):
            cells += [Cell(part, "nginx", "nginx", e, 64, pinned) for e in ("GET bare", "POST bare track")]
    else:
        raise SystemExit(f"unknown part {part!r}")
    return list(dict.fromkeys(cells))


# --- servers ------------------------------------------------------------------------------------


NGINX_CONF = """daemon off;
master_process off;
worker_processes 1;
pid {out}/nginx-{port}.pid;
error_log {out}/nginx-{port}.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 100000000;
    client_body_buffer_size 64k;
    client_body_temp_path {out}/nginx-body;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 ""; }}
    }}
}}
"""


SWITCH_SUFFIX = "+si"
"""A server name ending in this runs the app with ``sys.setswitchinterval(SWITCH_INTERVAL)``."""
SWITCH_INTERVAL = "0.0005"


def server_argv(framework: str, server: str, port: int, out: Path) -> list[str]:
    server = server.removesuffix(SWITCH_SUFFIX)
    if server == "nginx":
        conf = out / f"nginx-{port}.conf"
        conf.write_text(NGINX_CONF.format(out=out, port=port))
        return ["nginx", "-e", str(out / f"nginx-{port}.log"), "-c", str(conf)]
    if server == "uvicorn":
        target = FRAMEWORKS[framework]
        return [
            *(PYTHON, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port)),
            *("--workers", "1", "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"),
        ]
    base = [PYTHON, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port)]
    base += ["--workers", "1", "--log-level", "warning", "--no-ws"]
    return [*base, *GRANIAN_VARIANTS[server], FRAMEWORKS[framework]]


# --- wrk ----------------------------------------------------------------------------------------


def run_wrk(cell: Cell, port: int, duration: float, env: dict[str, str]) -> dict[str, Any]:
    """One wrk run of a cell (``wrk_runs.run_wrk``): 1 thread pinned to the wrk core, else 2."""
    endpoint = ENDPOINTS[cell.endpoint]
    # profile.lua paces each connection: C connections waiting C ms each ask for at most 1,000 requests/s.
    return wrk_runs.run_wrk(
        WRK_DIR / endpoint.script,
        f"http://127.0.0.1:{port}{endpoint.path}",
        connections=cell.connections,
        duration=duration,
        threads=1 if cell.pinned else 2,
        core=WRK_CORE if cell.pinned else None,
        env=dict(env, WRK_DELAY_MS=str(cell.connections)),
    )


def measure(cell: Cell, port: int, duration: float, warmup: float, server: psutil.Process) -> dict[str, Any]:
    env = dict(os.environ)
    if warmup > 0:
        run_wrk(cell, port, warmup, env)
    durable = ENDPOINTS[cell.endpoint].path == "/durable"
    before = get_json(port, "/stats") if durable else {}
    cpu_before = process_cpu_seconds(server)
    started = time.monotonic()
    with OtherLoad() as other:
        result = run_wrk(cell, port, duration, env)
    wall = time.monotonic() - started
    result["other_cpu"] = other.cores
    result["server_cpu"] = (process_cpu_seconds(server) - cpu_before) / wall
    if durable:
        after = get_json(port, "/stats")
        result["journal"] = {key: after[key] - before[key] for key in after if key != "max_group"}
        result["journal"]["max_group"] = after["max_group"]
        result["journal"]["wall"] = wall
    return result


# --- running ------------------------------------------------------------------------------------


def grouped(cells: Iterable[Cell]) -> Iterator[tuple[tuple[str, str, bool], list[Cell]]]:
    groups: dict[tuple[str, str, bool], list[Cell]] = defaultdict(list)
    for cell in cells:
        groups[(cell.framework, cell.server, cell.pinned)].append(cell)
    yield from groups.items()


def run_part(part: str, args: argparse.Namespace, out: Path) -> None:
    cells = part_cells(part, args.granian)
    runs_file = out / "runs.jsonl"
    per_run = sum(args.duration + args.warmup + 0.5 for _ in cells)
    print(
        f"part {part}: {len(cells)} cells x {args.repeat} runs, about {per_run * args.repeat / 60:.0f} min", flush=True
    )
    for rep in range(1, args.repeat + 1):
        for (framework, server, pinned), group in grouped(cells):
            port = free_port()
            journal = out / f"journal-{os.getpid()}-{port}.jsonl"
            env = dict(os.environ, PYTHONPATH=str(BENCH), BENCH_JOURNAL=str(journal))
            env["BENCH_PROFILES"] = "1" if any(c.endpoint == "profile" for c in group) else "0"
            if server.endswith(SWITCH_SUFFIX):
                env["BENCH_SWITCH_INTERVAL"] = SWITCH_INTERVAL
            argv = server_argv(framework, server, port, out)
            if pinned:
                argv = ["taskset", "-c", SERVER_CORE, *argv]
            proc = subprocess.Popen(argv, env=env, cwd=BENCH)
            try:
                wait_ready(port, "/bare", proc)
                server_proc = psutil.Process(proc.pid)
                for cell in group:
                    result = measure(cell, port, args.duration, args.warmup, server_proc)
                    record = {"rep": rep, "date": date.today().isoformat(), **asdict(cell), **result}
                    with runs_file.open("a") as fh:
                        fh.write(json.dumps(record) + "\n")
                    rps = result["requests"] / (result["duration_us"] / 1e6)
                    print(
                        f"  [{part} {rep}/{args.repeat}] {framework}/{server} {'pinned' if pinned else 'unpinned'} "
                        f"c{cell.connections} {cell.endpoint}: {rps:,.0f} req/s p99 {result['p99_us'] / 1000:.2f} ms",
                        flush=True,
                    )
            finally:
                stop(proc)
                journal.unlink(missing_ok=True)


# --- report -------------------------------------------------------------------------------------


def _fmt_ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}×"


def paired_ratio(row: dict[str, Any], base: dict[str, Any] | None) -> float | None:
    """Median over repetitions of row/base measured in the same repetition (noise shared in time)."""
    if base is None:
        return None
    ratios = [v / base["rps_by_rep"][rep] for rep, v in row["rps_by_rep"].items() if rep in base["rps_by_rep"]]
    return statistics.median(ratios) if ratios else None


def summarise(runs: list[dict[str, Any]]) -> dict[tuple[str, str, str, str, int, bool], dict[str, Any]]:
    by_cell: dict[tuple[str, str, str, str, int, bool], list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        key = (run["part"], run["framework"], run["server"], run["endpoint"], run["connections"], run["pinned"])
        by_cell[key].append(run)
    summary: dict[tuple[str, str, str, str, int, bool], dict[str, Any]] = {}
    for key, cell_runs in by_cell.items():
        rps = [r["requests"] / (r["duration_us"] / 1e6) for r in cell_runs]
        errors = sum(
            r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["status_errors"] + r["timeouts"]
            for r in cell_runs
        )
        row: dict[str, Any] = {
            "n": len(cell_runs),
            "rps": statistics.median(rps),
            "rps_runs": rps,
            "rps_by_rep": {r["rep"]: v for r, v in zip(cell_runs, rps, strict=True)},
            "other_cpu": statistics.median(others)
            if (others := [r["other_cpu"] for r in cell_runs if "other_cpu" in r])
            else None,
            "p50": statistics.median(r["p50_us"] / 1000 for r in cell_runs),
            "p99": statistics.median(r["p99_us"] / 1000 for r in cell_runs),
            "errors": errors,
            "server_cpu": statistics.median(r["server_cpu"] for r in cell_runs),
            "cpu_us": statistics.median(1e6 * r["server_cpu"] / v for r, v in zip(cell_runs, rps, strict=True)),
            "wrk_cpu": statistics.median(r["wrk_cpu"] for r in cell_runs),
        }
        journals = [r["journal"] for r in cell_runs if "journal" in r]
        if journals:
            row["fsync_rate"] = statistics.median(j["fsyncs"] / j["wall"] for j in journals)
            row["group"] = statistics.median(j["bodies"] / max(j["fsyncs"], 1) for j in journals)
            row["fsync_ms"] = statistics.median(1000 * j["fsync_seconds"] / max(j["fsyncs"], 1) for j in journals)
            row["max_group"] = max(j["max_group"] for j in journals)
        summary[key] = row
    return summary


PART_TITLES = {
    "screen": "Server variants: raw ASGI, bare endpoints, 64 connections",
    "matrix": "Frameworks × endpoints, 64 connections, pinned (server core 0, wrk core 1)",
    "hybrid": "FastAPI hybrids (OpenAPI kept for the rest) on the hot endpoints, 64 connections, pinned",
    "sweep": "Durable endpoint at 1 and 8 connections, pinned",
    "unpinned": "Unpinned (server and wrk share both cores), 64 connections",
    "profile": "Profile lookup, paced (C connections, each waits C ms before each request: ≤ 1,000 req/s), pinned",
    "switch": "GIL switch interval: default 5 ms vs 0.5 ms (`+si`), raw ASGI durable endpoint, pinned",
    "ceiling": "Load generator ceiling: wrk against nginx (1 worker process, `return 200`, no Python)",
}


def report(runs: list[dict[str, Any]]) -> str:
    summary = summarise(runs)
    lines: list[str] = []

    def ceiling(key: tuple[str, str, str, str, int, bool]) -> dict[str, Any] | None:
        """raw/uvicorn's bare endpoint with the same body, connections and pinning (any part)."""
        _, _, _, endpoint, connections, pinned = key
        bare = BARE_OF_BODY[ENDPOINTS[endpoint].body]
        for part in ("matrix", "screen", "unpinned", "hybrid"):
            found = summary.get((part, "raw", "uvicorn", bare, connections, pinned))
            if found is not None:
                return found
        return None

    def same_stack_bare(key: tuple[str, str, str, str, int, bool]) -> dict[str, Any] | None:
        part, framework, server, endpoint, connections, pinned = key
        bare = BARE_OF_BODY[ENDPOINTS[endpoint].body]
        for candidate_part in (part, "matrix", "screen", "unpinned", "hybrid"):
            for c in (connections, 64):
                found = summary.get((candidate_part, framework, server, bare, c, pinned))
                if found is not None:
                    return found
        return None

    for part, title in PART_TITLES.items():
        keys = [k for k in summary if k[0] == part]
        if not keys:
            continue
        lines.append(f"### {title}\n")
        lines.append(
            "| framework | server | endpoint | conns | pinned | req/s | events/s | p50 ms | p99 ms "
            "| vs bare (same stack) | vs raw/uvicorn bare | server CPU | server CPU µs/req | wrk CPU | other load "
            "| errors | fsync/s "
            "| requests/fsync | ms/fsync | runs req/s |"
        )
        lines.append("|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        order = {name: i for i, name in enumerate(ENDPOINTS)}
        fw_order = {name: i for i, name in enumerate([*FRAMEWORKS, "nginx"])}
        servers = ["uvicorn", *GRANIAN_VARIANTS]
        servers = [name for server in servers for name in (server, server + SWITCH_SUFFIX)]
        srv_order = {name: i for i, name in enumerate([*servers, "nginx"])}
        keys.sort(key=lambda k: (not k[5], srv_order[k[2]], fw_order[k[1]], order[k[3]], k[4]))
        for key in keys:
            row = summary[key]
            _, framework, server, endpoint, connections, pinned = key
            events = ENDPOINTS[endpoint].events
            own = same_stack_bare(key) if part != "ceiling" else None
            top = ceiling(key) if part != "ceiling" else None
            vs_own = paired_ratio(row, own)
            vs_top = paired_ratio(row, top)
            other = "" if row["other_cpu"] is None else f"{row['other_cpu']:.2f}"
            fsync = (
                f"{row['fsync_rate']:,.0f} | {row['group']:.1f} | {row['fsync_ms']:.2f}"
                if "fsync_rate" in row
                else " | | "
            )
            runs_text = ", ".join(f"{r:,.0f}" for r in row["rps_runs"])
            lines.append(
                f"| {framework} | {server} | {endpoint} | {connections} | {'yes' if pinned else 'no'} "
                f"| {row['rps']:,.0f} | {row['rps'] * events:,.0f} | {row['p50']:.2f} | {row['p99']:.2f} "
                f"| {_fmt_ratio(vs_own)} | {_fmt_ratio(vs_top)} | {row['server_cpu']:.2f} | {row['cpu_us']:.1f} "
                f"| {row['wrk_cpu']:.2f} "
                f"| {other} | {row['errors']} | {fsync} | {runs_text} |"
            )
        lines.append("")
    return "\n".join(lines)


def machine() -> str:
    return wrk_runs.machine(PACKAGES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="screen,matrix,hybrid,sweep,unpinned,profile,ceiling")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10.0, help="seconds per measured wrk run")
    parser.add_argument("--warmup", type=int, default=1.0, help="seconds of unmeasured wrk before each run")
    parser.add_argument("--granian", default="granian", choices=list(GRANIAN_VARIANTS), help="granian in matrix")
    parser.add_argument("--out", type=Path, default=Path("/tmp/personae-server-stack"))
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None or shutil.which("taskset") is None:
        raise SystemExit("needs wrk and taskset (apt-get install -y wrk util-linux)")
    args.out.mkdir(parents=True, exist_ok=True)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if not args.report_only:
        for part in args.parts.split(","):
            run_part(part.strip(), args, args.out)
    runs_file = args.out / "runs.jsonl"
    runs = [json.loads(line) for line in runs_file.read_text().splitlines()] if runs_file.exists() else []
    print(f"\n{machine()}\n")
    print(report(runs))


if __name__ == "__main__":
    main()
