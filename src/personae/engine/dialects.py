"""What each engine's SQL dialect lacks, declared as data, and the transpiler that uses it.

Steps write SQL in the DuckDB dialect. For another engine sqlglot transpiles it; the
functions sqlglot cannot translate are rewritten by the rules in ``REWRITES``, and the
ones an engine cannot do at all are listed in ``UNSUPPORTED`` and raise
:class:`UnsupportedFeature` naming the engine and the feature, never a driver error.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

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
        {"transactions", "delete", "typed_stage", "persistent_views", "read_only_open", "local_components", "row_hash"}
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
- ``splink_scoring``: Splink scores record pairs on this engine itself (a model trained on
  DuckDB is loaded into Splink's backend of the engine's name);
- ``row_hash``: ``hash(t)`` of a whole row (``t`` a table alias) and a ``sum`` of those that
  cannot overflow, for fingerprints of a table's content (the identity step keeps the last
  run's fuzzy pairs when the fingerprint of their inputs is unchanged)."""


def has(engine: str, capability: str) -> bool:
    """Whether the engine named ``engine`` has a declared capability."""
    return capability in CAPABILITIES[engine]


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


def _spark_json_paths(node: exp.Expr) -> exp.Expr:
    """DuckDB's ``json_extract[_string](x, [path, ...])`` (a list: one parse of ``x``) is an
    array of Spark's ``get_json_object``, one per path; a single path stays as it is."""
    paths = node.expression
    if not isinstance(paths, exp.Array):
        return node
    kind = type(node)
    return exp.Array(expressions=[kind(this=node.this.copy(), expression=path.copy()) for path in paths.expressions])


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
