"""Stable UIDs: a person keeps their UID when data arrives, merges and splits are recorded.

Given this run's components and the previous ``identity_map``:

- an old UID belongs to the component holding its oldest previous member (oldest by first
  seen, then type and value);
- a component takes the oldest of the UIDs it owns; the others it owns are merged into it;
- a component that owns none gets a new UID derived from its oldest member (a salted hash,
  so a full run and an incremental run derive the same one), and any old UID among its
  members that another component owns is recorded as split off into it;
- an old UID with no member left is recorded as removed.

The rules exist twice: as SQL over whole tables for the batch step, and as :func:`assign`,
in Python over the few identifiers one event touches, for the live index
(:mod:`personae.identity.live`). Tests run both on the same components and compare.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from personae.engine.sql import literal, timestamp_sql

Change = tuple[str, str | None, str]
"""A ``merges`` row without its time: (old_uid, new_uid, reason)."""


def _aged(nodes: str, labels: str, previous: str) -> str:
    """Each node with its component, old UID and ``age``, a key that orders nodes oldest first.

    The age is a struct (first seen, node), unique per node, which ``arg_min`` compares
    directly. Node numbers follow type and value (``graph.identifiers_sql``), so it orders
    nodes as (first seen, type, value) does, without comparing strings. A global
    ``row_number()`` window over every node cost three times as much as the struct.
    """
    return (
        "SELECT n.node, l.component, p.uid AS old_uid, struct_pack(seen := n.first_seen, node := n.node) AS age "
        f"FROM {nodes} AS n JOIN {labels} AS l ON n.node = l.node "
        f"LEFT JOIN {previous} AS p ON p.id_type = n.id_type AND p.id_value = n.id_value"
    )


def assignment_sql(nodes: str, labels: str, previous: str, salt: str) -> str:
    """(component, uid) for every component."""
    aged = _aged(nodes, labels, previous)
    owners = (
        "SELECT old_uid, arg_min(component, age) AS component, min(age) AS age "
        f"FROM ({aged}) AS a WHERE old_uid IS NOT NULL GROUP BY old_uid"
    )
    survivors = f"SELECT component, arg_min(old_uid, age) AS uid FROM ({owners}) AS o GROUP BY component"
    oldest = f"SELECT component, arg_min(node, age) AS node FROM ({aged}) AS a GROUP BY component"
    founders = (  # the key text is built for one node per component, not for every node
        f"SELECT o.component, n.id_type || ':' || n.id_value AS founder FROM ({oldest}) AS o "
        f"JOIN {nodes} AS n ON n.node = o.node"
    )
    new_uid = f"'p' || substr(md5({literal(salt)} || f.founder), 1, 15)"
    return (
        f"SELECT f.component, coalesce(s.uid, {new_uid}) AS uid "
        f"FROM ({founders}) AS f LEFT JOIN ({survivors}) AS s ON f.component = s.component"
    )


def changes_sql(nodes: str, labels: str, previous: str, assignment: str, at: str) -> str:
    """Rows for ``merges``: (old_uid, new_uid, at, reason) for merges, splits and removals."""
    aged = _aged(nodes, labels, previous)
    stamp = f"{timestamp_sql(at)}"
    moved = (
        "SELECT DISTINCT a.old_uid, s.uid AS new_uid FROM "
        f"({aged}) AS a JOIN {assignment} AS s ON a.component = s.component "
        "WHERE a.old_uid IS NOT NULL AND a.old_uid <> s.uid"
    )
    still = f"SELECT DISTINCT uid FROM {assignment}"
    merged = (
        f'SELECT m.old_uid, m.new_uid, {stamp} AS "at", '
        "CASE WHEN m.old_uid IN (SELECT uid FROM " + f"({still}) AS k) THEN 'split' ELSE 'merge' END AS reason "
        f"FROM ({moved}) AS m"
    )
    removed = (
        f"SELECT DISTINCT p.uid AS old_uid, CAST(NULL AS VARCHAR) AS new_uid, {stamp} AS \"at\", 'removed' AS reason "
        f"FROM {previous} AS p WHERE p.uid NOT IN (SELECT uid FROM ({still}) AS k) "
        f"AND p.uid NOT IN (SELECT old_uid FROM ({moved}) AS m)"
    )
    return f"{merged} UNION ALL {removed}"


def derived_uid(salt: str, id_type: str, id_value: str) -> str:
    """The UID a new person gets from its oldest identifier: ``assignment_sql``'s ``new_uid``."""
    return "p" + hashlib.md5(f"{salt}{id_type}:{id_value}".encode(), usedforsecurity=False).hexdigest()[:15]


@dataclass(frozen=True)
class Member:
    """A usable identifier being resolved: its key, when it was first seen (any ordered
    stamp), the UID the previous map gave it, and the part (person) it now belongs to."""

    id_type: str
    id_value: str
    first_seen: int
    old_uid: str | None
    part: int

    def age(self) -> tuple[int, str, str]:
        """Oldest first: first seen, then type and value (the order of batch node numbers)."""
        return (self.first_seen, self.id_type, self.id_value)


def assign(members: Sequence[Member], gone: Iterable[str], salt: str) -> tuple[dict[int, str], list[Change]]:
    """``assignment_sql`` and ``changes_sql`` for a few parts: each part's UID, and the rows
    for ``merges``. ``members`` holds every usable identifier of the parts, which together
    hold every member of each old UID among them; ``gone`` are the old UIDs of identifiers
    that stopped being usable (they are in the previous map, not among the nodes)."""
    owners: dict[str, Member] = {}
    oldest: dict[int, Member] = {}
    for member in members:
        if member.old_uid is not None:
            owner = owners.get(member.old_uid)
            if owner is None or member.age() < owner.age():
                owners[member.old_uid] = member
        first = oldest.get(member.part)
        if first is None or member.age() < first.age():
            oldest[member.part] = member
    survivors: dict[int, tuple[tuple[int, str, str], str]] = {}
    for uid, owner in owners.items():
        held = survivors.get(owner.part)
        if held is None or owner.age() < held[0]:
            survivors[owner.part] = (owner.age(), uid)
    uids = {
        part: survivors[part][1] if part in survivors else derived_uid(salt, first.id_type, first.id_value)
        for part, first in oldest.items()
    }
    moved = {(m.old_uid, uids[m.part]) for m in members if m.old_uid is not None and m.old_uid != uids[m.part]}
    still = set(uids.values())
    changes: list[Change] = [(old, new, "split" if old in still else "merge") for old, new in sorted(moved)]
    previous = {m.old_uid for m in members if m.old_uid is not None} | set(gone)
    left = previous - still - {old for old, _ in moved}
    changes += [(uid, None, "removed") for uid in sorted(left)]
    return uids, changes
