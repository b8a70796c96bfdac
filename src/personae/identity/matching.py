"""Probabilistic links between customer records, as identity-graph edges.

The matcher (:mod:`personae.identity.fuzzy`, Splink) is trained once, on DuckDB, and saved
as JSON in the workspace's ``models/`` folder; later runs load it and only predict, on
DuckDB too up to :data:`LOCAL_RECORDS` records (on Spark, in the driver's DuckDB), with
Splink's Spark backend beyond. Delete the file
(or change the compared columns) to retrain. Too few records to train is not an error:
the run goes on with deterministic links only, and says so in its warnings.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
from splink.internals.exceptions import SplinkException

from personae.engine.base import Engine
from personae.engine.dialects import has
from personae.engine.duckdb import DuckDBEngine
from personae.engine.sql import literal
from personae.engine.tables import columns_of
from personae.errors import EngineError, FuzzyModelOutdated, FuzzySettingsError, FuzzyTrainingError
from personae.identity import fuzzy_reuse
from personae.identity.fuzzy import FuzzyMatcher
from personae.identity.fuzzy_settings import FuzzySettings
from personae.spec import did_you_mean

MODEL_FILE = "identity_fuzzy.json"
MIN_RECORDS = 50
ATTRIBUTE_SAMPLE = 1000
"""Records read to list the attribute names a hint may suggest."""
LINK_RANK = 1000  # fuzzy links are the least trusted: cut first when a limit is broken
LOCAL_RECORDS = 10_000_000
"""Up to this many customer records, a Spark workspace scores record pairs with Splink on the
driver's DuckDB (the records are collected there either way, and the pairs come back), as it
trains; beyond, on Spark. At 1M customers (1.45M records) Splink's prediction on Spark local
took ~1,077 s (its blocked joins become hundreds of two-task sort-merge stages); scored on the
driver, the whole identity step took 527 s (bench/RESULTS.md)."""


RECORD_COLUMNS = frozenset(name for name, _ in columns_of("customer_records"))


def column_sql(column: str) -> str:
    """``column`` of ``customer_records``, or the attribute of that name a customers source kept.

    >>> column_sql("last_name")
    'last_name'
    >>> column_sql("soc_sec_id")
    "json_extract_string(attributes, '$.soc_sec_id') AS soc_sec_id"
    """
    if column in RECORD_COLUMNS:
        return column
    return f"json_extract_string(attributes, {literal('$.' + column)}) AS {column}"


def records_sql(columns: tuple[str, ...]) -> str:
    selected = ", ".join(column_sql(column) for column in columns)
    return f"SELECT source || ':' || record_id AS record_key, {selected} FROM customer_records"


def kept_attributes(engine: Engine) -> list[str]:
    """The names customers sources kept in ``attributes`` (from a sample of records)."""
    names: set[str] = set()
    for (document,) in engine.fetch_rows(
        f"SELECT attributes FROM customer_records WHERE attributes IS NOT NULL LIMIT {ATTRIBUTE_SAMPLE}"
    ):
        parsed = json.loads(document)
        if isinstance(parsed, dict):
            names.update(parsed)
    return sorted(names)


def check_mapped(records: pa.Table, settings: FuzzySettings, kept: Sequence[str] = ()) -> None:
    """Raise when a column the settings compare by name has no value in any customer record.

    What ``personae.toml`` alone shows is checked when it is loaded
    (:mod:`personae.identity.mapped_comparisons`); this check needs the data: a column kept
    from a file's header in ``attributes``, or a mapped column that is empty everywhere.

    The default comparisons are skipped quietly where a column is empty (a CRM without
    birth dates); a comparison written in ``personae.toml`` is not, since a column nobody
    maps is a mistake in the config (a misspelt name, a file column of another name).
    ``kept`` are the attribute names customers sources kept, for the hint.
    """
    if not records.num_rows or not {"compare", "columns", "extra_columns"} & settings.model_fields_set:
        return
    for column, kind in settings.comparisons.items():
        if records.column(column).null_count < records.num_rows:
            continue
        where = (
            f"customer_records.{column}: no customers source maps it, by name (columns = {{ {column} = "
            '"<file column>" }) or by a file column of that name, or the file columns mapped to it are empty'
            if column in RECORD_COLUMNS
            else f"no customers source has a column {column!r}{did_you_mean(column, kept)} (columns a customers "
            f"source does not map are kept by name: {', '.join(sorted(kept)) or 'none'})"
        )
        raise FuzzySettingsError(
            f"identity.fuzzy compares {column!r} ({kind}), but none of the {records.num_rows:,} customer records "
            f"has a value for it: {where}. Map the column in a [[sources]] of kind customers, or leave it out "
            "of identity.fuzzy.compare"
        )


def matcher_for(
    engine: Engine, settings: FuzzySettings, models: Path, phone_region: str, warnings: list[str]
) -> FuzzyMatcher | None:
    """The saved matcher, or a newly trained one (saved); None when there is too little data
    (the reason is added to ``warnings``). A saved model trained with the same settings is
    kept when only a prediction setting changed (the threshold, the block cap): it then
    predicts with the new ones, and is saved with them."""
    path = models / MODEL_FILE
    saved = _saved_matcher(path, warnings)
    if (
        saved is not None
        and saved.settings.trained_dict() == settings.trained_dict()
        and saved.phone_region == phone_region
    ):
        if saved.settings.to_dict() != settings.to_dict():
            saved.settings = settings
            saved.save(path)
        return _on_store(saved, engine)
    records = engine.fetch_arrow(records_sql(settings.compared_columns))
    check_mapped(records, settings, kept_attributes(engine))
    if records.num_rows < MIN_RECORDS:
        if records.num_rows:
            warnings.append(f"fuzzy matching skipped: {records.num_rows} customer records, {MIN_RECORDS} needed")
        return None
    try:
        matcher = _on_store(FuzzyMatcher(settings, phone_region=phone_region), engine)
        matcher.fit(records)
    except FuzzyTrainingError as error:
        warnings.append(f"fuzzy matching skipped: {error}")
        return None
    models.mkdir(parents=True, exist_ok=True)
    matcher.save(path)
    return matcher


def _on_store(matcher: FuzzyMatcher, engine: Engine) -> FuzzyMatcher:
    """``matcher`` running Splink on the store's own DuckDB instance, under its memory limit
    (:mod:`personae.identity.fuzzy_backend`); on an engine whose store is not DuckDB, on the
    DuckDB instance that reads its input files (Spark's driver)."""
    matcher.store = engine.connection if isinstance(engine, DuckDBEngine) else engine.reader()
    return matcher


def _saved_matcher(path: Path, warnings: list[str]) -> FuzzyMatcher | None:
    """The model saved at ``path``; None when there is none, or an older personae wrote it."""
    if not path.exists():
        return None
    try:
        return FuzzyMatcher.load(path)
    except FuzzyModelOutdated as outdated:
        warnings.append(f"retraining the fuzzy model: {outdated}")
        return None


def links_unchanged(
    engine: Engine,
    settings: FuzzySettings,
    models: Path,
    phone_region: str,
    warnings: list[str],
    *,
    blocked: Sequence[Sequence[str]],
) -> bool:
    """Whether :func:`fuzzy_edges` would now link the records the last run linked: a saved model
    whose inputs' fingerprint is the one the last run stored (its pairs are kept), or no model
    and none can be trained yet, as in the last run (why is added to ``warnings``)."""
    if (models / MODEL_FILE).exists():
        records = records_sql(settings.compared_columns)
        fingerprint = fuzzy_reuse.fingerprint(engine, records, settings, models / MODEL_FILE, phone_region, blocked)
        return fingerprint is not None and fingerprint == fuzzy_reuse.stored(engine)
    return fuzzy_reuse.stored(engine) is None and matcher_for(engine, settings, models, phone_region, warnings) is None


@dataclass(frozen=True)
class FuzzyEdges:
    """What the fuzzy matcher gave the graph: the edges' table (None when matching was
    skipped), the run's warnings, the fingerprint of its inputs for the next run to compare
    (:mod:`personae.identity.fuzzy_reuse`) and whether the last run's pairs were kept."""

    table: str | None
    warnings: list[str]
    fingerprint: str | None = None
    kept: bool = False


def fuzzy_edges(
    engine: Engine,
    settings: FuzzySettings,
    models: Path,
    phone_region: str,
    *,
    blocked: Sequence[Sequence[str]],
    reuse: bool,
) -> FuzzyEdges:
    """Materialise ``_fuzzy_edges`` (a, b, rank) between record nodes. With ``reuse`` (an
    incremental run), the last run's pairs are kept when the records, the model and the
    settings they came from are unchanged (``blocked``: the identity settings that can
    drop a record node)."""
    warnings: list[str] = []
    try:
        matcher = matcher_for(engine, settings, models, phone_region, warnings)
        if matcher is None:
            return FuzzyEdges(None, warnings)
        records = records_sql(settings.compared_columns)
        fingerprint = fuzzy_reuse.fingerprint(engine, records, settings, models / MODEL_FILE, phone_region, blocked)
        kept = reuse and fingerprint is not None and fingerprint == fuzzy_reuse.stored(engine)
        if kept:
            engine.materialise("_fuzzy_pairs", fuzzy_reuse.KEPT_PAIRS)
        else:
            compared = engine.fetch_arrow(records)
            if has(engine.name, "splink_scoring") and compared.num_rows > LOCAL_RECORDS:
                spark = getattr(engine, "session", None)
                matcher = FuzzyMatcher.load(models / MODEL_FILE, backend="spark", spark=spark)
            pairs = matcher.predict(compared)
            engine.register_arrow("_fuzzy_pairs", pairs.select(["record_key_l", "record_key_r"]))
    except SplinkException as failed:  # Splink's SQL failed on the store's instance: out of memory, say
        cause = failed.__cause__
        if isinstance(engine, DuckDBEngine) and isinstance(cause, duckdb.Error):
            raise engine.error_from(cause) from failed
        raise EngineError(f"fuzzy matching failed on {engine.name}: {' '.join(str(failed).split())[:2000]}") from failed
    engine.materialise(
        "_fuzzy_edges",
        f"SELECT l.node AS a, r.node AS b, {LINK_RANK} AS rank FROM _fuzzy_pairs AS p "
        "JOIN _ids AS l ON l.id_type = 'record' AND l.id_value = p.record_key_l AND l.status = 'ok' "
        "JOIN _ids AS r ON r.id_type = 'record' AND r.id_value = p.record_key_r AND r.status = 'ok'",
    )
    engine.drop_table("_fuzzy_pairs")
    return FuzzyEdges("_fuzzy_edges", warnings, fingerprint, kept)
