"""The tables that make people of the records: identity, consent, golden record, traits,
models and segments (part of :data:`personae.engine.tables.TABLES`)."""

from __future__ import annotations

from personae.engine.table_spec import Table, declare

PEOPLE_TABLES: tuple[Table, ...] = (
    # identity
    declare("identifiers", "identity", "every (type, value) seen: records, first and last seen, status, rank"),
    declare(
        "identity_map",
        "identity",
        "(type, value) -> uid for the usable identifiers",
        ("id_type", "VARCHAR"),
        ("id_value", "VARCHAR"),
        ("uid", "VARCHAR"),
        clustered_by="uid",
        indexed_by=("id_value",),  # Customer 360 and `profile` find a person by an identifier
    ),
    declare(
        "record_map",
        "identity",
        "the person behind each record and event",
        ("source", "VARCHAR"),
        ("record_id", "VARCHAR"),
        ("uid", "VARCHAR"),
        clustered_by="uid",
    ),
    declare(
        "identity_state",
        "identity",
        "what the last identity run left for the next to fold forward from",
        ("key", "VARCHAR"),
        ("value", "VARCHAR"),
    ),
    declare(
        "merges",
        "identity",
        "merges, splits and removals of UIDs, appended",
        ("old_uid", "VARCHAR"),
        ("new_uid", "VARCHAR"),
        ("at", "TIMESTAMP"),
        ("reason", "VARCHAR"),
    ),
    declare(
        "workspace_settings",
        "identity",
        "settings the store keeps (the UID salt, the fingerprint of the last fuzzy inputs)",
        ("key", "VARCHAR"),
        ("value", "VARCHAR"),
    ),
    declare(
        "identity_edges",
        "identity",
        "the links of the last run, for incremental runs",
        clustered_by="a_key",  # Customer 360 draws the links among one person's identifiers
    ),
    declare("identity_cuts", "identity", "links cut to keep a per-type limit"),
    # consent (after identity: every decision with its person)
    declare(
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
    declare(
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
    declare("profiles", "golden", "one row per uid: golden record with lineage, then the traits", clustered_by="uid"),
    declare("traits", "traits", "one row per uid: every trait as of a day"),
    declare("trait_shares", "traits", "each person's split over categories and channels"),
    declare("customer_summary", "traits", "frequency, recency, T and monetary value per buyer"),
    declare("order_gaps", "traits", "how many repeat orders came after each gap in days"),
    declare("order_gap_counts", "traits", "per person, how many repeat order days came after each gap"),
    declare("traits_record_digests", "traits", "per uid, a digest of its record_map rows at the last traits run"),
    declare(
        "traits_state",
        "traits",
        "what the last traits run was: as-of day, settings, newest load",
        ("key", "VARCHAR"),
        ("value", "VARCHAR"),
    ),
    # models
    declare("predictions", "models", "one row per uid: every model's scores", clustered_by="uid"),
    declare("model_scores_clv", "models", "CLV scores before they join predictions"),
    declare("model_scores_propensity", "models", "churn and high-value scores before they join predictions"),
    declare("model_scores_lifestyle", "models", "lifestyle clusters before they join predictions"),
    declare("model_scores_survey", "models", "survey look-alike scores before they join predictions"),
    # segment
    declare("rfm_scores", "segment", "R, F and M scores per buyer"),
    declare(
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
    declare(
        "memberships",
        "segment",
        "one row per stay of a person in a segment",
        ("uid", "VARCHAR"),
        ("segmentation", "VARCHAR"),
        ("segment", "VARCHAR"),
        ("score", "DOUBLE"),
        ("entered_at", "TIMESTAMP"),
        ("exited_at", "TIMESTAMP"),
        clustered_by="uid",
    ),
    declare("membership_days", "segment", "every as-of day whose segment state the history holds", ("as_of", "DATE")),
    declare(
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
)
