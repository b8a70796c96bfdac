"""Column mapping, type validation and identifier normalisation, as SQL over a staged file.

The staged file has text columns plus ``_file`` and ``_row``. :func:`mapped_sql` turns it
into the source kind's canonical, typed columns, normalised identifiers, a row key, a
``_reason`` that is NULL for a good row and says what is wrong otherwise, and ``_passes``:
true where the row passes the checks that make a reason needless (a row with a reason never
passes; one that fails may still have none). The functions
here are pure: they return DuckDB-dialect SQL that every engine runs (tested on both).

A staged Parquet file may also keep its own column types (see ``stage_types``): every
column is then read as DuckDB's text of it, exactly as the raw copy holds it, except a
column whose type is already the canonical one (:data:`EXACT_TYPES`), which is taken as
is: the same value without printing and parsing it again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from personae.engine.sql import identifier, literal, literals
from personae.engine.tables import IDENTIFIER_TYPES
from personae.errors import MappingError
from personae.sources.computed import MappedValue, mapped_value
from personae.sources.kinds import (
    KIND_COLUMNS,
    ROW_CHECKS,
    SEGMENT_EVENT_TYPES,
    ColumnType,
    SourceKind,
)
from personae.sources.normalise import identifier_sql, text_sql
from personae.sources.readers import SEGMENT_FIELDS
from personae.sources.specs import IngestSettings, SourceSpec

TRUE_WORDS = ("true", "t", "1", "yes", "y")
FALSE_WORDS = ("false", "f", "0", "no", "n")
EVENT_IDENTIFIERS = ("user_id", "anonymous_id", "email", "phone")
_TYPE_WORDS = {
    ColumnType.TIMESTAMP: "a timestamp",
    ColumnType.DATE: "a date",
    ColumnType.MONEY: "an amount",
    ColumnType.INTEGER: "a whole number",
    ColumnType.BOOLEAN: "true or false",
}


_WHOLE_NUMBERS = frozenset({"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UINTEGER", "USMALLINT", "UTINYINT"})
EXACT_TYPES: dict[ColumnType, frozenset[str]] = {
    ColumnType.TIMESTAMP: frozenset({"TIMESTAMP"}),
    ColumnType.DATE: frozenset({"DATE"}),
    ColumnType.INTEGER: _WHOLE_NUMBERS,
    ColumnType.BOOLEAN: frozenset({"BOOLEAN"}),
    ColumnType.MONEY: _WHOLE_NUMBERS | {f"DECIMAL({p},{s})" for p in range(1, 19) for s in range(3) if s <= p},
}
"""Stage column types (DuckDB's names) whose values cast to a canonical type exactly as their
text would parse. Floating point is not among them: a double's text rounds differently
(``1.005`` is 1.01 as text, 1.00 as a double)."""

VALIDATED_IDENTIFIERS = ("email", "phone")
"""Identifier types whose values are checked; a value failing its check is reported."""


def validated_identifiers(spec: SourceSpec, columns: list[str], file: str = "the staged file") -> list[str]:
    """The checked identifier types this source maps (their raw values are kept as ``__rawid_<type>``)."""
    mapping = resolve_columns(spec, columns, file)
    return [t for t in VALIDATED_IDENTIFIERS if f"id:{t}" in mapping]


@dataclass(frozen=True)
class FieldCheck:
    """An optional typed column this source maps: a value that does not parse loads as NULL
    and is reported in ``field_issues`` with its raw text (``__raw_<column>`` of the mapped rows)."""

    column: str
    source_column: str | None
    """The source column it reads, or the expression of a computed mapping; None for a constant."""
    problem: str
    """What is wrong with a value that does not parse, e.g. ``not a date in the format '%d/%m/%Y'``."""


def checked_fields(spec: SourceSpec, columns: list[str], file: str = "the staged file") -> list[FieldCheck]:
    """The optional typed columns this source maps, whose bad values are reported, not quarantined."""
    mapping = resolve_columns(spec, columns, file)
    checks = []
    for column in KIND_COLUMNS[spec.kind]:
        value = mapping.get(column.name)
        if not value or column.type not in _TYPE_WORDS or column.quarantines_bad_values:
            continue
        fmt = spec.formats.get(column.name)
        problem = f"not {_TYPE_WORDS[column.type]}" + (f" in the format {fmt!r}" if fmt else "")
        checks.append(FieldCheck(column.name, mapped_value(value).shown, problem))
    return checks


def _cast_sql(raw: str, target: str) -> str:
    """``raw`` cast to ``target``, trimmed only where that fails: the value of
    ``TRY_CAST(nullif(trim(raw), ''))`` (a cast that parses a value with white space around it
    parses the value itself, and an empty text is no value of these types), without trimming
    every value first. Some values need the trim (a date with a space before it is no
    timestamp to DuckDB, a no-break space no number).

    The trim is written once, not as :func:`~personae.sources.normalise.text_sql`: that
    ``nullif`` names it twice, and DuckDB computes an expression named twice in a statement
    for every row, before the ``coalesce`` could skip it. The trims of a 10M-row file's time and
    amount took 1.2 s of the insert's 19 s CPU (bench/RESULTS.md, 2026-12-07)."""
    return f"coalesce(TRY_CAST({raw} AS {target}), TRY_CAST(trim({raw}) AS {target}))"


def typed_sql(column_type: ColumnType, raw: str, fmt: str | None) -> str:
    """A text expression cast to a canonical type; NULL when it does not parse."""
    text = text_sql(raw)
    if column_type in (ColumnType.TEXT, ColumnType.JSON):
        return text
    if column_type is ColumnType.TIMESTAMP:
        if fmt:
            return f"try_strptime({text}, {literal(fmt)})"
        return _cast_sql(raw, "TIMESTAMP")
    if column_type is ColumnType.DATE:
        if fmt:
            return f"CAST(try_strptime({text}, {literal(fmt)}) AS DATE)"
        return _cast_sql(raw, "DATE")
    if column_type is ColumnType.MONEY:
        return _cast_sql(raw, "DECIMAL(18,2)")
    if column_type is ColumnType.INTEGER:
        return _cast_sql(raw, "BIGINT")
    lowered = f"lower({text})"
    return (
        f"CASE WHEN {lowered} IN ({literals(TRUE_WORDS)}) THEN TRUE "
        f"WHEN {lowered} IN ({literals(FALSE_WORDS)}) THEN FALSE END"
    )


def json_paths(spec: SourceSpec) -> dict[str, str]:
    """For a JSONL source: the column each JSON path it maps is extracted as (the path itself),
    past the Segment fields every JSONL source has."""
    values = [mapped_value(value) for value in spec.columns.values()]
    values += [mapped_value(value, computed_allowed=False) for value in spec.identifiers.values()]
    read = [column for value in values for column in value.reads]
    return {column: column for column in read if column not in SEGMENT_FIELDS}


def jsonl_columns(spec: SourceSpec) -> list[str]:
    """The columns of a JSONL source's rows: the Segment fields, the paths it maps, ``_raw``."""
    return [*SEGMENT_FIELDS, *json_paths(spec), "_raw"]


def resolve_columns(spec: SourceSpec, stage_columns: list[str], file: str) -> dict[str, str]:
    """canonical column -> mapping value; same-named stage columns map themselves."""
    available = [column for column in stage_columns if not column.startswith("_")]
    mapping: dict[str, str] = {}
    for column in KIND_COLUMNS[spec.kind]:
        if column.name in spec.columns:
            mapping[column.name] = spec.columns[column.name]
        elif column.name in available:
            mapping[column.name] = column.name
    identifiers = dict(spec.identifiers)
    if spec.kind is SourceKind.EVENTS:
        for id_type in EVENT_IDENTIFIERS:
            identifiers.setdefault(id_type, id_type)
    targets = [(name, mapped_value(value)) for name, value in mapping.items()]
    targets += [(f"identifier {k}", mapped_value(v, computed_allowed=False)) for k, v in identifiers.items()]
    targets += [(f"consent {k}", mapped_value(v, computed_allowed=False)) for k, v in spec.consent.items()]
    for target, value in targets:
        for read in value.reads:
            if read not in stage_columns:
                reads = f" reads {read!r}" if value.is_computed else ""
                raise MappingError(
                    f"source {spec.name!r}: {target} = {value.shown!r}{reads}, but {file} has no column {read!r}"
                    f"{_nearest(read, available)}; its columns are {', '.join(available)}"
                )
    mapping.update({f"id:{id_type}": value for id_type, value in identifiers.items()})
    return mapping


def _nearest(word: str, candidates: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


def json_object_sql(columns: list[str]) -> str:
    """A JSON object of the columns' text (NULL when there are none)."""
    pairs = ", ".join(f"{literal(column)}, CAST({identifier(column)} AS VARCHAR)" for column in columns)
    return f"json_object({pairs})" if pairs else "CAST(NULL AS VARCHAR)"


def raw_json_sql(stage_columns: list[str], kind_is_jsonl: bool) -> str:
    if kind_is_jsonl:
        return "_raw"
    return json_object_sql([column for column in stage_columns if not column.startswith("_")])


def unmapped_columns(mapping: dict[str, str], stage_columns: list[str]) -> list[str]:
    used = {
        column
        for key, value in mapping.items()
        for column in mapped_value(value, computed_allowed=not key.startswith("id:")).reads
    }
    return [column for column in stage_columns if not column.startswith("_") and column not in used]


def key_sql(kind: SourceKind) -> str:
    if kind is SourceKind.ORDERS:
        return "order_id"
    if kind is SourceKind.ORDER_ITEMS:
        return "order_id || ':' || coalesce(line_id, CAST(_row AS VARCHAR))"
    if kind is SourceKind.EVENTS:
        return "event_id"
    if kind is SourceKind.CONSENT:  # a consent log often has no id of its own: the decision is its id
        parts = ", ".join(
            f"coalesce(CAST({name} AS VARCHAR), '')"
            for name in ("purpose", "granted", "ts", *IDENTIFIER_TYPES, "extra_ids")
        )
        return f"coalesce(record_id, 'row:' || md5(concat_ws('|', {parts})))"
    if kind is SourceKind.MEMBERSHIPS:  # a table exported by personae has no row id: the row is its id
        parts = ", ".join(
            f"coalesce(CAST({name} AS VARCHAR), '')"
            for name in ("uid", "segment_id", "segmentation", "segment", "member", "ts", *IDENTIFIER_TYPES, "extra_ids")
        )
        return f"coalesce(record_id, 'row:' || md5(concat_ws('|', {parts})))"
    return "record_id"


def _label(name: str, source: MappedValue) -> str:
    """How a reason names the column: ``amount (column 'total')``, ``street (= concat_ws(...))``."""
    if source.shown is None:
        return name
    return f"{name} (= {source.shown})" if source.is_computed else f"{name} (column {source.shown!r})"


def _typed_column(column_type: ColumnType, raw: str, stage_type: str | None, fmt: str | None) -> str:
    if stage_type is not None and fmt is None and stage_type in EXACT_TYPES.get(column_type, ()):
        return f"TRY_CAST({raw} AS {column_type.value})"
    as_text = typed_sql(column_type, f"CAST({raw} AS VARCHAR)", fmt)
    if column_type is ColumnType.MONEY and stage_type in FLOATS:
        return float_money_sql(raw, as_text)
    return as_text


FLOATS = frozenset({"DOUBLE", "FLOAT"})


def float_money_sql(raw: str, as_text: str) -> str:
    """A floating-point amount as DECIMAL(18,2), the value its text parses to (``as_text``).

    A double within a millionth of a cent of a whole number of cents, below 10^13, is that
    number of cents, whatever its text (its shortest text is within a thousandth of a cent of
    it): rounded in floating point, without printing and parsing it (1 s of a 10M-row insert,
    bench/RESULTS.md 2026-12-07). Any other double (``1.005``, whose text rounds up where its
    binary value rounds down; a huge one; NaN) is printed and parsed as before."""
    cents = f"({raw} * 100)"
    whole = f"abs({raw}) < 1e13 AND abs({cents} - round({cents})) < 1e-6"
    return f"CASE WHEN {whole} THEN CAST(round({raw}, 2) AS DECIMAL(18,2)) ELSE {as_text} END"


def mapped_sql(
    relation: str,
    spec: SourceSpec,
    columns: list[str],
    settings: IngestSettings,
    *,
    jsonl: bool = False,
    stage_types: Mapping[str, str] | None = None,
    file: str = "the staged file",
) -> str:
    """Typed canonical columns, normalised identifiers, ``_key``, ``_raw_json``, ``_reason`` and
    ``_passes`` (see the module docstring).

    ``relation`` holds the file's rows as text ``columns`` plus ``_file`` and ``_row``
    (and ``_json_ok`` for JSONL sources). ``stage_types`` (column -> DuckDB type), when
    given, says the columns kept their own types; see the module docstring. ``file`` is how
    a :class:`~personae.errors.MappingError` names the file whose columns do not fit.
    """
    types = stage_types or {}
    mapping = resolve_columns(spec, columns, file)
    region = spec.phone_region or settings.phone_region
    inner: list[str] = []
    outer: list[str] = []
    reasons: list[str] = []
    checks: list[str] = []  # a row passing every check needs no reason (the cheap path)
    for column in KIND_COLUMNS[spec.kind]:
        value = mapping.get(column.name)
        source = mapped_value(value) if value else MappedValue("NULL", "NULL", (), None)
        label = _label(column.name, source)
        stage_type = None if source.is_computed else types.get(source.shown or "")
        typed = _typed_column(column.type, source.sql, stage_type, spec.formats.get(column.name))
        raw_ref = identifier("__raw_" + column.name)
        inner.append(f"{typed} AS {column.name}")
        inner.append(f"CAST({source.raw_sql} AS VARCHAR) AS {raw_ref}")
        outer.append(column.name)
        if column.required:
            checks.append(f"{column.name} IS NOT NULL")
        elif column.strict and column.type in _TYPE_WORDS:
            checks.append(f"({column.name} IS NOT NULL OR nullif(trim({raw_ref}), '') IS NULL)")
        if column.required:
            reasons.append(
                f"CASE WHEN {column.name} IS NULL AND nullif(trim({raw_ref}), '') IS NULL "
                f"THEN {literal('missing ' + label)} END"
            )
        if column.type in _TYPE_WORDS and not column.quarantines_bad_values:
            if value:  # loaded as NULL when it does not parse, and reported (field_issues)
                outer.append(raw_ref)
        elif column.type in _TYPE_WORDS:
            reasons.append(
                f"CASE WHEN {column.name} IS NULL AND nullif(trim({raw_ref}), '') IS NOT NULL "
                f"THEN {literal(label + ': ')} || '''' || {raw_ref} || '''' || "
                f"{literal(' is not ' + _TYPE_WORDS[column.type])} END"
            )
    for condition, problem in ROW_CHECKS.get(spec.kind, ()):
        checks.append(f"({condition})")
        reasons.append(f"CASE WHEN NOT ({condition}) THEN {literal(problem)} END")
    extra: list[str] = []
    for key, value in mapping.items():
        if not key.startswith("id:"):
            continue
        id_type = key[3:]
        raw_id = f"CAST({mapped_value(value, computed_allowed=False).sql} AS VARCHAR)"
        expression = identifier_sql(id_type, raw_id, region)
        if id_type in VALIDATED_IDENTIFIERS:
            inner.append(f"{raw_id} AS {identifier('__rawid_' + id_type)}")
            outer.append(identifier("__rawid_" + id_type))
        if id_type in IDENTIFIER_TYPES:
            inner.append(f"{expression} AS {id_type}")
        else:
            extra.extend([literal(id_type), expression])
    for id_type in IDENTIFIER_TYPES:
        if f"id:{id_type}" not in mapping:
            inner.append(f"CAST(NULL AS VARCHAR) AS {id_type}")
    inner.append(f"json_object({', '.join(extra)}) AS extra_ids" if extra else "CAST(NULL AS VARCHAR) AS extra_ids")
    inner.append(f"{raw_json_sql(columns, jsonl)} AS _raw_json")
    attributes = [] if jsonl else unmapped_columns(mapping, columns)
    inner.append(f"{json_object_sql(attributes)} AS _attributes")
    outer.extend([*IDENTIFIER_TYPES, "extra_ids", "_raw_json", "_attributes", "_file", "_row"])
    if jsonl:
        checks.append(f"type IN ({literals(SEGMENT_EVENT_TYPES)})")
        reasons.append(
            f"CASE WHEN _json_ok AND type IS NOT NULL AND type NOT IN ({literals(SEGMENT_EVENT_TYPES)}) "
            "THEN 'type: ''' || type || ''' is not a Segment call (identify, track, page, screen, "
            "group, alias)' END"
        )
    passthrough = ", _json_ok" if jsonl else ""
    reason = f"nullif(concat_ws('; ', {', '.join(reasons)}), '')"
    if jsonl:
        reason = f"CASE WHEN NOT _json_ok THEN 'invalid JSON' ELSE {reason} END"
    if checks:
        reason = f"CASE WHEN {' AND '.join(checks)} THEN NULL ELSE {reason} END"
    typed_rows = f"SELECT {', '.join(inner)}, _file, _row{passthrough} FROM {relation}"
    passes = f"({' AND '.join(checks)}) IS TRUE" if checks else "TRUE"
    return (
        f"SELECT {', '.join(outer)}, {key_sql(spec.kind)} AS _key, {reason} AS _reason, {passes} AS _passes "
        f"FROM ({typed_rows}) AS typed"
    )
