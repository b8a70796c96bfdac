"""The benchmark of ``personae serve`` (issue 13): the real server, driven from this machine.

Every part starts ``personae serve -w STORE --port P`` as a subprocess on 127.0.0.1 (granian
embedded, the raw ASGI front for tracking; ``src/personae/cli/serve.py``) and loads it with
Debian's ``wrk`` (``bench/wrk/serve*.lua``) or, for the change feed, an asyncio generator of
our own (``bench/server_feed.py``). Parts (``--parts``, comma-separated):

- ``ceiling``: the bare "return 200" ASGI app of ``bench/server_apps.py`` (``raw_app``) run by
  personae's own ``Serving`` (granian embedded, same settings), POSTed the same track and
  batch bodies as the real parts, 64 connections: what the stack serves when the app does
  nothing. The other wrk parts are divided by it, repetition by repetition;
- ``batch`` and ``track`` run with live processing on (as ``personae serve`` runs), sharing
  the server's core with intake; ``--no-live`` measures intake alone (``[server] live = false``);
- ``batch``: ``POST /v1/batch`` of 100 track events (new messageIds every request), 64
  connections; events/s = requests/s × 100, each acknowledged only once fsynced; the
  server's own count (``/health`` ``events``) is shown beside wrk's;
- ``track``: single ``POST /v1/track`` calls, 64 connections (a saturated closed loop);
- ``changes``: p50/p99 from a probe's acknowledgement to its entry on ``/v1/changes``, under
  an open-loop background of ``--rate`` track calls a second (``bench/server_feed.py``);
- ``profile``: ``GET /v1/profiles/email:…`` for e-mails sampled from the store, paced (20
  connections, each waiting 20 ms: at most 1,000 requests/s), and on 1 connection unpaced
  (the service time without queueing), on the demo-size store and the ``--big`` one;
- ``lookup``: the same lookups in this process, statement by statement
  (``bench/server_lookup.py``), to say where a slow lookup spends its time (first repetition).

Stores (``bench/server_store.py``) are demo worlds built through the CLI and cached under
``--cache``; the parts that send events get a fresh copy of the demo-size store each run.
Pinned (the default) puts the server on core 0 and wrk (or this process, for ``changes``) on
core 1 with taskset, as ``bench/server_stack.py`` did. Each part is repeated ``--repeat``
times (the whole list of parts per repetition, so every part sees the same spread of other
load) and the tables show medians. "other load" is the cores used by processes outside this
script's tree (the machine is shared), as in ``bench/SERVER_STACK.md``.

    PYTHONPATH=src .venv/bin/python bench/server.py [--parts ceiling,batch,track,changes,profile,lookup] \\
        [--repeat 3] [--duration 10] [--customers 20000] [--big 1000000] [--quick] [--report-only]

Runs go to ``OUT/runs.jsonl``; the Markdown tables are printed at the end (``--report-only``
prints them again).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import psutil

import server_report
from server_feed import event_to_change
from server_store import Keys, StoreSpec, built_store, identifier_file, make_keys, sample_identifiers, scratch_copy
from wrk_runs import (
    SERVER_CORE,
    WRK_CORE,
    WRK_DIR,
    OtherLoad,
    free_port,
    get_json,
    machine,
    measure_wrk,
    process_cpu_seconds,
    run_wrk,
    stop,
    wait_ready,
)

PARTS = ("ceiling", "batch", "track", "changes", "profile", "lookup")
PACKAGES = ["granian", "uvloop", "fastapi", "starlette", "msgspec", "duckdb"]
CONNECTIONS = 64
PROFILE_CONNECTIONS = 20
PROFILE_DELAY_MS = 20
"""20 connections each waiting 20 ms before each request offer at most 1,000 lookups a second."""


@dataclass
class Context:
    args: argparse.Namespace
    out: Path
    small: Path
    big: Path | None
    keys: dict[Path, Keys]
    ids: dict[Path, Path]
    users: list[str]


# --- servers ------------------------------------------------------------------------------------


@contextmanager
def server(argv: list[str], ready: str, ctx: Context, name: str) -> Iterator[tuple[int, psutil.Process]]:
    """A server subprocess (pinned to the server core unless ``--no-pin``) on a free port."""
    port = free_port()
    argv = [arg.replace("{port}", str(port)) for arg in argv]
    if ctx.args.pin:
        argv = ["taskset", "-c", SERVER_CORE, *argv]
    with (ctx.out / f"server-{name}.log").open("ab") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_ready(port, ready, proc, timeout=600)
            if ready == "/health":
                wait_live(port, proc)
            yield port, psutil.Process(proc.pid)
        finally:
            stop(proc)


def wait_live(port: int, proc: subprocess.Popen[bytes], timeout: float = 900) -> None:
    """Until live processing has read the store (its identifier index and rules), so that no
    measurement shares the server's core with that load."""
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        live = get_json(port, "/health").get("live")
        if live is None or (live["reloads"] >= 1 and not live["waiting"]):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"the server stopped while live processing loaded (exit {proc.returncode})")
        time.sleep(0.5)
    raise RuntimeError(f"live processing did not load the store within {timeout:.0f} s")


def personae_serve(root: Path, ctx: Context) -> Any:
    argv = [sys.executable, "-m", "personae", "serve", "-w", str(root), "--port", "{port}"]
    return server(argv, "/health", ctx, root.name)


def serve_ceiling(port: int) -> None:
    """``raw_app`` under personae's ``Serving`` (what ``--serve-ceiling`` runs): the same
    granian embedding, loop and settings as ``personae serve``, around an app that does nothing."""
    from personae.server.front import Front
    from personae.server.serving import Serving
    from server_apps import raw_app

    class Bare:
        """``raw_app`` with the one attribute ``Serving`` reads of a ``Front`` (``app.state``)."""

        app = SimpleNamespace(state=SimpleNamespace())

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await raw_app(scope, receive, send)

    Serving(cast(Front, Bare()), "127.0.0.1", port).run()


# --- wrk parts ----------------------------------------------------------------------------------


def wrk_cell(
    port: int,
    proc: psutil.Process,
    path: str,
    script: str,
    ctx: Context,
    *,
    env: dict[str, str],
    connections: int = CONNECTIONS,
    counter: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """Warm-up, then one measured wrk run of ``script`` against ``path``; ``counter`` (read
    just before and after the measured run) gives ``counted_per_s``."""
    a = ctx.args
    wrk: dict[str, Any] = {
        "connections": connections,
        "threads": 1 if a.pin else 2,
        "core": WRK_CORE if a.pin else None,
        "env": dict(os.environ, WRK_RUN=uuid.uuid4().hex[:8], **env),
    }
    url = f"http://127.0.0.1:{port}{path}"
    if a.warmup > 0:
        run_wrk(WRK_DIR / script, url, duration=a.warmup, **wrk)
    before, started = (counter() if counter else 0.0), time.monotonic()
    result = measure_wrk(proc, WRK_DIR / script, url, duration=a.duration, **wrk)
    if counter:
        result["counted_per_s"] = (counter() - before) / (time.monotonic() - started)
    return result


def tracking_env(ctx: Context, root: Path, events: int) -> dict[str, str]:
    from server_feed import basic

    key = ctx.keys[root].write if root in ctx.keys else "bench-write-key"
    return {"WRK_EVENTS": str(events), "WRK_AUTH": basic(key)}


def part_ceiling(rep: int, ctx: Context) -> list[dict[str, Any]]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--serve-ceiling", "{port}"]
    records = []
    with server(argv, "/bare", ctx, "ceiling") as (port, proc):
        for cell, events in (("bare POST, track body", 1), ("bare POST, batch body", 100)):
            result = wrk_cell(port, proc, "/bare", "serve.lua", ctx, env=tracking_env(ctx, ctx.small, events))
            records.append({"cell": cell, "events": events, **result})
    return records


def part_tracking(part: str, rep: int, ctx: Context) -> list[dict[str, Any]]:
    events, path = (100, "/v1/batch") if part == "batch" else (1, "/v1/track")
    root = scratch_copy(ctx.small, ctx.out)
    if not ctx.args.live:  # intake alone: events journaled, left for the next batch run
        with (root / "personae.toml").open("a", encoding="utf-8") as toml:
            toml.write("\n[server]\nlive = false\n")
    env = tracking_env(ctx, ctx.small, events)
    with personae_serve(root, ctx) as (port, proc):

        def counted() -> float:
            return float(get_json(port, "/health")["events"])

        result = wrk_cell(port, proc, path, "serve.lua", ctx, env=env, counter=counted)
    shutil.rmtree(root, ignore_errors=True)
    cell = f"{path} ({events} events a request)" if events > 1 else path
    cell += "" if ctx.args.live else ", live processing off"
    return [{"cell": cell, "events": events, "store": ctx.small.name, **result}]


def part_changes(rep: int, ctx: Context) -> list[dict[str, Any]]:
    a = ctx.args
    seconds = a.changes_seconds or 2 * a.duration
    records = []
    for cell, then_run in (("live", False), *([("then a batch run", True)] if a.changes_batch_run else [])):
        root = scratch_copy(ctx.small, ctx.out)
        with personae_serve(root, ctx) as (port, proc):
            affinity = os.sched_getaffinity(0)
            if a.pin:
                os.sched_setaffinity(0, {int(WRK_CORE)})
            cpu_before, started = process_cpu_seconds(proc), time.monotonic()
            try:
                with OtherLoad() as other:
                    probing = event_to_change(
                        port,
                        ctx.keys[ctx.small],
                        ctx.users,
                        duration=seconds,
                        rate=a.rate,
                        probe_every=a.probe_every,
                        grace=a.grace,
                        then_run=then_run,
                    )
                    found = asyncio.run(probing)
            finally:
                os.sched_setaffinity(0, affinity)
            server_cpu = (process_cpu_seconds(proc) - cpu_before) / (time.monotonic() - started)
        shutil.rmtree(root, ignore_errors=True)
        record = {"cell": cell, "store": ctx.small.name, "seconds": seconds, "rate": a.rate}
        records.append({**record, **found.summary(), "server_cpu": server_cpu, "other_cpu": other.cores})
    return records


def part_profile(rep: int, ctx: Context) -> list[dict[str, Any]]:
    records = []
    for root in [ctx.small, *([ctx.big] if ctx.big else [])]:
        auth = f"Bearer {ctx.keys[root].read}"
        with personae_serve(root, ctx) as (port, proc):
            for cell, connections, delay in (
                ("1 connection, unpaced", 1, 0),
                (f"{PROFILE_CONNECTIONS} connections × {PROFILE_DELAY_MS} ms", PROFILE_CONNECTIONS, PROFILE_DELAY_MS),
            ):
                env = {"WRK_IDS": str(ctx.ids[root]), "WRK_AUTH": auth, "WRK_DELAY_MS": str(delay)}
                result = wrk_cell(
                    port, proc, "/v1/profiles/", "serve_profile.lua", ctx, env=env, connections=connections
                )
                records.append({"cell": cell, "events": 1, "store": root.name, **result})
    return records


def part_lookup(rep: int, ctx: Context) -> list[dict[str, Any]]:
    from server_lookup import lookup_breakdown

    if rep != 1:
        return []
    records = []
    for root, count in [(ctx.small, 40), *([(ctx.big, 15)] if ctx.big else [])]:
        lines = ctx.ids[root].read_text().split()
        identifiers = [urllib.parse.unquote(line) for line in lines[:count]]
        records.append({"cell": "in process", "store": root.name, **lookup_breakdown(root, identifiers)})
    return records


# --- running ------------------------------------------------------------------------------------


def prepare(args: argparse.Namespace, out: Path) -> Context:
    """Stores built or found in the cache, keys, and identifiers sampled before any server runs."""
    small = built_store(StoreSpec(args.customers, models=args.models, probe_segment=True), args.cache)
    big = (
        built_store(StoreSpec(args.big, models=args.models, fuzzy=False, memory_limit="6GB"), args.cache)
        if args.big
        else None
    )
    keys: dict[Path, Keys] = {}
    ids: dict[Path, Path] = {}
    for root in [small, *([big] if big else [])]:
        keys[root] = make_keys(root)
        emails = sample_identifiers(root, "email", 10_000)
        ids[root] = identifier_file(root, emails, "email", out)
    users = sample_identifiers(small, "user_id", 5_000)
    return Context(args, out, small, big, keys, ids, users)


def run(args: argparse.Namespace, out: Path) -> None:
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    ctx = prepare(args, out)
    command = " ".join([Path(sys.executable).name, *sys.argv])
    for rep in range(1, args.repeat + 1):
        for part in parts:
            print(f"[{rep}/{args.repeat}] {part}", flush=True)
            if part == "ceiling":
                records = part_ceiling(rep, ctx)
            elif part in ("batch", "track"):
                records = part_tracking(part, rep, ctx)
            elif part == "changes":
                records = part_changes(rep, ctx)
            elif part == "profile":
                records = part_profile(rep, ctx)
            else:
                records = part_lookup(rep, ctx)
            with (out / "runs.jsonl").open("a") as runs:
                for record in records:
                    full = {"rep": rep, "part": part, "date": date.today().isoformat(), "command": command, **record}
                    runs.write(json.dumps(full) + "\n")
                    print("   ", server_report.one_line(full), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured wrk run")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of unmeasured wrk before each run")
    parser.add_argument("--customers", type=int, default=20_000, help="people in the demo-size store")
    parser.add_argument("--big", type=int, default=1_000_000, help="people in the profile part's big store (0: none)")
    parser.add_argument(
        "--models", action=argparse.BooleanOptionalAction, default=False, help="stores run the models step"
    )
    parser.add_argument("--rate", type=float, default=1000.0, help="background track calls/s in the changes part")
    parser.add_argument("--probe-every", type=float, default=0.05, help="seconds between probes (changes)")
    parser.add_argument("--grace", type=float, default=5.0, help="seconds a probe's change may take (changes)")
    parser.add_argument("--changes-seconds", type=float, default=None, help="probing time (default 2 × duration)")
    parser.add_argument(
        "--changes-batch-run", action="store_true", help="changes also through a batch run (the path without live)"
    )
    parser.add_argument(
        "--live",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="live processing in the batch and track parts (--no-live: intake alone)",
    )
    parser.add_argument("--pin", action=argparse.BooleanOptionalAction, default=True, help="server core 0, wrk core 1")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 repeat, 3 s cells, 2,000 people, no big")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/personae-bench-server/stores"))
    parser.add_argument("--out", type=Path, default=None, help="default /tmp/personae-bench-server/run-<time>")
    parser.add_argument("--report-only", action="store_true", help="print the tables of --out's runs")
    parser.add_argument("--serve-ceiling", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_ceiling:
        serve_ceiling(args.serve_ceiling)
        return
    if args.quick:
        args.repeat, args.duration, args.warmup, args.customers, args.big = 1, 3.0, 1.0, 2_000, 0
    if shutil.which("wrk") is None or (args.pin and shutil.which("taskset") is None):
        raise SystemExit("needs wrk and taskset (apt-get install -y wrk util-linux)")
    out = args.out or Path(f"/tmp/personae-bench-server/run-{time.strftime('%Y%m%d-%H%M%S')}")
    out.mkdir(parents=True, exist_ok=True)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if not args.report_only:
        run(args, out)
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    print(f"\n{machine(PACKAGES)}\n")
    print(server_report.report(runs, args.cache))
    print(f"(runs in {out / 'runs.jsonl'})")


if __name__ == "__main__":
    main()
