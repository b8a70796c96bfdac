"""``personae identity explain``: why two customer records do or do not match."""

from __future__ import annotations

from pathlib import Path

from personae.engine.base import Engine
from personae.engine.sql import literal
from personae.errors import NothingToExplain
from personae.identity.fuzzy import FuzzyMatcher
from personae.identity.fuzzy_settings import FuzzySettings
from personae.identity.matching import MODEL_FILE, records_sql
from personae.identity.splink_model import MatchWeight


def explain_pair(engine: Engine, models: Path, settings: FuzzySettings, first: str, second: str) -> list[MatchWeight]:
    path = models / MODEL_FILE
    if not path.exists():
        raise NothingToExplain(
            f"no fuzzy model in {path}: run `personae run` with identity.fuzzy.enabled = true "
            "(it needs at least 50 customer records)"
        )
    keys = [first, second]
    for key in keys:
        if ":" not in key:
            raise NothingToExplain(f"{key!r} is not SOURCE:RECORD_ID, e.g. crm:C1000316")
    wanted = ", ".join(literal(key) for key in keys)
    records = engine.fetch_arrow(
        f"SELECT * FROM ({records_sql(settings.compared_columns)}) AS r WHERE record_key IN ({wanted})"
    )
    found = set(records.column("record_key").to_pylist())
    missing = [key for key in keys if key not in found]
    if missing:
        raise NothingToExplain(f"no customer record {', '.join(missing)}; records are named SOURCE:RECORD_ID")
    return FuzzyMatcher.load(path).explain(records, first, second)
