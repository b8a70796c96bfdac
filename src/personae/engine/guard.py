"""User SQL on a store this process holds open: what the query may name, read from DuckDB's
own parse tree (``json_serialize_sql``).

``personae sql`` normally runs in a database of its own with file access switched off
(:meth:`personae.engine.duckdb.DuckDBEngine.user_sql`). While the server holds the store,
the same file cannot be attached a second time in the process, and the settings that turn
file access off would apply to the server's writer too; so the query runs on a connection
of the held database after this check refuses anything that could reach a file or a
secret: a table function other than the pure generators, a function that reads files or
the environment, and a table name that is not one of the store's tables or views or the
query's own common table expressions (DuckDB would read ``FROM 'x.parquet'`` as a file).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

SAFE_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})
REFUSED_PREFIXES = ("read_", "parquet_", "sniff_", "glob", "getenv", "duckdb_secret", "which_secret", "load")
"""Function names that reach files, the environment or secrets (checked as prefixes)."""


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def refusal(serialized: str, tables: set[str]) -> str | None:
    """Why a query (DuckDB's ``json_serialize_sql`` of it) may not run on a held store, or None."""
    tree = json.loads(serialized)
    if tree.get("error"):
        return str(tree.get("error_message") or "the query does not parse")
    names: set[str] = set()
    for node in _nodes(tree):
        for key, value in node.items():
            if key == "cte_map" and isinstance(value, dict):
                names |= {str(item.get("key", "")).lower() for item in value.get("map", []) if isinstance(item, dict)}
    known = {name.lower() for name in tables} | names
    for node in _nodes(tree):
        kind = node.get("type")
        name = str(node.get("function_name", "")).lower()
        if kind == "TABLE_FUNCTION" and name and name not in SAFE_TABLE_FUNCTIONS:
            return f"table function {name}() is not allowed: user SQL reads the store's tables and views"
        if name.startswith(REFUSED_PREFIXES):
            return f"function {name}() is not allowed: user SQL cannot read files, the environment or secrets"
        if kind == "BASE_TABLE":
            table = str(node.get("table_name", ""))
            if node.get("catalog_name") or node.get("schema_name") not in ("", None, "main"):
                return f"{table!r} is not one of the store's tables or views"
            if table.lower() not in known:
                return f"no table or view {table!r} in the store (user SQL reads no files)"
    return None
