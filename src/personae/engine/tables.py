"""The store's tables, declared once (DESIGN §4): name, writer, columns and what they hold.

Every persistent table a step writes is declared here, so that the store can be created,
listed, documented and checked from one place (a test runs the pipeline and compares the
store with these declarations). Tables with ``columns`` are created empty before their
step first writes them (:func:`ensure_tables`); tables without are computed as a whole by
their step (``CREATE TABLE … AS``), their columns following the configuration (the traits,
the models). ``raw_<source>`` views over each source's raw Parquet files are not tables and
are not listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from personae.engine.base import Engine

Columns = tuple[tuple[str, str], ...]

IDENTIFIER_TYPES: tuple[str, ...] = (
    "user_id",
    "anonymous_id",
    "email",
    "phone",
    "loyalty_id",
    "crm_id",
)
"""Identifier types with a column of their own in the store; any other declared type goes to ``extra_ids``."""

_IDS: Columns = (*((id_type, "VARCHAR") for id_type in IDENTIFIER_TYPES), ("extra_ids", "VARCHAR"))
_LINEAGE: Columns = (("_file", "VARCHAR"), ("_row", "BIGINT"), ("_loaded_at", "TIMESTAMP"))


@dataclass(frozen=True)
class Table:
    """A persistent table of the store."""

    name: str
    step: str
    """The step that writes it."""
    doc: str
    columns: Columns | None = None
    """Name and DuckDB type of each column; None when the step derives them (``CREATE TABLE … AS``)."""


def _table(name: str, step: str, doc: str, *columns: tuple[str, str]) -> Table:
    return Table(name, step, doc, tuple(columns) or None)


TABLES: tuple[Table, ...] = (
    # ingest
    _table(
        "events",
        "ingest",
        "every behavioural record in one shape, keyed by event_id",
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
        ("consent", "VARCHAR"),
        *_LINEAGE,
    ),
    _table(
        "customer_records",
        "ingest",
        "one row per record of a customer system, keyed by (source, record_id)",
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
    _table(
        "survey_responses",
        "ingest",
        "survey answers, keyed by (source, record_id)",
        ("source", "VARCHAR"),
        ("record_id", "VARCHAR"),
        ("ts", "TIMESTAMP"),
        *_IDS,
        ("segment", "VARCHAR"),
        ("attributes", "VARCHAR"),
        *_LINEAGE,
    ),
    _table(
        "imported_memberships",
        "ingest",
        "segment memberships kept by other systems, keyed by (source, record_id)",
        ("source", "VARCHAR"),
        ("record_id", "VARCHAR"),
        ("ts", "TIMESTAMP"),
        *_IDS,
        ("segmentation", "VARCHAR"),
        ("segment", "VARCHAR"),
        ("segment_id", "VARCHAR"),
        ("member", "BOOLEAN"),
        ("uid", "VARCHAR"),
        *_LINEAGE,
    ),
    _table(
        "consent_records",
        "ingest",
        "consent decisions of consent sources, keyed by (source, record_id)",
        ("source", "VARCHAR"),
        ("record_id", "VARCHAR"),
        ("ts", "TIMESTAMP"),
        *_IDS,
        ("purpose", "VARCHAR"),
        ("granted", "BOOLEAN"),
        *_LINEAGE,
    ),
    _table(
        "quarantine",
        "ingest",
        "rejected rows with their reason and raw content",
        ("source", "VARCHAR"),
        ("file", "VARCHAR"),
        ("row", "BIGINT"),
        ("line", "BIGINT"),
        ("reason", "VARCHAR"),
        ("raw", "VARCHAR"),
        ("quarantined_at", "TIMESTAMP"),
    ),
    _table(
        "identifier_issues",
        "ingest",
        "identifier values that failed their check (the row itself loaded)",
        ("source", "VARCHAR"),
        ("file", "VARCHAR"),
        ("row", "BIGINT"),
        ("id_type", "VARCHAR"),
        ("value", "VARCHAR"),
        ("reason", "VARCHAR"),
        ("found_at", "TIMESTAMP"),
    ),
    _table(
        "field_issues",
        "ingest",
        "optional values that do not parse, loaded as NULL (the row itself loaded)",
        ("source", "VARCHAR"),
        ("file", "VARCHAR"),
        ("row", "BIGINT"),
        ("field", "VARCHAR"),
        ("source_column", "VARCHAR"),
        ("value", "VARCHAR"),
        ("reason", "VARCHAR"),
        ("found_at", "TIMESTAMP"),
    ),
    _table(
        "loaded_files",
        "ingest",
        "every file loaded or failed, with its checksum and counts",
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
    _table(
        "runs",
        "run",
        "every run with its as-of day, engine, status and summary",
        ("run_id", "BIGINT"),
        ("started_at", "TIMESTAMP"),
        ("finished_at", "TIMESTAMP"),
        ("as_of", "DATE"),
        ("engine", "VARCHAR"),
        ("status", "VARCHAR"),
        ("summary", "VARCHAR"),
    ),
    # identity
    _table("identifiers", "identity", "every (type, value) seen, with its status and node"),
    _table(
        "identity_map",
        "identity",
        "(type, value) -> uid for the usable identifiers",
        ("id_type", "VARCHAR"),
        ("id_value", "VARCHAR"),
        ("uid", "VARCHAR"),
    ),
    _table(
        "record_map",
        "identity",
        "the person behind each record and event",
        ("source", "VARCHAR"),
        ("record_id", "VARCHAR"),
        ("uid", "VARCHAR"),
    ),
    _table(
        "merges",
        "identity",
        "merges, splits and removals of UIDs, appended",
        ("old_uid", "VARCHAR"),
        ("new_uid", "VARCHAR"),
        ("at", "TIMESTAMP"),
        ("reason", "VARCHAR"),
    ),
    _table(
        "workspace_settings",
        "identity",
        "settings the store keeps (the UID salt)",
        ("key", "VARCHAR"),
        ("value", "VARCHAR"),
    ),
    _table("identity_edges", "identity", "the links of the last run, for incremental runs"),
    _table("identity_cuts", "identity", "links cut to keep a per-type limit"),
    # consent (after identity: every decision with its person)
    _table(
        "consent_events",
        "consent",
        "every consent decision of every source (consent sources, customer-record columns, events' "
        "context.consent), with the person it belongs to",
        ("uid", "VARCHAR"),
        ("purpose", "VARCHAR"),
        ("granted", "BOOLEAN"),
        ("decided_at", "TIMESTAMP"),
        ("source", "VARCHAR"),
        ("record_id", "VARCHAR"),
        ("origin", "VARCHAR"),
    ),
    _table(
        "consent",
        "consent",
        "each person's latest decision per purpose (a withdrawal wins a tie); no row: the purpose's default",
        ("uid", "VARCHAR"),
        ("purpose", "VARCHAR"),
        ("granted", "BOOLEAN"),
        ("decided_at", "TIMESTAMP"),
        ("source", "VARCHAR"),
    ),
    # golden, traits
    _table("profiles", "golden", "one row per uid: golden record with lineage, then the traits"),
    _table("traits", "traits", "one row per uid: every trait as of a day"),
    _table("trait_shares", "traits", "each person's split over categories and channels"),
    _table("customer_summary", "traits", "frequency, recency, T and monetary value per buyer"),
    _table("order_gaps", "traits", "how many repeat orders came after each gap in days"),
    _table("order_gap_counts", "traits", "per person, how many repeat order days came after each gap"),
    _table("traits_record_digests", "traits", "per uid, a digest of its record_map rows at the last traits run"),
    _table(
        "traits_state",
        "traits",
        "what the last traits run was: as-of day, settings, newest load",
        ("key", "VARCHAR"),
        ("value", "VARCHAR"),
    ),
    # models
    _table("predictions", "models", "one row per uid: every model's scores"),
    _table("model_scores_clv", "models", "CLV scores before they join predictions"),
    _table("model_scores_propensity", "models", "churn and high-value scores before they join predictions"),
    _table("model_scores_lifestyle", "models", "lifestyle clusters before they join predictions"),
    _table("model_scores_survey", "models", "survey look-alike scores before they join predictions"),
    # segment
    _table("rfm_scores", "segment", "R, F and M scores per buyer"),
    _table(
        "segment_definitions",
        "segment",
        "rule segments, versioned",
        ("name", "VARCHAR"),
        ("version", "BIGINT"),
        ("rule", "VARCHAR"),
        ("description", "VARCHAR"),
        ("origin", "VARCHAR"),
        ("created_at", "TIMESTAMP"),
    ),
    _table(
        "memberships",
        "segment",
        "one row per stay of a person in a segment",
        ("uid", "VARCHAR"),
        ("segmentation", "VARCHAR"),
        ("segment", "VARCHAR"),
        ("score", "DOUBLE"),
        ("entered_at", "TIMESTAMP"),
        ("exited_at", "TIMESTAMP"),
    ),
    _table("membership_days", "segment", "every as-of day whose segment state the history holds", ("as_of", "DATE")),
    _table(
        "membership_changes",
        "segment",
        "entries and exits in sequence: the feed destinations consume",
        ("sequence", "BIGINT"),
        ("uid", "VARCHAR"),
        ("segmentation", "VARCHAR"),
        ("segment", "VARCHAR"),
        ("change", "VARCHAR"),
        ("score", "DOUBLE"),
        ("changed_at", "TIMESTAMP"),
    ),
    # sync: what each destination has been sent
    _table(
        "sync_state",
        "sync",
        "per destination: the membership cursor, the last sync and its counts",
        ("destination", "VARCHAR"),
        ("kind", "VARCHAR"),
        ("cursor", "BIGINT"),
        ("last_sync_at", "TIMESTAMP"),
        ("status", "VARCHAR"),
        ("error", "VARCHAR"),
        ("sent", "BIGINT"),
        ("failed", "BIGINT"),
        ("dead_lettered", "BIGINT"),
    ),
    _table(
        "sync_marks",
        "sync",
        "per destination and person: a digest of the trait (or action) values last delivered, and its revision",
        ("destination", "VARCHAR"),
        ("part", "VARCHAR"),
        ("uid", "VARCHAR"),
        ("digest", "VARCHAR"),
        ("revision", "BIGINT"),
    ),
    _table(
        "sync_dead_letters",
        "sync",
        "changes a destination can never take, with the reason",
        ("destination", "VARCHAR"),
        ("key", "VARCHAR"),
        ("uid", "VARCHAR"),
        ("part", "VARCHAR"),
        ("payload", "VARCHAR"),
        ("reason", "VARCHAR"),
        ("at", "TIMESTAMP"),
    ),
    # actions
    _table(
        "next_actions",
        "actions",
        "each person's next best action per channel as of the latest run (held_out: recorded, never sent)",
        ("uid", "VARCHAR"),
        ("channel", "VARCHAR"),
        ("action", "VARCHAR"),
        ("priority", "BIGINT"),
        ("expected_value", "DOUBLE"),
        ("held_out", "BOOLEAN"),
        ("as_of", "DATE"),
        ("decided_at", "TIMESTAMP"),
    ),
    _table(
        "action_exposures",
        "actions",
        "one row per person, action and as-of day the action was chosen (treated or held out): caps, "
        "cool-downs and experiment entries",
        ("uid", "VARCHAR"),
        ("action", "VARCHAR"),
        ("channel", "VARCHAR"),
        ("as_of", "DATE"),
        ("held_out", "BOOLEAN"),
        ("decided_at", "TIMESTAMP"),
    ),
    _table(
        "imported_overrides",
        "segment",
        "the rule segments imported rows force people into (member) or out of, as the last run applied them",
        ("uid", "VARCHAR"),
        ("segment", "VARCHAR"),
        ("member", "BOOLEAN"),
    ),
    _table(
        "import_issues",
        "segment",
        "imported membership rows not applied as they came (a conflict with an owned segment, or no "
        "person or segment found), with the outcome and the reason; rewritten by every segment run",
        ("segmentation", "VARCHAR"),
        ("source", "VARCHAR"),
        ("record_id", "VARCHAR"),
        ("uid", "VARCHAR"),
        ("target", "VARCHAR"),
        ("member", "BOOLEAN"),
        ("ts", "TIMESTAMP"),
        ("outcome", "VARCHAR"),
        ("reason", "VARCHAR"),
    ),
    # privacy: erasure and what keeps the erased out (no personal data: salted digests and counts)
    _table(
        "suppressions",
        "privacy",
        "salted SHA-256 digests of erased people's identifiers and records: ingest and intake drop what carries one",
        ("digest", "VARCHAR"),
        ("kind", "VARCHAR"),
        ("request_id", "VARCHAR"),
        ("suppressed_at", "TIMESTAMP"),
    ),
    _table(
        "suppression_hits",
        "privacy",
        "how many rows of each file or journal were dropped because they carried a suppressed digest",
        ("source", "VARCHAR"),
        ("file", "VARCHAR"),
        ("rows", "BIGINT"),
        ("at", "TIMESTAMP"),
    ),
    _table(
        "erasure_requests",
        "privacy",
        "each erasure request: the requested identifier's digest, its state and its receipt (counts only)",
        ("request_id", "VARCHAR"),
        ("requested_digest", "VARCHAR"),
        ("requested_at", "TIMESTAMP"),
        ("status", "VARCHAR"),
        ("people", "BIGINT"),
        ("receipt", "VARCHAR"),
        ("finished_at", "TIMESTAMP"),
    ),
    _table(
        "erasure_deliveries",
        "privacy",
        "deletions owed to destinations: the erased UID until the destination has taken the deletion",
        ("request_id", "VARCHAR"),
        ("destination", "VARCHAR"),
        ("uid", "VARCHAR"),
        ("status", "VARCHAR"),
        ("error", "VARCHAR"),
        ("at", "TIMESTAMP"),
    ),
    # privacy: the audit log (personae.privacy.audit): appended to, never updated or deleted
    _table(
        "audit_log",
        "audit",
        "who did what, when: key use, profile reads, destination sends, configuration changes, "
        "erasures and exports; no secret and no clear identifier (targets are salted hashes)",
        ("at", "TIMESTAMP"),
        ("actor", "VARCHAR"),
        ("scope", "VARCHAR"),
        ("action", "VARCHAR"),
        ("target", "VARCHAR"),
        ("detail", "VARCHAR"),
    ),
    # summaries (what the dashboard and the report read, so their pages do not recompute them)
    _table(
        "persona_cards",
        "summaries",
        "each segmentation's persona cards (JSON) per recorded day; a run of the latest day rewrites its own",
        ("segmentation", "VARCHAR"),
        ("as_of", "DATE"),
        ("cards", "VARCHAR"),
    ),
    _table(
        "segment_overlaps",
        "summaries",
        "known customers and their revenue in each pair of segments of two core segmentations, now; "
        "rewritten by every run",
        ("segmentation_a", "VARCHAR"),
        ("segment_a", "VARCHAR"),
        ("segmentation_b", "VARCHAR"),
        ("segment_b", "VARCHAR"),
        ("customers", "BIGINT"),
        ("revenue", "DOUBLE"),
    ),
    _table(
        "segment_sizes",
        "summaries",
        "known customers and anonymous profiles in each segment on each recorded day; rewritten by every run",
        ("as_of", "DATE"),
        ("segmentation", "VARCHAR"),
        ("segment", "VARCHAR"),
        ("customers", "BIGINT"),
        ("anonymous", "BIGINT"),
    ),
    _table(
        "segment_flows",
        "summaries",
        "known customers moving between segments from the first to the latest recorded day; rewritten by every run",
        ("segmentation", "VARCHAR"),
        ("start_day", "DATE"),
        ("end_day", "DATE"),
        ("source", "VARCHAR"),
        ("target", "VARCHAR"),
        ("customers", "BIGINT"),
    ),
    _table(
        "rfm_cells",
        "summaries",
        "the RFM grid: buyers and their mean monetary value per recency and frequency score; rewritten by every run",
        ("r", "BIGINT"),
        ("f", "BIGINT"),
        ("customers", "BIGINT"),
        ("monetary", "DOUBLE"),
    ),
    # the server's live processing
    _table(
        "live_cursors",
        "serve",
        "how far live processing has read each live source's journal (segment, byte offset)",
        ("source", "VARCHAR"),
        ("segment", "BIGINT"),
        ("byte_offset", "BIGINT"),
        ("events", "BIGINT"),
        ("updated_at", "TIMESTAMP"),
    ),
)

TABLE: dict[str, Table] = {table.name: table for table in TABLES}
RECORD_TABLES = ("customer_records", "survey_responses", "imported_memberships", "consent_records")
"""Tables keyed by (source, record_id): a newer row replaces the stored one."""


def columns_of(name: str) -> Columns:
    """The declared columns of a table created empty (a KeyError names a derived table)."""
    columns = TABLE[name].columns
    if columns is None:
        raise KeyError(f"table {name!r} is derived by its step; it declares no columns")
    return columns


def ensure_tables(engine: Engine, names: Iterable[str]) -> None:
    """Create the named tables, empty, where they do not exist yet."""
    for name in names:
        engine.create_empty_table(name, columns_of(name))


def add_missing_columns(engine: Engine, names: Iterable[str]) -> list[str]:
    """Add the declared columns a table of an older store lacks (e.g. ``events.consent``), NULL
    in the rows it holds; returns ``table.column`` of each column added."""
    added = []
    for name in names:
        if not engine.has_table(name):
            continue
        present = {column for column, _ in engine.columns(name)}
        missing = [(column, type_) for column, type_ in columns_of(name) if column not in present]
        if missing:
            engine.add_columns(name, missing)
            added += [f"{name}.{column}" for column, _ in missing]
    return added


def step_tables(step: str) -> list[str]:
    """The tables with declared columns that a step writes (created before it runs)."""
    return [table.name for table in TABLES if table.step == step and table.columns is not None]
