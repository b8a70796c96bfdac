"""Traits, segments and the customer summary against lifetimes, pymc-marketing, pandas and DuckDB.

Two parts; every measurement runs in a fresh process, several times (median time, max peak RSS).

pipeline: a demo world of N people (default 1M, about 8.5 orders each), generated and ingested
once by bench/identity.py's ``prepare_world`` (its cache ``OUT/identity/world-N/`` is reused),
then copied to ``OUT/segments/world-N/`` where identity (fuzzy matching off) and golden run
once. On a fresh copy of that store, with 20 rule segments appended to ``personae.toml``:

- ``Workspace.run(only="traits")``: orders, lines, shares, ``customer_summary``, traits, profiles;
- ``Workspace.run(only="segment")`` (on a copy whose traits are built): RFM, lifecycle and the
  20 rule segments, memberships;
- both steps one after the other in one process (the whole step).

summary: the customer summary (frequency, recency, T, monetary value; lifetimes' definitions,
days) from the orders of that world (``uid, ts, amount``, exported once to Parquet). Each
contender starts from the orders already in memory, read from the Parquet file before the
clock starts: a pandas DataFrame for lifetimes, pymc-marketing and pandas, a DuckDB in-memory
table for the two DuckDB variants. Each ends with the summary in memory (a DataFrame or a
DuckDB table). Contenders:

- personae: ``customer_summary_sql`` run by DuckDB into a table;
- hand-written DuckDB: the simplest GROUP BY query giving the same four numbers;
- pandas: two groupbys;
- lifetimes ``summary_data_from_transaction_data`` and pymc-marketing ``rfm_summary``, run with
  ``.venv-bench/bin/python`` (they are not dependencies of personae). A library whose full-size
  run would take over 10 minutes (judged from its run on the subset) runs on the subset only.

Every contender also runs on a subset of about 1M orders (all the orders of customers drawn at
random). Before timing counts, the outputs of 300 sampled customers are compared with personae's
(max abs difference per column).

    .venv/bin/python bench/segments.py [--people 1000000] [--repeat 3] [--parts pipeline,summary] \\
        [--subset-rows 1000000] [--out bench/out]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
"""The venv that holds lifetimes and pymc-marketing."""
TIMEOUT = 3600
"""Seconds one measured process may take before the benchmark gives up."""
LIBRARY_LIMIT = 600
"""A library whose full-size run is expected to take longer than this runs on the subset only."""
SAMPLE = 300
SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value")
RULES = (
    ("big_spenders", "revenue_365d > 1000"),
    ("frequent_recent", "orders_90d >= 3"),
    ("lapsed_90", "days_since_last_order > 90 and orders >= 2"),
    ("lapsed_365", "days_since_last_order > 365"),
    ("opted_in_buyers", "email_opt_in and orders > 0"),
    ("book_lovers", "top_category = 'books' and top_category_share >= 0.5"),
    ("promo_hunters", "promo_share >= 0.5 and orders >= 3"),
    ("full_price", "promo_share = 0 and orders >= 2"),
    ("subscribers", "subscription_status = 'active'"),
    ("trialists", "subscription_status = 'trial'"),
    ("cancelled_subs", "subscription_status = 'cancelled' and days_since_last_order < 60"),
    ("champions_opted_in", "in_segment('rfm', 'Champions') and email_opt_in"),
    ("vip_books", "in_segment('lifecycle', 'vip') and top_category = 'books'"),
    ("at_risk_value", "in_segment('rfm', 'At risk') and revenue_365d > 200"),
    ("web_browsers", "sessions >= 5 and orders = 0"),
    ("email_engaged", "coalesce(email_click_rate, 0) >= 0.2"),
    ("omnichannel", "channels >= 2"),
    ("high_aov", "aov >= 150 and orders >= 2"),
    ("regulars", "gap_median_days between 7 and 45 and order_days >= 4"),
    ("new_this_month", "days_since_first_order <= 30"),
)


def demo_as_of(config: Path) -> date:
    """The demo's last day: ``[workspace] as_of``, which ``Workspace.init(demo=True)`` sets."""
    from personae.config import load_config

    as_of = load_config(config).workspace.as_of
    if as_of is None:
        raise SystemExit(f"{config}: no [workspace] as_of; make the workspace with `personae init DIR --demo`")
    return as_of


# -- data ----------------------------------------------------------------------------


def prepare_store(source: str, target: str) -> dict[str, Any]:
    """Copy an ingested world's store; run identity and golden (``golden/``), then traits (``traits/``)."""
    from personae import Workspace

    world, folder = Path(source), Path(target)
    shutil.rmtree(folder, ignore_errors=True)
    golden, traits = folder / "golden", folder / "traits"
    golden.mkdir(parents=True)
    shutil.copy(world / "personae.toml", golden / "personae.toml")
    shutil.copy(world / "personae.duckdb", golden / "personae.duckdb")
    as_of = demo_as_of(world / "personae.toml")
    facts: dict[str, Any] = {"as_of": as_of.isoformat(), **json.loads((world / "ready.json").read_text())}
    for step in ("identity", "golden"):
        report = Workspace(golden).run(as_of=as_of, only=step)
        assert not report.errors, report.errors
        facts[f"{step}_s"] = report.steps[0].seconds
    shutil.copytree(golden, traits)
    report = Workspace(traits).run(as_of=as_of, only="traits")
    assert not report.errors, report.errors
    facts["traits_once_s"] = report.steps[0].seconds
    (folder / "ready.json").write_text(json.dumps(facts))
    return facts


def export_orders(store: str, target: str, subset: str, subset_rows: int, sample: str) -> dict[str, Any]:
    """The orders as ``uid, ts, amount`` (Parquet), a subset of whole customers, and sampled UIDs."""
    import duckdb

    with duckdb.connect(str(Path(store) / "personae.duckdb"), read_only=True) as con:
        con.execute(
            f"COPY (SELECT m.uid, e.ts, CAST(e.amount AS DOUBLE) AS amount FROM events AS e "
            f"JOIN record_map AS m ON m.source = e.source AND m.record_id = e.order_id "
            f"WHERE e.type = 'order' ORDER BY e.ts) TO '{target}' (FORMAT parquet)"
        )
    with duckdb.connect() as con:
        con.execute(
            f"CREATE TABLE drawn AS SELECT uid, sum(count(*)) OVER (ORDER BY hash(uid), uid) AS running "
            f"FROM read_parquet('{target}') GROUP BY uid"
        )
        con.execute(
            f"COPY (SELECT o.* FROM read_parquet('{target}') AS o JOIN drawn AS d USING (uid) "
            f"WHERE d.running <= {subset_rows} ORDER BY o.ts) TO '{subset}' (FORMAT parquet)"
        )
        uids = [
            row[0]
            for row in con.execute(
                f"SELECT uid FROM drawn WHERE running <= {subset_rows} ORDER BY hash(uid || 'sample') LIMIT {SAMPLE}"
            ).fetchall()
        ]

        def one(sql: str) -> int:
            return int(con.execute(sql).fetchall()[0][0])

        counts = {
            "rows": one(f"SELECT count(*) FROM read_parquet('{target}')"),
            "customers": one("SELECT count(*) FROM drawn"),
            "subset_rows": one(f"SELECT count(*) FROM read_parquet('{subset}')"),
            "subset_customers": one(f"SELECT count(DISTINCT uid) FROM read_parquet('{subset}')"),
        }
    Path(sample).write_text(json.dumps(uids))
    return counts


# -- measured workers (each in a fresh process) ----------------------------------------


def with_rules(folder: Path) -> None:
    """Append RFM and lifecycle as the only segmentations, and the 20 rule segments, to ``personae.toml``.

    The segmentations are named rather than left to the defaults, which grow (lifestyle, churn
    risk, ... read the models step's output), so the step measured stays the one the target names.
    """
    kinds = "".join(f'\n[[segmentations]]\nname = "{kind}"\nkind = "{kind}"\n' for kind in ("rfm", "lifecycle"))
    tables = kinds + "".join(f'\n[[segments]]\nname = "{name}"\nrule = "{rule}"\n' for name, rule in RULES)
    config = folder / "personae.toml"
    config.write_text(config.read_text() + tables)


def steps(source: str, target: str, names: list[str], as_of: str) -> dict[str, Any]:
    from personae import Workspace

    store, scratch = Path(source), Path(target)
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    shutil.copy(store / "personae.toml", scratch / "personae.toml")
    shutil.copy(store / "personae.duckdb", scratch / "personae.duckdb")
    with_rules(scratch)
    seconds, details = {}, {}
    started = time.perf_counter()  # the copy is excluded: it is the starting state
    for name in names:
        report = Workspace(scratch).run(as_of=date.fromisoformat(as_of), only=name)
        assert not report.errors, report.errors
        step = report.steps[0]
        seconds[name] = step.seconds
        details[name] = {"rows_in": step.rows_in, "rows_out": step.rows_out}
    total = time.perf_counter() - started
    if "segment" in names:
        import duckdb

        with duckdb.connect(str(scratch / "personae.duckdb"), read_only=True) as con:
            details["segments"] = con.execute(
                "SELECT segmentation, count(DISTINCT segment), count(*) FROM memberships WHERE exited_at IS NULL "
                "GROUP BY segmentation ORDER BY segmentation"
            ).fetchall()
    shutil.rmtree(scratch)
    return {"seconds": total, "steps": seconds, "details": details}


def hand_sql(orders: str, as_of: date) -> str:
    """The simplest DuckDB query for the four numbers: a GROUP BY over a GROUP BY per day."""
    return (
        f"SELECT uid, count(*) - 1 AS frequency, max(day) - min(day) AS recency, "
        f"DATE '{as_of}' - min(day) AS T, "
        f"CASE WHEN count(*) > 1 THEN (sum(value) - arg_min(value, day)) / (count(*) - 1) ELSE 0 END "
        f"AS monetary_value "
        f"FROM (SELECT uid, ts::DATE AS day, sum(amount) AS value FROM {orders} "
        f"WHERE ts < DATE '{as_of}' + 1 GROUP BY ALL) GROUP BY uid"
    )


def pandas_summary(orders: Any, as_of: date) -> Any:
    """Two groupbys: per customer and day, then per customer."""
    import pandas as pd

    orders = orders[orders["ts"] < pd.Timestamp(as_of) + pd.Timedelta(days=1)]
    days = (
        orders.assign(day=orders["ts"].dt.floor("D")).groupby(["uid", "day"], sort=True)["amount"].sum().reset_index()
    )
    per = days.groupby("uid", sort=False)
    first, last, count = per["day"].min(), per["day"].max(), per["day"].size()
    total, first_value = per["amount"].sum(), per["amount"].first()
    return pd.DataFrame(
        {
            "frequency": count - 1,
            "recency": (last - first).dt.days,
            "T": (pd.Timestamp(as_of) - first).dt.days,
            "monetary_value": ((total - first_value) / (count - 1)).where(count > 1, 0.0),
        }
    )


def library_summary(contender: str) -> Any:
    """The library's summary as a function of (orders, as_of), imported before the clock starts."""
    if contender == "lifetimes":
        from lifetimes.utils import summary_data_from_transaction_data

        def lifetimes(orders: Any, as_of: date) -> Any:
            return summary_data_from_transaction_data(
                orders, "uid", "ts", monetary_value_col="amount", observation_period_end=as_of.isoformat(), freq="D"
            )

        return lifetimes
    from pymc_marketing.clv.utils import rfm_summary

    def pymc(orders: Any, as_of: date) -> Any:
        summary = rfm_summary(
            orders, "uid", "ts", monetary_value_col="amount", observation_period_end=as_of.isoformat(), time_unit="D"
        )
        return summary.set_index("customer_id")

    return pymc


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def summary(contender: str, data: str, as_of_text: str, sample: str) -> dict[str, Any]:
    """Time one contender from the orders in memory to the summary in memory, after one untimed
    warm-up run of the same computation (imports, caches, DuckDB's first query); return sampled rows."""
    as_of = date.fromisoformat(as_of_text)
    uids = json.loads(Path(sample).read_text())
    if contender in ("personae", "duckdb"):
        import duckdb

        from personae.profiles.orders import customer_summary_sql

        con = duckdb.connect()
        con.execute(f"CREATE TABLE orders AS SELECT * FROM read_parquet('{data}')")
        loaded = rss_mb()
        query = customer_summary_sql("orders", as_of) if contender == "personae" else hand_sql("orders", as_of)
        con.execute(f"CREATE TABLE warm_up AS {query}")  # untimed, as every contender gets one
        con.execute("DROP TABLE warm_up")
        started = time.perf_counter()
        con.execute(f"CREATE TABLE result AS {query}")
        seconds = time.perf_counter() - started
        con.execute("CREATE TABLE wanted AS SELECT unnest($1) AS uid", [uids])
        rows = con.execute(
            "SELECT uid, frequency, recency, T, monetary_value FROM result JOIN wanted USING (uid)"
        ).fetchall()
        customers = con.execute("SELECT count(*) FROM result").fetchall()[0][0]
    else:
        import pandas as pd

        orders = pd.read_parquet(data)
        loaded = rss_mb()
        compute = pandas_summary if contender == "pandas" else library_summary(contender)
        compute(orders, as_of)  # untimed warm-up, as every contender gets one
        started = time.perf_counter()
        result = compute(orders, as_of)
        seconds = time.perf_counter() - started
        picked = result.loc[result.index.intersection(uids)]
        rows = [[uid, *(float(picked.at[uid, c]) for c in SUMMARY_COLUMNS)] for uid in picked.index]
        customers = len(result)
    return {
        "seconds": seconds,
        "customers": int(customers),
        "loaded_mb": loaded,
        "rows": {row[0]: [float(value) for value in row[1:]] for row in rows},
    }


WORKERS = {
    "prepare_store": prepare_store,
    "export_orders": export_orders,
    "steps": steps,
    "summary": summary,
}


def worker(kind: str, arguments: list[Any]) -> dict[str, Any]:
    result = WORKERS[kind](*arguments)
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


# -- driving ----------------------------------------------------------------------------


def spawn(kind: str, *arguments: Any, python: Path | None = None, timeout: float = TIMEOUT) -> dict[str, Any]:
    """Run one worker in a fresh process; its last line of output is its JSON result."""
    shipped = [str(a) if isinstance(a, Path) else a for a in arguments]
    command = [str(python or sys.executable), __file__, "--worker", json.dumps([kind, shipped])]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"took more than {timeout:.0f} s"}
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit code {done.returncode}"
        return {"error": last, "stderr": done.stderr}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(repeat: int, kind: str, *arguments: Any, python: Path | None = None) -> dict[str, Any]:
    runs = []
    for _ in range(repeat):
        runs.append(spawn(kind, *arguments, python=python))
        if "error" in runs[-1]:  # a deterministic failure: once is enough
            return runs[-1]
    return {
        **runs[0],
        "seconds": statistics.median(run["seconds"] for run in runs),
        "all": [run["seconds"] for run in runs],
        "peak_mb": max(run["peak_mb"] for run in runs),
        "runs": runs,
    }


def listed(values: list[float], digits: int = 2) -> str:
    return "[" + ", ".join(f"{value:.{digits}f}" for value in values) + "]"


def prepared(out: Path, people: int) -> tuple[Path, dict[str, Any]]:
    """The world with identity, golden (and traits, once) done: ``OUT/segments/world-N/``."""
    folder = out / "segments" / f"world-{people}"
    if not (folder / "ready.json").exists():
        world = out / "identity" / f"world-{people}"
        if not (world / "ready.json").exists():
            print(f"generating and ingesting a demo world of {people:,} people into {world} (once) ...")
            world.parent.mkdir(parents=True, exist_ok=True)
            done = spawn("prepare_world_identity", world, people)
            if "error" in done:
                raise SystemExit(f"preparing {world} failed: {done['error']}\n{done.get('stderr', '')}")
        print(f"running identity and golden on a copy of {world} in {folder} (once) ...")
        done = spawn("prepare_store", world, folder)
        if "error" in done:
            raise SystemExit(f"preparing {folder} failed: {done['error']}\n{done.get('stderr', '')}")
    facts: dict[str, Any] = json.loads((folder / "ready.json").read_text())
    return folder, facts


def pipeline_part(out: Path, people: int, repeat: int) -> None:
    folder, facts = prepared(out, people)
    scratch = out / "segments" / "scratch"
    traits = measure(repeat, "steps", folder / "golden", scratch, ["traits"], facts["as_of"])
    segment = measure(repeat, "steps", folder / "traits", scratch, ["segment"], facts["as_of"])
    both = measure(repeat, "steps", folder / "golden", scratch, ["traits", "segment"], facts["as_of"])
    for name, result in (("traits", traits), ("segment", segment), ("traits + segment", both)):
        if "error" in result:
            raise SystemExit(f"{name} failed: {result['error']}\n{result.get('stderr', '')}")
    details = both["details"]
    print(
        f"### Traits and segments, {people:,} people (demo world generated in {facts['generate_s']:.0f} s, "
        f"ingested in {facts['ingest_s']:.0f} s, identity {facts['identity_s']:.0f} s, golden "
        f"{facts['golden_s']:.0f} s, once; as of {facts['as_of']})\n"
    )
    memberships = "; ".join(f"{name}: {segs} segments, {rows:,} members" for name, segs, rows in details["segments"])
    print(
        f"orders counted: {details['traits']['rows_in']:,}; people (UIDs): {details['traits']['rows_out']:,}; "
        f"segmentations: {memberships}; 20 rule segments appended to personae.toml; "
        f"runs per cell: {repeat} (median time, max peak RSS)\n"
    )
    print("| step | median s | runs s | peak RSS MB |")
    print("|---|---:|---|---:|")
    rows = (
        ('traits (`only="traits"`)', traits),
        ('segment: RFM, lifecycle, 20 rule segments (`only="segment"`)', segment),
        ("traits then segment, one process", both),
    )
    for name, result in rows:
        print(f"| {name} | {result['seconds']:.1f} | {listed(result['all'], 1)} | {result['peak_mb']:,.0f} |")
    total = both["seconds"]
    print(
        f"\n**Target: the whole step (traits + segment) in at most 60 s: "
        f"{'met' if total <= 60 else 'not met'} ({total:.0f} s).**\n"
    )


CONTENDERS = (
    ("personae", "personae `customer_summary_sql` (DuckDB)", None),
    ("duckdb", "hand-written DuckDB GROUP BY", None),
    ("pandas", "pandas groupby", None),
    ("lifetimes", "lifetimes `summary_data_from_transaction_data`", BENCH_PYTHON),
    ("pymc", "pymc-marketing `rfm_summary`", BENCH_PYTHON),
)


def installed(contender: str) -> str | None:
    """Why a library contender cannot run, or None."""
    if contender not in ("lifetimes", "pymc"):
        return None
    if not BENCH_PYTHON.exists():
        return f"{BENCH_PYTHON} does not exist"
    module = "lifetimes" if contender == "lifetimes" else "pymc_marketing"
    done = subprocess.run([str(BENCH_PYTHON), "-c", f"import {module}"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return f"import {module} fails in {BENCH_PYTHON}: {done.stderr.strip().splitlines()[-1]}"
    return None


def agreement(reference: dict[str, list[float]], rows: dict[str, list[float]]) -> str:
    """Max abs difference per column over the sampled customers both have."""
    common = sorted(set(reference) & set(rows))
    if not common:
        return "no sampled customer in common"
    worst = [max(abs(reference[u][i] - rows[u][i]) for u in common) for i in range(len(SUMMARY_COLUMNS))]
    missing = len(set(reference) ^ set(rows))
    spread = ", ".join(f"{c} {w:.2g}" for c, w in zip(SUMMARY_COLUMNS, worst, strict=True))
    return f"{len(common)} customers; max abs diff {spread}" + (f"; {missing} not in both" if missing else "")


def summary_part(out: Path, people: int, repeat: int, subset_rows: int) -> None:
    folder, facts = prepared(out, people)
    data, subset, sample = folder / "orders.parquet", folder / f"orders-{subset_rows}.parquet", folder / "sample.json"
    counted = folder / "orders.json"
    if not counted.exists():
        done = spawn("export_orders", folder / "golden", data, subset, subset_rows, sample)
        if "error" in done:
            raise SystemExit(f"exporting the orders failed: {done['error']}\n{done.get('stderr', '')}")
        counted.write_text(json.dumps(done))
    counts = json.loads(counted.read_text())
    sizes = (
        ("full", data, counts["rows"], counts["customers"]),
        ("subset", subset, counts["subset_rows"], counts["subset_customers"]),
    )
    print(
        f"### Customer summary (frequency, recency, T, monetary value), as of {facts['as_of']}\n\n"
        f"orders: {counts['rows']:,} of {counts['customers']:,} customers (subset: {counts['subset_rows']:,} orders "
        f"of {counts['subset_customers']:,} customers, all their orders); start: orders in memory (pandas "
        f"DataFrame / DuckDB table, read from Parquet before the clock starts); end: summary in memory; "
        f"runs per cell: {repeat} (median time, max peak RSS of the process, input included)\n"
    )
    results: dict[tuple[str, str], dict[str, Any]] = {}
    notes = []
    for contender, label, python in CONTENDERS:
        reason = installed(contender)
        if reason:
            notes.append(f"{label}: not installed: {reason}")
            continue
        for size, path, rows, _ in reversed(sizes):  # the subset first: it predicts the full run
            if size == "full" and contender in ("lifetimes", "pymc"):
                small = results.get((contender, "subset"), {})
                if "error" in small:
                    continue
                expected = small["seconds"] * rows / counts["subset_rows"]
                if expected > LIBRARY_LIMIT:
                    notes.append(f"{label}: full size not run (expected {expected:.0f} s from the subset, over 10 min)")
                    continue
            results[(contender, size)] = measure(
                repeat, "summary", contender, path, facts["as_of"], sample, python=python
            )
    print(
        "| orders | contender | customers | median s | runs s | peak RSS MB | input RSS MB "
        "| ratio to personae | ratio to DuckDB GROUP BY | agrees with personae |"
    )
    print("|---:|---|---:|---:|---|---:|---:|---:|---:|---|")
    for size, _, rows, _ in sizes:
        ours, hand = results.get(("personae", size), {}), results.get(("duckdb", size), {})
        for contender, label, _ in CONTENDERS:
            result = results.get((contender, size))
            if result is None:
                continue
            if "error" in result:
                print(f"| {rows:,} | {label} | – | fails: {result['error']} | – | – | – | – | – | – |")
                continue
            versus_ours = result["seconds"] / ours["seconds"] if "seconds" in ours else math.nan
            versus_hand = result["seconds"] / hand["seconds"] if "seconds" in hand else math.nan
            agrees = agreement(ours.get("rows", {}), result["rows"]) if contender != "personae" else "–"
            print(
                f"| {rows:,} | {label} | {result['customers']:,} | {result['seconds']:.2f} | "
                f"{listed(result['all'])} | {result['peak_mb']:,.0f} | {result['loaded_mb']:,.0f} | "
                f"{versus_ours:.2f}× | {versus_hand:.2f}× | {agrees} |"
            )
    print()
    for note in notes:
        print(f"- {note}")
    print()
    verdicts = []
    for size in ("full", "subset"):
        ours = results.get(("personae", size), {})
        if "seconds" not in ours:
            continue
        parts = []
        for contender in ("lifetimes", "pymc"):
            other = results.get((contender, size), {})
            if "seconds" in other:
                ratio = other["seconds"] / ours["seconds"]
                parts.append(f"{contender} {ratio:.1f}× ({'met' if ratio >= 10 else 'not met'})")
        hand = results.get(("duckdb", size), {})
        if "seconds" in hand:
            ratio = ours["seconds"] / hand["seconds"]
            parts.append(f"personae / DuckDB GROUP BY {ratio:.2f}× ({'met' if ratio <= 1.25 else 'not met'})")
        verdicts.append(f"{size}: {'; '.join(parts)}")
    print(
        "**Targets: summary ≥ 10× faster than lifetimes and pymc-marketing, within 1.25× of the "
        f"hand-written DuckDB GROUP BY: {' — '.join(verdicts)}.**\n"
    )


def prepare_world_identity(folder: str, people: int) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).parent))
    from identity import prepare_world  # bench/identity.py's generator and cache layout

    result: dict[str, Any] = prepare_world(folder, people)
    return result


WORKERS["prepare_world_identity"] = prepare_world_identity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--subset-rows", type=int, default=1_000_000)
    parser.add_argument("--parts", default="pipeline,summary", help="comma-separated: pipeline, summary")
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, arguments = json.loads(args.worker)
        print(json.dumps(worker(kind, arguments)))
        return
    out = args.out.resolve()
    parts = set(args.parts.split(","))
    if "pipeline" in parts:
        pipeline_part(out, args.people, args.repeat)
    if "summary" in parts:
        summary_part(out, args.people, args.repeat, args.subset_rows)


if __name__ == "__main__":
    main()
