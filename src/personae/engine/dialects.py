"""What each engine's SQL dialect lacks, declared as data, and the transpiler that uses it.

Steps write SQL in the DuckDB dialect. For another engine sqlglot transpiles it; the
functions sqlglot cannot translate are rewritten by the rules in ``REWRITES``, and the
ones an engine cannot do at all are listed in ``UNSUPPORTED`` and raise
:class:`UnsupportedFeature` naming the engine and the feature, never a driver error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.spark import Spark
from sqlglot.errors import ParseError
from sqlglot.time import format_time

from personae.errors import EngineError, UnsupportedFeature

SQLGLOT_DIALECT: dict[str, str] = {"duckdb": "duckdb", "spark": "spark"}

UNSUPPORTED: dict[str, dict[str, str]] = {
    "duckdb": {},
    "spark": {
        "read_csv": "reading files in SQL; declare the file as a source instead",
        "read_csv_auto": "reading files in SQL; declare the file as a source instead",
        "read_parquet": "reading files in SQL; declare the file as a source instead",
        "read_json": "reading files in SQL; declare the file as a source instead",
        "read_json_auto": "reading files in SQL; declare the file as a source instead",
        "json_each": "expanding JSON into rows",
        "json_keys": "listing the keys of a JSON object",
        "list_reduce": "reducing a list with a lambda",
    },
}
"""engine -> lower-case function name -> what the user tried to do."""

CAPABILITIES: dict[str, frozenset[str]] = {
    "duckdb": frozenset(
        {
            "transactions",
            "delete",
            "typed_stage",
            "persistent_views",
            "read_only_open",
            "local_components",
            "row_hash",
            "row_ids",
            "row_group_stats",
        }
    ),
    "spark": frozenset({"splink_scoring"}),
}
"""Engine features steps may rely on, so no code outside ``engine/`` branches on an engine's name:

- ``transactions``: all-or-nothing writes; ``delete``: delete rows in place (without it an
  engine rewrites the table);
- ``typed_stage``: ingest maps a Parquet input file in place, with its own column types,
  instead of its raw copy's text: the engine's text of a value is then DuckDB's, as in the
  raw copy (Spark prints doubles and timestamps its own way, so it maps the raw copy);
- ``persistent_views``: views (``raw_<source>``) persist in the store; without it they are
  declared again each time the engine opens;
- ``read_only_open``: the store can be opened read-only, so readers need no lock;
- ``local_components``: links can be pulled into this process for scipy's connected
  components (an embedded store); without it components run in SQL on the engine;
- ``splink_scoring``: Splink can score record pairs on this engine itself (a model trained on
  DuckDB is loaded into Splink's backend of the engine's name), which the identity step
  does beyond ``identity.matching.LOCAL_RECORDS`` records;
- ``row_hash``: ``hash(t)`` of a whole row (``t`` a table alias) and a ``sum`` of those that
  cannot overflow, for fingerprints of a table's content (the identity step keeps the last
  run's fuzzy pairs when the fingerprint of their inputs is unchanged);
- ``row_ids``: a stored row has an id (``t.rowid``) that holds within a transaction, and a
  scan filtered by a set of ids reads only the row groups holding them, so a wide read of a
  few rows can find them by their key columns first (the identity fold);
- ``row_group_stats``: the store keeps each row group's min and max of a column and can say
  them without a scan (``pragma_storage_info``), so a step can tell when a table written in
  place has lost its order (:mod:`personae.engine.person_order`)."""


def has(engine: str, *capabilities: str) -> bool:
    """Whether the engine named ``engine`` has every one of these declared capabilities."""
    return set(capabilities) <= CAPABILITIES[engine]


def _spark_strptime(node: exp.Expr) -> exp.Expr:
    value, fmt = node.expressions
    java = (
        exp.Literal.string(format_time(fmt.this, Spark.INVERSE_TIME_MAPPING) or "")
        if isinstance(fmt, exp.Literal)
        else fmt
    )
    return exp.Anonymous(this="try_to_timestamp", expressions=[value, java])


def _spark_json_valid(node: exp.Expr) -> exp.Expr:
    (value,) = node.expressions
    extracted = exp.Anonymous(this="get_json_object", expressions=[value, exp.Literal.string("$")])
    return exp.Paren(this=exp.Not(this=exp.Is(this=extracted, expression=exp.Null())))


def _spark_json_object(node: exp.Expr) -> exp.Expr:
    pairs: list[exp.Expr] = []
    for pair in node.expressions:
        pairs.extend([pair.this, pair.expression])
    struct = exp.Anonymous(this="named_struct", expressions=pairs)
    keep_nulls = exp.Anonymous(
        this="map", expressions=[exp.Literal.string("ignoreNullFields"), exp.Literal.string("false")]
    )
    return exp.Anonymous(this="to_json", expressions=[struct, keep_nulls])


_JSON_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _spark_json_paths(node: exp.Expr) -> exp.Expr:
    """DuckDB's ``json_extract[_string](x, [path, ...])`` (a list: one parse of ``x``) on Spark.

    Paths of plain keys (``$.a.b``) none of which leads into another are read from one
    ``from_json`` of ``x`` with a schema of exactly those paths, every leaf a string, bound
    once by a lambda: the line is parsed once for the whole list, where a ``get_json_object``
    per path parsed it once per path (the 1M demo's web events, ~30 paths: 29 s a million
    lines against 5.7 s). A string leaf gives what ``get_json_object`` gives: a string's
    text, or the JSON text of a number, object or array as Jackson writes it. Only a key
    repeated within one object differs (``from_json`` keeps the last, ``get_json_object``
    and DuckDB the first). Other lists stay an array of ``get_json_object``; a single path
    stays as it is."""
    paths = node.expression
    if not isinstance(paths, exp.Array):
        return node
    keys = [_json_keys(path) for path in paths.expressions]
    known = [key for key in keys if key is not None]
    if len(known) == len(keys) and (schema := _json_schema(known)) is not None:
        leaves = ", ".join("_parsed." + ".".join(f"`{name}`" for name in key) for key in known)
        value = node.this.sql(dialect=SQLGLOT_DIALECT["spark"])
        # an array of from_json(x, …).a, … parsed x once per element: Spark shares no call
        # between them
        return sqlglot.parse_one(
            f"transform(array(from_json({value}, '{schema}')), _parsed -> array({leaves}))[0]", read="spark"
        )
    kind = type(node)
    return exp.Array(expressions=[kind(this=node.this.copy(), expression=path.copy()) for path in paths.expressions])


def _json_keys(path: exp.Expr) -> tuple[str, ...] | None:
    """``$.a.b`` as ("a", "b"); None for any other path (an index, a quoted key, …)."""
    if not isinstance(path, exp.Literal) or not path.is_string or not path.this.startswith("$."):
        return None
    keys = tuple(path.this[2:].split("."))
    return keys if all(_JSON_KEY.fullmatch(key) for key in keys) else None


def _json_schema(paths: list[tuple[str, ...]]) -> str | None:
    """A Spark DDL struct holding exactly ``paths``, leaves as strings; None when one path
    leads into another (a key both read whole and read into)."""
    tree: dict[str, Any] = {}
    for keys in paths:
        node = tree
        for depth, key in enumerate(keys):
            leaf = depth == len(keys) - 1
            if leaf:
                if isinstance(node.get(key), dict):
                    return None
                node[key] = "string"
            else:
                if node.get(key) == "string":
                    return None
                node = node.setdefault(key, {})

    def ddl(node: dict[str, Any]) -> str:
        fields = (f"`{key}`: {value if value == 'string' else ddl(value)}" for key, value in node.items())
        return f"struct<{', '.join(fields)}>"

    return ddl(tree)


def _spark_percentile(node: exp.Expr) -> exp.Expr:
    """DuckDB's quantile_cont(x, q) is Spark's exact, interpolating percentile(x, q)."""
    return exp.Anonymous(this="percentile", expressions=[node.this, node.expression])


REWRITES: dict[str, dict[str, Callable[[exp.Expr], exp.Expr]]] = {
    "duckdb": {},
    "spark": {
        "try_strptime": _spark_strptime,
        "json_valid": _spark_json_valid,
        "jsonobject": _spark_json_object,
        "percentilecont": _spark_percentile,
        "jsonextract": _spark_json_paths,
        "jsonextractscalar": _spark_json_paths,
    },
}
"""engine -> function (lower-case name, or sqlglot node class name) -> AST rewrite."""


def _function_name(node: exp.Expr) -> str | None:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    if isinstance(node, exp.Func):
        return type(node).__name__.lower() if not node.sql_name() else node.sql_name().lower()
    return None


def check_supported(tree: exp.Expr, engine: str) -> None:
    gaps = UNSUPPORTED[engine]
    for node in tree.walk():
        name = _function_name(node)
        if name is not None and name in gaps:
            raise UnsupportedFeature(f"engine {engine!r} does not support {name}() ({gaps[name]})", sql=tree.sql())


@lru_cache(maxsize=2048)
def transpile(sql: str, engine: str) -> str:
    """DuckDB-dialect SQL as ``engine`` runs it; DuckDB gets it unchanged."""
    if engine == "duckdb":
        return sql
    try:
        trees = sqlglot.parse(sql, read="duckdb")
    except ParseError as error:
        raise EngineError(f"cannot parse SQL for engine {engine!r}: {error}", sql=sql) from None
    rules = REWRITES[engine]
    out = []
    for tree in trees:
        if tree is None:
            continue
        check_supported(tree, engine)

        def rewrite(node: exp.Expr) -> exp.Expr:
            key = str(node.this).lower() if isinstance(node, exp.Anonymous) else type(node).__name__.lower()
            rule = rules.get(key)
            return rule(node) if rule else node

        out.append(tree.transform(rewrite).sql(dialect=SQLGLOT_DIALECT[engine]))
    return ";\n".join(out)
