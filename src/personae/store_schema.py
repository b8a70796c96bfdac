"""The tables every workspace store holds, as data (name -> columns with DuckDB types).

See DESIGN §4. ``raw_<source>`` tables are created from each source's own columns;
everything else is declared here and created on the first write.
"""

from __future__ import annotations

from personae.sources.kinds import IDENTIFIER_TYPES

Columns = tuple[tuple[str, str], ...]

_IDS: Columns = (*((id_type, "VARCHAR") for id_type in IDENTIFIER_TYPES), ("extra_ids", "VARCHAR"))
_LINEAGE: Columns = (("_file", "VARCHAR"), ("_row", "BIGINT"), ("_loaded_at", "TIMESTAMP"))

STORE_TABLES: dict[str, Columns] = {
    "events": (
        ("event_id", "VARCHAR"),
        ("source", "VARCHAR"),
        ("type", "VARCHAR"),
        ("name", "VARCHAR"),
        ("ts", "TIMESTAMP"),
        ("received_at", "TIMESTAMP"),
        *_IDS,
        ("order_id", "VARCHAR"),
        ("amount", "DECIMAL(18,2)"),
        ("currency", "VARCHAR"),
        ("quantity", "BIGINT"),
        ("category", "VARCHAR"),
        ("product_id", "VARCHAR"),
        ("channel", "VARCHAR"),
        ("store_id", "VARCHAR"),
        ("promo", "BOOLEAN"),
        ("status", "VARCHAR"),
        ("properties", "VARCHAR"),
        *_LINEAGE,
    ),
    "customer_records": (
        ("source", "VARCHAR"),
        ("record_id", "VARCHAR"),
        ("updated_at", "TIMESTAMP"),
        *_IDS,
        ("first_name", "VARCHAR"),
        ("last_name", "VARCHAR"),
        ("birth_date", "DATE"),
        ("gender", "VARCHAR"),
        ("street", "VARCHAR"),
        ("city", "VARCHAR"),
        ("postcode", "VARCHAR"),
        ("country", "VARCHAR"),
        ("email_opt_in", "BOOLEAN"),
        ("sms_opt_in", "BOOLEAN"),
        ("email_opens", "BIGINT"),
        ("email_clicks", "BIGINT"),
        ("attributes", "VARCHAR"),
        *_LINEAGE,
    ),
    "survey_responses": (
        ("source", "VARCHAR"),
        ("record_id", "VARCHAR"),
        ("ts", "TIMESTAMP"),
        *_IDS,
        ("segment", "VARCHAR"),
        ("attributes", "VARCHAR"),
        *_LINEAGE,
    ),
    "imported_memberships": (
        ("source", "VARCHAR"),
        ("record_id", "VARCHAR"),
        ("ts", "TIMESTAMP"),
        *_IDS,
        ("segmentation", "VARCHAR"),
        ("segment", "VARCHAR"),
        *_LINEAGE,
    ),
    "quarantine": (
        ("source", "VARCHAR"),
        ("file", "VARCHAR"),
        ("row", "BIGINT"),
        ("line", "BIGINT"),
        ("reason", "VARCHAR"),
        ("raw", "VARCHAR"),
        ("quarantined_at", "TIMESTAMP"),
    ),
    "identifier_issues": (
        ("source", "VARCHAR"),
        ("file", "VARCHAR"),
        ("row", "BIGINT"),
        ("id_type", "VARCHAR"),
        ("value", "VARCHAR"),
        ("reason", "VARCHAR"),
        ("found_at", "TIMESTAMP"),
    ),
    "loaded_files": (
        ("source", "VARCHAR"),
        ("file", "VARCHAR"),
        ("checksum", "VARCHAR"),
        ("status", "VARCHAR"),
        ("rows_read", "BIGINT"),
        ("rows_loaded", "BIGINT"),
        ("rows_quarantined", "BIGINT"),
        ("rows_duplicate", "BIGINT"),
        ("loaded_at", "TIMESTAMP"),
    ),
    "runs": (
        ("run_id", "BIGINT"),
        ("started_at", "TIMESTAMP"),
        ("finished_at", "TIMESTAMP"),
        ("as_of", "DATE"),
        ("engine", "VARCHAR"),
        ("status", "VARCHAR"),
        ("summary", "VARCHAR"),
    ),
}

RECORD_TABLES = ("customer_records", "survey_responses", "imported_memberships")
"""Tables keyed by (source, record_id): a newer row replaces the stored one."""
