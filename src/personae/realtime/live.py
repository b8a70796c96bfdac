"""Live processing: each acknowledged event, in journal order, through identity, traits and
rule segments, written to the store and the change feed as the next batch run would write them.

A thread of the server follows the live sources' journals. For each micro-batch of lines
(what was committed since it last looked, at most ``batch`` lines):

1. :class:`~personae.realtime.live_rows.LiveRows` maps them to ``events`` rows by ingest's own
   SQL; rows whose event id is stored already were counted by batch and are left alone;
2. :class:`~personae.identity.live.LiveIdentity` resolves each to its person by the batch
   rules (a new person gets the UID the next batch run would give it) and writes the
   identity changes back;
3. in one transaction: the events are stored; each touched person's traits are recomputed
   as of the processing day by :class:`~personae.profiles.live.LiveTraits` (held in memory
   by :class:`~personae.realtime.live_people.LivePeople`) and written to ``traits`` and
   ``profiles``; the rule segments (the ``rules`` segmentations and the rule segments) are
   evaluated by :class:`~personae.segments.live_rules.LiveRules` and every entry and exit
   goes to ``memberships`` and the ``membership_changes`` feed; the journal position is saved.
   Consent carried by the events (``context.consent``) is applied to the touched people
   before their rules run (:mod:`~personae.realtime.live_consent`).

The processing day is ``[workspace] as_of`` when set, else today (UTC), as for a batch run.
Segmentations computed over the whole population (RFM, lifecycle, lifestyles, predictive)
and the golden record stay batch's: live rules read them as the person holds them now.
A batch run in the server pauses live processing (it holds the store); the index, the rules
and the people held are then read again.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import duckdb
import pyarrow as pa

from personae.config import WorkspaceConfig
from personae.engine.base import Engine
from personae.engine.tables import IDENTIFIER_TYPES, ensure_tables
from personae.errors import PersonaeError
from personae.identity.live import LiveIdentity, LiveRecord, Resolution
from personae.profiles.build import trait_columns
from personae.realtime.journal import Journal
from personae.realtime.journal_files import Position
from personae.realtime.live_consent import refresh_consent
from personae.realtime.live_people import LivePeople
from personae.realtime.live_rows import LiveRows
from personae.realtime.live_store import cursors, new_events, retire, save_cursor, scored_profiles, write_traits
from personae.segments.definitions import sync_config_segments
from personae.segments.live_memberships import LiveChange, can_record, current_segments, record_changes
from personae.segments.live_rules import LiveRules, live_rules
from personae.segments.memberships import MembershipChange
from personae.segments.people import people_sql, profile_columns

log = logging.getLogger(__name__)
Store = Callable[[], AbstractContextManager[Engine]]
STOP_POLL_SECONDS = 0.1  # how often stop() interrupts the thread's statement until the thread ends
"""Opens the store for writing (the workspace's ``engine(write=True)``)."""


@dataclass
class LiveStats:
    events: int = 0
    """Events processed (stored and applied) since the server started."""
    changes: int = 0
    batches: int = 0
    waiting: str = ""
    """Why nothing is processed now ('' while processing)."""
    fault: str = ""
    """The last error, until a batch goes through again."""
    reloads: int = 0


@dataclass
class _World:
    """What is read from the store once and again after a batch run (the rules alone again
    after a rule segment is added or removed)."""

    run: int
    rules_mark: tuple[Any, ...]
    identity: LiveIdentity
    rules: LiveRules
    people: LivePeople
    traits: dict[str, str]
    scored: str
    """What rules read (profiles with the models' scores), as SQL."""
    cursors: dict[str, tuple[Position, int]] = field(default_factory=dict)
    recordable: dict[date, bool] = field(default_factory=dict)
    """Whether live may record memberships as of a day (no later day is recorded)."""


def _marks(engine: Engine) -> tuple[int, tuple[Any, ...]]:
    """The last run and a mark of the rule segments in force, in one statement (every batch
    asks; ``runs`` always exists, ``segment_definitions`` once the world was first read)."""
    run, count, latest = engine.fetch_rows(
        "SELECT (SELECT coalesce(max(run_id), 0) FROM runs), count(*), max(created_at) FROM segment_definitions"
    )[0]
    return int(run), (count, latest)


def record_of(row: Mapping[str, Any], at: datetime) -> LiveRecord:
    """The identity record of an ``events`` row, keyed as ``record_map`` keys it."""
    identifiers: dict[str, str | None] = {id_type: row.get(id_type) for id_type in IDENTIFIER_TYPES}
    extra = row.get("extra_ids")
    if extra:
        identifiers.update({str(k): None if v is None else str(v) for k, v in json.loads(extra).items()})
    record_id = row["order_id"] if row.get("type") == "order" else row["event_id"]
    return LiveRecord(str(row["source"]), str(record_id), row.get("ts") or at, identifiers)


def _retired(resolutions: Sequence[Resolution]) -> set[str]:
    """The UIDs that name nobody once all of ``resolutions`` are applied, in order: a UID a
    merge retires can come back later in the batch (a split gives the part its UID again)."""
    alive: dict[str, bool] = {}
    for resolution in resolutions:
        for change in resolution.changes:
            alive[change.old_uid] = change.reason == "split"
            if change.new_uid is not None:
                alive[change.new_uid] = True
        if resolution.uid is not None:
            alive[resolution.uid] = True
    return {uid for uid, living in alive.items() if not living}


class LiveProcessor:
    """Follows the journals of the live sources and applies their events to the store."""

    def __init__(
        self,
        config: WorkspaceConfig,
        journals: Mapping[str, Journal],
        store: Store,
        *,
        on_changes: Callable[[list[MembershipChange]], None] | None = None,
        batch: int = 2000,
    ) -> None:
        self.config = config
        self.journals = dict(journals)
        self.store = store
        self.on_changes = on_changes
        self.batch = batch
        self.stats = LiveStats()
        specs = {spec.name: spec for spec in config.sources}
        settings = config.ingest_settings()
        self._rows = {name: LiveRows(specs[name], settings) for name in self.journals}
        self._consent_columns = config.consent_columns()
        self._consent_changed = False
        self._world: _World | None = None
        self.keep: Callable[[Sequence[bytes]], list[bytes]] | None = None
        """Drops the lines of erased people (the server's intake filter)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._engine: Engine | None = None
        """The store the thread is working on, for :meth:`stop` to interrupt."""

    # -- the thread ----------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._follow, name="personae-live", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following, without waiting for what the thread is doing: reading the store after
        a run takes minutes at a million people, and a batch it interrupts is rolled back and
        applied again after the next start."""
        self._stop.set()
        # Until the thread ends: an interrupt that comes between two statements is lost (DuckDB
        # interrupts the statement running, not the next), and the thread may start one more.
        while self._thread is not None and self._thread.is_alive():
            working = self._engine
            if working is not None:
                working.interrupt()
            self._thread.join(timeout=STOP_POLL_SECONDS)
        for rows in self._rows.values():
            rows.close()

    def caught_up(self) -> bool:
        """Whether every journal has been applied up to its last commit (False while waiting
        for a first batch run with events in the journals, and while the store is being read:
        at a million people that takes a while after the server starts or a run ends)."""
        world = self._world
        if world is None and not self.stats.waiting:
            return False
        for name, journal in self.journals.items():
            done = world.cursors.get(name, (None, 0))[0] if world is not None else None
            committed = journal.committed
            if (done or Position(0, 0)) < committed and committed.offset > 0:
                return False
        return True

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                done = self.process_pending()
            except (PersonaeError, duckdb.Error, OSError) as error:
                if self._stop.is_set():  # interrupted by stop()
                    break
                self.stats.fault = str(error)
                self._world = None  # read everything again: memory may be ahead of the store
                log.warning("live processing: %s; retrying", error)
                self._stop.wait(1.0)
                continue
            if not done:
                self._wait()

    def _wait(self) -> None:
        """Until a journal has more, the store becomes ready, or a short while has passed."""
        world = self._world
        if world is None or len(self.journals) != 1:
            self._stop.wait(0.2)
            return
        ((name, journal),) = self.journals.items()
        position = world.cursors.get(name, (None, 0))[0]
        journal.wait(position, timeout=0.2)

    # -- one pass ------------------------------------------------------------------------
    def forget_world(self) -> None:
        """Read the store again before the next batch (after an erasure, say)."""
        self._world = None

    def process_pending(self) -> int:
        """Apply what the journals hold past the saved positions, a micro-batch per source;
        returns the number of lines read (0 when caught up or waiting for a first batch run)."""
        read = 0
        for name, journal in self.journals.items():
            if self._stop.is_set():
                break
            with self.store() as engine, self._working(engine):
                world = self._ready(engine)
                if world is None:
                    return 0
                position, _ = world.cursors.get(name, (None, 0))
                lines: list[bytes] = []
                last = position
                for stop, line in journal.read(position):
                    lines.append(line)
                    last = stop
                    if len(lines) >= self.batch:
                        break
                if lines and last is not None:
                    read += len(lines)
                    self._apply(engine, world, name, self.keep(lines) if self.keep else lines, last)
        return read

    @contextmanager
    def _working(self, engine: Engine) -> Iterator[None]:
        self._engine = engine
        try:
            yield
        finally:
            self._engine = None

    def _ready(self, engine: Engine) -> _World | None:
        """The world as loaded from the store, read again when a run or a rule changed it."""
        world = self._world
        if world is None:
            if not {"profiles", "traits"} <= set(engine.tables()):
                self.stats.waiting = "no profiles yet: live processing starts after the first batch run"
                return None
            ensure_tables(engine, ["segment_definitions"])
        run, mark = _marks(engine)
        if world is not None and world.run == run:
            if world.rules_mark != mark:  # a segment added or removed through the server
                world.rules = live_rules(engine, self.config.segment_config(), profile_columns(engine))
                world.rules_mark = mark
            return world
        if self._stop.is_set():  # stopped while this thread waited for the store: no long read now
            return None
        started = time.monotonic()
        self.stats.waiting = ""  # reading the store: not caught up until it is read
        config = self.config
        columns = profile_columns(engine)
        segments = config.segment_config()
        sync_config_segments(engine, segments.segments, columns)  # a first run with nobody skipped it
        identity = LiveIdentity.load(
            engine,
            config.identity,
            extra_types=config.extra_identifier_types(),
            phone_region=config.workspace.phone_region,
        )
        traits = config.traits_config()
        self._world = _World(
            run,
            _marks(engine)[1],  # the config's segments were just synced
            identity,
            live_rules(engine, segments, columns),
            LivePeople(traits, capacity=config.server.live_people),
            trait_columns(traits),
            people_sql(engine),
            cursors(engine),
        )
        self.stats.reloads += 1
        log.info("live processing: store read in %.2f s", time.monotonic() - started)
        return self._world

    def _apply(self, engine: Engine, world: _World, source: str, lines: Sequence[bytes], last: Position) -> None:
        at = datetime.now(UTC).replace(tzinfo=None)
        day = self.config.workspace.as_of or at.date()
        rows = self._rows[source].rows(lines)
        rows = self._unseen(engine, rows)
        resolved = [(row, world.identity.resolve(record_of(row, at), at=at)) for row in rows]
        _, counted = world.cursors.get(source, (last, 0))
        with engine.transaction():  # all of it or none (a failure reads the store again)
            world.identity.write_back(engine)
            new_events(engine, rows, source, last.segment, at)
            self._consent_changed = False
            fed = self._update(engine, world, resolved, day, at)
            save_cursor(engine, source, last, counted + len(rows), at)
        world.cursors[source] = (last, counted + len(rows))
        self.stats.events += len(rows)
        self.stats.batches += 1
        self.stats.changes += len(fed)
        self.stats.fault = ""
        if (fed or self._consent_changed) and self.on_changes is not None:
            self.on_changes(fed)  # a consent change alone wakes the live destinations too

    def _unseen(self, engine: Engine, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows whose event id is not stored yet (the others were loaded by batch)."""
        if not rows:
            return rows
        engine.register_arrow("_live_ids", pa.table({"event_id": [row["event_id"] for row in rows]}))
        stored = {
            str(found)
            for (found,) in engine.fetch_rows(
                "SELECT i.event_id FROM _live_ids AS i JOIN events AS e ON e.event_id = i.event_id"
            )
        }
        return [row for row in rows if row["event_id"] not in stored]

    def _update(
        self, engine: Engine, world: _World, resolved: list[tuple[dict[str, Any], Resolution]], day: date, at: datetime
    ) -> list[MembershipChange]:
        """Traits and rule segments of the people the rows touched; returns the feed entries."""
        retired = _retired([resolution for _, resolution in resolved])
        moved = {
            uid
            for _, resolution in resolved
            for change in resolution.changes
            for uid in (change.old_uid, change.new_uid)
            if uid is not None
        }
        world.people.forget(moved | retired)
        touched: dict[str, None] = {}
        for row, resolution in resolved:
            if resolution.uid is not None:
                if resolution.new_person and resolution.uid not in moved:
                    world.people.adopt(resolution.uid)  # nothing of theirs in the store to read
                world.people.fold(resolution.uid, row)
                touched[resolution.uid] = None
        touched.update(dict.fromkeys(sorted(moved)))
        people = [uid for uid in touched if uid not in retired]
        live = world.people.traits(engine, people)
        retire(engine, sorted(retired))
        traits = {uid: live[uid].traits(day) for uid in people}
        born = any(r.new_person or any(c.reason == "split" for c in r.changes) for _, r in resolved)
        write_traits(engine, traits, world.traits, day, new=born)
        carried = any(row.get("consent") for row, _ in resolved)
        self._consent_changed = refresh_consent(
            engine,
            self.config.privacy.purposes,
            self._consent_columns,
            [*people, *sorted(retired)],
            decisions=carried or bool(moved),
        )
        if world.recordable.get(day) is None:  # no later day recorded (runs read the world again)
            world.recordable = {day: can_record(engine, day)}
        if not world.recordable[day]:
            return []
        fed = record_changes(engine, self._changes(engine, world, traits, sorted(retired), day), day, at)
        for change in fed:
            world.people.moved(change.uid, change.segmentation, change.segment, change.change)
        return fed

    def _changes(
        self, engine: Engine, world: _World, traits: dict[str, dict[str, Any]], retired: list[str], day: date
    ) -> list[LiveChange]:
        people = list(traits)
        profiles: dict[str, Any] = traits
        if world.rules.columns - set(world.traits):  # rules that read the golden record or scores
            stored = scored_profiles(engine, world.scored, people)
            profiles = {uid: {**stored[uid], **traits[uid]} for uid in people}
        held = {uid: world.people.segments(uid) for uid in people}
        held.update(current_segments(engine, retired))  # no longer held: read from the store
        changes: list[LiveChange] = []
        for uid in people:
            now = held[uid]
            assigned = world.rules.assign(profiles[uid], now, as_of=day, uid=uid)
            for segmentation, segments in sorted(assigned.items()):
                before = now.get(segmentation, set())
                changes += [LiveChange(uid, segmentation, s, "exited") for s in sorted(before - segments)]
                changes += [LiveChange(uid, segmentation, s, "entered") for s in sorted(segments - before)]
        for uid in retired:  # a retired UID leaves everything, as batch records it
            for segmentation, segments in sorted(held[uid].items()):
                changes += [LiveChange(uid, segmentation, s, "exited") for s in sorted(segments)]
        return changes
