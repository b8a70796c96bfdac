"""The workspace's privacy verbs: erase a person everywhere, export everything held about one.
A part of :class:`personae.Workspace` (which inherits them), kept apart like the activation
verbs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from personae.config import WorkspaceConfig
from personae.engine.base import Engine
from personae.progress import Progress, silent

if TYPE_CHECKING:
    from personae.rights.erasure import ErasureReceipt


class _Workspace(Protocol):
    root: Path
    env: Mapping[str, str]
    config: WorkspaceConfig
    journal_sealer: Callable[[str], None] | None
    erasure_listener: Callable[[Engine], None] | None
    compact_owed: bool
    engine_name: str

    @property
    def is_open(self) -> bool: ...

    def _compact_store(self) -> None: ...

    def engine(self, *, write: bool, name: str | None = None) -> AbstractContextManager[Engine]: ...


class PrivacyVerbs:
    def erase(
        self: _Workspace, identifiers: Sequence[str], *, progress: Progress | None = None, actor: str = "cli"
    ) -> list[ErasureReceipt]:
        """Erase the person behind each ``TYPE:VALUE`` from every table, raw copy, journal and
        destination, and keep them out; finishes earlier erasures that were interrupted."""
        from personae.activation.destination import DeliveryContext
        from personae.rights.erasure import ErasureContext, erase

        held = self.journal_sealer
        if held is not None:  # a server writes the journals: seal them, so every event so far can be rewritten
            for spec in self.config.sources:
                if spec.live:
                    held(spec.name)
        with self.engine(write=True) as store:
            listener = self.erasure_listener
            context = ErasureContext(
                self.root,
                store,
                self.config.sources,
                self.config.ingest_settings(),
                self.config.workspace.phone_region,
                self.config.destinations,
                DeliveryContext(self.root, self.env),
                progress or silent,
                actor=actor,
                journals_held=held is not None,
                on_suppressed=(lambda: listener(store)) if listener is not None else None,
            )
            receipts = erase(context, identifiers)
        if any(receipt.found for receipt in receipts):
            if self.is_open:
                self.compact_owed = True
            else:
                self._compact_store()
        return receipts

    def _compact_store(self: _Workspace) -> None:
        """Rewrite the DuckDB file, so that the erased rows' old blocks (which DuckDB frees but does
        not overwrite) leave the disk with it."""
        from personae.engine.duckdb import compact_database
        from personae.store_lock import StoreLock

        if self.engine_name != "duckdb":
            return
        path = self.root / self.config.engine.duckdb.path
        if self.is_open:
            compact_database(path)
            self.compact_owed = False
            return
        lock = StoreLock(self.root, "personae privacy erase").acquire()
        try:
            compact_database(path)
        finally:
            lock.release()

    def export_subject(self: _Workspace, identifier: str, *, actor: str = "cli") -> dict[str, Any]:
        """Everything held about the person behind ``TYPE:VALUE``, as one JSON-ready document."""
        from importlib.metadata import version

        from personae.rights.erasure import normalised_identifier
        from personae.rights.subject_access import export_person

        parents = {spec.name: spec.orders for spec in self.config.sources if spec.orders}
        from personae.privacy.audit import EXPORT, AuditEntry, audit_salt, record_audit, subject_target

        with self.engine(write=False) as store:
            id_type, value = normalised_identifier(store, identifier, self.config.workspace.phone_region)
            by = f"personae {version('personae')}"
            document = export_person(store, id_type, value, parents, requested=identifier, by=by)
        with self.engine(write=True) as store:  # the export is on the record, never its content
            target = subject_target(audit_salt(store), id_type, value)
            record_audit(store, [AuditEntry(EXPORT, actor, target=target, detail={"uids": len(document["uids"])})])
        return document
