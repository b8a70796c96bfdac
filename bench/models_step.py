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
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
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


WORKERS = {"prepare_base": prepare_base, "models": models}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, arguments = json.loads(args.worker)
        print(json.dumps(WORKERS[kind](*arguments)))
        return
    out = args.out.resolve()
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
