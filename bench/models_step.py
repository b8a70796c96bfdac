"""The pipeline's models step on the cached demo world: fit and score time of every model.

The world is the one bench/segments.py prepared (``OUT/segments/world-N/traits/``: ingest,
identity, golden and traits done). It is copied once to ``OUT/models_step/world-N/base/``
where traits run again if its profiles lack a column the current traits code writes
(``traits_as_of``, ``seasonality``); that copy is the starting state. Each measured run,
in a fresh process, copies the base to a scratch folder (not timed), leaves
``[[segmentations]]`` at the defaults, and times ``Workspace.run(only="models")``: CLV
(BG/NBD + Gamma-Gamma), churn and high-value propensity, lifestyle clusters and the survey
look-alike, each fitted on at most ``models.max_training_rows`` rows (a sample by UID) and
scored for everyone. The last repeat then times ``run(only="segment")`` once, which assigns
the predictive segmentations from the step's ``predictions``.

Per part the table gives the median seconds (fit and score together, as the step's
``ModelsResult.seconds`` reports them), the share of the step, the people scored (non-null
in ``predictions``) and the model's quality numbers. Peak RSS is the child's
``ru_maxrss`` read right after the models step (before the segment step).

    .venv/bin/python bench/models_step.py [--people 1000000] [--repeat 3] [--out bench/out]

Two more measurements, on a workspace the CLI built (``personae init W --demo --customers
20000``, then ``personae run --workspace W --as-of D``):

``--threads W``: one HistGradientBoosting fit (the buyers' features of ``traits``, label
"no order for 120 days") and one scan of k-means (k 2–10, ``n_init`` 10, on at most
10,000 buyers' square-rooted category shares) at 1 and at 2 OpenMP/BLAS threads
(``threadpoolctl``), wall and CPU seconds, medians of ``--repeat`` in one process; then
again with a busy loop pinned to core 1 (``taskset -c 1 python -c "while True: pass"``).

``--cli W --code NAME=SRC ...``: ``python -m personae run --workspace COPY --as-of D --only
models`` with ``PYTHONPATH=SRC``, in a fresh copy of W (without the five model files, so
every model is fitted; not timed) per run, for each code tree, with the machine as it is
and with the busy loop; then, for each tree, a second run on the same copy (where
unchanged models may be reused). Medians of ``--repeat``, wall and the child's user+system
CPU seconds; the load average is printed with each run, since the machine is shared.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

TIMEOUT = 3600
"""Seconds one measured process may take before the benchmark gives up."""
NEEDED = ("traits_as_of", "seasonality")
"""Profile columns the current traits code writes; a base without them gets traits run again."""
SCORED = {
    "clv": "clv",
    "propensity": "churn_probability",
    "lifestyle": "lifestyle",
    "survey": "survey_segment",
}
"""part -> a ``predictions`` column that is non-null for each person the part scored."""


def demo_as_of(config: Path) -> date:
    """The demo's last day: the comment ``Workspace.init`` writes on line 1, else the generator's default."""
    words = config.read_text().splitlines()[0].split()
    if words[:6] == ["#", "demo", "data", "runs", "up", "to"]:
        return date.fromisoformat(words[6].rstrip(":"))
    import inspect

    from personae.demo import generate

    default: date = inspect.signature(generate).parameters["end"].default
    return default


def copy_store(source: Path, target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    shutil.copy(source / "personae.toml", target / "personae.toml")
    shutil.copy(source / "personae.duckdb", target / "personae.duckdb")


def missing_columns(store: Path) -> list[str]:
    import duckdb

    with duckdb.connect(str(store / "personae.duckdb"), read_only=True) as con:
        columns = {row[0] for row in con.execute("DESCRIBE profiles").fetchall()}
    return [name for name in NEEDED if name not in columns]


# -- workers (each in a fresh process) -------------------------------------------------


def prepare_base(source: str, target: str) -> dict[str, Any]:
    """Copy the cached traits store; run traits again when its profiles lack the current columns."""
    from personae import Workspace

    store, base = Path(source), Path(target)
    copy_store(store, base)
    facts: dict[str, Any] = {"as_of": demo_as_of(base / "personae.toml").isoformat(), "source": str(store)}
    missing = missing_columns(base)
    facts["missing_before"] = missing
    if missing:
        report = Workspace(base).run(as_of=date.fromisoformat(facts["as_of"]), only="traits")
        assert not report.errors, report.errors
        facts["traits_s"] = report.steps[0].seconds
        facts["missing_after"] = missing_columns(base)
    (base / "ready.json").write_text(json.dumps(facts))
    return facts


def plain(value: Any) -> Any:
    """JSON-ready: dataclasses as dicts, anything else unknown as text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


def models(source: str, target: str, as_of_text: str, segment: bool) -> dict[str, Any]:
    """Time ``run(only="models")`` on a fresh copy of the base (and ``only="segment"`` after it)."""
    import duckdb

    from personae import Workspace

    store, scratch = Path(source), Path(target)
    copy_store(store, scratch)  # the copy is the starting state: not timed
    as_of = date.fromisoformat(as_of_text)
    started = time.perf_counter()
    report = Workspace(scratch).run(as_of=as_of, only="models")
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert not report.errors, report.errors
    step = report.steps[0]
    result: dict[str, Any] = {
        "seconds": wall,
        "step_seconds": step.seconds,
        "peak_mb": peak,
        "warnings": list(step.warnings),
        "models": plain(step.details.get("models")),
    }
    if segment:
        started = time.perf_counter()
        report = Workspace(scratch).run(as_of=as_of, only="segment")
        result["segment_seconds"] = time.perf_counter() - started
        assert not report.errors, report.errors
        result["segment_step_seconds"] = report.steps[0].seconds
        result["segment_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with duckdb.connect(str(scratch / "personae.duckdb"), read_only=True) as con:
        counts = ", ".join(f"count({column})" for column in SCORED.values())
        row = con.execute(f"SELECT count(*), {counts} FROM predictions").fetchall()[0]
        result["people"] = int(row[0])
        result["scored"] = {part: int(n) for part, n in zip(SCORED, row[1:], strict=True)}
        result["survey_known"] = int(
            con.execute("SELECT count(*) FROM predictions WHERE survey_segment <> 'unknown'").fetchall()[0][0]
        )
        if segment:
            result["segments"] = con.execute(
                "SELECT segmentation, count(DISTINCT segment), count(*) FROM memberships WHERE exited_at IS NULL "
                "GROUP BY segmentation ORDER BY segmentation"
            ).fetchall()
    shutil.rmtree(scratch)
    return result


def fit_threads(workspace: str, repeat: int) -> dict[str, Any]:
    """Wall and CPU seconds of one boosting fit and one k-means scan at 1 and 2 native threads."""
    import duckdb
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    from personae.models.features import feature_names, features_sql, numeric_traits

    with duckdb.connect(str(Path(workspace) / "personae.duckdb"), read_only=True) as con:
        columns = {row[0]: row[1] for row in con.execute("DESCRIBE traits").fetchall()}
        numeric = numeric_traits(columns, list(columns))
        rows = con.execute(  # the models step's top categories (features.top_categories), on a read-only store
            "SELECT value, sum(revenue) AS r FROM trait_shares WHERE dimension = 'category' "
            "GROUP BY value ORDER BY r DESC, value LIMIT 12"
        ).fetchall()
        categories = [str(row[0]) for row in rows]
        frame = con.sql(
            f"SELECT f.* FROM ({features_sql('traits', 'trait_shares', numeric, categories)}) AS f "
            "JOIN traits AS t ON t.uid = f.uid WHERE t.orders > 0 ORDER BY f.uid"
        ).to_df()
        shares = con.sql(
            "SELECT uid, value, share FROM trait_shares WHERE dimension = 'category' ORDER BY uid, value"
        ).to_df()
    features = frame[feature_names(numeric, categories)].to_numpy(dtype=np.float64)
    label = (frame["days_since_last_order"].to_numpy() > 120).astype(int)
    points = np.sqrt(shares.pivot_table(index="uid", columns="value", values="share", fill_value=0.0).to_numpy())
    points = points[:10_000]

    def boosting() -> None:
        HistGradientBoostingClassifier(max_iter=200, random_state=7).fit(features, label)

    def kmeans() -> None:
        for k in range(2, 11):
            KMeans(n_clusters=k, n_init=10, random_state=7).fit(points)

    result: dict[str, Any] = {"boosting_rows": features.shape, "kmeans_rows": points.shape}
    for name, work in (("boosting", boosting), ("kmeans", kmeans)):
        for threads in (1, 2):
            runs = []
            for _ in range(repeat):
                with threadpool_limits(threads):
                    wall, cpu = time.perf_counter(), time.process_time()
                    work()
                    runs.append((time.perf_counter() - wall, time.process_time() - cpu, os.getloadavg()[0]))
            result[f"{name}/{threads}"] = runs
    return result


WORKERS = {"prepare_base": prepare_base, "models": models, "fit_threads": fit_threads}


# -- driving ----------------------------------------------------------------------------


def spawn(kind: str, *arguments: Any) -> dict[str, Any]:
    """Run one worker in a fresh process; its last line of output is its JSON result."""
    shipped = [str(a) if isinstance(a, Path) else a for a in arguments]
    command = [sys.executable, __file__, "--worker", json.dumps([kind, shipped])]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"error": f"took more than {TIMEOUT} s"}
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-8:]) or f"exit code {done.returncode}"
        return {"error": tail, "children_peak_mb": children}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["children_peak_mb"] = children
    return result


def base_store(out: Path, people: int) -> tuple[Path, dict[str, Any]]:
    """``OUT/models_step/world-N/base/``: the cached traits store, with traits rerun if stale (once)."""
    base = out / "models_step" / f"world-{people}" / "base"
    if not (base / "ready.json").exists():
        source = out / "segments" / f"world-{people}" / "traits"
        if not (source / "personae.duckdb").exists():
            raise SystemExit(f"{source} does not exist: run bench/segments.py --people {people} --parts pipeline first")
        print(f"copying {source} to {base} and bringing its traits up to date (once) ...", flush=True)
        done = spawn("prepare_base", source, base)
        if "error" in done:
            raise SystemExit(f"preparing {base} failed:\n{done['error']}")
    facts: dict[str, Any] = json.loads((base / "ready.json").read_text())
    return base, facts


def quality(part: str, reports: dict[str, Any], run: dict[str, Any]) -> str:
    """The model's quality numbers, in one cell."""
    if part == "clv":
        clv = reports.get("clv", {})
        bgnbd, gg = clv.get("bgnbd", {}).get("params", {}), clv.get("gamma_gamma", {}).get("params", {})
        shown = ", ".join(f"{k} {v:.3g}" for k, v in {**bgnbd, **gg}.items() if isinstance(v, int | float))
        return f"params: {shown}" if shown else "–"
    if part == "propensity":
        cells = []
        for name in ("churn", "high_value"):
            validation = reports.get(name, {}).get("validation")
            if not validation:
                cells.append(f"{name}: no validation")
                continue
            top = validation["deciles"][0]["lift"] if validation.get("deciles") else float("nan")
            cells.append(
                f"{name}: AUC {validation['auc']:.3f}, base rate {validation['base_rate']:.3f}, "
                f"top-decile lift {top:.2f} (holdout n={validation['n']:,}, "
                f"trained on {reports[name].get('training_rows', 0):,})"
            )
        return "; ".join(cells)
    if part == "lifestyle":
        life = reports.get("lifestyle", {})
        chosen = life.get("chosen_k")
        at = next((score for score in life.get("per_k", []) if score.get("k") == chosen), {})
        numbers = ", ".join(f"{k} {v:.3f}" for k, v in at.items() if k != "k" and isinstance(v, float))
        return f"k = {chosen} ({life.get('rule', '')}; {numbers}; fitted on {life.get('rows', 0):,} buyers)"
    if part == "survey":
        survey = reports.get("survey", {})
        accuracy = survey.get("cross_validated_accuracy", {})
        if not accuracy:
            return "–"
        return (
            f"5-fold accuracy {accuracy['mean']:.3f} ± {accuracy['std']:.3f} "
            f"vs majority {survey['majority_share']:.3f} "
            f"({survey.get('respondents', 0):,} respondents; {run['survey_known']:,} with a known segment)"
        )
    return "–"


@contextlib.contextmanager
def busy(on: bool) -> Iterator[None]:
    """A busy loop pinned to core 1 while the block runs (when ``on``)."""
    if not on:
        yield
        return
    loop = subprocess.Popen(["taskset", "-c", "1", sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1)
        yield
    finally:
        loop.terminate()
        loop.wait()


def threads_table(workspace: Path, repeat: int) -> None:
    print(f"\n### Native threads: 1 vs 2 (`{workspace}`; medians of {repeat}, wall / CPU seconds, load average)\n")
    print("| work | machine | 1 thread wall s | 1 thread CPU s | 2 threads wall s | 2 threads CPU s | load |")
    print("|---|---|---:|---:|---:|---:|---|")
    for loaded in (False, True):
        with busy(loaded):
            done = spawn("fit_threads", workspace, repeat)
        if "error" in done:
            raise SystemExit(done["error"])
        for work in ("boosting", "kmeans"):
            cells, loads = [], []
            for threads in (1, 2):
                runs = done[f"{work}/{threads}"]
                cells += [
                    f"{statistics.median(r[0] for r in runs):.2f}",
                    f"{statistics.median(r[1] for r in runs):.2f}",
                ]
                loads += [f"{r[2]:.1f}" for r in runs]
            rows = done["boosting_rows"] if work == "boosting" else done["kmeans_rows"]
            shown = f"{work} ({rows[0]:,} x {rows[1]})"
            machine = "busy loop on core 1" if loaded else "as it is"
            print(f"| {shown} | {machine} | {' | '.join(cells)} | {', '.join(loads)} |")


def cli_run(source: Path, workspace: Path, as_of: str) -> dict[str, Any]:
    """``personae run --only models`` on ``workspace`` with the code of ``source``; wall and child CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    command = [
        sys.executable,
        "-m",
        "personae",
        "run",
        "--workspace",
        str(workspace),
        "--as-of",
        as_of,
        "--only",
        "models",
    ]
    done = subprocess.run(
        command, env={**os.environ, "PYTHONPATH": str(source)}, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    step = next((line for line in done.stdout.splitlines() if line.startswith("models:")), "")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "load": load, "step": step.strip()}


def fresh_copy(workspace: Path, target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(workspace, target, ignore=shutil.ignore_patterns("scratch"))
    for name in ("clv", "churn", "high_value", "lifestyle", "survey"):
        (target / "models" / f"{name}.json").unlink(missing_ok=True)
    return target


def cli_table(workspace: Path, codes: list[str], repeat: int, out: Path) -> None:
    as_of = demo_as_of(workspace / "personae.toml").isoformat()
    scratch = out / "models_step" / "cli"
    print(f"\n### `personae run --only models` on `{workspace}` (as of {as_of}; medians of {repeat})\n")
    print("| code | machine | run | median wall s | runs wall s | median CPU s | load at start | step line |")
    print("|---|---|---|---:|---|---:|---|---|")
    for loaded in (False, True):
        for code in codes:
            name, source = code.split("=", 1)
            first, second = [], []
            for _ in range(repeat):
                copy = fresh_copy(workspace, scratch / name)
                with busy(loaded):
                    first.append(cli_run(Path(source), copy, as_of))
                    if not loaded:
                        second.append(cli_run(Path(source), copy, as_of))
            for kind, runs in (("fresh fit", first), ("rerun, same data", second)):
                if not runs:
                    continue
                walls = ", ".join(f"{r['wall']:.1f}" for r in runs)
                loads = ", ".join(f"{r['load']:.1f}" for r in runs)
                machine = "busy loop on core 1" if loaded else "as it is"
                print(
                    f"| {name} | {machine} | {kind} | {statistics.median(r['wall'] for r in runs):.1f} | [{walls}] | "
                    f"{statistics.median(r['cpu'] for r in runs):.1f} | {loads} | {runs[-1]['step']} |",
                    flush=True,
                )
    shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--threads", type=Path, help="a CLI-built workspace: time fits at 1 and 2 native threads")
    parser.add_argument("--cli", type=Path, help="a CLI-built workspace: time `personae run --only models`")
    parser.add_argument("--code", action="append", default=[], help="NAME=SRC: a source tree for --cli")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, arguments = json.loads(args.worker)
        print(json.dumps(WORKERS[kind](*arguments)))
        return
    out = args.out.resolve()
    if args.threads:
        threads_table(args.threads.resolve(), args.repeat)
        return
    if args.cli:
        cli_table(args.cli.resolve(), args.code, args.repeat, out)
        return
    base, facts = base_store(out, args.people)
    if args.repeat < 1:  # prepare only
        print(json.dumps(facts))
        return
    scratch = out / "models_step" / "scratch"
    runs = []
    for index in range(args.repeat):
        run = spawn("models", base, scratch, facts["as_of"], index == args.repeat - 1)
        if "error" in run:
            shutil.rmtree(scratch, ignore_errors=True)
            raise SystemExit(f"the models step failed on {args.people:,} people:\n{run['error']}")
        print(f"run {index + 1}: models step {run['seconds']:.1f} s, peak RSS {run['peak_mb']:,.0f} MB", flush=True)
        runs.append(run)
    (out / "models_step" / f"runs-{args.people}.json").write_text(json.dumps(runs, indent=1))
    last = runs[-1]
    result = last["models"]
    total = statistics.median(run["seconds"] for run in runs)
    prep = f", traits rerun once in {facts['traits_s']:.0f} s" if "traits_s" in facts else ""
    print(
        f"\n### Models step, {last['people']:,} people (as of {facts['as_of']}{prep}; runs: {args.repeat}, "
        f"median time, max peak RSS)\n"
    )
    print(f"fitted: {', '.join(result['fitted'])}; reused: {', '.join(result['reused']) or 'none'}")
    for name, reason in result["skipped"].items():
        print(f"- skipped {name}: {reason}")
    print("\n| part | median s (fit + score) | runs s | share of step | people scored | quality |")
    print("|---|---:|---|---:|---:|---|")
    for part in result["seconds"]:
        values = [run["models"]["seconds"][part] for run in runs]
        median = statistics.median(values)
        listed = ", ".join(f"{v:.1f}" for v in values)
        print(
            f"| {part} | {median:.1f} | [{listed}] | {median / total:.0%} | {last['scored'].get(part, 0):,} "
            f"| {quality(part, result['reports'], last)} |"
        )
    listed = ", ".join(f"{run['seconds']:.1f}" for run in runs)
    other = total - sum(statistics.median(run["models"]["seconds"][p] for run in runs) for p in result["seconds"])
    print(f"| (joining `predictions`, run overhead) | {other:.1f} | | {other / total:.0%} | {last['people']:,} | |")
    print(f"| **whole models step** | **{total:.1f}** | [{listed}] | 100% | {last['people']:,} | |")
    peak = max(run["peak_mb"] for run in runs)
    children = max(run["children_peak_mb"] for run in runs)
    print(f"\npeak RSS of the models step: {peak:,.0f} MB (child ru_maxrss; parent RUSAGE_CHILDREN {children:,.0f} MB)")
    segments = "; ".join(f"{name}: {n} segments, {rows:,} members" for name, n, rows in last["segments"])
    print(
        f"segment step after models (once): {last['segment_seconds']:.1f} s, peak RSS of that process "
        f"{last['segment_peak_mb']:,.0f} MB; {segments}"
    )


if __name__ == "__main__":
    main()
