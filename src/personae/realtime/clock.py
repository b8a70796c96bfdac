"""Event time: ISO 8601 parsing, Segment's clock-skew correction, and the out-of-range policy.

Segment keeps four times per message (Spec: Common Fields, "Timestamps"): the client's
``timestamp`` is kept as ``originalTimestamp``; ``sentAt`` is the client clock when the
request left; ``receivedAt`` is the server clock; and the ``timestamp`` used downstream is

    timestamp = receivedAt - (sentAt - originalTimestamp)

so that a phone whose clock is an hour wrong still gets its events at the right time (the
gap between sending and receiving is taken as nil). Without ``sentAt`` the client's time
is used as is (historical imports); without a client time the event happened when it was
received.

Policy for times that cannot be right, chosen so that no event is ever lost:

- a corrected time more than ``future`` (10 minutes) after ``receivedAt``, or before
  ``earliest`` (2000-01-01), is set to ``receivedAt``; the client's value stays in
  ``originalTimestamp`` and the message is flagged (``timestamp_future`` /
  ``timestamp_past``). Rejecting the event would lose it (the SDKs drop a batch answered
  with a 4xx); keeping a time in 2099 would make it the customer's "last event" for
  decades and every recency trait negative. Ten minutes covers callers that send no
  ``sentAt`` from a slightly fast clock; 2000 is before any digital customer history a
  workspace imports, and after the clocks that reset to 1970 or to year 1.
- an unparseable client time (``"yesterday"``, a number, ``"2015-2-30"``) is treated as
  absent and flagged ``timestamp_invalid``; an unparseable ``sentAt`` disables the
  correction and is flagged ``sent_at_invalid``. The values are kept as sent.

Parsing takes what ``datetime.fromisoformat`` takes (every well-formed ISO 8601 time, in C:
0.6-1 µs against 6-8 µs for the regex alone), then what clients send sloppily: 1-2 digit
month/day/hour (Segment's own docs show ``2015-2-02T00:30:08.276Z``), surrounding spaces, any
number of fractional digits (truncated to microseconds). A time without an offset is UTC,
as the SDKs assume for naive datetimes they cannot place.
Output is ``YYYY-MM-DDTHH:MM:SS.mmmZ``, Segment's own format, which DuckDB's JSON extraction
and ``CAST(... AS TIMESTAMPTZ)`` read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

ISO_8601 = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[Tt ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(?:[Zz]|([+-])(\d{2}):?(\d{2})?)?"
)


@dataclass(frozen=True)
class TimePolicy:
    """How far from the server clock a corrected event time may be before it is clamped."""

    future: timedelta = timedelta(minutes=10)
    earliest: datetime = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class EventTime:
    """The resolved ``timestamp`` of one message and the flags that explain it."""

    timestamp: datetime
    flags: tuple[str, ...]


def parse_time(value: Any) -> datetime | None:
    """An aware UTC datetime from an ISO 8601 string, or ``None`` when it is not one.

    >>> parse_time("2012-12-02T01:30:08.276+01:00").isoformat()
    '2012-12-02T00:30:08.276000+00:00'
    >>> parse_time("2015-2-02T00:30:08Z").isoformat(), parse_time(1354408208)
    ('2015-02-02T00:30:08+00:00', None)
    """
    if not isinstance(value, str):
        return None
    try:  # C, several times faster than the regex; takes every well-formed ISO 8601 time
        moment: datetime | None = datetime.fromisoformat(value)
    except ValueError:
        moment = _sloppy_time(value)
    if moment is None:
        return None
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:  # year 1 with a negative offset, year 9999 with a positive one
        return None


def _sloppy_time(text: str) -> datetime | None:
    """What ``fromisoformat`` refuses but clients send: 1-digit fields, spaces, offsets like ``+01``."""
    match = ISO_8601.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, sign, off_h, off_m = match.groups()
    zone = None
    if sign is not None:
        offset = timedelta(hours=int(off_h), minutes=int(off_m or 0))
        if offset >= timedelta(hours=24):
            return None
        zone = timezone(-offset if sign == "-" else offset)
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        return datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micro, tzinfo=zone
        )
    except ValueError:
        return None


def format_time(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC.

    >>> format_time(datetime(2012, 12, 2, 1, 30, 8, 276999, tzinfo=timezone(timedelta(hours=1))))
    '2012-12-02T00:30:08.276Z'
    """
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def event_time(original: Any, sent_at: Any, received_at: datetime, policy: TimePolicy) -> EventTime:
    """The skew-corrected, range-checked ``timestamp`` of one message (see the module doc)."""
    flags: list[str] = []
    client = parse_time(original)
    if original is not None and client is None:
        flags.append("timestamp_invalid")
    sent = parse_time(sent_at)
    if sent_at is not None and sent is None:
        flags.append("sent_at_invalid")
    if client is None:
        return EventTime(received_at, tuple(flags))
    held = timedelta(0) if sent is None else sent - client  # as the client clock measured it
    try:
        moment: datetime | None = client if sent is None else received_at - held
    except OverflowError:  # before year 1 or after 9999
        moment = None
    if moment is None:
        flags.append("timestamp_past" if held > timedelta(0) else "timestamp_future")
    elif moment > received_at + policy.future:
        flags.append("timestamp_future")
    elif moment < policy.earliest:
        flags.append("timestamp_past")
    else:
        return EventTime(moment, tuple(flags))
    return EventTime(received_at, tuple(flags))
