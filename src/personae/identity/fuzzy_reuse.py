"""Keeping the last run's fuzzy pairs when nothing they depend on changed.

The fuzzy matcher's pairs are a function of the customer records (every record, since
Splink's term-frequency adjustments and block purging look at all of them), the saved model
and the settings. When none of those changed since the last identity run, which is the
common increment (new orders and events, the CRM as it was), the pairs are the record-to-
record links the last run wrote to ``identity_edges`` (deterministic links never join two
record nodes: a record's anchor is one of its identifiers), and predicting them again would
give the same set. So an incremental run compares a fingerprint of those inputs with the one
the last run stored in ``workspace_settings`` and, when equal, reads the pairs back instead
of scoring every blocked pair.

A pair scoped to the changed records only would not equal a full run (a new surname shifts
the term frequencies of every pair), so any change means a full prediction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from personae.engine.base import Engine
from personae.engine.dialects import has
from personae.engine.sql import literal
from personae.identity.fuzzy_settings import FuzzySettings

SETTING_KEY = "fuzzy_inputs"
"""The ``workspace_settings`` key of the fingerprint of the last run's fuzzy inputs."""
RECORD_PREFIX = "record:"
KEPT_PAIRS = (
    f"SELECT substr(a_key, {len(RECORD_PREFIX) + 1}) AS record_key_l, "
    f"substr(b_key, {len(RECORD_PREFIX) + 1}) AS record_key_r FROM identity_edges "
    f"WHERE starts_with(a_key, {literal(RECORD_PREFIX)}) AND starts_with(b_key, {literal(RECORD_PREFIX)})"
)
"""The fuzzy pairs of the last run: its record-to-record links."""


def fingerprint(
    engine: Engine,
    records: str,
    settings: FuzzySettings,
    model: Path,
    phone_region: str,
    blocked: Sequence[Sequence[str]],
) -> str | None:
    """A digest of everything the fuzzy pairs depend on: every customer record's compared
    columns (``records``, a query of ``record_key`` and those columns), the saved model file,
    the fuzzy settings, the phone region and the blocked values (a blocked record key drops
    its pairs). None where the engine cannot hash rows (the pairs are then always predicted)."""
    if not has(engine.name, "row_hash") or not model.exists():
        return None
    count, total = engine.fetch_rows(f"SELECT count(*), CAST(sum(hash(r)) AS VARCHAR) FROM ({records}) AS r")[0]
    digest = hashlib.sha256(model.read_bytes())
    context = {"settings": settings.to_dict(), "phone_region": phone_region, "blocked": blocked}
    digest.update(json.dumps(context, sort_keys=True, default=str).encode())
    digest.update(f"{count}:{total}".encode())
    return digest.hexdigest()


def stored(engine: Engine) -> str | None:
    """The fingerprint the last identity run stored (None when it stored none)."""
    if not engine.has_table("workspace_settings") or not engine.has_table("identity_edges"):
        return None
    value = engine.scalar(f"SELECT max(value) FROM workspace_settings WHERE key = {literal(SETTING_KEY)}")
    return str(value) if value else None


def store(engine: Engine, value: str | None) -> None:
    """Record this run's fingerprint (or that there is none: fuzzy matching was off or skipped,
    so ``identity_edges`` holds no pairs to keep); inside the identity write's transaction."""
    if not has(engine.name, "row_hash"):
        return
    engine.delete_where("workspace_settings", f"key = {literal(SETTING_KEY)}")
    if value is not None:
        engine.insert("workspace_settings", ["key", "value"], f"SELECT {literal(SETTING_KEY)}, {literal(value)}")
