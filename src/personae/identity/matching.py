"""Probabilistic links between customer records, as identity-graph edges.

The matcher (:mod:`personae.identity.fuzzy`, Splink) is trained once, on DuckDB, and saved
as JSON in the workspace's ``models/`` folder; later runs load it and only predict, with
Splink's Spark backend when the workspace runs on Spark. Delete the file
(or change the compared columns) to retrain. Too few records to train is not an error:
the run goes on with deterministic links only, and says so in its log.
"""

from __future__ import annotations

import logging
from pathlib import Path

from personae.config import FuzzySettings as FuzzyConfig
from personae.engine.base import Engine
from personae.identity.fuzzy import FuzzyMatcher, FuzzyModelOutdated, FuzzySettings, FuzzyTrainingError

MODEL_FILE = "identity_fuzzy.json"
MIN_RECORDS = 50
LINK_RANK = 1000  # fuzzy links are the least trusted: cut first when a limit is broken

logger = logging.getLogger(__name__)


def records_sql(columns: tuple[str, ...]) -> str:
    selected = ", ".join(columns)
    return f"SELECT source || ':' || record_id AS record_key, {selected} FROM customer_records"


def matcher_for(engine: Engine, config: FuzzyConfig, models: Path, phone_region: str) -> FuzzyMatcher | None:
    """The saved matcher, or a newly trained one (saved); None when there is too little data."""
    path = models / MODEL_FILE
    settings = FuzzySettings(threshold=config.threshold, columns=config.columns, phone_region=phone_region)
    saved = _saved_matcher(path)
    if saved is not None and saved.settings == settings:
        return saved
    records = engine.fetch_arrow(records_sql(config.columns))
    if records.num_rows < MIN_RECORDS:
        logger.info("fuzzy matching skipped: %d customer records, %d needed", records.num_rows, MIN_RECORDS)
        return None
    try:
        matcher = FuzzyMatcher(settings).fit(records)
    except FuzzyTrainingError as error:
        logger.warning("fuzzy matching skipped: %s", error)
        return None
    models.mkdir(parents=True, exist_ok=True)
    matcher.save(path)
    return matcher


def _saved_matcher(path: Path) -> FuzzyMatcher | None:
    """The model saved at ``path``; None when there is none, or an older personae wrote it."""
    if not path.exists():
        return None
    try:
        return FuzzyMatcher.load(path)
    except FuzzyModelOutdated as outdated:
        logger.warning("retraining the fuzzy model: %s", outdated)
        return None


def fuzzy_edges(engine: Engine, config: FuzzyConfig, models: Path, phone_region: str) -> str | None:
    """Materialise ``_fuzzy_edges`` (a, b, rank) between record nodes; None when skipped."""
    matcher = matcher_for(engine, config, models, phone_region)
    if matcher is None:
        return None
    if engine.name == "spark":  # trained on DuckDB (fast, on one machine), scored by Splink on Spark
        matcher = FuzzyMatcher.load(models / MODEL_FILE, backend="spark", spark=getattr(engine, "session", None))
    pairs = matcher.predict(engine.fetch_arrow(records_sql(config.columns)))
    engine.register_arrow("_fuzzy_pairs", pairs.select(["record_key_l", "record_key_r"]))
    engine.materialise(
        "_fuzzy_edges",
        f"SELECT l.node AS a, r.node AS b, {LINK_RANK} AS rank FROM _fuzzy_pairs AS p "
        "JOIN _ids AS l ON l.id_type = 'record' AND l.id_value = p.record_key_l AND l.status = 'ok' "
        "JOIN _ids AS r ON r.id_type = 'record' AND r.id_value = p.record_key_r AND r.status = 'ok'",
    )
    return "_fuzzy_edges"
