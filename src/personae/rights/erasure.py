"""Erasure (GDPR art. 17): the whole person behind an identifier, from everywhere, for good.

``erase`` works in four phases, so that an interrupted erasure (``kill -9``) is finished by
running it again and no reader ever sees half a person:

1. **The store, in one transaction.** Find the person (every UID they had, every identifier
   and record tied to them), add the salted digests of those identifiers and records to the
   suppression list, owe each destination a deletion, and delete every row of theirs from
   every table (:mod:`personae.rights.sweep`). Readers see them whole before the commit and
   gone after it. The request is kept as ``erasure_requests`` (digests and counts only).
2. **The raw copies and the journal.** Every raw copy and every journal segment is rewritten
   without the rows the suppression list now refuses (the same test ingest applies), through
   a temporary file and a rename.
3. **The destinations.** Each destination that may hold them is told to delete them
   (:meth:`~personae.activation.destination.Destination.forget`); one that cannot be reached
   keeps its deletion owed, and the next erasure or ``personae sync`` tries again.
4. **The receipt**: what was deleted, counted per table, raw source and destination, when,
   and when the models stop using them. It holds no identifier in clear.

A request is known by the digest of the identifier asked for: asking again for an
unfinished one resumes it at phase 2; every erasure also finishes earlier unfinished ones.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from personae.activation.destination import DeliveryContext
from personae.activation.kinds import make_destination
from personae.activation.specs import DestinationSpec
from personae.engine.base import Engine
from personae.engine.sql import literal
from personae.engine.tables import ensure_tables
from personae.errors import PersonaeError
from personae.identity.resolve import workspace_salt
from personae.identity.views import parse_identifier
from personae.privacy import suppression
from personae.privacy.audit import ERASURE, AuditEntry, record_audit, subject_target
from personae.progress import Progress, silent
from personae.rights.scrub import scrub_journals, scrub_raw_copies
from personae.rights.sweep import Person, find_person, sweep
from personae.sources.normalise import identifier_sql
from personae.sources.specs import IngestSettings, SourceSpec

RECEIPTS = Path(".personae") / "privacy" / "receipts"
REQUESTS = "erasure_requests"
DELIVERIES = "erasure_deliveries"
MODELS_NOTE = (
    "the models were trained with them; the next `personae run` trains every model again "
    "without them (the models step fits on each run) and scores nobody erased"
)


@dataclass
class ErasureReceipt:
    """What one erasure request did: the people behind its identifiers, erased together. The
    identifiers are kept as their types only (``requested``), never their values."""

    request_id: str
    requested: list[str]
    found: int
    """How many of the identifiers named somebody (or rows not yet resolved to anybody)."""
    people: int
    requested_at: str
    finished_at: str | None = None
    status: str = "pending"
    tables: dict[str, int] = field(default_factory=dict)
    raw_copies: dict[str, int] = field(default_factory=dict)
    journal: dict[str, int] = field(default_factory=dict)
    destinations: dict[str, str] = field(default_factory=dict)
    models: str = MODELS_NOTE
    message: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class ErasureContext:
    root: Path
    engine: Engine
    sources: Sequence[SourceSpec]
    settings: IngestSettings
    region: str
    destinations: Sequence[DestinationSpec]
    delivery: DeliveryContext
    progress: Progress = silent
    actor: str = "cli"
    """Who asked (a key id through the server), for the audit log."""
    journals_held: bool = False
    """A server holds the journals (and sealed them first): their active segments are left alone."""
    on_suppressed: Callable[[], None] | None = None
    """Called once the store is erased and the list updated, still holding the write turn (the
    server reloads its intake filter and live state here)."""

    @property
    def destination_names(self) -> list[str]:
        return [spec.name for spec in self.destinations]

    def forget(self, destination: str, uids: list[str], request_id: str) -> str:
        """Tell one destination to delete these people; raises as a sync would when it cannot now."""
        (spec,) = [spec for spec in self.destinations if spec.name == destination]
        made = make_destination(spec, self.delivery)
        made.open()
        try:
            return made.forget(uids, request_id)
        finally:
            made.close()


def _now() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def normalised_identifier(engine: Engine, text: str, region: str) -> tuple[str, str]:
    """(type, value) of ``TYPE:VALUE``, the value as ingest normalises it."""
    id_type, value = parse_identifier(text)
    if id_type == "uid":
        return id_type, value
    normalised = engine.scalar(f"SELECT {identifier_sql(id_type, literal(value), region)}")
    return id_type, str(normalised) if normalised is not None else value


def requested_digest(engine: Engine, salt: str, text: str, region: str) -> tuple[str, str, str]:
    """(type, normalised value, digest) of ``TYPE:VALUE``."""
    id_type, value = normalised_identifier(engine, text, region)
    return id_type, value, suppression.digest(salt, id_type, value)


def erase(context: ErasureContext, identifiers: Sequence[str]) -> list[ErasureReceipt]:
    """Erase the people behind the identifiers as one request (finishing unfinished ones first);
    returns the receipts, the new request's last."""
    engine = context.engine
    ensure_tables(engine, [suppression.TABLE, REQUESTS, DELIVERIES])
    salt = workspace_salt(engine)
    receipts = [_load_receipt(row) for row in _unfinished(engine)]
    pending = _pending_digests(engine)
    wanted = []
    for text in identifiers:
        id_type, value, digest = requested_digest(engine, salt, text, context.region)
        if digest not in pending:  # asked again while unfinished: finishing it is the answer
            wanted.append((id_type, value, digest))
    if wanted:
        receipts.append(_erase_from_store(context, salt, wanted))
    owed = [receipt for receipt in receipts if receipt.found and receipt.status != "done"]
    if owed:
        _finish(context, owed)
        engine.execute("CHECKPOINT")
    return receipts


def _unfinished(engine: Engine) -> list[tuple[str]]:
    return engine.fetch_rows(
        f"SELECT any_value(receipt) FROM {REQUESTS} WHERE status <> 'done' GROUP BY request_id "
        "ORDER BY min(requested_at)"
    )


def _pending_digests(engine: Engine) -> set[str]:
    return {str(row[0]) for row in engine.fetch_rows(f"SELECT requested_digest FROM {REQUESTS} WHERE status <> 'done'")}


def _load_receipt(row: tuple[str]) -> ErasureReceipt:
    return ErasureReceipt(**json.loads(row[0]))


def _erase_from_store(context: ErasureContext, salt: str, wanted: Sequence[tuple[str, str, str]]) -> ErasureReceipt:
    """Phase 1: everything in the store, for every person of the request, in one transaction."""
    engine = context.engine
    at = _now()
    request_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(4)
    context.progress("erase: find the people", 0, 4)
    people = [(digest, find_person(engine, id_type, value)) for id_type, value, digest in wanted]
    found = [(digest, person) for digest, person in people if person.found]
    everyone = Person(
        sorted({uid for _, person in found for uid in person.uids}),
        sorted({pair for _, person in found for pair in person.identifiers}),
        sorted({pair for _, person in found for pair in person.records}),
    )
    receipt = ErasureReceipt(request_id, [id_type for id_type, _, _ in wanted], len(found), len(everyone.uids), at)
    missing = len(wanted) - len(found)
    if missing:
        receipt.message = (
            f"{missing} of the {len(wanted)} identifiers named nobody known here: nothing was deleted "
            "or suppressed for them"
        )
    if not found:
        audit = [
            AuditEntry(ERASURE, context.actor, target=subject_target(salt, id_type, value), detail={"found": False})
            for id_type, value, _ in wanted
        ]
        record_audit(engine, audit)
        receipt.status, receipt.finished_at = "done", _now()
        _write_receipt(context.root, receipt)
        return receipt
    with engine.transaction():
        identifier_digests = [digest for digest, _ in found]
        identifier_digests += [suppression.digest(salt, t, v) for t, v in everyone.identifiers]
        suppression.add(engine, request_id, suppression.IDENTIFIER, identifier_digests, at)
        record_digests = [suppression.record_digest(salt, s, r) for s, r in everyone.records]
        suppression.add(engine, request_id, suppression.RECORD, record_digests, at)
        if everyone.uids:
            rows = ", ".join(f"({literal(uid)})" for uid in everyone.uids)
            for destination in context.destination_names:
                engine.insert(
                    DELIVERIES,
                    ["request_id", "destination", "uid", "status", "error", "at"],
                    f"SELECT {literal(request_id)}, {literal(destination)}, uid, 'owed', NULL, "
                    f"{literal(at)}::TIMESTAMP FROM (VALUES {rows}) v(uid)",
                )
        parents = {spec.name: spec.orders for spec in context.sources if spec.orders}
        receipt.tables = sweep(engine, everyone, parents)
        receipt.status = "store erased"
        audit = [
            AuditEntry(
                ERASURE, context.actor, target=subject_target(salt, id_type, value), detail={"request": request_id}
            )
            for id_type, value, _ in wanted
        ]
        record_audit(engine, audit)
        for digest, _ in found:
            engine.insert(
                REQUESTS,
                ["request_id", "requested_digest", "requested_at", "status", "people", "receipt", "finished_at"],
                f"SELECT {literal(request_id)}, {literal(digest)}, {literal(at)}::TIMESTAMP, 'store erased', "
                f"{len(everyone.uids)}, {literal(receipt.to_json())}, NULL",
            )
    if context.on_suppressed is not None:
        context.on_suppressed()
    return receipt


def _finish(context: ErasureContext, receipts: Sequence[ErasureReceipt]) -> None:
    """Phases 2 to 4 for these requests: raw copies, journal, destinations, receipts (each
    safe to run again). One pass over the files serves them all; its counts go to the last."""
    engine = context.engine
    salt = workspace_salt(engine)
    last = receipts[-1]
    context.progress("erase: rewrite raw copies", 1, 4)
    for source, rows in scrub_raw_copies(engine, context.root, context.sources, context.settings, salt).items():
        last.raw_copies[source] = last.raw_copies.get(source, 0) + rows
    context.progress("erase: rewrite the journal", 2, 4)
    journals = scrub_journals(
        engine, context.root, context.sources, salt, context.region, active=not context.journals_held
    )
    for source, rows in journals.items():
        last.journal[source] = last.journal.get(source, 0) + rows
    context.progress("erase: tell the destinations", 3, 4)
    for receipt in receipts:
        receipt.destinations.update(deliver_deletions(context, receipt.request_id))
        owed = any(text.startswith("owed") for text in receipt.destinations.values())
        receipt.status = "destinations owed" if owed else "done"
        receipt.finished_at = None if owed else _now()
        finished = literal(receipt.finished_at) if receipt.finished_at else "NULL"
        engine.execute(
            f"UPDATE {REQUESTS} SET status = {literal(receipt.status)}, receipt = {literal(receipt.to_json())}, "
            f"finished_at = {finished}::TIMESTAMP WHERE request_id = {literal(receipt.request_id)}"
        )
        _write_receipt(context.root, receipt)
    context.progress("erase", 4, 4)


def deliver_deletions(context: ErasureContext, request_id: str | None = None) -> dict[str, str]:
    """Send every owed deletion (of one request, or all); a delivered one leaves no UID behind."""
    engine = context.engine
    where = f" AND request_id = {literal(request_id)}" if request_id else ""
    owed = engine.fetch_rows(
        f"SELECT destination, request_id, list(uid ORDER BY uid) FROM {DELIVERIES} WHERE status = 'owed'{where} "
        "GROUP BY ALL ORDER BY 1, 2"
    )
    done: dict[str, str] = {}
    for destination, request, uids in owed:
        key = f"destination = {literal(destination)} AND request_id = {literal(request)}"
        if destination not in context.destination_names:  # taken out of personae.toml since: nothing to tell
            engine.delete_where(DELIVERIES, key)
            done[destination] = "no longer configured: nothing sent"
            continue
        try:
            done[destination] = context.forget(destination, list(uids), request)
        except (PersonaeError, OSError) as error:  # unreachable now, or refused: kept owed, reported
            done[destination] = f"owed: {error}"
        if not done[destination].startswith("owed"):
            engine.delete_where(DELIVERIES, key)
        else:
            engine.execute(f"UPDATE {DELIVERIES} SET error = {literal(done[destination])} WHERE {key}")
    return done


def _write_receipt(root: Path, receipt: ErasureReceipt) -> None:
    folder = root / RECEIPTS
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"{receipt.request_id}.json.partial"
    partial.write_text(json.dumps(asdict(receipt), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    partial.replace(folder / f"{receipt.request_id}.json")
