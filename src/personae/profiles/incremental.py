"""Incremental traits: recompute only the people whose traits can have changed since the last run.

A person's traits read only that person's rows (their orders, lines, events, customer
records), so recomputing any set of people with the inputs cut to them gives exactly the rows
a full run gives them (``tests/pipeline/test_incremental_runs.py`` checks it on random
increments). The set is every person who can have moved:

- **touched**: a UID whose records changed since the last traits run (per UID, the count of
  its ``record_map`` rows and an XOR of their hashes are kept in ``traits_record_digests``:
  a new, moved or lost record changes both the UID it left and the one it joined; keeping
  digests costs 0.6 s on the 100,000-customer demo's 1.6M records where a copy of
  ``record_map`` cost 16 s), a row loaded since that run (``_loaded_at``
  past the run's watermark: a new or re-loaded event, order line or customer record), and a
  UID the golden step has that the traits table lacks;
- **crossing a line in time**, when the as-of day moved forward from A0 to A1: everyone with a
  row dated after A0 up to A1 (it now counts), and, for every window of N days a trait uses,
  everyone with a row dated in the days that left the window (from A0 − N + 1 to A1 − N).

The one change this misses is an order losing every one of its lines while the order stays
(no line left to carry a new ``_loaded_at``); retention and erasure delete lines with their
order or person, and ``personae run --full`` recomputes everyone.

Everyone else keeps their row, with the columns that depend on the as-of day alone moved to
the new day: ``traits_as_of``, the formulas that call ``days_since`` over stored traits
(``days_since_last_order`` …) and the summary's ``T``. A run falls back to a full one, with
its reason in the run report, when the store has no state of a previous run, the traits
settings changed, the as-of day went back, a filter reads the as-of day, a formula that
reads it needs an input that is not stored as it is read, or the engine is not DuckDB.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from personae.engine.base import Engine
from personae.engine.sql import day_sql, literal, timestamp_sql
from personae.engine.tables import ensure_tables
from personae.profiles.algebra import EVENTS, Aggregate, Where, is_helper
from personae.profiles.catalog import Catalog, trait_catalog
from personae.profiles.formulas import filter_rule, reads_as_of
from personae.profiles.orders import EVENT_RECORD_ID
from personae.profiles.specs import TraitsConfig

STATE = "traits_state"
SNAPSHOT = "traits_record_digests"
DIGESTS_SQL = "SELECT uid, count(*) AS records, bit_xor(hash(source, record_id)) AS digest FROM record_map GROUP BY uid"
SCOPE = "_inc_people"
DIGESTS = "_inc_record_digests"
"""This run's digests (:data:`DIGESTS_SQL`), computed once for the scope and the next run's snapshot."""
FORMAT = "1"
"""Bumped when what the state means changes: a store with another format runs in full once."""


@dataclass(frozen=True)
class Increment:
    """What the traits step recomputes: everyone (``full``, with why) or the people of ``SCOPE``."""

    full: bool
    reason: str
    previous_as_of: date | None = None
    watermark: str | None = None


def fingerprint(config: TraitsConfig) -> str:
    """What the stored traits were computed from: the traits settings and the state's format."""
    return hashlib.sha256(f"{FORMAT}:{config.model_dump_json()}".encode()).hexdigest()[:16]


def _state(engine: Engine) -> dict[str, str]:
    if not engine.has_table(STATE):
        return {}
    return {str(key): str(value) for key, value in engine.fetch_rows(f"SELECT key, value FROM {STATE}")}


def moving_traits(catalog: Catalog) -> list[str]:
    """The derived traits whose value moves with the as-of day alone (the formula calls
    ``days_since`` or reads such a trait), in formula order: ``days_since_last_order`` …"""
    moving: list[str] = []
    for name, formula in catalog.formulas.items():
        if reads_as_of(formula.rule) or formula.reads & set(moving):
            moving.append(name)
    return moving


def time_formulas(catalog: Catalog) -> dict[str, Any] | None:
    """Derived trait -> formula, for every :func:`moving_traits` one, in formula order; None
    when one of them cannot be recomputed from the stored row (it reads a helper, or a trait
    whose stored value is not the value formulas read: one with a default)."""
    by_name = {trait.name: trait for trait in catalog.traits}
    moving: dict[str, Any] = {}
    for name in moving_traits(catalog):
        formula = catalog.formulas[name]
        trait = by_name[name]
        for read in formula.reads:
            source = by_name[read]
            if is_helper(source) or is_helper(trait) or (isinstance(source, Aggregate) and source.default is not None):
                return None
        moving[name] = formula
    return moving


def _filters_read_as_of(catalog: Catalog) -> bool:
    return any(
        isinstance(condition, Where) and reads_as_of(filter_rule(condition, trait.input, trait.name))
        for trait in catalog.traits
        if isinstance(trait, Aggregate)
        for condition in trait.filter
    )


def plan_increment(engine: Engine, config: TraitsConfig, as_of: date, *, full: bool = False) -> Increment:
    """Whether this traits run can be incremental, and from which previous run."""
    state = _state(engine)
    catalog = trait_catalog(config)
    reason = None
    if full:
        reason = "a full run was asked for (--full)"
    elif engine.name != "duckdb":
        reason = f"incremental traits run on DuckDB only, not {engine.name}"
    elif not state or not all(engine.has_table(name) for name in ("traits", SNAPSHOT, "customer_summary")):
        reason = "no previous traits run to start from"
    elif state.get("fingerprint") != fingerprint(config):
        reason = "the traits settings changed since the last run"
    elif date.fromisoformat(state["as_of"]) > as_of:
        reason = f"the as-of day went back (from {state['as_of']} to {as_of})"
    elif _filters_read_as_of(catalog):
        reason = "a trait's filter reads the as-of day"
    elif time_formulas(catalog) is None:
        reason = "a formula over the as-of day reads a value that is not stored as it is read"
    if reason is not None:
        return Increment(True, reason)
    return Increment(False, "", date.fromisoformat(state["as_of"]), state.get("watermark") or None)


def _time_ranges(catalog: Catalog, before: date, after: date) -> list[tuple[date, date]]:
    """Days [first, last] whose rows count differently at ``after`` than at ``before``."""
    if after == before:
        return []
    ranges = [(before + timedelta(days=1), after)]
    for window in sorted({t.window for t in catalog.traits if isinstance(t, Aggregate) and t.window is not None}):
        ranges.append((before - timedelta(days=window - 1), after - timedelta(days=window)))
    return ranges


def _in_ranges(column: str, ranges: list[tuple[date, date]]) -> str:
    def start(day: date) -> str:
        return timestamp_sql(f"{day} 00:00:00")

    return " OR ".join(
        f"({column} >= {start(first)} AND {column} < {start(last + timedelta(days=1))})" for first, last in ranges
    )


def _loaded_after(column: str, watermark: str | None) -> str:
    return "true" if watermark is None else f"{column} > {timestamp_sql(watermark)}"


def scope_sql(catalog: Catalog, increment: Increment, as_of: date, golden: str, digests: str) -> str:
    """The UIDs to recompute (see the module's docstring); ``digests`` holds this run's
    :data:`DIGESTS_SQL`."""
    moved = (
        f"SELECT coalesce(cur.uid, prev.uid) AS uid FROM {digests} AS cur "
        f"FULL JOIN {SNAPSHOT} AS prev ON prev.uid = cur.uid "
        "WHERE cur.uid IS NULL OR prev.uid IS NULL OR cur.records <> prev.records OR cur.digest <> prev.digest"
    )
    assert increment.previous_as_of is not None  # an incremental plan always has one
    ranges = _time_ranges(catalog, increment.previous_as_of, as_of)
    changed = _loaded_after("e._loaded_at", increment.watermark)
    if ranges:
        changed = f"({changed} OR {_in_ranges('e.ts', ranges)})"
    direct = (
        "SELECT m.uid FROM events AS e JOIN record_map AS m ON m.source = e.source "
        f"AND m.record_id = {EVENT_RECORD_ID} WHERE e.type <> 'order_item' AND {changed}"
    )
    # a line changes its order's person: new or re-loaded lines, and (for traits over every
    # event, where a line keeps its own time) lines dated in the ranges
    line_changed = _loaded_after("l._loaded_at", increment.watermark)
    if ranges and catalog.aggregates(EVENTS):
        line_changed = f"({line_changed} OR {_in_ranges('l.ts', ranges)})"
    lines = (
        "SELECT m.uid FROM events AS l JOIN events AS o ON o.type = 'order' AND o.order_id = l.order_id "
        "JOIN record_map AS m ON m.source = o.source AND m.record_id = o.order_id "
        f"WHERE l.type = 'order_item' AND {line_changed}"
    )
    records = (
        "SELECT m.uid FROM customer_records AS c JOIN record_map AS m ON m.source = c.source "
        f"AND m.record_id = c.record_id WHERE {_loaded_after('c._loaded_at', increment.watermark)}"
    )
    new = f"SELECT g.uid FROM {golden} AS g WHERE g.uid NOT IN (SELECT uid FROM traits)"
    every = " UNION ALL ".join((moved, direct, lines, records, new))
    return f"SELECT DISTINCT uid FROM ({every}) AS t WHERE uid IS NOT NULL"


def moved_settings_sql(catalog: Catalog, as_of: date, columns: list[str], as_of_column: str) -> str:
    """The ``SET`` list of an ``UPDATE`` that moves the stored rows of the people not
    recomputed to ``as_of`` in place: the day itself and the formulas over it recomputed from
    the stored columns (see :func:`time_formulas`). Every right side reads the row as it was,
    so a formula over another moving one reads that one's new SQL, inlined."""
    moving = time_formulas(catalog) or {}
    expressions = {name: name for name in columns}
    for name, formula in moving.items():
        expressions[name] = f"({formula.sql(expressions, as_of=as_of)})"
    moved = [f"{name} = CAST({expressions[name]} AS {catalog.types[name]})" for name in moving]
    return ", ".join([f"{as_of_column} = {day_sql(as_of)}", *moved])


def record_state(engine: Engine, config: TraitsConfig, as_of: date, *, digests: str | None = None) -> None:
    """Keep what the next run starts from: the record map's digests (``digests``, when this
    run computed them already), the as-of day, the settings' fingerprint and the newest
    ``_loaded_at`` of the rows the traits read."""
    ensure_tables(engine, [STATE])
    engine.create_table(SNAPSHOT, DIGESTS_SQL if digests is None else f"SELECT uid, records, digest FROM {digests}")
    newest = [
        f"SELECT max(_loaded_at) AS newest FROM {table}"
        for table in ("events", "customer_records")
        if engine.has_table(table)
    ]
    watermark = engine.scalar(f"SELECT max(newest) FROM ({' UNION ALL '.join(newest)}) AS w") if newest else None
    values = {"as_of": as_of.isoformat(), "fingerprint": fingerprint(config), "watermark": str(watermark or "")}
    engine.delete_where(STATE, "true")
    rows = " UNION ALL ".join(f"SELECT {literal(key)}, {literal(value)}" for key, value in values.items())
    engine.insert(STATE, ["key", "value"], rows)


def forget_state(engine: Engine) -> None:
    """Drop the state, so the next run is a full one (when this one did not finish its part)."""
    if engine.has_table(STATE):
        engine.delete_where(STATE, "true")
