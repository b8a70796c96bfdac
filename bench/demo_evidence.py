"""Identity resolution on the demo world, scored against the raw truth and the evidence truth.

A demo workspace is made as a user makes it (``personae init --demo``, ``personae run``, each
in a process of its own), then the pairs of records that got one UID in ``record_map`` are
scored (pairwise precision, recall, F1) against

- the raw truth: every record's person (``truth/records.csv``);
- the evidence truth (:mod:`personae.demo.evidence`): within a person, only the records
  that share a normalised identifier, or customer records with names and a birth date or
  a street, are tied; a record nothing ties is a singleton.

Beside personae, the baseline is an oracle that links exactly on shared identifier values
(no fuzzy matching), scored against the same truths; ``vs oracle`` is personae's F1 over
the oracle's. The scores are deterministic for a seed and size, so one run is enough.

    PYTHONPATH=src .venv/bin/python bench/demo_evidence.py [--people 5000] [--seed 7] [--out bench/out]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from personae.config import load_config
from personae.demo import source_specs
from personae.demo.evidence import PairScore, evidence_truth, score_pairs
from personae.sources.normalise import identifier_sql


def build(root: Path, people: int, seed: int) -> float:
    """``personae init --demo`` and ``personae run`` in subprocesses; seconds taken."""
    if root.exists():
        shutil.rmtree(root)
    started = time.perf_counter()
    cli = [sys.executable, "-m", "personae"]
    demo = ["init", str(root), "--demo", "--customers", str(people), "--seed", str(seed)]
    for arguments in (demo, ["run", "-w", str(root)]):
        subprocess.run([*cli, *arguments], check=True, env=os.environ.copy(), stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def scored(root: Path) -> pa.Table:
    region = load_config(root / "personae.toml").workspace.phone_region
    evidence = evidence_truth(root, source_specs(), lambda kind, value: identifier_sql(kind, value, region))
    with duckdb.connect() as connection:
        connection.register("evidence", evidence)
        connection.execute(f"ATTACH '{root / 'personae.duckdb'}' AS store (READ_ONLY)")
        return connection.sql(
            "SELECT e.*, coalesce(m.uid, 'unresolved:' || e.source || ':' || e.record_id) AS uid FROM evidence AS e "
            "LEFT JOIN store.record_map AS m ON m.source = e.source AND m.record_id = e.record_id"
        ).to_arrow_table()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--reuse", action="store_true", help="score the workspace already built under --out")
    options = parser.parse_args()
    root = options.out / f"demo-evidence-{options.people}-{options.seed}"
    if not options.reuse:
        seconds = build(root, options.people, options.seed)
        print(f"built {root} (init + run) in {seconds:.0f} s")
    table = scored(root)
    clusters = {name: len(set(table.column(name).to_pylist())) for name in ("person_id", "evidence", "oracle", "uid")}
    print(
        f"{table.num_rows:,} records; people {clusters['person_id']:,}, evidence clusters "
        f"{clusters['evidence']:,}, oracle clusters {clusters['oracle']:,}, UIDs {clusters['uid']:,}"
    )
    scores: dict[tuple[str, str], PairScore] = {
        (who, truth): score_pairs(table, column, truth)
        for who, column in (("personae", "uid"), ("oracle", "oracle"))
        for truth in ("evidence", "person_id")
    }
    header = f"{'resolver':<9} {'truth':<9} {'precision':>9} {'recall':>7} {'F1':>7} {'vs oracle':>9} "
    header += f"{'linked ok':>11} {'wrong':>6} {'missed':>8} {'ignored':>8}"
    print(header)
    for (who, truth), score in scores.items():
        label = "evidence" if truth == "evidence" else "raw"
        ratio = score.f1 / scores[("oracle", truth)].f1
        print(
            f"{who:<9} {label:<9} {score.precision:>9.4f} {score.recall:>7.4f} {score.f1:>7.4f} {ratio:>9.4f} "
            f"{score.true_positives:>11,} {score.false_positives:>6,} {score.missed:>8,} {score.ignored:>8,}"
        )


if __name__ == "__main__":
    main()
