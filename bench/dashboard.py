"""Server time of each dashboard page on a demo workspace (issue 16: ≤ 300 ms on 20,000 customers).

Serves the workspace as ``personae serve`` does (granian, in a thread of this process), logs in
with a read token, asks every page ``--repeat`` times over one keep-alive connection from
127.0.0.1 (interleaved: every page once per round, after a warm-up round) and prints the
median, with its ratio to the budget and to ``/health`` (the server's cheapest answer, the
baseline measured in the same run).

    .venv/bin/python bench/dashboard.py --workspace demo --repeat 9
    .venv/bin/python bench/dashboard.py --customers 20000      # builds bench/out/dashboard-20000 first
    .venv/bin/python bench/dashboard.py --workspace demo --explain   # and each page's queries

With ``--explain`` it also prints every query each page runs, with what DuckDB's ``EXPLAIN
ANALYZE`` says it scanned: each table, its row groups read out of its total, and the rows it
scanned (a summary table is a few rows; a full scan of ``events`` would show here).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa

from personae import Workspace
from personae.dashboard import pages
from personae.engine.duckdb import DuckDBEngine
from personae.server import create_app
from personae.server.serving import Serving

BUDGET_MS = 300.0
PAGES = (
    "/health",
    "/dashboard/overview",
    "/dashboard/segments?segmentation=rfm",
    "/dashboard/segments?segmentation=lifecycle",
    "/dashboard/segments?segmentation=lifestyle",
    "/dashboard/customer?q={email}",
    "/dashboard/rules",
    "/dashboard/models",
    "/dashboard/questions",
    "/dashboard/activation",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _workspace(args: argparse.Namespace) -> Workspace:
    if args.workspace:
        return Workspace(args.workspace)
    root = Path(__file__).parent / "out" / f"dashboard-{args.customers}"
    if not (root / "personae.toml").exists():
        Workspace.init(root, demo=True, customers=args.customers)
    workspace = Workspace(root)
    if not (root / "personae.duckdb").exists():
        workspace.run()
    return workspace


def _time(client: httpx.Client, paths: list[str], repeat: int) -> dict[str, tuple[list[float], list[float]]]:
    """Per page, the wall-clock ms of each request and the CPU ms this process (server, client and
    any background thread of the server) spent meanwhile. One unmeasured round of every page
    first, then ``repeat`` rounds, each asking every page once: background work of the server
    (live processing, deliveries) falls on every page alike instead of on the first ones."""
    for path in paths:
        client.get(path)  # warm-up
    found: dict[str, tuple[list[float], list[float]]] = {path: ([], []) for path in paths}
    for _ in range(repeat):
        for path in paths:
            started, used = time.perf_counter(), time.process_time()
            answer = client.get(path)
            found[path][0].append((time.perf_counter() - started) * 1000)
            found[path][1].append((time.process_time() - used) * 1000)
            if answer.status_code != 200:
                raise SystemExit(f"{path}: {answer.status_code} {answer.text[:300]}")
    return found


def _page_builds(workspace: Workspace, email: str) -> dict[str, Callable[[], object]]:
    """Each page's builder (what its route calls), keyed as in ``PAGES``."""
    return {
        "/dashboard/overview": lambda: pages.overview_page(workspace, None, None),
        "/dashboard/segments?segmentation=rfm": lambda: pages.segments_page(workspace, "rfm"),
        "/dashboard/segments?segmentation=lifecycle": lambda: pages.segments_page(workspace, "lifecycle"),
        "/dashboard/segments?segmentation=lifestyle": lambda: pages.segments_page(workspace, "lifestyle"),
        "/dashboard/customer?q={email}": lambda: pages.customer_page(workspace, email),
        "/dashboard/rules": lambda: pages.rules_page(workspace),
        "/dashboard/models": lambda: pages.models_page(workspace),
        "/dashboard/questions": lambda: pages.questions_page(workspace),
        "/dashboard/activation": lambda: pages.activation_page(workspace),
    }


def _scans(plan: dict[str, Any]) -> list[str]:
    """``table: row groups read / all, rows scanned`` of each table scan in an EXPLAIN ANALYZE plan (JSON)."""
    found = []
    if plan.get("type") == "TABLE_SCAN":
        table = str(plan.get("extra_info", {}).get("Table", "?")).removeprefix("personae.main.")
        groups = f"{plan.get('row_groups_scanned', '?')} / {plan.get('total_row_groups_to_scan', '?')}"
        found.append(f"{table}: {groups} row groups, {int(plan.get('rows_scanned', 0)):,} rows scanned")
    for child in plan.get("children", []):
        found += _scans(child)
    return found


def explain(workspace: Workspace, email: str) -> list[str]:
    """A table of every query of every page with what it scanned (the workspace held open)."""
    queries: list[str] = []
    lines = ["", "| page | query | scans (EXPLAIN ANALYZE) |", "|---|---|---|"]
    fetch = DuckDBEngine.fetch_arrow

    def recorded(engine: DuckDBEngine, sql: str) -> pa.Table:
        queries.append(sql)
        return fetch(engine, sql)

    for page, build in _page_builds(workspace, email).items():
        queries.clear()
        DuckDBEngine.fetch_arrow = recorded  # type: ignore[method-assign]
        try:
            build()
        finally:
            DuckDBEngine.fetch_arrow = fetch  # type: ignore[method-assign]
        with workspace.engine(write=False) as store:
            for sql in queries:
                plan = json.loads(store.fetch_rows(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")[0][-1])
                operators = plan if isinstance(plan, list) else plan.get("operator", plan.get("children", []))
                scans = [scan for operator in operators for scan in _scans(operator)]
                shown = " ".join(sql.split())
                shown = shown if len(shown) <= 140 else shown[:137] + "..."
                lines.append(f"| `{page}` | `{shown.replace('|', '/')}` | {'; '.join(scans) or 'no table'} |")
    return lines


def _settle(client: httpx.Client) -> float:
    """Wait (up to 10 minutes) until live processing has caught up: on start it reads the store's
    identifiers, rules and people, which would be counted against the first pages timed.
    Returns the seconds it took."""
    started = time.monotonic()
    for _ in range(1200):
        live = client.get("/health").json().get("live")
        if live is None or live.get("caught_up"):
            break
        time.sleep(0.5)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path, help="a workspace that has been run (default: a demo world)")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--explain", action="store_true", help="also list each page's queries and what they scan")
    args = parser.parse_args()
    workspace = _workspace(args)
    _, token = workspace.create_key("read", name="bench/dashboard.py")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with workspace.open(command="bench/dashboard.py"):
        with workspace.engine(write=False) as store:
            people = int(store.scalar("SELECT count(*) FROM profiles"))
            events = int(store.scalar("SELECT count(*) FROM events"))
            email = store.scalar("SELECT min(id_value) FROM identity_map WHERE id_type = 'email'")
        server = Serving(create_app(workspace, url=url), "127.0.0.1", port)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        server.started.wait(30)
        try:
            with httpx.Client(base_url=url, timeout=120) as client:
                for _ in range(100):
                    try:
                        client.get("/health")
                        break
                    except httpx.TransportError:
                        time.sleep(0.1)
                settled = _settle(client)
                client.post("/dashboard/login", data={"token": token})
                load_before = os.getloadavg()[0]
                timed = _time(client, [page.format(email=email) for page in PAGES], args.repeat)
                rows = [(page, *timed[page.format(email=email)]) for page in PAGES]
                load_after = os.getloadavg()[0]
        finally:
            server.stop()
            thread.join(600)  # the server stops once live processing has (it may be reading the store)
        if thread.is_alive():
            raise SystemExit("the server did not stop within 10 minutes")
        baseline = statistics.median(rows[0][1])
        print(f"workspace: {workspace.root} ({people:,} profiles, {events:,} events); {args.repeat} requests per page")
        print(f"live processing read the store in {settled:.1f} s after the server started (not timed below)")
        print(f"load average (1 min) at the start and end of the timed requests: {load_before:.1f}, {load_after:.1f}\n")
        print("| page | median ms | min ms | max ms | median CPU ms | median / 300 ms budget | median / `/health` |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for page, times, cpu in rows:
            median = statistics.median(times)
            print(
                f"| `{page}` | {median:.1f} | {min(times):.1f} | {max(times):.1f} | {statistics.median(cpu):.1f} "
                f"| {median / BUDGET_MS:.2f}× | {median / baseline:.1f}× |",
                flush=True,
            )
        print("\n".join(explain(workspace, str(email)) if args.explain else []))


if __name__ == "__main__":
    main()
