"""The people live processing keeps in memory: each one's :class:`LiveTraits` and open segment
stays, loaded from the store the first time an event names them and kept, most recently used first.

A person's live traits are folded from what batch folds for them: their events (through
``record_map``, as ``events_with_uid_sql`` finds them), the lines of their orders, and their
customer records. Loading reads the store once for all the people a micro-batch touches that
are not held yet, inside the processor's transaction, so the rows it has just inserted are
part of what is read. A person whose UID a merge or split changed is dropped and read again:
their events are now another set.

Memory is bounded by ``capacity`` people (``[server] live_people``); the least recently used
are dropped and read again when they come back. A buyer of the demo world (about 10 events
and their order lines) takes about 120 KB held (measured with tracemalloc over 1,000 of them):
the per-day folds keep every row a trait might need again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

from personae.engine.base import Engine
from personae.profiles.live import LiveTraits
from personae.profiles.orders import EVENT_RECORD_ID
from personae.profiles.specs import TraitsConfig

WANTED = "_live_wanted"


def _rows_sql() -> tuple[str, str, str]:
    """Three statements over ``_live_wanted(uid)``: the people's own events, the lines of their
    orders, and their customer records, each with the owner's ``uid``."""
    events = (
        f"SELECT w.uid, e.* FROM events AS e JOIN record_map AS m ON m.source = e.source "
        f"AND m.record_id = {EVENT_RECORD_ID} JOIN {WANTED} AS w ON w.uid = m.uid WHERE e.type <> 'order_item'"
    )
    lines = (
        f"SELECT w.uid, l.* FROM events AS l JOIN events AS e ON e.type = 'order' AND e.order_id = l.order_id "
        f"JOIN record_map AS m ON m.source = e.source AND m.record_id = e.order_id "
        f"JOIN {WANTED} AS w ON w.uid = m.uid WHERE l.type = 'order_item'"
    )
    records = (
        "SELECT w.uid, c.* FROM customer_records AS c JOIN record_map AS m ON m.source = c.source "
        f"AND m.record_id = c.record_id JOIN {WANTED} AS w ON w.uid = m.uid"
    )
    return events, lines, records


class LivePeople:
    """Each held person's live traits, by UID, at most ``capacity`` of them."""

    def __init__(self, config: TraitsConfig, *, capacity: int = 10_000) -> None:
        self.config = config
        self.capacity = capacity
        self._held: OrderedDict[str, LiveTraits] = OrderedDict()
        self._segments: dict[str, dict[str, set[str]]] = {}
        """Each held person's open stays: segmentation -> segments (read with their events)."""
        self.loaded = 0
        """People read from the store so far (a measure of how well the cache holds)."""

    def __len__(self) -> int:
        return len(self._held)

    def forget(self, uids: Iterable[str]) -> None:
        """Drop people whose events changed under them (merged, split, retired)."""
        for uid in uids:
            self._held.pop(uid, None)
            self._segments.pop(uid, None)

    def clear(self) -> None:
        self._held.clear()
        self._segments.clear()

    def held(self, uid: str) -> bool:
        return uid in self._held

    def adopt(self, uid: str) -> None:
        """Hold a person new to the store: they have no stored events or records to read."""
        self._held.setdefault(uid, LiveTraits(self.config))
        self._segments.setdefault(uid, {})

    def segments(self, uid: str) -> dict[str, set[str]]:
        """A held person's open stays, segmentation -> segments."""
        return self._segments[uid]

    def moved(self, uid: str, segmentation: str, segment: str, change: str) -> None:
        """A held person entered or left a segment (as just recorded)."""
        held = self._segments.get(uid)
        if held is None:
            return
        if change == "entered":
            held.setdefault(segmentation, set()).add(segment)
        else:
            held.get(segmentation, set()).discard(segment)

    def fold(self, uid: str, event: dict[str, Any]) -> None:
        """Fold one new event into a held person (a person not held is read whole later)."""
        traits = self._held.get(uid)
        if traits is not None:
            traits.add_event(event)

    def traits(self, engine: Engine, uids: Sequence[str]) -> dict[str, LiveTraits]:
        """The live traits of ``uids``, reading the ones not held from the store."""
        missing = [uid for uid in dict.fromkeys(uids) if uid not in self._held]
        if missing:
            self._load(engine, missing)
        found: dict[str, LiveTraits] = {}
        for uid in uids:
            self._held.move_to_end(uid)
            found[uid] = self._held[uid]
        while len(self._held) > max(self.capacity, len(found)):
            dropped, _ = self._held.popitem(last=False)
            self._segments.pop(dropped, None)
        return found

    def _load(self, engine: Engine, uids: list[str]) -> None:
        engine.register_arrow(WANTED, pa.table({"uid": pa.array(uids, pa.string())}))
        people = {uid: LiveTraits(self.config) for uid in uids}
        events, lines, records = _rows_sql()
        for sql, records_kind in ((events, False), (lines, False), (records, True)):  # ingest's tables: always made
            for row in engine.fetch_arrow(sql).to_pylist():
                person = people[row.pop("uid")]
                if records_kind:
                    person.add_record(row)
                else:
                    person.add_event(row)
        segments: dict[str, dict[str, set[str]]] = {uid: {} for uid in uids}
        if engine.has_table("memberships"):
            stays = engine.fetch_rows(
                f"SELECT m.uid, m.segmentation, m.segment FROM memberships AS m JOIN {WANTED} AS w ON w.uid = m.uid "
                "WHERE m.exited_at IS NULL"
            )
            for uid, segmentation, segment in stays:
                segments[str(uid)].setdefault(str(segmentation), set()).add(str(segment))
        self._held.update(people)
        self._segments.update(segments)
        self.loaded += len(people)
