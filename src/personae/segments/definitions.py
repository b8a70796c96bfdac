"""Rule segment definitions, versioned in the store (``segment_definitions``).

Segments come from ``[[segments]]`` in ``personae.toml`` and from ``personae segment add``.
Each change of a segment's rule or description adds a version; the latest version of each
name is the one in force. Every rule is checked against the profile columns before it is
stored, so a stored definition always compiles.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from personae.engine.base import Engine
from personae.engine.sql import literal, timestamp_sql
from personae.engine.tables import columns_of, ensure_tables
from personae.models.step import PREDICTION_COLUMNS
from personae.rules import Rule, parse_rule
from personae.segments.specs import SegmentSpec


@dataclass(frozen=True)
class SegmentDefinition:
    name: str
    version: int
    rule: str
    description: str
    origin: str
    created_at: datetime


PEOPLE = "_scored_profiles"
"""What rules read: ``profiles`` (golden record and traits) with the models' scores."""


def people_sql(engine: Engine) -> str:
    """``profiles`` joined to the scores in ``predictions`` (NULL where no model has scored yet)."""
    stored = dict(engine.columns("predictions")) if engine.has_table("predictions") else {}
    scores = ", ".join(
        f"x.{name}" if name in stored else f"CAST(NULL AS {type_}) AS {name}"
        for name, type_ in PREDICTION_COLUMNS.items()
    )
    joined = "LEFT JOIN predictions AS x ON x.uid = p.uid" if stored else ""
    return f"SELECT p.*, {scores} FROM profiles AS p {joined}"


def profile_columns(engine: Engine) -> dict[str, str]:
    """Name -> type of the columns a rule may read; names them ``_scored_profiles`` for the statements
    that follow (empty when there are no profiles yet)."""
    if not engine.has_table("profiles"):
        return {}
    engine.define(PEOPLE, people_sql(engine))
    return dict(engine.columns(PEOPLE))


def definitions(engine: Engine) -> list[SegmentDefinition]:
    """The latest version of every segment, by name."""
    if not engine.has_table("segment_definitions"):
        return []
    rows = engine.fetch_rows(
        "SELECT name, version, rule, description, origin, created_at FROM ("
        "SELECT *, row_number() OVER (PARTITION BY name ORDER BY version DESC) AS position "
        "FROM segment_definitions) AS d WHERE position = 1 ORDER BY name"
    )
    return [SegmentDefinition(*row) for row in rows]


def history(engine: Engine, name: str) -> list[SegmentDefinition]:
    if not engine.has_table("segment_definitions"):
        return []
    rows = engine.fetch_rows(
        "SELECT name, version, rule, description, origin, created_at FROM segment_definitions "
        f"WHERE name = {literal(name)} ORDER BY version"
    )
    return [SegmentDefinition(*row) for row in rows]


def add_definition(
    engine: Engine,
    name: str,
    rule_text: str,
    *,
    description: str = "",
    origin: str = "cli",
    columns: Mapping[str, str] | None = None,
) -> SegmentDefinition | None:
    """Store a new version of a segment (None when it is unchanged). Raises ``InvalidRule``."""
    parse_rule(rule_text, columns if columns is not None else profile_columns(engine), name=name)
    ensure_tables(engine, ["segment_definitions"])
    current = {d.name: d for d in definitions(engine)}.get(name)
    if current is not None and current.rule == rule_text and current.description == description:
        return None
    version = (current.version if current else 0) + 1
    now = datetime.now(UTC).replace(tzinfo=None)
    engine.insert(
        "segment_definitions",
        [column for column, _ in columns_of("segment_definitions")],
        f"SELECT {literal(name)}, {version}, {literal(rule_text)}, {literal(description)}, "
        f"{literal(origin)}, {timestamp_sql(now.isoformat(sep=' '))}",
    )
    return SegmentDefinition(name, version, rule_text, description, origin, now)


def sync_config_segments(engine: Engine, segments: tuple[SegmentSpec, ...], columns: Mapping[str, str]) -> int:
    """Record the ``[[segments]]`` of the config as definitions; returns how many changed."""
    changed = 0
    for spec in segments:
        if add_definition(engine, spec.name, spec.rule, description=spec.description, origin="config", columns=columns):
            changed += 1
    return changed


def compiled(engine: Engine, columns: Mapping[str, str]) -> dict[str, Rule]:
    """Every segment in force, parsed against the current profile columns."""
    return {d.name: parse_rule(d.rule, columns, name=d.name) for d in definitions(engine)}
