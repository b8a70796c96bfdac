"""The live index's memory: every identifier, and every distinct set of identifiers a record holds.

Batch links identifiers through records: a record's most trusted usable identifier (its
anchor) is linked to each of its others (``graph.edges_sql``). Which records carry an
identifier, and which values of a limited type it was seen with (``graph.shared_sql``),
depend only on the distinct identifier *sets* of records, their **signatures**; so this is
what the index keeps, not the records. A visitor's page views, which carry one identifier,
keep nothing but that identifier. Fuzzy links between customer records, which batch makes
and live does not, are kept as two-record signatures: a link between two record nodes is
exactly the edge such a signature gives.

Layout, for a store of millions of people: the identifiers loaded from the store are
numbered in (type, value) order, the order of batch node numbers, with their type, status,
first-seen stamp (microseconds) and UID in flat arrays; the loaded signatures and their
inverse (identifier -> signatures) are CSR arrays (numpy). What live adds goes to Python
lists and dicts beside them.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from itertools import pairwise

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

OK, BLOCKED, SHARED = 0, 1, 2
STATUSES = ("ok", "blocked", "shared")


class LiveGraph:
    """Identifiers (by id: type, value, status, first seen, UID) and signatures (sorted id tuples)."""

    def __init__(self, rank_of: Callable[[str], int]) -> None:
        self.rank_of = rank_of
        self.type_names: list[str] = []
        self.type_rank: list[int] = []
        self.type_code: dict[str, int] = {}
        self.keys: list[dict[str, int]] = []
        self.values: list[str] = []
        self.types = bytearray()
        self.status = bytearray()
        self.first_seen = array("q")
        self.uids: list[str | None] = []
        self._sig_ptr = np.zeros(1, np.int64)
        self._sig_members = np.zeros(0, np.int32)
        self._inv_ptr = np.zeros(1, np.int64)
        self._inv_sigs = np.zeros(0, np.int32)
        self._loaded_ids = 0
        self._loaded_sigs = 0
        self._live_sigs: list[tuple[int, ...]] = []
        self._live_inv: dict[int, list[int]] = {}

    # -- loading -------------------------------------------------------------------

    def load(self, identifiers: pa.Table, signatures: pa.ChunkedArray | pa.Array) -> None:
        """Fill an empty graph. ``identifiers``: id_type, id_value, first_seen (timestamp),
        status, uid, one row per id in id order; ``signatures``: lists of ids (sorted)."""
        count = identifiers.num_rows
        values: list[str] = identifiers.column("id_value").to_pylist()
        type_text = identifiers.column("id_type").combine_chunks().dictionary_encode()
        remap = np.array([self.code(str(name)) for name in type_text.dictionary.to_pylist()], np.uint8)
        codes = remap[type_text.indices.to_numpy(zero_copy_only=False)] if count else np.zeros(0, np.uint8)
        starts = [*np.flatnonzero(np.diff(codes, prepend=-1)).tolist(), count]
        for start, end in pairwise(starts):
            self.keys[int(codes[start])].update(zip(values[start:end], range(start, end), strict=True))
        self.values = values
        self.types = bytearray(codes.tobytes())
        status = pc.index_in(identifiers.column("status"), pa.array(STATUSES)).to_numpy(zero_copy_only=False)
        self.status = bytearray(np.asarray(status, np.uint8).tobytes())
        seen = pc.cast(pc.cast(identifiers.column("first_seen"), pa.timestamp("us")), pa.int64())
        self.first_seen = array("q", np.asarray(seen.to_numpy(zero_copy_only=False), np.int64).tobytes())
        uid_text = identifiers.column("uid").combine_chunks().dictionary_encode()
        names = uid_text.dictionary.to_pylist()
        self.uids = [None if i < 0 else names[i] for i in uid_text.indices.fill_null(-1).to_numpy().tolist()]
        self._loaded_ids = count
        self._load_signatures(signatures, count)

    def _load_signatures(self, signatures: pa.ChunkedArray | pa.Array, ids: int) -> None:
        lists = signatures.combine_chunks() if isinstance(signatures, pa.ChunkedArray) else signatures
        offsets = np.asarray(lists.offsets.to_numpy(), np.int64)
        self._sig_ptr = offsets - offsets[0]
        self._sig_members = np.asarray(lists.flatten().to_numpy(zero_copy_only=False), np.int32)
        self._loaded_sigs = len(lists)
        owner = np.repeat(np.arange(self._loaded_sigs, dtype=np.int32), np.diff(self._sig_ptr))
        order = np.argsort(self._sig_members, kind="stable")
        self._inv_sigs = owner[order]
        self._inv_ptr = np.zeros(ids + 1, np.int64)
        np.cumsum(np.bincount(self._sig_members, minlength=ids), out=self._inv_ptr[1:])

    def code(self, name: str) -> int:
        """The number of an identifier type (numbered as first met)."""
        code = self.type_code.get(name)
        if code is None:
            code = self.type_code[name] = len(self.type_names)
            self.type_names.append(name)
            self.type_rank.append(self.rank_of(name))
            self.keys.append({})
        return code

    # -- identifiers ---------------------------------------------------------------

    def find(self, code: int, value: str) -> int | None:
        return self.keys[code].get(value)

    def add(self, code: int, value: str, first_seen: int, status: int) -> int:
        """A new identifier; its id."""
        node = len(self.values)
        self.keys[code][value] = node
        self.values.append(value)
        self.types.append(code)
        self.status.append(status)
        self.first_seen.append(first_seen)
        self.uids.append(None)
        return node

    def key(self, node: int) -> tuple[str, str]:
        """(id_type, id_value)."""
        return self.type_names[self.types[node]], self.values[node]

    def trust(self, node: int) -> tuple[int, str, str]:
        """The anchor order of ``graph.anchors_sql``: priority rank, then type and value."""
        code = self.types[node]
        return self.type_rank[code], self.type_names[code], self.values[node]

    def rank(self, node: int) -> int:
        return self.type_rank[self.types[node]]

    def usable(self, nodes: Sequence[int]) -> list[int]:
        return [node for node in nodes if self.status[node] == OK]

    def anchor(self, nodes: Sequence[int]) -> int | None:
        """The most trusted usable identifier among ``nodes``."""
        usable = self.usable(nodes)
        return min(usable, key=self.trust) if usable else None

    # -- signatures ----------------------------------------------------------------

    def members(self, sig: int) -> tuple[int, ...]:
        if sig < self._loaded_sigs:
            return tuple(self._sig_members[self._sig_ptr[sig] : self._sig_ptr[sig + 1]].tolist())
        return self._live_sigs[sig - self._loaded_sigs]

    def signatures_of(self, node: int) -> list[int]:
        """The signatures holding an identifier."""
        loaded: list[int] = []
        if node < self._loaded_ids:
            loaded = self._inv_sigs[self._inv_ptr[node] : self._inv_ptr[node + 1]].tolist()
        live = self._live_inv.get(node)
        return loaded + live if live else loaded

    def _degree(self, node: int) -> int:
        loaded = int(self._inv_ptr[node + 1] - self._inv_ptr[node]) if node < self._loaded_ids else 0
        return loaded + len(self._live_inv.get(node, ()))

    def find_signature(self, members: tuple[int, ...]) -> int | None:
        """The signature with exactly these (sorted) members, looked up from its rarest member."""
        rarest = min(members, key=self._degree)
        for sig in self.signatures_of(rarest):
            if self.members(sig) == members:
                return sig
        return None

    def add_signature(self, members: tuple[int, ...]) -> int:
        sig = self._loaded_sigs + len(self._live_sigs)
        self._live_sigs.append(members)
        for node in members:
            self._live_inv.setdefault(node, []).append(sig)
        return sig

    @property
    def size(self) -> tuple[int, int]:
        """(identifiers, signatures)."""
        return len(self.values), self._loaded_sigs + len(self._live_sigs)
