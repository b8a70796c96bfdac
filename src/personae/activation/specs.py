"""Destination specs (``[[destinations]]`` in ``personae.toml``): frozen data, no engine.

Every kind has one spec class, a subclass of :class:`DestinationSpec` whose ``kind`` is a
literal; :mod:`personae.activation.kinds` lists them, and the config validates each
``[[destinations]]`` table against the class its ``kind`` names. What a destination
receives is common to every kind: memberships of segmentations or of single segments,
trait (or golden-record, or score) values, and next actions.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from personae.privacy.hashing import PhoneFormat
from personae.segments.specs import segment_external_id as segment_external_id  # its home: the segments floor
from personae.spec import NAME_PATTERN, Spec

SyncMode = Literal["run", "live"]


class DestinationSpec(Spec):
    """What every destination declares, whatever its kind."""

    name: str = Field(pattern=NAME_PATTERN)
    kind: str
    segmentations: tuple[str, ...] = ()
    """Every segment of these segmentations is sent (entries and exits)."""
    segments: tuple[str, ...] = ()
    """Single segments, as ``segmentation/segment`` (a rule segment: ``rules/name``)."""
    traits: tuple[str, ...] = ()
    """Profile columns sent when they change: traits, golden-record attributes, model scores."""
    actions: bool = False
    """Send each person's next best action (per channel) when it changes."""
    purpose: str | None = None
    """The consent purpose this destination serves (``email_marketing``, ``advertising``, …):
    only people with consent to it are sent, and a withdrawal sends their exits."""
    hash_identifiers: bool = False
    """Send the ``email`` and ``phone`` traits as the SHA-256 of their normalised values, as
    advertising platforms match them (:mod:`personae.privacy.hashing`)."""
    phone_format: PhoneFormat = "e164"
    """What a hashed phone is the hash of: ``e164`` (``+14155550100``, Google) or ``digits``
    (``14155550100``, Meta)."""
    mode: SyncMode = "run"
    """``run``: synced after every batch run and by ``personae sync``; ``live``: also by
    ``personae serve`` as changes happen."""
    holdout: float = Field(0.0, ge=0.0, lt=1.0)
    """The share of people held out of this destination (a stable hash of UID and name), to
    measure its effect with ``personae experiments report``."""
    batch_size: int = Field(1000, ge=1)
    """Changes per request or write."""

    @field_validator("segments")
    @classmethod
    def _qualified(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if item.count("/") != 1 or not all(item.split("/")):
                raise ValueError(
                    f"segment {item!r}: name it as 'segmentation/segment', e.g. 'rfm/Champions' "
                    "or 'rules/big_spenders' for a rule segment"
                )
        return value

    def receives_anything(self) -> bool:
        return bool(self.segmentations or self.segments or self.traits or self.actions)

    def selected_segments(self) -> list[tuple[str, str | None]]:
        """(segmentation, segment or None for all of it) of every membership it receives."""
        chosen: list[tuple[str, str | None]] = [(name, None) for name in self.segmentations]
        chosen += [(item.split("/")[0], item.split("/")[1]) for item in self.segments]
        return chosen
