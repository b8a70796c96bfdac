"""The suppression list: what keeps an erased person from coming back.

Erasure (:mod:`personae.rights.erasure`) records, for every identifier the person had and
for every record of theirs, a salted SHA-256 digest, never the value:

- ``identifier``: ``sha256(salt || type || ':' || normalised value)``, e.g. of
  ``email:jane@example.com``;
- ``record``: ``sha256(salt || 'record:' || source || ':' || record_id)``, for a record
  that carried no identifier of its own (a customer record tied by fuzzy matching).

The salt is the workspace's secret UID salt, so the list cannot be checked against a
guessed address by anyone without the store. Ingest drops every row that carries one of
these digests before it reaches a table, a raw copy or the quarantine, and the server's
intake drops such events before they reach the journal; both count what they drop and
keep nothing of it (:func:`suppressed_rows_sql`, :class:`Suppression`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from personae.engine.base import Engine
from personae.engine.sql import literal
from personae.engine.tables import IDENTIFIER_TYPES, ensure_tables

TABLE = "suppressions"
RECORD = "record"
IDENTIFIER = "identifier"
_EMAIL = re.compile(rb"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")


def digest(salt: str, id_type: str, value: str) -> str:
    """The digest of one normalised identifier (the same as :func:`digest_sql`)."""
    return hashlib.sha256(f"{salt}{id_type}:{value}".encode()).hexdigest()


def record_digest(salt: str, source: str, record_id: str) -> str:
    return digest(salt, RECORD, f"{source}:{record_id}")


def digest_sql(salt: str, id_type: str, value_sql: str) -> str:
    """SQL for the digest of ``value_sql`` (already normalised) as an identifier of ``id_type``."""
    return f"sha256({literal(salt + id_type + ':')} || {value_sql})"


def count(engine: Engine) -> int:
    """How many digests the list holds (0 when nobody was ever erased: ingest skips the check)."""
    if not engine.has_table(TABLE):
        return 0
    return engine.row_count(TABLE)


def add(engine: Engine, request_id: str, kind: str, digests: Iterable[str], at: str) -> int:
    """Add digests for one erasure request (already listed ones are kept once)."""
    ensure_tables(engine, [TABLE])
    values = sorted(set(digests))
    if not values:
        return 0
    rows = ", ".join(f"({literal(value)})" for value in values)
    return engine.insert(
        TABLE,
        ["digest", "kind", "request_id", "suppressed_at"],
        f"SELECT d, {literal(kind)}, {literal(request_id)}, {literal(at)}::TIMESTAMP FROM (VALUES {rows}) v(d) "
        f"WHERE d NOT IN (SELECT digest FROM {TABLE})",
    )


def suppressed_rows_sql(relation: str, salt: str, columns: Sequence[str], *, source: str, key: str | None) -> str:
    """The ``_row`` of each row of ``relation`` (a mapped, normalised stage) that the list suppresses:
    one of its identifier columns, or its record key (``key``: the record id column), is listed."""
    digests = [digest_sql(salt, id_type, id_type) for id_type in IDENTIFIER_TYPES if id_type in columns]
    if key is not None:
        digests.append(digest_sql(salt, RECORD, f"{literal(source + ':')} || {key}"))
    if not digests:
        return f"SELECT _row FROM {relation} WHERE false"
    matches = " OR ".join(f"{expression} IN (SELECT digest FROM {TABLE})" for expression in digests)
    return f"SELECT _row FROM {relation} WHERE {matches}"


@dataclass(frozen=True)
class Suppression:
    """The list in memory, for the server's intake (a few bytes per erased identifier)."""

    salt: str
    digests: frozenset[str]

    @classmethod
    def load(cls, engine: Engine, salt: str) -> Suppression:
        if not count(engine):
            return cls(salt, frozenset())
        return cls(salt, frozenset(str(row[0]) for row in engine.fetch_rows(f"SELECT digest FROM {TABLE}")))

    def __bool__(self) -> bool:
        return bool(self.digests)

    def holds(self, identifiers: Iterable[tuple[str, str]]) -> bool:
        """Whether any of these (type, normalised value) pairs is suppressed."""
        return any(digest(self.salt, id_type, value) in self.digests for id_type, value in identifiers if value)

    def holds_text(self, text: bytes) -> bool:
        """Whether a line that could not be parsed carries a suppressed e-mail address."""
        return any(
            digest(self.salt, "email", match.group().decode("ascii", "replace").lower()) in self.digests
            for match in _EMAIL.finditer(text)
        )
