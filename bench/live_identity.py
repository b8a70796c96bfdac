"""Live identity resolution (``personae.identity.live``) on a store of N people (default 1M).

The store is built once into ``OUT/live-identity/world-N/`` and resolved by the batch
identity step, then copied for each measurement (write-backs change it). It is built in
SQL, not by the demo generator (whose 1M world took 14 min to generate and ingest here,
and 11.8 GB for its batch run), with the demo world's shape: per person 1-3 anonymous ids
with four page views each and an identify call each when the person has a user id (70 %),
an e-mail (85 %), phone (40 %), loyalty card (30 %), two orders when there is an e-mail,
and a CRM record (50 %). People without a user id leave their visits unlinked, as visitors
who never log in do.

One fresh process measures, after the index is loaded:

- load: seconds to load the index (the batch graph SQL, then Arrow into memory), peak RSS
  of the process while loading, RSS after (store open) and the index alone (store closed);
- a stream of events, resolved one by one (``resolve``), 90 % carrying only identifiers
  the store knows (page views, identify calls and orders of known people, and 2 % that log
  a known visitor in as a known user: a merge), 10 % carrying a new one (new visitors, a
  known user's new device, new people); latency per event (p50, p99, p99.9, max) and
  events per second of resolving time;
- write-back (``write_back``) every ``--flush-every`` events: its latency;
- with ``--verify``: the stream loaded into ``events`` as ingest loads it, then a batch run
  (incremental, then full): ``identity_map`` and ``record_map`` must stay as live wrote them.

    .venv/bin/python bench/live_identity.py [--people 1000000] [--events 50000] \\
        [--flush-every 100] [--verify] [--out bench/out]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

SEED = 7
REGION = "US"
START = datetime(2023, 1, 1)


def person(i: int) -> dict[str, Any]:
    """What person ``i`` holds: the same arithmetic as :func:`build_sql`."""
    return {
        "anons": 1 + i % 3,
        "user": (i * 37) % 100 < 70,
        "email": (i * 53) % 100 < 85,
        "phone": (i * 71) % 100 < 40,
        "loyalty": (i * 89) % 100 < 30,
        "crm": (i * 97) % 100 < 50,
    }


def build_sql(people: int) -> list[str]:
    ids = (
        "'a' || i || 'x' || j AS anon, CASE WHEN (i * 37) % 100 < 70 THEN 'u' || i END AS user_id, "
        "CASE WHEN (i * 53) % 100 < 85 THEN 'user' || i || '@shopmail.com' END AS email, "
        "CASE WHEN (i * 71) % 100 < 40 THEN '+1555' || lpad(CAST(i AS VARCHAR), 7, '0') END AS phone, "
        "CASE WHEN (i * 89) % 100 < 30 THEN 'L' || i END AS loyalty_id, "
        "CASE WHEN (i * 97) % 100 < 50 THEN 'C' || i END AS crm_id"
    )
    born = f"TIMESTAMP '{START:%Y-%m-%d}' + to_days(CAST(i % 365 AS INTEGER))"
    people_sql = f"SELECT i, j, {born} AS born, {ids} FROM range({people}) AS p(i), range(3) AS a(j) WHERE j <= i % 3"
    loaded = "TIMESTAMP '2024-12-31'"
    return [
        f"CREATE TEMP TABLE _world AS {people_sql}",
        "INSERT INTO events (event_id, source, type, ts, anonymous_id, _loaded_at) "
        f"SELECT 'pv-' || i || '-' || j || '-' || k, 'web', 'page', born + to_hours(CAST(j * 10 + k AS INTEGER)), "
        f"anon, {loaded} FROM _world, range(4) AS v(k)",
        "INSERT INTO events (event_id, source, type, ts, anonymous_id, user_id, email, _loaded_at) "
        f"SELECT 'id-' || i || '-' || j, 'web', 'identify', born + to_hours(CAST(j * 10 + 5 AS INTEGER)), "
        f"anon, user_id, email, {loaded} FROM _world WHERE user_id IS NOT NULL",
        "INSERT INTO events (event_id, source, type, order_id, ts, email, phone, loyalty_id, _loaded_at) "
        "SELECT 'or-' || i || '-' || k, 'pos', 'order', 'o-' || i || '-' || k, "
        f"born + to_days(CAST(k * 30 AS INTEGER)), email, phone, loyalty_id, {loaded} "
        "FROM _world, range(2) AS o(k) WHERE j = 0 AND email IS NOT NULL",
        "INSERT INTO customer_records (source, record_id, updated_at, crm_id, email, phone, _loaded_at) "
        f"SELECT 'crm', crm_id, born, crm_id, email, phone, {loaded} FROM _world WHERE j = 0 AND crm_id IS NOT NULL",
        "DROP TABLE _world",
    ]


def settings() -> Any:
    from personae.identity.fuzzy_settings import FuzzySettings
    from personae.identity.specs import IdentitySettings

    return IdentitySettings(fuzzy=FuzzySettings(enabled=False), incremental=False)


def prepare(folder: Path, people: int) -> dict[str, Any]:
    from personae.engine import DuckDBEngine
    from personae.engine.tables import ensure_tables, step_tables
    from personae.identity.resolve import resolve_identities

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with DuckDBEngine(folder / "store.duckdb") as engine:
        ensure_tables(engine, [*step_tables("ingest"), *step_tables("identity")])
        started = time.perf_counter()
        for statement in build_sql(people):
            engine.execute(statement)
        built = time.perf_counter() - started
        started = time.perf_counter()
        result = resolve_identities(
            engine, settings(), extra_types=[], phone_region=REGION, at="2025-01-01 00:00:00", models=folder
        )
        facts = {
            "people": people,
            "build_s": built,
            "batch_s": time.perf_counter() - started,
            "events": int(engine.scalar("SELECT count(*) FROM events")),
            "customer_records": int(engine.scalar("SELECT count(*) FROM customer_records")),
            "identifiers": result.identifiers,
            "links": result.links,
            "uids": result.people,
            "batch_peak_rss_mb": peak_rss_mb(),
        }
    (folder / "ready.json").write_text(json.dumps(facts))
    return facts


def stream(people: int, events: int) -> list[tuple[bool, Any]]:
    """(new?, record): 90 % known identifiers (2 % of all a merge), 10 % a new one."""
    from personae.identity.live import LiveRecord

    rng = random.Random(SEED)
    at = datetime(2025, 1, 2)

    def someone(has: str = "", lacks: str = "") -> int:
        while True:
            i = rng.randrange(people)
            if (not has or person(i)[has]) and not (lacks and person(i)[lacks]):
                return i

    def known(i: int, *types: str) -> dict[str, str]:
        p = person(i)
        ids = {"anonymous_id": f"a{i}x{rng.randrange(p['anons'])}"}
        if "user" in types and p["user"]:
            ids["user_id"] = f"u{i}"
            if p["email"]:
                ids["email"] = f" User{i}@ShopMail.com"
        return ids

    out = []
    for n in range(events):
        draw, ts = rng.random(), at + timedelta(seconds=n)
        if draw < 0.60:
            new, ids = False, known(someone())
        elif draw < 0.80:
            new, ids = False, known(someone("user"), "user")
        elif draw < 0.88:
            i = someone("email")
            ids = {"email": f"user{i}@shopmail.com"}
            if person(i)["phone"]:
                ids["phone"] = f"(555) {i // 10000:03d}-{i % 10000:04d}"
            new = False
        elif draw < 0.90:  # a visitor who never logged in logs in as a known user: a merge
            visitor, user = someone(lacks="user"), someone("user")
            new, ids = False, {"anonymous_id": known(visitor)["anonymous_id"], "user_id": f"u{user}"}
        elif draw < 0.95:
            new, ids = True, {"anonymous_id": f"new-{n}"}
        elif draw < 0.98:
            i = someone("user")
            new, ids = True, {"anonymous_id": f"new-{n}", "user_id": f"u{i}"}
        else:
            new, ids = True, {"anonymous_id": f"new-{n}", "email": f"fresh{n}@mail.net"}
        out.append((new, LiveRecord("web", f"live-{n}", ts, ids)))
    return out


def measure(folder: Path, scratch: Path, events: int, flush_every: int, check: bool) -> dict[str, Any]:
    from personae.engine import DuckDBEngine
    from personae.identity.live import LiveIdentity

    facts = json.loads((folder / "ready.json").read_text())
    shutil.copy(folder / "store.duckdb", scratch)
    records = stream(facts["people"], events)
    engine = DuckDBEngine(scratch)
    before = rss_mb()
    started = time.perf_counter()
    live = LiveIdentity.load(engine, settings(), extra_types=[], phone_region=REGION)
    load_s = time.perf_counter() - started
    load_peak, loaded = peak_rss_mb(), rss_mb()
    engine.close()
    gc.collect()
    alone = rss_mb()
    engine = DuckDBEngine(scratch)
    gc.freeze()  # millions of long-lived objects: keep them out of the collector's full passes
    latencies: dict[bool, list[int]] = {False: [], True: []}
    flushes: list[int] = []
    merges = people = 0
    for number, (new, record) in enumerate(records, 1):
        started_ns = time.perf_counter_ns()
        resolution = live.resolve(record, at=record.ts)
        latencies[new].append(time.perf_counter_ns() - started_ns)
        merges += sum(change.reason == "merge" for change in resolution.changes)
        people += resolution.new_person
        if number % flush_every == 0 or number == len(records):
            started_ns = time.perf_counter_ns()
            live.write_back(engine)
            flushes.append(time.perf_counter_ns() - started_ns)
    probe = split_probe(live, engine, facts["people"], len(records))
    stream_records = [record for _, record in records] + probe.pop("records")
    verified = verify(engine, stream_records) if check else None
    engine.close()
    every = latencies[False] + latencies[True]
    return {
        **facts,
        "index": live.size,
        "load_s": load_s,
        "load_phases": live.load_seconds,
        "rss_before_mb": before,
        "load_peak_rss_mb": load_peak,
        "rss_loaded_mb": loaded,
        "rss_index_mb": alone,
        "rss_end_mb": rss_mb(),
        "latency": {
            name: summary(values)
            for name, values in (("all", every), *(("new" if k else "known", v) for k, v in latencies.items()))
        },
        "events_per_s": len(every) / (sum(every) / 1e9),
        "write_back": summary(flushes),
        "merges": merges,
        "new_people": people,
        "verified": verified,
        "split": probe,
    }


def split_probe(live: Any, engine: Any, people: int, offset: int) -> dict[str, Any]:
    """A known person's e-mail seen with six new user ids: the sixth makes it shared (more than
    ``shared_max`` = 5 user ids), the person splits, and the write-back recomputes the UIDs of
    its stored records from their identifiers (the slow path)."""
    from personae.identity.live import LiveRecord

    i = next(i for i in range(people // 2, people) if person(i)["user"] and person(i)["email"] and person(i)["phone"])
    at = datetime(2025, 1, 3)
    records = [
        LiveRecord("web", f"probe-{k}", at, {"email": f"user{i}@shopmail.com", "user_id": f"probe{k}"})
        for k in range(6)
    ]
    latencies, reasons = [], []
    for record in records:
        started_ns = time.perf_counter_ns()
        resolution = live.resolve(record, at=at)
        latencies.append((time.perf_counter_ns() - started_ns) / 1e6)
        reasons += [change.reason for change in resolution.changes]
    started_ns = time.perf_counter_ns()
    back = live.write_back(engine)
    return {
        "records": records,
        "resolve_ms": latencies,
        "changes": reasons,
        "recheck": len(back.recheck),
        "write_back_ms": (time.perf_counter_ns() - started_ns) / 1e6,
    }


def verify(engine: Any, records: list[Any]) -> dict[str, bool]:
    """Load the stream into ``events`` as ingest does, run batch: does it keep what live wrote?"""
    import pyarrow as pa

    from personae.engine.tables import IDENTIFIER_TYPES
    from personae.identity.resolve import resolve_identities
    from personae.sources.normalise import identifier_sql

    columns = {
        "event_id": [r.record_id for r in records],
        "source": [r.source for r in records],
        "ts": [r.ts for r in records],
        **{t: [r.identifiers.get(t) for r in records] for t in IDENTIFIER_TYPES},
    }
    engine.register_arrow("_stream", pa.table(columns))
    normalised = ", ".join(identifier_sql(t, f"CAST({t} AS VARCHAR)", REGION) for t in IDENTIFIER_TYPES)
    engine.insert(
        "events",
        ["event_id", "source", "type", "ts", *IDENTIFIER_TYPES],
        f"SELECT event_id, source, 'track', ts, {normalised} FROM _stream",
    )
    snapshot = "SELECT {} FROM {} ORDER BY ALL"
    tables = {"identity_map": "id_type, id_value, uid", "record_map": "source, record_id, uid"}
    written = {table: engine.fetch_arrow(snapshot.format(cols, table)) for table, cols in tables.items()}
    verdict = {}
    for incremental in (True, False):
        rules = settings().model_copy(update={"incremental": incremental})
        resolve_identities(engine, rules, extra_types=[], phone_region=REGION, at="2025-02-01 00:00:00", models=Path())
        same = all(engine.fetch_arrow(snapshot.format(cols, t)).equals(written[t]) for t, cols in tables.items())
        verdict["incremental" if incremental else "full"] = same
    return verdict


def summary(values: list[int]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6

    return {
        "n": len(ordered),
        "p50": at(0.5),
        "p99": at(0.99),
        "p999": at(0.999),
        "max": ordered[-1] / 1e6,
        "mean": statistics.fmean(ordered) / 1e6,
    }


def rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(result: dict[str, Any], flush_every: int) -> None:
    print(f"\n### Live identity, {result['people']:,} people\n")
    print(
        f"store: {result['events']:,} events, {result['customer_records']:,} customer records; "
        f"{result['identifiers']:,} identifiers, {result['links']:,} links, {result['uids']:,} UIDs "
        f"(built in {result['build_s']:.0f} s, batch identity {result['batch_s']:.0f} s, "
        f"peak RSS {result['batch_peak_rss_mb']:,.0f} MB); index: {result['index']['identifiers']:,} identifiers, "
        f"{result['index']['signatures']:,} signatures after the stream\n"
    )
    print("| measure | value |\n|---|---:|")
    rows = [
        (
            "load time, s (graph SQL / to Arrow / memory)",
            f"{result['load_s']:.1f} ({' / '.join(f'{v:.1f}' for v in result['load_phases'].values())})",
        ),
        ("peak RSS while loading, MB", f"{result['load_peak_rss_mb']:,.0f}"),
        ("RSS after loading (store open), MB", f"{result['rss_loaded_mb']:,.0f}"),
        ("RSS of the index alone (store closed), MB", f"{result['rss_index_mb']:,.0f}"),
        ("RSS before loading, MB", f"{result['rss_before_mb']:,.0f}"),
        ("events resolved per second (resolving time only)", f"{result['events_per_s']:,.0f}"),
    ]
    for name, values in result["latency"].items():
        rows.append(
            (
                f"latency per event, {name} ({values['n']:,}): p50 / p99 / p99.9 / max, ms",
                f"{values['p50']:.3f} / {values['p99']:.3f} / {values['p999']:.3f} / {values['max']:.1f}",
            )
        )
    back = result["write_back"]
    rows.append(
        (
            f"write-back every {flush_every} events ({back['n']}): p50 / p99 / max, ms",
            f"{back['p50']:.0f} / {back['p99']:.0f} / {back['max']:.0f}",
        )
    )
    rows.append(("merges / new people in the stream", f"{result['merges']:,} / {result['new_people']:,}"))
    split = result["split"]
    rows.append(
        (
            f"split probe: resolve p50 / max, ms ({', '.join(split['changes'])})",
            f"{statistics.median(split['resolve_ms']):.2f} / {max(split['resolve_ms']):.2f}",
        )
    )
    rows.append(
        (
            f"split probe: write-back recomputing the stored records of {split['recheck']} UIDs, ms",
            f"{split['write_back_ms']:,.0f}",
        )
    )
    if result["verified"] is not None:
        verdict = ", ".join(f"{mode}: {'same' if same else 'DIFFERENT'}" for mode, same in result["verified"].items())
        rows.append(("batch run after the stream keeps identity_map and record_map", verdict))
    for name, value in rows:
        print(f"| {name} | {value} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--flush-every", type=int, default=100)
    parser.add_argument("--verify", action="store_true", help="check batch keeps what live wrote (a batch run)")
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--phase", choices=["prepare", "measure"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    folder = args.out / "live-identity" / f"world-{args.people}"
    if args.phase == "prepare":
        print(json.dumps(prepare(folder, args.people)))
        return
    if args.phase == "measure":
        scratch = args.out / "live-identity" / "scratch.duckdb"
        print(json.dumps(measure(folder, scratch, args.events, args.flush_every, args.verify)))
        return
    own = [sys.executable, __file__, "--people", str(args.people), "--out", str(args.out)]
    if not (folder / "ready.json").exists():
        subprocess.run([*own, "--phase", "prepare"], check=True, stdout=subprocess.DEVNULL)
    done = subprocess.run(
        [*own, "--phase", "measure", "--events", str(args.events), "--flush-every", str(args.flush_every)]
        + (["--verify"] if args.verify else []),
        check=True,
        capture_output=True,
        text=True,
    )
    report(json.loads(done.stdout.splitlines()[-1]), args.flush_every)


if __name__ == "__main__":
    main()
