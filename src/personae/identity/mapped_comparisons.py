"""Compared columns that no customers source can fill, found from ``personae.toml`` alone.

A column ``[identity.fuzzy]`` compares reaches a customer record in one of three ways: a
customers source maps it (``columns`` or ``identifiers``), a file column of the same name
maps itself, or the source keeps a file column it does not map in ``attributes`` under
its own name. The last two depend on the files' headers, which the config does not hold,
so the identity step checks them when it reads the records (:func:`personae.identity.
matching.check_mapped`). Two mistakes are certain from the config alone, and are errors
when it is loaded, before a run changes anything:

- the comparison names a *file* column that every customers source maps to a record
  column under another name (``dob`` where the source says ``birth_date = "dob"``): the
  record holds it as ``birth_date`` and keeps no ``dob``;
- the comparison names a column one typing slip away from a record column that a source
  maps (``frist_name``, ``birth_dtae``, ``postcde``): a letter swapped, replaced or dropped.
  A slip that *adds* a character is not taken for one, since ``street2`` or ``cities`` may
  well be a file's own column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from personae.engine.tables import IDENTIFIER_TYPES, columns_of
from personae.identity.fuzzy_settings import FuzzySettings
from personae.sources.computed import mapped_value
from personae.sources.kinds import SourceKind
from personae.sources.specs import SourceSpec

WRITTEN = ("compare", "columns", "extra_columns")
"""The keys that say the comparisons were written in ``personae.toml`` (not the defaults,
which are skipped quietly where a column is empty)."""
RECORD_COLUMNS = frozenset(name for name, _ in columns_of("customer_records"))


@dataclass(frozen=True)
class CustomersMapping:
    """What one customers source's mapping says: record column -> the file column or
    expression filling it, and the file columns that mapping reads."""

    source: str
    maps: Mapping[str, str]
    reads: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """File column -> the record columns it fills."""


def customers_mapping(spec: SourceSpec) -> CustomersMapping:
    """The record columns a customers source maps (``columns``, and ``identifiers`` of the
    types ``customer_records`` has columns for) and the file columns those mappings read."""
    maps = dict(spec.columns)
    maps.update({id_type: value for id_type, value in spec.identifiers.items() if id_type in IDENTIFIER_TYPES})
    reads: dict[str, list[str]] = {}
    for target, value in spec.columns.items():
        for column in mapped_value(value).reads:
            reads.setdefault(column, []).append(target)
    for id_type, value in spec.identifiers.items():
        for column in mapped_value(value, computed_allowed=False).reads:
            reads.setdefault(column, []).append(id_type)
    return CustomersMapping(spec.name, maps, {column: tuple(targets) for column, targets in reads.items()})


def check_compared_columns(settings: FuzzySettings, sources: Sequence[SourceSpec]) -> None:
    """Raise a ValueError (a config error at load) when a compared column can reach no
    customer record (:func:`unmapped_comparison`)."""
    problem = unmapped_comparison(
        settings, [customers_mapping(spec) for spec in sources if spec.kind is SourceKind.CUSTOMERS]
    )
    if problem:
        raise ValueError(problem)


def unmapped_comparison(settings: FuzzySettings, sources: Sequence[CustomersMapping]) -> str | None:
    """Why a compared column can reach no customer record, or None when it may."""
    if not settings.enabled or not sources or not set(WRITTEN) & settings.model_fields_set:
        return None
    declared = {column for mapping in sources for column in mapping.maps}
    for column, kind in settings.comparisons.items():
        if column in declared or column in RECORD_COLUMNS:  # a record column may map itself from a header
            continue
        label = _label(settings, column, kind)
        mapped = _mapped_columns(sources)
        renamed = [mapping for mapping in sources if column in mapping.reads]
        if len(renamed) == len(sources):
            targets = sorted({target for mapping in renamed for target in mapping.reads[column]})
            how = "; ".join(
                f"source {mapping.source!r} maps its column {column!r} to {', '.join(mapping.reads[column])}"
                for mapping in renamed
            )
            return (
                f"{label}: no customer record has a column {column!r}: {how}, so records hold it under that "
                f"name and keep no {column!r}. Compare {' or '.join(repr(t) for t in targets)} instead "
                f'(e.g. [identity.fuzzy.compare] {targets[0]} = "{kind}"). Customers sources map: {mapped}'
            )
        meant = [target for target in sorted(declared) if _one_slip(column, target)]
        if meant:
            sources_of = ", ".join(repr(m.source) for m in sources if meant[0] in m.maps)
            return (
                f"{label}: no customers source maps {column!r}; did you mean {meant[0]!r} (mapped by source "
                f"{sources_of})? Customers sources map: {mapped}. Fix the name in identity.fuzzy, or leave "
                "the comparison out"
            )
    return None


def _label(settings: FuzzySettings, column: str, kind: str) -> str:
    if settings.compare:
        return f"identity.fuzzy.compare.{column} = {kind!r}"
    where = "columns" if column in settings.columns else "extra_columns"
    return f"identity.fuzzy.{where} compares {column!r} ({kind})"


def _mapped_columns(sources: Sequence[CustomersMapping]) -> str:
    """``crm: first_name (first), birth_date (dob); email: email (mail)``."""
    described = []
    for mapping in sources:
        columns = ", ".join(f"{column} ({value})" for column, value in mapping.maps.items())
        described.append(f"{mapping.source}: {columns or 'nothing'}")
    return "; ".join(described)


def _one_slip(typed: str, meant: str) -> bool:
    """Whether ``typed`` is ``meant`` with one letter replaced, two neighbours swapped, or one
    letter dropped (not added: an extra character may make a column of its own).

    >>> [_one_slip(t, "first_name") for t in ("frist_name", "firts_name", "first_nme", "first_names")]
    [True, True, True, False]
    >>> _one_slip("street2", "street"), _one_slip("birth_date", "birth_date")
    (False, False)
    """
    if typed == meant:
        return False
    if len(typed) == len(meant):
        differ = [i for i, (a, b) in enumerate(zip(typed, meant, strict=True)) if a != b]
        if len(differ) == 1:
            return typed[differ[0]].isalpha() and meant[differ[0]].isalpha()
        if len(differ) != 2 or differ[1] != differ[0] + 1:
            return False
        first, second = differ
        return typed[first] == meant[second] and typed[second] == meant[first]
    if len(typed) == len(meant) - 1:
        for index, letter in enumerate(meant):
            if typed == meant[:index] + meant[index + 1 :]:
                return letter.isalpha()
    return False
