"""Live identity resolution: one record at a time, by the batch rules, so that live equals batch.

``personae serve`` hands each event to :meth:`LiveIdentity.resolve` as a
:class:`LiveRecord` (the shape ingest gives an ``events`` row: source, record id, time,
raw identifiers) and gets back the person's UID and what changed (:class:`Resolution`).
:meth:`LiveIdentity.write_back` then writes the changes to the store, in one transaction,
so that the next batch run keeps every UID (:mod:`personae.identity.live_store`).

**Why it equals batch.** A batch run recomputes every component of the identity graph,
but a component whose identifiers, links and statuses did not change comes out as it went
in (its UIDs are kept from ``identity_map``). An event changes only the components it
touches, so live resolves exactly those, with the batch rules applied to them:

- identifiers normalised as ingest normalises them (:mod:`.live_normalise`), blocked
  values (literal, RE2 patterns) and invalid values never link;
- links as ``graph.edges_sql`` makes them: from each record's most trusted usable
  identifier to its others (records are kept as their distinct identifier sets,
  :mod:`.live_graph`);
- shared values as ``graph.shared_sql`` finds them: an identifier seen on records with
  more than ``shared_max`` values of another limited type stops linking; when an event makes
  one shared, its links go and the people it joined are split as batch splits them;
- per-type limits by the batch's own constrained union-find (``limits.rebuild``, most
  trusted links first), over the component's links numbered in batch node order;
- stable UIDs by :func:`personae.identity.uids.assign`, the Python twin of the batch SQL:
  a person keeps the UID of its oldest member, a new person gets the salted hash of its
  oldest identifier (the UID the next batch run would give it), and merges, splits and
  removals are recorded as batch records them.

Tests check it end to end: random streams resolved live, then by batch after each event,
give the same ``identity_map``, ``record_map`` and ``merges``
(``tests/identity/test_live_property.py``).

**What live does not do.** Fuzzy (probabilistic) links between customer records are made
by batch only: live loads the record-to-record links of the last batch run and adds none,
and it resolves events, which carry no customer-record node. A record id seen twice is
resolved once (ingest keeps the first event of an id).

An index is not thread-safe: the server calls it from one thread (or under one lock).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyarrow as pa

from personae.engine.base import Engine
from personae.engine.tables import IDENTIFIER_TYPES
from personae.errors import UsageError
from personae.identity.graph import RECORD_TYPE
from personae.identity.limits import rebuild
from personae.identity.live_graph import BLOCKED, OK, SHARED, LiveGraph
from personae.identity.live_normalise import Blocker, normalise, trim
from personae.identity.live_store import RecordKey, WriteBack, WriteBackLog, load_graph, write, write_records
from personae.identity.resolve import workspace_salt
from personae.identity.specs import IdentitySettings
from personae.identity.uids import Member, assign

EPOCH = datetime(1970, 1, 1)
MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class LiveRecord:
    """One event as ingest will store it: identifiers are raw values by type (built-in types
    and the custom types the sources declare); None or blank means absent."""

    source: str
    record_id: str
    ts: datetime
    """When it happened, as ingest stores it: naive UTC. An aware time counts as its wall-clock
    time, as ingest reads ISO times with an offset (``docs/architecture.md``, Timestamps)."""
    identifiers: Mapping[str, str | None]


@dataclass(frozen=True)
class Refusal:
    """An identifier of the record that did not join its person, and why: ``invalid`` (it
    normalises to nothing; ``value`` is the raw value), ``blocked``, ``shared`` or ``limit``
    (a per-type limit kept it with another person)."""

    id_type: str
    value: str
    reason: str


@dataclass(frozen=True)
class UidChange:
    """A ``merges`` row: ``merge`` (old_uid is retired into new_uid), ``split`` (some of old_uid's
    identifiers now form new_uid), ``removed`` (old_uid has no usable identifier left)."""

    old_uid: str
    new_uid: str | None
    reason: str


@dataclass(frozen=True)
class Resolution:
    """The person behind a record and what the record changed."""

    uid: str | None
    """None when the record holds no usable identifier."""
    new_person: bool
    """The UID did not exist before this record (a new person, or one split off)."""
    new_identifiers: tuple[tuple[str, str], ...]
    """Usable (type, value) pairs seen for the first time."""
    changes: tuple[UidChange, ...]
    refused: tuple[Refusal, ...]

    @property
    def retired(self) -> tuple[str, ...]:
        """UIDs that no longer name anyone after this record."""
        return tuple(c.old_uid for c in self.changes if c.reason in ("merge", "removed"))


class LiveIdentity:
    """An in-memory identifier index that resolves records with the batch rules."""

    def __init__(
        self,
        graph: LiveGraph,
        settings: IdentitySettings,
        *,
        extra_types: Sequence[str],
        phone_region: str,
        salt: str,
    ) -> None:
        self.settings = settings
        self.extra_types = tuple(extra_types)
        self.phone_region = phone_region
        self._graph = graph
        self._salt = salt
        self._types = frozenset((*IDENTIFIER_TYPES, *self.extra_types))
        self._limits = {graph.code(id_type): limit for id_type, limit in settings.limits.items()}
        self._blocker = Blocker(settings)
        self._records: dict[RecordKey, tuple[int, ...]] = {}
        self._log = WriteBackLog()
        self.load_seconds: dict[str, float] = {}

    @classmethod
    def load(
        cls, engine: Engine, settings: IdentitySettings, *, extra_types: Sequence[str], phone_region: str
    ) -> LiveIdentity:
        """The index of a resolved store (arguments as for ``resolve_identities``); its
        ``load_seconds`` say where the time went."""
        seconds: dict[str, float] = {}
        graph = load_graph(engine, settings, extra_types, seconds)
        salt = workspace_salt(engine)
        index = cls(graph, settings, extra_types=extra_types, phone_region=phone_region, salt=salt)
        index.load_seconds = seconds
        return index

    # -- resolving -----------------------------------------------------------------

    def resolve(self, record: LiveRecord, *, at: datetime) -> Resolution:
        """Resolve one record; ``at`` stamps the merges it causes."""
        key = (record.source, record.record_id)
        if key in self._records:  # ingest keeps the first event of an id
            return Resolution(self._uid_of(self._records[key]), False, (), (), ())
        graph = self._graph
        ts = _micros(record.ts)
        ids, fresh, refused, older = self._identifiers(record, ts)
        members = tuple(sorted(ids))
        self._records[key] = members
        self._log.records.append(key)
        linking, shared = False, []
        if len(members) > 1 and graph.find_signature(members) is None:
            graph.add_signature(members)
            linking = len(graph.usable(members)) > 1
            shared = self._newly_shared(members)
        born = [node for node in fresh if graph.status[node] == OK]
        changes: list[tuple[str, str | None, str]] = []
        old_uids: set[str] = set()
        if born or linking or shared or older:
            changes, old_uids = self._recompute(members, shared, at)
        uid = self._uid_of(members)
        for node in members:
            reason = {BLOCKED: "blocked", SHARED: "shared"}.get(graph.status[node])
            if reason is None and graph.uids[node] != uid:
                reason = "limit"
            if reason is not None:
                refused.append(Refusal(*graph.key(node), reason))
        return Resolution(
            uid=uid,
            new_person=uid is not None and bool(born or changes) and uid not in old_uids,
            new_identifiers=tuple(graph.key(node) for node in born),
            changes=tuple(UidChange(*change) for change in changes),
            refused=tuple(refused),
        )

    def uid(self, id_type: str, raw: str) -> str | None:
        """The UID of an identifier (normalised as ingest does), None when nobody holds it."""
        value = normalise(id_type, raw, self.phone_region) if id_type in self._types else None
        node = None if value is None else self._graph.find(self._graph.code(id_type), value)
        return None if node is None else self._graph.uids[node]

    def _identifiers(self, record: LiveRecord, ts: int) -> tuple[list[int], list[int], list[Refusal], bool]:
        """The record's identifier ids (new ones added), the new ones, the invalid ones, and
        whether a usable identifier was seen earlier than ever before."""
        graph = self._graph
        ids: list[int] = []
        refused: list[Refusal] = []
        unknown: list[tuple[int, str]] = []
        older = False
        for id_type in record.identifiers:  # all checked before anything changes
            if id_type not in self._types:
                raise UsageError(
                    f"record {record.source}:{record.record_id}: identifier type {id_type!r} is not stored by "
                    f"ingest; use one of {', '.join(sorted(self._types))} (custom types must be mapped by a source)"
                )
        for id_type, raw in record.identifiers.items():
            value = None if raw is None else normalise(id_type, raw, self.phone_region)
            if value is None:
                if raw is not None and trim(raw):
                    refused.append(Refusal(id_type, raw, "invalid"))
                continue
            code = graph.code(id_type)
            node = graph.find(code, value)
            if node is None:
                unknown.append((code, value))
                continue
            ids.append(node)
            if ts < graph.first_seen[node]:
                graph.first_seen[node] = ts
                older = older or graph.status[node] == OK
        fresh = []
        if unknown:
            blocked = self._blocker.blocked([value for _, value in unknown])
            for (code, value), hit in zip(unknown, blocked, strict=True):
                fresh.append(graph.add(code, value, ts, BLOCKED if hit else OK))
            self._log.born.update(fresh)
        return ids + fresh, fresh, refused, older

    def _newly_shared(self, members: tuple[int, ...]) -> list[int]:
        """Usable identifiers of a new signature now seen with more than ``shared_max`` values
        of another limited type (``graph.shared_sql``)."""
        graph = self._graph
        found = []
        for node in members:
            code = graph.types[node]
            if graph.status[node] != OK or graph.type_names[code] == RECORD_TYPE:
                continue
            limited = {graph.types[other] for other in members if graph.types[other] in self._limits} - {code}
            for kind in limited:
                values = {o for sig in graph.signatures_of(node) for o in graph.members(sig) if graph.types[o] == kind}
                if len(values) > self.settings.shared_max:
                    found.append(node)
                    break
        return found

    def _recompute(
        self, members: tuple[int, ...], shared: Sequence[int], at: datetime
    ) -> tuple[list[tuple[str, str | None, str]], set[str]]:
        """Resolve the components the record touches; returns the merges rows and the old UIDs."""
        graph = self._graph
        seeds = set(graph.usable(members))
        gone: dict[int, str | None] = {}
        for node in shared:
            gone[node] = graph.uids[node]
            graph.status[node], graph.uids[node] = SHARED, None
            seeds.discard(node)
            for sig in graph.signatures_of(node):  # its records re-anchor: their others are touched
                seeds.update(graph.usable(graph.members(sig)))
        parts: dict[int, int] = {}
        for nodes, sigs in self._components(seeds):
            parts.update(self._parts(nodes, sigs))
        before: dict[int, str | None] = {node: graph.uids[node] for node in parts}
        people = [Member(*graph.key(n), graph.first_seen[n], before[n], part) for n, part in parts.items()]
        uids, changes = assign(people, [uid for uid in gone.values() if uid is not None], self._salt)
        after: dict[int, str | None] = {node: uids[part] for node, part in parts.items()}
        for node, uid in after.items():
            graph.uids[node] = uid
        before.update(gone)
        after.update(dict.fromkeys(gone))
        self._log.observe(before, after, changes, at)
        return changes, {uid for uid in before.values() if uid is not None}

    def _components(self, seeds: set[int]) -> list[tuple[list[int], set[int]]]:
        """The connected components (usable identifiers, signatures) holding the seeds."""
        graph = self._graph
        seen: set[int] = set()
        found = []
        for seed in sorted(seeds):
            if seed in seen:
                continue
            seen.add(seed)
            nodes, sigs, stack = [seed], set(), [seed]
            while stack:
                for sig in graph.signatures_of(stack.pop()):
                    if sig in sigs:
                        continue
                    sigs.add(sig)
                    for other in graph.members(sig):
                        if other not in seen and graph.status[other] == OK:
                            seen.add(other)
                            nodes.append(other)
                            stack.append(other)
            found.append((nodes, sigs))
        return found

    def _parts(self, nodes: list[int], sigs: set[int]) -> dict[int, int]:
        """Each identifier's part (labelled by one of its ids): the component, or, when it breaks a
        per-type limit, the batch's constrained union-find over its links (``limits.rebuild``)."""
        graph = self._graph
        counts = Counter(graph.types[node] for node in nodes if graph.types[node] in self._limits)
        if all(count <= self._limits[code] for code, count in counts.items()):
            return dict.fromkeys(nodes, min(nodes))
        order = sorted(nodes, key=graph.key)  # batch node numbers follow type and value
        local = {node: number for number, node in enumerate(order)}
        edges: set[tuple[int, int, int]] = set()
        for sig in sigs:
            usable = graph.usable(graph.members(sig))
            if len(usable) > 1:
                anchor = min(usable, key=graph.trust)
                edges.update(
                    (local[anchor], local[o], max(graph.rank(anchor), graph.rank(o))) for o in usable if o != anchor
                )
        links = sorted(edges)
        rebuilt = rebuild(
            pa.table({"node": list(range(len(order))), "id_type": [graph.key(node)[0] for node in order]}),
            pa.table(
                {"a": [a for a, _, _ in links], "b": [b for _, b, _ in links], "rank": [r for _, _, r in links]},
                schema=pa.schema([("a", pa.int64()), ("b", pa.int64()), ("rank", pa.int64())]),
            ),
            self.settings.limits,
        )
        return {order[number]: order[label] for number, label in rebuilt.labels.items()}

    def _uid_of(self, members: Sequence[int]) -> str | None:
        """A record's UID: its anchor's (``resolve._record_map_sql``)."""
        anchor = self._graph.anchor(members)
        return None if anchor is None else self._graph.uids[anchor]

    # -- writing back --------------------------------------------------------------

    def pending(self) -> WriteBack:
        """What :meth:`write_back` would write now."""
        graph, log = self._graph, self._log
        mapped: list[tuple[str, str, str]] = []
        deleted: list[tuple[str, str]] = []
        for node in sorted(log.nodes):
            id_type, value = graph.key(node)
            if node not in log.born:
                deleted.append((id_type, value))
            uid = graph.uids[node]
            if uid is not None:
                mapped.append((id_type, value, uid))
        return WriteBack(
            identity_map=mapped,
            deleted=deleted,
            record_map=[(*key, self._uid_of(self._records[key])) for key in log.records],
            merges=list(log.merges),
            renamed={start: goes for start, goes in log.target.items() if goes is not None and goes != start},
            recheck=frozenset(start for start, goes in log.target.items() if goes is None),
        )

    def write_back(self, engine: Engine) -> WriteBack:
        """Write what changed since the last write-back to the store, in one transaction; on
        failure nothing is written and the changes stay pending."""
        back = self.pending()
        with engine.transaction():
            leftover = write(engine, back, self.settings, self.extra_types)
            rows = {key: self._uid_of(self._records[key]) for key in leftover if key in self._records}
            rows.update({(source, record_id): uid for source, record_id, uid in back.record_map})
            write_records(engine, [(*key, uid) for key, uid in rows.items()])
        self._log.clear()
        return back

    @property
    def size(self) -> dict[str, int]:
        """Identifiers, signatures and live records held."""
        identifiers, signatures = self._graph.size
        return {"identifiers": identifiers, "signatures": signatures, "records": len(self._records)}


def _micros(ts: datetime) -> int:
    """Microseconds since the epoch of the time ingest stores: an aware time counts as its
    wall-clock time, as ingest reads an ISO time with an offset (UTC ones alike)."""
    return (ts.replace(tzinfo=None) - EPOCH) // MICROSECOND
