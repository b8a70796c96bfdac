"""What an identity run leaves for the next one to fold forward from (:mod:`personae.identity.fold`).

Kept in ``identity_state`` under :data:`SETTING_KEY`, as JSON, by every identity run on an
engine that can fold (DuckDB), in the transaction that writes the identity tables:

- ``fingerprint``: the identity settings (but ``incremental``), the extra identifier types,
  the personae version and :data:`FORMAT`; another fingerprint means the stored tables were
  made by other rules;
- ``watermark``: the newest ``_loaded_at`` of the rows that carry identifiers (events and
  the record tables); a row loaded later is new to the next run;
- ``rows``: how many rows each of those tables held. The rows at or before the watermark
  must still number as many: a row deleted or replaced (erasure, retention, a customer record
  sent again, an order file changed) can remove a link, which a fold cannot do;
- ``map``: the count and an XOR of row hashes of ``identity_map``. Live resolution writes
  the map between batch runs; a changed map means the tables are no longer this run's;
- ``links``, ``fuzzy_links``: the run's counts, for the next run's report.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from personae.engine.base import Engine
from personae.engine.dialects import has
from personae.engine.sql import literal, timestamp_sql
from personae.engine.store_schema import personae_version
from personae.identity.graph import ROW_TABLES
from personae.identity.specs import IdentitySettings

STATE = "identity_state"
SETTING_KEY = "fold"
FORMAT = 1
"""Bumped when what the stored identity tables or this state mean changes."""
MAP_DIGEST = (
    "SELECT CAST(count(*) AS VARCHAR) || ':' || CAST(bit_xor(hash(id_type, id_value, uid)) AS VARCHAR) "
    "FROM identity_map"
)


@dataclass(frozen=True)
class FoldState:
    fingerprint: str
    watermark: str
    """The newest ``_loaded_at`` as text; empty when no row carried one."""
    rows: dict[str, int]
    map: str
    links: int
    fuzzy_links: int


def can_fold(engine: Engine) -> bool:
    """Folding deletes rows in place, inside one transaction, fingerprints tables by row hashes
    and finds a record's rows by their row ids."""
    return has(engine.name, "delete", "transactions", "row_hash", "row_ids")


def fingerprint(settings: IdentitySettings, extra_types: Sequence[str]) -> str:
    rules = settings.model_dump(mode="json")
    rules.pop("incremental", None)  # a --full run and an increment follow the same rules
    payload = {"format": FORMAT, "personae": personae_version(), "settings": rules, "extra_types": list(extra_types)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _tables(engine: Engine) -> list[str]:
    return [table for table in ROW_TABLES if engine.has_table(table)]


def current(
    engine: Engine, settings: IdentitySettings, extra_types: Sequence[str], links: int, fuzzy_links: int
) -> FoldState:
    """The state of the store as this run leaves it (call after the identity tables are written)."""
    tables = _tables(engine)
    counts = " UNION ALL ".join(
        f"SELECT {literal(table)}, count(*), CAST(max(_loaded_at) AS VARCHAR) FROM {table}" for table in tables
    )
    found = engine.fetch_rows(counts) if tables else []
    stamps = [str(stamp) for _, _, stamp in found if stamp is not None]
    return FoldState(
        fingerprint=fingerprint(settings, extra_types),
        watermark=max(stamps, default=""),
        rows={str(table): int(count) for table, count, _ in found},
        map=str(engine.scalar(MAP_DIGEST)),
        links=links,
        fuzzy_links=fuzzy_links,
    )


def save(engine: Engine, state: FoldState) -> None:
    """Replace the stored state (inside the identity write's transaction)."""
    engine.delete_where(STATE, f"key = {literal(SETTING_KEY)}")
    value = json.dumps(asdict(state), sort_keys=True)
    engine.insert(STATE, ["key", "value"], f"SELECT {literal(SETTING_KEY)}, {literal(value)}")


def load(engine: Engine) -> FoldState | None:
    if not engine.has_table(STATE):
        return None
    value = engine.scalar(f"SELECT max(value) FROM {STATE} WHERE key = {literal(SETTING_KEY)}")
    if not value:
        return None
    try:
        data: dict[str, Any] = json.loads(str(value))
        return FoldState(**data)
    except (ValueError, TypeError):  # written by another format: the run rebuilds the graph
        return None


def why_not(engine: Engine, state: FoldState | None, settings: IdentitySettings, extra_types: Sequence[str]) -> str:
    """Why this run cannot fold the stored tables forward ('' when it can)."""
    if state is None:
        return "no state of an earlier identity run to fold forward from"
    if state.fingerprint != fingerprint(settings, extra_types):
        return "the identity settings or personae changed since the last run"
    if not all(engine.has_table(table) for table in ("identifiers", "identity_map", "record_map", "identity_edges")):
        return "identity tables are missing"
    if not state.watermark:
        return "the last run saw no rows"
    tables = _tables(engine)
    held = " UNION ALL ".join(
        f"SELECT {literal(table)}, count(*) FILTER (WHERE _loaded_at <= {timestamp_sql(state.watermark)}) FROM {table}"
        for table in tables
    )
    kept = {str(table): int(count) for table, count in engine.fetch_rows(held)} if tables else {}
    if any(kept.get(table, 0) != count for table, count in state.rows.items()):
        return "rows were deleted or replaced since the last run"
    if str(engine.scalar(MAP_DIGEST)) != state.map:
        return "identity_map changed since the last run (live resolution)"
    return ""
