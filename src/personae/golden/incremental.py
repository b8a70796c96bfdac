"""Incremental golden records: rebuild only the people whose golden row can have changed.

A person's golden row reads only their ``identity_map`` rows (with each identifier's first
and last seen in ``identifiers``) and their customer records (through ``record_map``). Per
UID, a digest of exactly those inputs is kept in ``golden_digests``:

- the count and the sum of the hashes of ``(id_type, id_value, first_seen, last_seen)``
  over the person's identifiers;
- the count and the sum of the hashes of each candidate record's source, time and every
  attribute the survivorship rules read.

Sums, not XORs: two equal records would cancel in an XOR, and ``most_frequent`` counts
them. A run compares the digests with the stored ones; the people whose digest changed,
who are new, or who have no ``profiles`` row get their row rebuilt (deleted and inserted in
one transaction), the people gone lose theirs, and everyone else's row stays as it is, with
the trait columns of the last traits run, which the traits step then moves to the new day
(:mod:`personae.profiles.build`). A row rebuilt here has empty trait columns until then.

The step falls back to rebuilding every row, with the reason in its note, on an engine
without in-place deletes and transactions (Spark), without the state of a previous run, or
when the survivorship settings, the golden columns or personae changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from personae.engine.base import Engine
from personae.engine.dialects import has
from personae.engine.sql import literal
from personae.engine.store_schema import personae_version
from personae.engine.tables import ensure_tables

DIGESTS = "golden_digests"
STATE = "golden_state"
FINGERPRINT_KEY = "fingerprint"
PEOPLE = "_golden_people"
CHANGED = "_golden_changed"
NOW = "_golden_now"
FORMAT = 1
"""Bumped when what the digests mean changes: a store with another format rebuilds once."""


@dataclass(frozen=True)
class GoldenPlan:
    """Whether the golden step rebuilds everyone (``reason`` says why) or only the changed."""

    incremental: bool
    reason: str = ""


def fingerprint(survivorship: Mapping[str, str], source_priority: Sequence[str], golden: Sequence[str]) -> str:
    payload = {
        "format": FORMAT,
        "personae": personae_version(),
        "survivorship": dict(sorted(survivorship.items())),
        "source_priority": list(source_priority),
        "columns": list(golden),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def keeps_state(engine: Engine) -> bool:
    """Whether the engine can rebuild rows in place (DuckDB), so the digests are worth keeping."""
    return has(engine.name, "delete", "transactions")


def plan(engine: Engine, stamp: str, golden: Sequence[str], *, full: bool) -> GoldenPlan:
    """Whether this run can rebuild only the changed people's rows."""
    if full:
        return GoldenPlan(False, "a full run was asked for (--full)")
    if not keeps_state(engine):
        return GoldenPlan(False, f"incremental golden records run on DuckDB only, not {engine.name}")
    if not all(engine.has_table(table) for table in (DIGESTS, STATE, "profiles")):
        return GoldenPlan(False, "no previous golden run to start from")
    stored = engine.scalar(f"SELECT max(value) FROM {STATE} WHERE key = {literal(FINGERPRINT_KEY)}")
    if stored != stamp:
        return GoldenPlan(False, "the survivorship settings or personae changed since the last run")
    present = {name for name, _ in engine.columns("profiles")}
    if not set(golden) <= present:
        return GoldenPlan(False, "profiles lack golden-record columns")
    return GoldenPlan(True)


def people_digest_sql() -> str:
    """The extra aggregates of :func:`~personae.golden.survivorship.people_sql` that digest a
    person's identifiers."""
    return ", sum(hash(m.id_type, m.id_value, i.first_seen, i.last_seen)) AS id_digest"


def digests_sql(candidates: str, attributes: Sequence[str]) -> str:
    """``uid, digest`` of every person of :data:`PEOPLE` (see the module docstring)."""
    read = ", ".join(["source", "stamp", *attributes])
    records = f"SELECT uid, count(*) AS records, sum(hash({read})) AS record_digest FROM {candidates} GROUP BY uid"
    return (
        "SELECT p.uid, hash(p.identifiers, p.id_digest, coalesce(r.records, 0), coalesce(r.record_digest, 0)) "
        f"AS digest FROM {PEOPLE} AS p LEFT JOIN ({records}) AS r ON r.uid = p.uid"
    )


def changed_sql() -> str:
    """The UIDs whose row is rebuilt or dropped: new, gone, changed, or without a profile."""
    return (
        f"SELECT coalesce(n.uid, s.uid) AS uid FROM {NOW} AS n "
        f"FULL JOIN {DIGESTS} AS s ON s.uid = n.uid "
        "WHERE n.uid IS NULL OR s.uid IS NULL OR n.digest <> s.digest "
        f"UNION SELECT uid FROM {NOW} WHERE uid NOT IN (SELECT uid FROM profiles)"
    )


def rebuild_changed(engine: Engine, rebuilt_sql: str, golden: Sequence[str]) -> int:
    """Replace the changed people's rows (``rebuilt_sql`` gives their golden columns) and
    drop the rows of people gone, in one transaction; returns the rows rebuilt."""
    with engine.transaction():
        engine.delete_where("profiles", f"uid IN (SELECT uid FROM {CHANGED}) OR uid NOT IN (SELECT uid FROM {PEOPLE})")
        rebuilt = engine.insert("profiles", list(golden), rebuilt_sql)
        _save_digests(engine)
    return rebuilt


def save_state(engine: Engine, stamp: str) -> None:
    """Keep this run's digests and fingerprint for the next (after a full rebuild)."""
    with engine.transaction():
        _save_digests(engine)
        ensure_tables(engine, [STATE])
        engine.delete_where(STATE, f"key = {literal(FINGERPRINT_KEY)}")
        engine.insert(STATE, ["key", "value"], f"SELECT {literal(FINGERPRINT_KEY)}, {literal(stamp)}")


def _save_digests(engine: Engine) -> None:
    engine.create_table(DIGESTS, f"SELECT uid, digest FROM {NOW}")
