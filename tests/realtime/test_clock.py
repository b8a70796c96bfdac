"""Event time: ISO 8601 parsing, Segment's skew correction, the clamp-and-flag policy."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from personae.realtime import clock
from personae.realtime.clock import TimePolicy, event_time, format_time, parse_time

RECEIVED = datetime(2025, 3, 4, 12, 0, 0, tzinfo=UTC)
POLICY = TimePolicy()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2012-12-02T00:30:08.276Z", datetime(2012, 12, 2, 0, 30, 8, 276000, tzinfo=UTC)),
        ("2012-12-02T01:30:08.276+01:00", datetime(2012, 12, 2, 0, 30, 8, 276000, tzinfo=UTC)),
        ("2012-12-01T19:30:08-0500", datetime(2012, 12, 2, 0, 30, 8, tzinfo=UTC)),
        ("2012-12-02T05:30:08+05", datetime(2012, 12, 2, 0, 30, 8, tzinfo=UTC)),
        ("2012-12-02 00:30:08", datetime(2012, 12, 2, 0, 30, 8, tzinfo=UTC)),
        ("2015-2-02T00:30:08.276Z", datetime(2015, 2, 2, 0, 30, 8, 276000, tzinfo=UTC)),
        ("2012-12-02T00:30:08.123456789Z", datetime(2012, 12, 2, 0, 30, 8, 123456, tzinfo=UTC)),
        ("2012-12-02", datetime(2012, 12, 2, tzinfo=UTC)),
        (" 2026-12-02T00:31:39.709+00:00 ", datetime(2026, 12, 2, 0, 31, 39, 709000, tzinfo=UTC)),
    ],
)
def test_iso_8601_with_offsets_parses_to_utc(text: str, expected: datetime) -> None:
    parsed = parse_time(text)
    assert parsed == expected
    assert parsed is not None and parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "value",
    ["yesterday", "2015-02-30T00:00:00Z", "2015-01-01T25:00:00Z", "2015-01-01T00:00:00+24:00", 1354408208, None],
)
def test_what_is_not_an_iso_time_is_none(value: Any) -> None:
    assert parse_time(value) is None


def test_format_is_utc_milliseconds_with_z() -> None:
    assert format_time(datetime(2025, 3, 4, 13, 0, 0, 123999, tzinfo=clock.timezone(timedelta(hours=1)))) == (
        "2025-03-04T12:00:00.123Z"
    )


def test_skew_correction_by_hand() -> None:
    # The phone's clock is 5 minutes fast: it says the event happened at 12:04:30 and the
    # batch left at 12:05:00, so the event happened 30 s before sending; the server received
    # the batch at 12:00:00, so the event happened at 11:59:30.
    resolved = event_time("2025-03-04T13:04:30+01:00", "2025-03-04T12:05:00Z", RECEIVED, POLICY)
    assert resolved.timestamp == datetime(2025, 3, 4, 11, 59, 30, tzinfo=UTC)
    assert resolved.flags == ()


def test_without_sent_at_the_client_time_is_kept() -> None:
    resolved = event_time("2024-01-01T00:00:00Z", None, RECEIVED, POLICY)
    assert resolved.timestamp == datetime(2024, 1, 1, tzinfo=UTC)


def test_without_a_client_time_the_event_happened_when_received() -> None:
    assert event_time(None, "2025-03-04T11:00:00Z", RECEIVED, POLICY).timestamp == RECEIVED


def test_a_far_future_time_is_clamped_to_received_and_flagged() -> None:
    resolved = event_time("2099-01-01T00:00:00Z", None, RECEIVED, POLICY)
    assert (resolved.timestamp, resolved.flags) == (RECEIVED, ("timestamp_future",))


def test_a_time_in_the_future_that_sent_at_explains_is_corrected_not_clamped() -> None:
    # Device clock set to 2099: sentAt shows the same skew, the correction brings it back.
    resolved = event_time("2099-01-01T00:00:00Z", "2099-01-01T00:00:10Z", RECEIVED, POLICY)
    assert (resolved.timestamp, resolved.flags) == (RECEIVED - timedelta(seconds=10), ())


def test_an_event_after_its_own_sending_is_clamped() -> None:
    resolved = event_time("2025-03-05T12:00:00Z", "2025-03-04T12:00:00Z", RECEIVED, POLICY)
    assert (resolved.timestamp, resolved.flags) == (RECEIVED, ("timestamp_future",))


def test_a_few_minutes_ahead_is_tolerated() -> None:
    ahead = RECEIVED + timedelta(minutes=9)
    assert event_time(format_time(ahead), None, RECEIVED, POLICY).timestamp == ahead


def test_far_past_is_clamped_and_history_is_kept() -> None:
    epoch = event_time("1970-01-01T00:00:00Z", None, RECEIVED, POLICY)
    assert (epoch.timestamp, epoch.flags) == (RECEIVED, ("timestamp_past",))
    history = event_time("2001-06-01T00:00:00Z", None, RECEIVED, POLICY)
    assert (history.timestamp, history.flags) == (datetime(2001, 6, 1, tzinfo=UTC), ())


def test_a_correction_beyond_the_calendar_is_clamped_not_raised() -> None:
    resolved = event_time("0001-01-01T00:00:00Z", "9999-12-31T00:00:00Z", RECEIVED, POLICY)
    assert (resolved.timestamp, resolved.flags) == (RECEIVED, ("timestamp_past",))
    resolved = event_time("9999-12-31T00:00:00Z", "0001-01-01T00:00:00Z", RECEIVED, POLICY)
    assert (resolved.timestamp, resolved.flags) == (RECEIVED, ("timestamp_future",))


def test_unparseable_times_are_flagged_and_never_refused() -> None:
    bad_time = event_time("last tuesday", "2025-03-04T12:00:00Z", RECEIVED, POLICY)
    assert (bad_time.timestamp, bad_time.flags) == (RECEIVED, ("timestamp_invalid",))
    bad_sent = event_time("2025-03-04T11:00:00Z", 12345, RECEIVED, POLICY)
    assert (bad_sent.timestamp, bad_sent.flags) == (datetime(2025, 3, 4, 11, tzinfo=UTC), ("sent_at_invalid",))


def test_docstring_examples_run() -> None:
    assert doctest.testmod(clock, raise_on_error=True).attempted >= 3
