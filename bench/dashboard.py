"""Server time of each dashboard page on a demo workspace (issue 16: ≤ 300 ms on 20,000 customers).

Serves the workspace as ``personae serve`` does (granian, in a thread of this process), logs in
with a read token, asks every page ``--repeat`` times over one keep-alive connection from
127.0.0.1 and prints the median, with its ratio to the budget and to ``/health`` (the
server's cheapest answer, the baseline measured in the same run). The first request of each
page is a warm-up and not counted.

    .venv/bin/python bench/dashboard.py --workspace demo --repeat 9
    .venv/bin/python bench/dashboard.py --customers 20000      # builds bench/out/dashboard-20000 first
"""

from __future__ import annotations

import argparse
import socket
import statistics
import threading
import time
from pathlib import Path

import httpx

from personae import Workspace
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


def _time(client: httpx.Client, path: str, repeat: int) -> tuple[list[float], list[float]]:
    """Wall-clock ms of each request, and the CPU ms this process (server and client) spent on it."""
    client.get(path)  # warm-up
    times, cpu = [], []
    for _ in range(repeat):
        started, used = time.perf_counter(), time.process_time()
        answer = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - used) * 1000)
        if answer.status_code != 200:
            raise SystemExit(f"{path}: {answer.status_code} {answer.text[:300]}")
    return times, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path, help="a workspace that has been run (default: a demo world)")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=9)
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
                client.post("/dashboard/login", data={"token": token})
                rows = []
                for page in PAGES:
                    path = page.format(email=email)
                    rows.append((page, *_time(client, path, args.repeat)))
        finally:
            server.stop()
            thread.join(30)
    baseline = statistics.median(rows[0][1])
    print(f"workspace: {workspace.root} ({people:,} profiles, {events:,} events); {args.repeat} requests per page\n")
    print("| page | median ms | min ms | max ms | median CPU ms | median / 300 ms budget | median / `/health` |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for page, times, cpu in rows:
        median = statistics.median(times)
        print(
            f"| `{page}` | {median:.1f} | {min(times):.1f} | {max(times):.1f} | {statistics.median(cpu):.1f} "
            f"| {median / BUDGET_MS:.2f}× | {median / baseline:.1f}× |"
        )


if __name__ == "__main__":
    main()
