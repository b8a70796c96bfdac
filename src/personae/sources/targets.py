"""SQL that moves mapped rows into the store's tables, and bad rows into quarantine.

Input is the relation :func:`personae.sources.mapping.mapped_sql` builds, joined by
:func:`checked_sql` with the keys that repeat within the file. Good rows
(``_reason IS NULL``) go to the kind's target table; the first row of a key within a file
counts and later ones are quarantined as duplicates. Events already
stored are skipped (event ids are idempotent); customer-like records replace the stored
row with the same (source, record_id).
"""

from __future__ import annotations

from collections.abc import Sequence

from personae.engine.sql import literal, literals, timestamp_sql
from personae.engine.tables import IDENTIFIER_TYPES, columns_of
from personae.sources.kinds import TARGET_TABLE, SourceKind, column_names
from personae.sources.mapping import FieldCheck


def _event_fields(kind: SourceKind, source: str, currency: str) -> dict[str, str]:
    prefix = literal(source + ":")
    ids = {id_type: id_type for id_type in (*IDENTIFIER_TYPES, "extra_ids")}
    if kind is SourceKind.EVENTS:
        return {
            "event_id": "event_id",
            "type": "type",
            "name": "name",
            "ts": "ts",
            **ids,
            "amount": "amount",
            "currency": literal(currency),
            "category": "category",
            "product_id": "product_id",
            "channel": "coalesce(channel, 'web')",
            "properties": "properties",
            "consent": "consent",
        }
    common = {
        "event_id": f"{prefix} || _key",
        "ts": "ts",
        **ids,
        "order_id": "order_id",
        "amount": "amount",
        "currency": f"coalesce(currency, {literal(currency)})",
        "channel": "channel",
        "promo": "promo",
    }
    if kind is SourceKind.ORDERS:
        return {
            **common,
            "type": "'order'",
            "name": "'Order Completed'",
            "store_id": "store_id",
            "status": "status",
        }
    return {
        **common,
        "type": "'order_item'",
        "name": "'Order Item'",
        "quantity": "coalesce(quantity, 1)",
        "category": "category",
        "product_id": "product_id",
    }


def target_fields(kind: SourceKind, source: str, currency: str, loaded_at: str) -> dict[str, str]:
    """Target column -> expression over ``mapped``, for the kind's target table."""
    stamp = f"{timestamp_sql(loaded_at)}"
    if TARGET_TABLE[kind] == "events":
        fields = {"source": literal(source), **_event_fields(kind, source, currency)}
        fields["received_at"] = stamp
    else:
        fields = {"source": literal(source)}
        fields.update({name: name for name in column_names(kind)})
        fields["record_id"] = "_key"  # the record id, or the one derived from the row (key_sql)
        fields.update({id_type: id_type for id_type in (*IDENTIFIER_TYPES, "extra_ids")})
        if "attributes" in dict(columns_of(TARGET_TABLE[kind])):
            fields["attributes"] = "_attributes"
    fields.update({"_file": "_file", "_row": "_row", "_loaded_at": stamp})
    return fields


def repeated_keys_sql(mapped: str) -> str:
    """Keys that occur more than once in the file, with their first row.

    Only the key is computed (the mapping is a view), so this pass is cheap. The first row
    of a key counts, good or bad; later rows with the key are quarantined as duplicates.
    """
    return (
        f"SELECT _key AS _repeated_key, min(_row) AS _first_row FROM {mapped} "
        "WHERE _key IS NOT NULL GROUP BY _key HAVING count(*) > 1"
    )


def checked_sql(mapped: str, repeated: str | None) -> str:
    """Mapped rows with ``_first``: false for a later row of a key seen earlier in the file.

    ``repeated`` is None when no key repeats (the usual case), which saves the join.
    """
    if repeated is None:
        return f"SELECT *, _row AS _first_row, TRUE AS _first FROM {mapped}"
    return (
        "SELECT m.*, coalesce(r._first_row, m._row) AS _first_row, "
        "(r._first_row IS NULL OR m._row = r._first_row) AS _first "
        f"FROM {mapped} AS m LEFT JOIN {repeated} AS r ON m._key = r._repeated_key"
    )


def event_id_prefix(kind: SourceKind, source: str) -> str | None:
    """What every ``event_id`` of the source's rows starts with: ``<source>:`` for orders and
    order lines (their ids are made from the order and line ids); None for events, whose id
    is the message's own."""
    return f"{source}:" if kind in (SourceKind.ORDERS, SourceKind.ORDER_ITEMS) else None


def stored_ids_sql(mapped: str, fields: dict[str, str], prefix: str | None = None) -> str:
    """``event_id`` of the stored events whose id the file's rows have (good or bad: a superset
    of what the insert must skip is as good, and it needs only the key computed).

    With the ids' ``prefix`` (:func:`event_id_prefix`), only stored ids that start with it are
    compared: the same rows, but the engines skip whole files and row groups by their
    ``event_id`` bounds (Spark's Parquet filter pushdown, DuckDB's zone maps) instead of
    reading every stored id. Spark read all 40M at 1M customers for each orders file, 62 s of
    its ingest."""
    narrowed = f"starts_with(s.event_id, {literal(prefix)}) AND " if prefix else ""
    return (
        f"SELECT s.event_id FROM events AS s WHERE {narrowed}s.event_id IN (SELECT {fields['event_id']} FROM {mapped})"
    )


def good_rows_condition(all_good: bool) -> str:
    """The filter that keeps good, first-of-key rows; none when the load's count found no
    problem and no repeated key (:func:`problems_sql`, the usual case), since it then holds for
    every row. Leaving it out spares computing each row's reason: the insert of 10M rows took
    9.6 s without it against 11.4 s with it, and the whole ingest 15–17 % less time
    (bench/RESULTS.md, 2026-12-06)."""
    return "" if all_good else " WHERE _reason IS NULL AND _first"


def events_rows_sql(mapped: str, fields: dict[str, str], stored: str | None, *, all_good: bool = False) -> str:
    """Good, first-of-key rows not yet in ``events`` (event ids are idempotent); ``all_good``
    when every row is (:func:`good_rows_condition`).

    ``stored`` is a table of :func:`stored_ids_sql` (None when it is empty, the usual case: then
    there is nothing to skip). The stored events are narrowed to the file's ids first because a
    ``NOT EXISTS`` against the whole of ``events`` hashed every stored id for every file: at 1M
    customers (31M events stored before the web files) a month of web events (246k rows, 0.3 s
    to map) took 3.7 s to select, 0.5 s with the narrowing. Keeping the file's rows as a CTE
    named twice, as this did first, held every column of a file at once: a 7M-line file of
    order lines at 1M took 42-47 s to insert that way, 32-36 s this way (ids included; two
    runs each on a busy machine).
    """
    rows = records_rows_sql(mapped, fields, all_good=all_good)
    if stored is None:
        return rows
    return f"SELECT * FROM ({rows}) AS m WHERE NOT EXISTS (SELECT 1 FROM {stored} AS s WHERE s.event_id = m.event_id)"


def records_rows_sql(mapped: str, fields: dict[str, str], *, all_good: bool = False) -> str:
    """Good, first-of-key rows of the file as the target's ``fields``: a customer-like file's
    insert, and the rows :func:`events_rows_sql` narrows (``all_good``: see
    :func:`good_rows_condition`)."""
    select = ", ".join(f"{expression} AS {name}" for name, expression in fields.items())
    return f"SELECT {select} FROM {mapped}{good_rows_condition(all_good)}"


GUARD_MESSAGE = "personae: a row of this file needs checking"
"""The error a guarded insert (:func:`guarded_rows_sql`) stops at, so the load is redone counted."""


def guarded_rows_sql(
    mapped: str, fields: dict[str, str], id_types: list[str], checks: Sequence[FieldCheck] = ()
) -> str:
    """Every row of the file as the target's ``fields``, stopping with :data:`GUARD_MESSAGE` at
    the first row that needs more than loading: one that fails the mapping's checks (``_passes``,
    true for every row without a reason), or with an identifier or optional value that does not
    parse (:func:`problems_sql`'s condition).

    An events-table load on an engine with transactions inserts this without counting its
    problems first: the usual file has none, and the count mapped every row a second time
    (3.0 s of a 10M-row file's 18 s, bench/RESULTS.md 2026-12-07). A file with a problem rolls
    back and loads by the counted path; the insert computes the values the guard checks anyway,
    so it costs nothing measurable. The guard reads ``_passes``, not ``_reason``: the reason's
    text names the trimmed raw values, and DuckDB then trimmed every row's time and amount for
    it (a row that fails a check without a reason only loads by the counted path, which is exact)."""
    select = ", ".join(f"{expression} AS {name}" for name, expression in fields.items())
    problem = f"NOT _passes{_any_failed(id_types, checks)}"
    return f"SELECT {select} FROM {mapped} WHERE CASE WHEN {problem} THEN error({literal(GUARD_MESSAGE)}) ELSE TRUE END"


def repeated_events_sql(source: str, labels: list[str]) -> str:
    """How many of the events a guarded insert stored for these files may repeat an id within
    them (the file's repeated keys, :func:`problems_sql`'s ``repeats``, found after the insert).

    Counted over the stored ids' 64-bit hashes: 0.8–1.2 s for 10M ids just inserted (0.66 s once
    committed, against 0.86 s for the ids themselves and 1.2 s for the keys mapped again from the
    raw copy). Two ids with the same hash count as a repeat, so a collision only sends the file
    to the counted path, which is exact."""
    hashed = "CASE WHEN event_id IS NOT NULL THEN hash(event_id) END"
    return (
        f"SELECT count(event_id) - count(DISTINCT {hashed}) FROM events "
        f"WHERE source = {literal(source)} AND _file IN ({literals(labels)})"
    )


def replaced_records_condition(table: str, mapped: str, source: str) -> str:
    """Stored records that a good row of this file replaces."""
    return (
        f"{table}.source = {literal(source)} AND {table}.record_id IN (SELECT _key FROM {mapped} WHERE _reason IS NULL)"
    )


def quarantine_rows_sql(mapped: str, source: str, quarantined_at: str) -> str:
    """Rows with a reason, and later duplicates of a key within the file."""
    reason = (
        "CASE WHEN NOT _first THEN 'duplicate key ''' || _key || ''' in this file (first at row ' || "
        "CAST(_first_row AS VARCHAR) || ')' ELSE _reason END"
    )
    return (
        f"SELECT {literal(source)} AS source, _file AS file, _row AS row, "
        f"CAST(NULL AS BIGINT) AS line, {reason} AS reason, _raw_json AS raw, "
        f"{timestamp_sql(quarantined_at)} AS quarantined_at "
        f"FROM {mapped} WHERE _reason IS NOT NULL OR NOT _first"
    )


ID_PROBLEMS = {"email": "not an e-mail address", "phone": "not a phone number (E.164 needs 8 to 15 digits)"}


def _failed_check(id_type: str) -> str:
    return f"{id_type} IS NULL AND nullif(trim(\"__rawid_{id_type}\"), '') IS NOT NULL"


def _failed_field(column: str) -> str:
    return f"{column} IS NULL AND nullif(trim(\"__raw_{column}\"), '') IS NOT NULL"


def exceptions_sql(checked: str, id_types: list[str], fields: Sequence[FieldCheck] = ()) -> str:
    """In one pass, the rows that need more than loading: quarantined ones (a reason or a
    repeated key) and loaded ones with an identifier that failed its check or an optional
    value that does not parse. The checked rows are a view that parses and validates every
    row again at each scan; these are few."""
    columns = "".join(f', {t}, "__rawid_{t}"' for t in id_types)
    columns += "".join(f', {f.column}, "__raw_{f.column}"' for f in fields)
    return (
        f"SELECT _file, _row, _key, _reason, _first, _first_row, _raw_json{columns} FROM {checked} "
        f"WHERE _reason IS NOT NULL OR NOT _first{_any_failed(id_types, fields)}"
    )


def problems_sql(mapped: str, id_types: list[str], fields: Sequence[FieldCheck] = ()) -> str:
    """One row: ``problems``, the rows :func:`exceptions_sql` would hold but for repeated keys,
    and ``repeats``, the rows whose key an earlier row has. Both zero (the usual case) means no
    quarantine, no issue and no duplicate, and the two passes that find them are skipped: one
    scan of the mapping instead of two (on Spark one job instead of two jobs and two writes).
    On 10M rows the count took 4.7–4.9 s in personae's ingest where the two passes took
    4.9–6.4 s (bench/RESULTS.md, 2026-12-06): most of either is mapping the rows."""
    return (
        f"SELECT count(*) FILTER (WHERE _reason IS NOT NULL{_any_failed(id_types, fields)}) AS problems, "
        f"count(_key) - count(DISTINCT _key) AS repeats FROM {mapped}"
    )


def _any_failed(id_types: list[str], fields: Sequence[FieldCheck]) -> str:
    """`` OR (…)`` for each identifier check and optional value of the file that can fail: the
    condition :func:`exceptions_sql` and :func:`problems_sql` share."""
    checks = [_failed_check(t) for t in id_types] + [_failed_field(f.column) for f in fields]
    return "".join(f" OR ({check})" for check in checks)


def _text_or_null(value: str | None) -> str:
    return "CAST(NULL AS VARCHAR)" if value is None else literal(value)


def field_issues_sql(exceptions: str, source: str, fields: Sequence[FieldCheck], at: str) -> str:
    """One row per optional value that does not parse, in a row that loads (the column is NULL).
    ``exceptions`` is the relation of :func:`exceptions_sql`."""
    parts = [
        f"SELECT {literal(source)} AS source, _file AS file, _row AS row, {literal(f.column)} AS field, "
        f"{_text_or_null(f.source_column)} AS source_column, "
        f'"__raw_{f.column}" AS value, {literal(f.problem)} AS reason, '
        f"{timestamp_sql(at)} AS found_at FROM {exceptions} "
        f"WHERE _reason IS NULL AND _first AND {_failed_field(f.column)}"
        for f in fields
    ]
    return " UNION ALL ".join(parts)


def malformed_identifiers_sql(checked: str, source: str, id_types: list[str], at: str) -> str:
    """One row per identifier value that failed its check: kept raw, never used to link.
    ``checked`` may be the checked rows or the few of :func:`exceptions_sql`."""
    parts = [
        f"SELECT {literal(source)} AS source, _file AS file, _row AS row, {literal(t)} AS id_type, "
        f'"__rawid_{t}" AS value, {literal(ID_PROBLEMS[t])} AS reason, '
        f"{timestamp_sql(at)} AS found_at FROM {checked} "
        f"WHERE _reason IS NULL AND {_failed_check(t)}"
        for t in id_types
    ]
    return " UNION ALL ".join(parts)
