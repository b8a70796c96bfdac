"""Block purging's cap: candidate pairs, links and prediction time per ``max_block_records``.

    PYTHONPATH=src .venv/bin/python bench/block_cap.py W [--caps 100,150,300] [--repeat 2]

``W`` is a workspace after a run (its store and ``models/identity_fuzzy.json``). For each cap
the saved model predicts over every customer record, as the identity step does (chunks of
records, the store's ``memory_limit``, two threads); the caps alternate round by round. The
table gives each cap's candidate pairs (what the blocking rules make, summed over the rules,
before Splink drops the pairs an earlier rule made), the links at the model's threshold, the
links the largest cap finds that this one does not, and the median prediction time. The
baseline is the largest cap, measured in the same run. A link a smaller cap loses is a pair
whose every blocking rule puts it in a block over the cap; the first few are listed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from personae.config import load_config
from personae.identity.block_purging import block_sizes_sql, equality_terms
from personae.identity.fuzzy import FuzzyMatcher, model_columns
from personae.identity.matching import MODEL_FILE, records_sql


def candidate_pairs(table: pa.Table, rules: list[str], cap: int) -> int:
    """Pairs the rules make with every block over ``cap`` records left out (each rule alone)."""
    total = 0
    with duckdb.connect() as connection:
        connection.register("records", table)
        for rule in rules:
            terms = equality_terms(rule)
            same = all(left == right for left, right in terms)
            pairs = "a_n * (a_n - 1) / 2" if same else "a_n * b_n / 2"
            within = f"SELECT * FROM ({block_sizes_sql(terms)}) WHERE a_n * b_n <= {cap * cap}"
            query = f"SELECT coalesce(sum({pairs}), 0)::BIGINT FROM ({within})"
            total += int(connection.execute(query).fetchall()[0][0])
    return total


def predicted(matcher: FuzzyMatcher, records: pa.Table, cap: int, config: dict[str, object]) -> tuple[float, pa.Table]:
    matcher.settings = matcher.settings.model_copy(update={"max_block_records": cap})
    matcher.duckdb_config = config
    started = time.perf_counter()
    links = matcher.predict(records)
    return time.perf_counter() - started, links.select(["record_key_l", "record_key_r"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--caps", default="100,150,300")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    caps = sorted(int(cap) for cap in args.caps.split(","))
    limit = load_config(args.workspace / "personae.toml").engine.duckdb.memory_limit or "3GB"
    config: dict[str, object] = {"memory_limit": limit, "threads": 2, "temp_directory": str(args.workspace / "spill")}
    matcher = FuzzyMatcher.load(args.workspace / "models" / MODEL_FILE)
    with duckdb.connect(str(args.workspace / "personae.duckdb"), read_only=True) as store:
        records = store.sql(records_sql(matcher.settings.compared_columns)).to_arrow_table()
    model = matcher.model_ or {}
    rules = [entry["blocking_rule"] for entry in model["blocking_rules_to_generate_predictions"]]
    prepared = matcher._prepared(records, model_columns(model))
    seconds: dict[int, list[float]] = {cap: [] for cap in caps}
    links: dict[int, set[tuple[str, str]]] = {}
    for _ in range(args.repeat):
        for cap in caps:
            taken, found = predicted(matcher, records, cap, config)
            seconds[cap].append(taken)
            links[cap] = set(zip(found["record_key_l"].to_pylist(), found["record_key_r"].to_pylist(), strict=True))
    baseline = caps[-1]
    print(f"{records.num_rows:,} customer records, {len(rules)} blocking rules, baseline cap {baseline}\n")
    print("| cap | candidate pairs | links | lost against the baseline | median s | runs s | / baseline |")
    print("|---:|---:|---:|---:|---:|---|---:|")
    base_seconds = statistics.median(seconds[baseline])
    for cap in caps:
        lost = links[baseline] - links[cap]
        median = statistics.median(seconds[cap])
        runs = ", ".join(f"{value:.1f}" for value in seconds[cap])
        print(
            f"| {cap} | {candidate_pairs(prepared, rules, cap):,} | {len(links[cap]):,} | {len(lost):,} | "
            f"{median:.1f} | {runs} | {median / base_seconds:.2f} |"
        )
        for pair in sorted(lost)[:5]:
            print(f"|  | lost: {pair[0]} – {pair[1]} |  |  |  |  |  |")


if __name__ == "__main__":
    main()
