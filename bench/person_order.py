"""How far the person tables of a workspace are from their order, and what a profile lookup costs there.

    .venv/bin/python bench/person_order.py WORKSPACE [--lookups 40] [--seed 7]

For each table that declares ``clustered_by``: its rows, row groups, and the most row groups one
lookup of a person reads (``personae.engine.person_order``, from DuckDB's row-group min and
max). Then ``Workspace.profile`` of ``--lookups`` e-mail addresses sampled from the store, with
the time of each statement (``bench/server_lookup.py``). Run it on a workspace after several
incremental runs, and on a copy after ``personae run --full``, to see what the order is worth.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from personae import Workspace
from personae.engine.person_order import most_row_groups_read, row_group_ranges
from personae.engine.tables import TABLES
from server_lookup import breakdown_table, lookup_breakdown


def order_table(workspace: Workspace) -> str:
    lines = ["| table | rows | row groups | most row groups one lookup reads |", "|---|---:|---:|---:|"]
    with workspace.engine(write=False) as store:
        for table in TABLES:
            if table.clustered_by is None or not store.has_table(table.name):
                continue
            ranges = row_group_ranges(store, table.name, table.clustered_by)
            reads = most_row_groups_read(ranges)
            lines.append(f"| {table.name} | {store.row_count(table.name):,} | {len(ranges)} | {reads} |")
    return "\n".join(lines) + "\n"


def sampled_emails(workspace: Workspace, count: int, seed: int) -> list[str]:
    with workspace.engine(write=False) as store:
        rows = store.fetch_rows(
            "SELECT id_value FROM (SELECT id_value FROM identity_map WHERE id_type = 'email') "
            f"USING SAMPLE {int(count)} ROWS (reservoir, {int(seed)})"  # a sample of the e-mails, not of the rows
        )
    return [f"email:{row[0]}" for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--lookups", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    workspace = Workspace(args.workspace)
    print(order_table(workspace))
    found = lookup_breakdown(args.workspace, sampled_emails(workspace, args.lookups, args.seed))
    print(breakdown_table(f"Profile lookups, {args.workspace.name}", found))


if __name__ == "__main__":
    main()
