"""The floor of a profile lookup on a big store: one point query on ``profiles``, without and
with an ART index on ``uid``.

``GET /v1/profiles`` runs about ten statements, and on a store of 1.45M people each one scans
a column (DuckDB keeps no index unless asked). This measures the cheapest of them alone, on a
copy of ``profiles`` in a scratch file (the store is only read): 300 lookups of sampled UIDs
with no index, then with ``CREATE INDEX ... (uid)``, median and p99.

    .venv/bin/python bench/profile_floor.py STORE/personae.duckdb [--lookups 300]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import duckdb


def lookups(connection: duckdb.DuckDBPyConnection, uids: list[str]) -> tuple[float, float]:
    took = []
    for uid in uids:
        started = time.perf_counter()
        connection.execute("SELECT * FROM profiles WHERE uid = ?", [uid]).fetchall()
        took.append((time.perf_counter() - started) * 1000)
    took.sort()
    return statistics.median(took), took[max(0, round(0.99 * len(took)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("--lookups", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        connection = duckdb.connect(str(Path(scratch) / "floor.duckdb"))
        connection.execute(f"ATTACH '{args.store}' AS big (READ_ONLY)")
        connection.execute("CREATE TABLE profiles AS SELECT * FROM big.profiles")
        connection.execute("DETACH big")
        people = connection.execute("SELECT count(*) FROM profiles").fetchall()[0][0]
        uids = [
            row[0]
            for row in connection.execute(
                f"SELECT uid FROM profiles USING SAMPLE reservoir({args.lookups} ROWS) REPEATABLE (3)"
            ).fetchall()
        ]
        plain = lookups(connection, uids)
        started = time.perf_counter()
        connection.execute("CREATE INDEX profiles_uid ON profiles (uid)")
        built = time.perf_counter() - started
        indexed = lookups(connection, uids)
        connection.close()
    print("| profiles | lookups | no index p50 / p99 ms | ART index p50 / p99 ms | index built in s |")
    print("|---:|---:|---|---|---:|")
    print(
        f"| {people:,} | {len(uids)} | {plain[0]:.2f} / {plain[1]:.2f} | {indexed[0]:.2f} / {indexed[1]:.2f} "
        f"| {built:.1f} |"
    )


if __name__ == "__main__":
    main()
