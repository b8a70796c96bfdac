"""What a destination kind implements, and what the delivery loop hands it.

A kind is one module in :mod:`personae.activation.kinds` holding a spec class (a
:class:`~personae.activation.specs.DestinationSpec` with a literal ``kind``) and a class
with the four methods of :class:`Destination`; its ``KIND`` names both. The loop
(:mod:`personae.activation.delivery`) opens it, sends batches in order, commits the
cursor after each batch the destination accepted, and lets it write a snapshot at the end.

A destination raises :class:`~personae.errors.DestinationUnreachable` when it gives up
after its own retries (the changes wait for the next sync), and
:class:`~personae.errors.DestinationError` when it cannot take them at all (a wrong
table schema); changes it refuses one by one go back in :attr:`Sent.dead` with a reason
and are dead-lettered, so one bad change does not block the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

from personae.activation.feed import ChangeBatch

if TYPE_CHECKING:
    from personae.activation.specs import DestinationSpec


@dataclass(frozen=True)
class DeliveryContext:
    """What a destination may need beyond its spec: the workspace folder (for relative paths)
    and the environment (for secrets and DSNs named by ``*_env`` keys, never stored)."""

    root: Path
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Sent:
    """What a destination did with a batch: every change delivered except those in ``dead``."""

    dead: dict[str, str] = field(default_factory=dict)
    """Idempotency key -> why the change can never be delivered."""


class Snapshot(Protocol):
    """The destination's whole current state, read from the store at the end of a sync."""

    def memberships(self) -> pa.Table: ...

    def states(self) -> dict[str, pa.Table]: ...


class Destination(Protocol):
    def open(self) -> None:
        """Connect and check (reachable, schema right) before anything is read or sent."""

    def send(self, batch: ChangeBatch) -> Sent:
        """Deliver one batch, all or each change dead-lettered; raise when it cannot now."""

    def finish(self, snapshot: Snapshot) -> None:
        """After every batch: write a full snapshot where the kind keeps one (else nothing)."""

    def forget(self, uids: list[str], request_id: str) -> str:
        """Delete these people at the destination (an erasure); returns what was done, in a few
        words, for the receipt. Raise as :meth:`send` does when it cannot now."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class DestinationKind:
    """One kind: its spec class and how to make a destination from a spec."""

    spec: type[DestinationSpec]
    make: Callable[[Any, DeliveryContext], Destination]
