"""Rule segment definitions, versioned in the store (``segment_definitions``).

Segments come from ``[[segments]]`` in ``personae.toml`` and from ``personae segment add``.
Each change of a segment's rule or description adds a version; the latest version of each
name is the one in force. Every rule is checked against the profile columns before it is
stored, so a stored definition always compiles.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from personae.engine.base import Engine
from personae.engine.sql import literal, timestamp_sql
from personae.engine.tables import columns_of, ensure_tables
from personae.errors import InvalidRule, NotFound
from personae.rules import Rule, parse_rule
from personae.segments.people import profile_columns
from personae.segments.references import check_references, known_segments
from personae.segments.specs import SegmentConfig, SegmentSpec
from personae.spec import NAME_PATTERN, did_you_mean


@dataclass(frozen=True)
class SegmentDefinition:
    name: str
    version: int
    rule: str
    description: str
    origin: str
    created_at: datetime


REMOVED = "removed"
"""The origin of the version that removes a segment: its history stays, it is no longer in force."""


def definitions(engine: Engine) -> list[SegmentDefinition]:
    """The latest version of every segment in force, by name."""
    if not engine.has_table("segment_definitions"):
        return []
    rows = engine.fetch_rows(
        "SELECT name, version, rule, description, origin, created_at FROM ("
        "SELECT *, row_number() OVER (PARTITION BY name ORDER BY version DESC) AS position "
        f"FROM segment_definitions) AS d WHERE position = 1 AND origin <> {literal(REMOVED)} ORDER BY name"
    )
    return [SegmentDefinition(*row) for row in rows]


def check_name(name: str) -> str:
    """A segment's name: lower-case letters, digits and ``_``, starting with a letter."""
    if not re.fullmatch(NAME_PATTERN, name):
        suggestion = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")
        hint = f"; e.g. {suggestion!r}" if suggestion and re.fullmatch(NAME_PATTERN, suggestion) else ""
        raise InvalidRule(f"segment name {name!r}: use lower-case letters, digits and _, starting with a letter{hint}")
    return name


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
    known: Mapping[str, frozenset[str] | None] | None = None,
) -> SegmentDefinition | None:
    """Store a new version of a segment (None when it is unchanged). Raises ``InvalidRule`` for a
    bad name or rule, or (given ``known``: segmentation -> its segments) an ``in_segment`` of a
    segment that does not exist."""
    check_name(name)
    rule = parse_rule(rule_text, columns if columns is not None else profile_columns(engine), name=name)
    if known is not None:
        check_references(rule, known)
    ensure_tables(engine, ["segment_definitions"])
    current = {d.name: d for d in definitions(engine)}.get(name)
    if current is not None and current.rule == rule_text and current.description == description:
        return None
    version = (current.version if current else 0) + 1
    now = datetime.now(UTC).replace(tzinfo=None)
    return _version(engine, SegmentDefinition(name, version, rule_text, description, origin, now))


def _version(engine: Engine, definition: SegmentDefinition) -> SegmentDefinition:
    engine.insert(
        "segment_definitions",
        [column for column, _ in columns_of("segment_definitions")],
        f"SELECT {literal(definition.name)}, {definition.version}, {literal(definition.rule)}, "
        f"{literal(definition.description)}, {literal(definition.origin)}, "
        f"{timestamp_sql(definition.created_at.isoformat(sep=' '))}",
    )
    return definition


def remove_definition(engine: Engine, name: str) -> SegmentDefinition:
    """Take a segment out of force (a version that says so; its history stays). Its members
    leave it on the next run. Raises ``NotFound`` for a segment that is not in force."""
    current = {d.name: d for d in definitions(engine)}
    if name not in current:
        raise NotFound(
            f"no rule segment {name!r}{did_you_mean(name, current)}; segments are {', '.join(current) or 'none yet'}"
        )
    now = datetime.now(UTC).replace(tzinfo=None)
    kept = current[name]
    return _version(engine, SegmentDefinition(name, kept.version + 1, kept.rule, kept.description, REMOVED, now))


def sync_config_segments(engine: Engine, segments: tuple[SegmentSpec, ...], columns: Mapping[str, str]) -> int:
    """Record the ``[[segments]]`` of the config as definitions, and take out of force the ones
    that were in the config before but are no longer; returns how many changed."""
    changed = 0
    for spec in segments:
        if add_definition(engine, spec.name, spec.rule, description=spec.description, origin="config", columns=columns):
            changed += 1
    named = {spec.name for spec in segments}
    for definition in definitions(engine):
        if definition.origin == "config" and definition.name not in named:
            remove_definition(engine, definition.name)
            changed += 1
    return changed


def compiled(engine: Engine, columns: Mapping[str, str]) -> dict[str, Rule]:
    """Every segment in force, parsed against the current profile columns."""
    return {d.name: parse_rule(d.rule, columns, name=d.name) for d in definitions(engine)}


def stored_segments(
    engine: Engine, config: SegmentConfig, more_rules: Iterable[str] = ()
) -> dict[str, frozenset[str] | None]:
    """:func:`known_segments` with what the store knows: the segments assigned now (for kinds
    the data decides) and the rule segments in force, with ``more_rules`` (a segment being
    added may name itself or one added with it)."""
    assigned: dict[str, set[str]] = {}
    if engine.has_table("memberships"):
        rows = engine.fetch_rows("SELECT DISTINCT segmentation, segment FROM memberships WHERE exited_at IS NULL")
        for segmentation, segment in rows:
            assigned.setdefault(str(segmentation), set()).add(str(segment))
    rules = [*(d.name for d in definitions(engine)), *(spec.name for spec in config.segments), *more_rules]
    return known_segments(config, assigned, rules)
