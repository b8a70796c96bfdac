"""Declared traits (``[[traits]]`` in ``personae.toml``) as SQL over events with their UID.

Each computes one function of an event column or a ``properties.<name>`` value over the
events that pass its filters (event name, type, a ``where`` expression in the rule
language over event columns) within its window. ``most_frequent`` breaks ties by the
smallest value, ``first``/``last`` by time, so both engines agree.
"""

from __future__ import annotations

from datetime import date

from personae.engine.sql import literal, since_sql
from personae.profiles.specs import EVENT_COLUMNS, PROPERTY_PREFIX, TraitSpec
from personae.rules import parse_rule

NUMERIC_FUNCTIONS = ("sum", "avg")


def value_sql(spec: TraitSpec) -> str:
    """The expression a trait aggregates."""
    if spec.property is None:
        return "1"
    if spec.property.startswith(PROPERTY_PREFIX):
        path = "$." + spec.property.removeprefix(PROPERTY_PREFIX)
        value = f"json_extract_string(properties, {literal(path)})"
        return f"TRY_CAST({value} AS DOUBLE)" if spec.function in NUMERIC_FUNCTIONS else value
    if spec.function in NUMERIC_FUNCTIONS:
        return f"CAST({spec.property} AS DOUBLE)"
    return spec.property


def trait_type(spec: TraitSpec) -> str:
    if spec.function in ("count", "unique_count"):
        return "BIGINT"
    if spec.function in NUMERIC_FUNCTIONS:
        return "DOUBLE"
    if spec.property is None or spec.property.startswith(PROPERTY_PREFIX):
        return "VARCHAR"
    return EVENT_COLUMNS[spec.property]


def filter_sql(spec: TraitSpec, as_of: date) -> str:
    """The conditions an event meets to count for a trait."""
    conditions = ["true"]
    if spec.event is not None:
        conditions.append(f"name = {literal(spec.event)}")
    if spec.type is not None:
        conditions.append(f"type = {literal(spec.type)}")
    if spec.window_days is not None:
        conditions.append(f"ts >= {since_sql(as_of, spec.window_days)}")
    if spec.where is not None:
        rule = parse_rule(spec.where, EVENT_COLUMNS, name=f"traits.{spec.name}.where")
        conditions.append(f"coalesce(({rule.sql(as_of=as_of)}), false)")
    if spec.property is not None:
        conditions.append(f"{value_sql(spec)} IS NOT NULL")
    return " AND ".join(conditions)


def computed_trait_sql(spec: TraitSpec, as_of: date, events: str) -> str:
    """``uid, <name>`` for the people with at least one counting event."""
    value = value_sql(spec)
    where = filter_sql(spec, as_of)
    if spec.function == "most_frequent":
        counts = f"SELECT uid, {value} AS value, count(*) AS n FROM {events} WHERE {where} GROUP BY uid, {value}"
        ranked = f"SELECT *, row_number() OVER (PARTITION BY uid ORDER BY n DESC, value) AS position FROM ({counts}) c"
        return f"SELECT uid, value AS {spec.name} FROM ({ranked}) AS r WHERE position = 1"
    aggregate = {
        "count": "count(*)",
        "sum": f"sum({value})",
        "avg": f"avg({value})",
        "min": f"min({value})",
        "max": f"max({value})",
        "first": f"arg_min({value}, ts)",
        "last": f"arg_max({value}, ts)",
        "unique_count": f"count(DISTINCT {value})",
    }[spec.function]
    return f"SELECT uid, {aggregate} AS {spec.name} FROM {events} WHERE {where} GROUP BY uid"
