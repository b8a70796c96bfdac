"""Intake: the journals of a workspace's live sources, held open while the server runs.

A tracking call is authenticated to one live source (its write key), parsed and normalised
(:mod:`personae.realtime.messages`), then appended to that source's journal and
acknowledged only when the append is fsynced (:mod:`personae.realtime.journal`, group
commit). Nothing else happens before the acknowledgement: identity, traits and segments
follow from the journal (:mod:`personae.realtime.live`), so the intake's throughput is the
journal's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from personae.errors import NotFound
from personae.realtime.journal import Journal
from personae.realtime.journal_files import Receipt
from personae.sources.specs import JOURNAL_FOLDER, SourceSpec
from personae.spec import did_you_mean


@dataclass(frozen=True)
class IntakeHealth:
    healthy: bool
    faults: dict[str, str]
    """Source -> why its journal refuses events (a full disk, a read-only folder)."""
    records: int
    fsyncs: int


class Intake:
    """One open journal per live source."""

    def __init__(self, root: Path, sources: Sequence[SourceSpec], *, command: str = "personae serve") -> None:
        self.journals: dict[str, Journal] = {}
        try:
            for spec in sources:
                if spec.live:
                    self.journals[spec.name] = Journal(root / JOURNAL_FOLDER / spec.name, command=command)
        except BaseException:
            self.close()
            raise

    def journal(self, source: str) -> Journal:
        try:
            return self.journals[source]
        except KeyError:
            raise NotFound(
                f"no live source {source!r}{did_you_mean(source, self.journals)}; "
                "declare it in personae.toml with live = true"
            ) from None

    async def commit(self, source: str, lines: Sequence[bytes]) -> Receipt:
        """Append the lines to the source's journal; returns when they are on disk."""
        return await self.journal(source).commit(lines)

    def seal(self, source: str) -> None:
        """Seal a source's active segment so a batch run loads every acknowledged event."""
        self.journal(source).seal()

    def health(self) -> IntakeHealth:
        faults = {name: journal.fault for name, journal in self.journals.items() if not journal.healthy}
        stats = [journal.stats() for journal in self.journals.values()]
        return IntakeHealth(not faults, faults, sum(s.records for s in stats), sum(s.fsyncs for s in stats))

    def close(self) -> None:
        for journal in self.journals.values():
            journal.close()
        self.journals.clear()
