"""Segment tracking API bodies: validation, normalisation, and journal lines the batch ingest reads."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from personae.errors import InvalidMessage, PersonaeError
from personae.realtime import messages
from personae.realtime.messages import (
    KINDS,
    Call,
    Limits,
    Message,
    journal_line,
    parse_call,
    write_key_from_authorization,
)
from personae.sources.readers import SEGMENT_FIELDS, jsonl_scan_sql, segment_fields_sql

RECEIVED = datetime(2025, 3, 4, 12, 0, 0, tzinfo=UTC)
EVENT_LIMIT = 32 * 1024
BATCH_LIMIT = 500 * 1024
REQUIRED: dict[str, dict[str, Any]] = {
    "identify": {"userId": "u1", "traits": {"email": "jane@example.com"}},
    "track": {"userId": "u1", "event": "Order Completed", "properties": {"revenue": 12.5}},
    "page": {"anonymousId": "a1", "name": "Home"},
    "screen": {"anonymousId": "a1", "name": "Basket"},
    "group": {"userId": "u1", "groupId": "g1", "traits": {"name": "Initech"}},
    "alias": {"userId": "u1", "previousId": "a1"},
}


def call(kind: str, document: Any, **options: Any) -> Call:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    options.setdefault("content_encoding", None)
    return parse_call(kind, body, received_at=RECEIVED, **options)


def one(kind: str, document: dict[str, Any] | bytes) -> Message:
    (message,) = call(kind, document).messages
    return message


def refused(kind: str, document: Any, *, status: int = 400, **options: Any) -> InvalidMessage:
    with pytest.raises(InvalidMessage) as error:
        call(kind, document, **options)
    assert error.value.status == status
    assert isinstance(error.value, PersonaeError) and isinstance(error.value, ValueError)
    return error.value


def sized(size: int, **fields: Any) -> dict[str, Any]:
    """A track message whose compact JSON is exactly ``size`` bytes."""
    message = {"type": "track", "event": "E", "userId": "u", **fields, "properties": {"pad": ""}}
    message["properties"] = {"pad": "x" * (size - len(orjson.dumps(message)))}
    assert len(orjson.dumps(message)) == size
    return message


def nested(levels: int) -> dict[str, Any]:
    """``properties`` with containers down to ``levels`` counting the message as level 1."""
    inner: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 2):
        inner = {"n": inner}
    return {"userId": "u1", "event": "Deep", "properties": inner}


@pytest.mark.parametrize("kind", KINDS)
def test_every_single_call_is_accepted_with_its_endpoint_type(kind: str) -> None:
    message = one(kind, {**REQUIRED[kind], "type": "ignored"})
    assert message.type == kind and message.fields["type"] == kind
    assert message.timestamp == RECEIVED and message.fields["receivedAt"] == "2025-03-04T12:00:00.000Z"


def test_batch_with_mixed_types_keeps_order_and_types() -> None:
    batch = [{"type": kind, **REQUIRED[kind]} for kind in reversed(KINDS)]
    result = call("batch", {"batch": batch})
    assert [message.type for message in result.messages] == list(reversed(KINDS))
    assert result.messages[0].fields["previousId"] == "a1"
    assert result.messages[4].fields["event"] == "Order Completed"
    assert result.messages[5].fields["traits"] == {"email": "jane@example.com"}


@pytest.mark.parametrize(
    ("document", "says"),
    [
        (b'{"batch": [', "not valid JSON"),
        (b"", "not valid JSON"),
        (b'{"userId": "u", "properties": {"x": NaN}}', "not valid JSON"),
        (b'{"userId": "\xff"}', "not valid JSON"),
        (b'["a"]', "JSON array, not an object"),
        (b'"track"', "JSON string, not an object"),
    ],
)
def test_malformed_bodies_are_400(document: bytes, says: str) -> None:
    assert says in str(refused("track", document))


def test_the_surrogate_fallback_decoder_refuses_and_converts_as_orjson_does() -> None:
    lone = '"\\ud83d"'
    assert "nested too deeply" in str(refused("track", ("[" * 5000 + lone + "]" * 5000).encode()))
    assert "out of range" in str(refused("track", f'{{"userId": {lone}, "event": "E", "n": 1e400}}'.encode()))
    assert "NaN is not a JSON value" in str(refused("track", f'{{"userId": {lone}, "event": "E", "n": NaN}}'.encode()))
    huge = one("track", f'{{"userId": {lone}, "event": "E", "n": 123456789012345678901234567890}}'.encode())
    assert huge.fields["n"] == 1.2345678901234568e29 and huge.user_id == "\ufffd"
    assert b"1.2345678901234568e+29" in journal_line(huge, source="web")


def test_a_utf8_byte_order_mark_is_tolerated() -> None:
    assert call("track", b"\xef\xbb\xbf" + json.dumps(REQUIRED["track"]).encode()).messages[0].user_id == "u1"


def test_batch_shape_errors_name_the_message() -> None:
    assert "'batch' list" in str(refused("batch", {"type": "track", **REQUIRED["track"]}))
    error = refused("batch", {"batch": [{"type": "track", **REQUIRED["track"]}, ["no"]]})
    assert error.index == 1 and "batch[1] is a JSON array" in str(error)
    error = refused("batch", {"batch": [{"type": "trak", **REQUIRED["track"]}]})
    assert error.index == 0 and "type 'trak'" in str(error) and "identify, track" in str(error)
    assert "type None" in str(refused("batch", {"batch": [REQUIRED["track"]]}))


@pytest.mark.parametrize("kind", ["identify", "track", "page", "screen", "group"])
def test_neither_user_id_nor_anonymous_id_is_400(kind: str) -> None:
    document = {key: value for key, value in REQUIRED[kind].items() if key not in ("userId", "anonymousId")}
    assert "no_user_anon_id" in str(refused(kind, {**document, "userId": "", "anonymousId": None}))


def test_alias_needs_user_id_and_previous_id_but_no_anonymous_id() -> None:
    assert one("alias", {"userId": "new", "previousId": "old"}).fields["previousId"] == "old"
    assert "'previousId' is missing" in str(refused("alias", {"userId": "new", "anonymousId": "a"}))
    assert "'userId' is missing" in str(refused("alias", {"previousId": "old", "anonymousId": "a"}))


def test_track_needs_an_event_and_group_a_group_id() -> None:
    assert "'event' is missing" in str(refused("track", {"userId": "u"}))
    assert "'event' is missing" in str(refused("track", {"userId": "u", "event": ""}))
    assert "'event' is missing" in str(refused("track", {"userId": "u", "event": 7}))
    assert "'groupId' is missing" in str(refused("group", {"userId": "u"}))


def test_object_fields_must_be_objects() -> None:
    assert "'properties' must be an object, not array" in str(refused("track", {**REQUIRED["track"], "properties": []}))
    assert "'context' must be an object" in str(refused("identify", {"userId": "u", "context": "web"}))
    assert "'name' must be a string" in str(refused("page", {"userId": "u", "name": 3}))


def test_numeric_ids_become_strings_as_javascript_writes_them() -> None:
    message = one("track", {"userId": 42, "anonymousId": 42.0, "event": "E", "messageId": 7, "groupId": 1.5})
    assert (message.user_id, message.anonymous_id, message.message_id) == ("42", "42", "7")
    assert message.fields["userId"] == "42" and message.fields["groupId"] == "1.5"
    assert one("track", {"userId": 18446744073709551615, "event": "E"}).user_id == "18446744073709551615"


@pytest.mark.parametrize("bad", [True, {"id": 1}, [1]])
def test_ids_that_are_not_strings_or_numbers_are_400(bad: Any) -> None:
    assert "'userId' must be a string or a number" in str(refused("track", {"userId": bad, "event": "E"}))


def test_an_empty_id_is_no_id_and_is_not_written() -> None:
    message = one("identify", {"userId": "", "anonymousId": "a1"})
    assert message.user_id is None
    assert "userId" not in orjson.loads(journal_line(message, source="web"))


def test_message_id_is_kept_or_generated() -> None:
    assert one("track", {**REQUIRED["track"], "messageId": "client-1"}).message_id == "client-1"
    first, second = call("batch", {"batch": [{"type": "track", **REQUIRED["track"]}] * 2}).messages
    assert first.message_id != second.message_id
    assert uuid.UUID(first.message_id).version == 4
    assert "100 characters; at most 99" in str(refused("track", {**REQUIRED["track"], "messageId": "m" * 100}))
    assert one("track", {**REQUIRED["track"], "messageId": "m" * 99}).message_id == "m" * 99


def test_single_call_at_32_kib_passes_and_one_byte_more_is_413() -> None:
    assert len(call("track", orjson.dumps(sized(EVENT_LIMIT))).messages) == 1
    error = refused("track", orjson.dumps(sized(EVENT_LIMIT + 1)), status=413)
    assert "a track call may hold at most 32768 bytes" in str(error)


def test_event_in_a_batch_at_32_kib_passes_and_one_byte_more_is_413_with_its_index() -> None:
    ok = [sized(100), sized(EVENT_LIMIT)]
    assert len(call("batch", {"batch": ok}).messages) == 2
    error = refused("batch", {"batch": [sized(100), sized(EVENT_LIMIT + 1)]}, status=413)
    assert error.index == 1
    assert "batch[1] is 32769 bytes" in str(error) and "32768 bytes per event" in str(error)


def test_event_size_counts_utf8_bytes_not_characters() -> None:
    message = sized(EVENT_LIMIT - 1)
    message["properties"]["pad"] = message["properties"]["pad"][:-1] + "é"  # one character, two bytes
    assert len(orjson.dumps(message)) == EVENT_LIMIT + 0
    assert len(call("batch", {"batch": [message]}).messages) == 1
    message["properties"]["pad"] = message["properties"]["pad"][:-1] + "😀"  # four bytes
    assert refused("batch", {"batch": [message]}, status=413).index == 0


def batch_body(size: int) -> bytes:
    """A valid batch body of exactly ``size`` bytes (16 events, padded with trailing spaces)."""
    body = orjson.dumps({"batch": [sized(31_000) for _ in range(16)], "writeKey": "k"})
    assert len(body) <= size
    return body + b" " * (size - len(body))


def test_batch_at_500_kib_passes_and_one_byte_more_is_413() -> None:
    assert len(call("batch", batch_body(BATCH_LIMIT)).messages) == 16
    assert "a batch request may hold at most 512000 bytes" in str(
        refused("batch", batch_body(BATCH_LIMIT + 1), status=413)
    )
    gzipped = gzip.compress(batch_body(BATCH_LIMIT + 1))
    assert len(gzipped) < 10_000
    refused("batch", gzipped, content_encoding="gzip", status=413)


def test_batch_over_2500_events_is_413() -> None:
    small = {"type": "track", "event": "E", "userId": "u"}
    assert len(call("batch", {"batch": [small] * 2500}).messages) == 2500
    assert "2501 events" in str(refused("batch", {"batch": [small] * 2501}, status=413))


def test_gzip_batch_and_unsupported_coding() -> None:
    body = gzip.compress(json.dumps({"batch": [{"type": "track", **REQUIRED["track"]}]}).encode())
    assert call("batch", body, content_encoding="gzip").messages[0].type == "track"
    refused("batch", body, content_encoding="br", status=415)
    refused("batch", b"\x1f\x8b garbage", content_encoding="gzip", status=400)


def test_unicode_is_preserved_exactly() -> None:
    texts = {
        "emoji": "🛒 panier 👩‍👩‍👧",
        "rtl": "שלום עולם مرحبا",
        "combining": "e\u0301 n\u0303 a\u030a",
        "cjk": "顧客",
    }
    line = journal_line(one("track", {**REQUIRED["track"], "properties": texts}), source="web")
    assert orjson.loads(line)["properties"] == texts
    assert "e\u0301".encode() in line and b"\\u" not in line  # written as UTF-8, not normalised to NFC


def test_nul_characters_are_removed_from_keys_and_values_and_flagged() -> None:
    batch = [
        {"type": "track", **REQUIRED["track"], "properties": {"co\u0000de": "A\u0000B", "list": ["\u0000"]}},
        {"type": "identify", "userId": "jane\u0000", "traits": {"email": "jane@example.com"}},
        {"type": "page", "anonymousId": "a1"},
    ]
    first, second, third = call("batch", {"batch": batch}).messages
    assert first.fields["properties"] == {"code": "AB", "list": [""]}
    assert second.user_id == "jane"
    assert (first.flags, second.flags, third.flags) == (("nul_removed",), ("nul_removed",), ())
    assert b"\\u0000" not in journal_line(first, source="web")
    assert orjson.loads(journal_line(first, source="web"))["personae"]["flags"] == ["nul_removed"]


def test_lone_surrogates_become_replacement_characters_and_pairs_stay() -> None:
    body = (
        b'{"batch": [{"type": "track", "userId": "u", "event": "Cut \\ud83d", "properties": {"ok": "\\ud83d\\ude00",'
        b' "\\udc00key": "x", "literal": "\\\\ud83d"}}, {"type": "page", "anonymousId": "a"}]}'
    )
    first, second = call("batch", body).messages
    assert first.fields["event"] == "Cut \ufffd"
    assert first.fields["properties"] == {"ok": "😀", "\ufffdkey": "x", "literal": "\\ud83d"}
    assert first.flags == ("surrogate_replaced",) and second.flags == ()
    line = journal_line(first, source="web")
    with duckdb.connect() as con:
        assert con.execute("SELECT json_valid(?), ? ->> '$.event'", [line.decode()] * 2).fetchall() == [
            (True, "Cut \ufffd")
        ]


def test_nesting_to_the_limit_passes_and_one_level_more_is_400_with_its_path() -> None:
    assert one("track", nested(32)).fields["properties"]["n"]["n"]
    error = refused("track", nested(33))
    assert "the body: properties.n.n" in str(error) and "deeper than 32 levels" in str(error)
    error = refused("batch", {"batch": [{"type": "page", "anonymousId": "a"}, {"type": "track", **nested(33)}]})
    assert error.index == 1 and str(error).startswith("batch[1]: properties.n")
    with_nul = nested(33)
    with_nul["event"] = "D\u0000"  # the repair walk checks the depth too
    assert "deeper than 32" in str(refused("track", with_nul))
    assert one("track", nested(5)).fields["event"] == "Deep"
    assert "deeper than 4" in str(refused("track", nested(5), limits=Limits(depth=4)))


def test_write_key_in_the_body_is_returned_and_never_journaled() -> None:
    single = call("track", {**REQUIRED["track"], "writeKey": "secret-1"})
    assert single.write_key == "secret-1"
    batch = call("batch", {"batch": [{"type": "track", **REQUIRED["track"], "writeKey": "x"}], "writeKey": "secret-2"})
    assert batch.write_key == "secret-2"
    for message in (*single.messages, *batch.messages):
        line = journal_line(message, source="web", write_key_id="key-7")
        assert b"secret" not in line and b'"writeKey"' not in line
        assert orjson.loads(line)["personae"] == {"source": "web", "writeKeyId": "key-7"}
    assert call("track", REQUIRED["track"]).write_key is None
    assert "'writeKey' must be a string" in str(refused("track", {**REQUIRED["track"], "writeKey": 1}))


def test_batch_context_integrations_and_sent_at_apply_to_each_message() -> None:
    document = {
        "batch": [
            {"type": "track", **REQUIRED["track"], "timestamp": "2025-03-04T12:04:30Z", "context": {"ip": "10.0.0.2"}},
            {"type": "identify", "userId": "u1", "sentAt": "2025-03-04T12:00:00Z", "timestamp": "2025-03-04T11:59:00Z"},
        ],
        "sentAt": "2025-03-04T12:05:00Z",
        "context": {"ip": "10.0.0.1", "library": {"name": "curl"}},
        "integrations": {"All": True},
    }
    first, second = call("batch", document).messages
    assert first.fields["context"] == {"ip": "10.0.0.2", "library": {"name": "curl"}}
    assert second.fields["context"] == {"ip": "10.0.0.1", "library": {"name": "curl"}}
    assert first.fields["integrations"] == second.fields["integrations"] == {"All": True}
    assert first.timestamp == datetime(2025, 3, 4, 11, 59, 30, tzinfo=UTC)  # 30 s before sending
    assert first.fields["sentAt"] == "2025-03-04T12:05:00Z"
    assert first.fields["originalTimestamp"] == "2025-03-04T12:04:30Z"
    assert second.timestamp == datetime(2025, 3, 4, 11, 59, tzinfo=UTC)  # its own sentAt: no skew


def test_times_are_normalised_and_received_at_is_the_servers() -> None:
    message = one(
        "track",
        {**REQUIRED["track"], "timestamp": "2025-03-04T13:00:00.5+01:00", "receivedAt": "1999-01-01T00:00:00Z"},
    )
    assert message.fields["timestamp"] == "2025-03-04T12:00:00.500Z"
    assert message.fields["receivedAt"] == "2025-03-04T12:00:00.000Z"
    assert message.fields["originalTimestamp"] == "2025-03-04T13:00:00.5+01:00"


def test_a_far_future_timestamp_is_kept_as_original_clamped_and_flagged() -> None:
    message = one("track", {**REQUIRED["track"], "timestamp": "2099-01-01T00:00:00Z"})
    assert message.timestamp == RECEIVED and message.flags == ("timestamp_future",)
    line = orjson.loads(journal_line(message, source="web"))
    assert line["originalTimestamp"] == "2099-01-01T00:00:00Z"
    assert line["personae"]["flags"] == ["timestamp_future"]


def test_unknown_fields_are_kept_and_server_owned_ones_are_not() -> None:
    message = one("track", {**REQUIRED["track"], "channel": "server", "version": 2, "personae": {"x": 1}})
    assert message.fields["channel"] == "server" and message.fields["version"] == 2
    assert "personae" not in message.fields


def test_arguments_the_server_gets_wrong_are_value_errors() -> None:
    with pytest.raises(ValueError, match="unknown call 'identity'"):
        parse_call("identity", b"{}", content_encoding=None, received_at=RECEIVED)
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_call("track", b"{}", content_encoding=None, received_at=datetime(2025, 1, 1))


def test_journal_line_is_one_compact_line() -> None:
    message = one("track", {**REQUIRED["track"], "properties": {"note": "two\nlines\r\u2028"}})
    line = journal_line(message, source="web")
    assert b"\n" not in line and b"\r" not in line and b", " not in line
    assert orjson.loads(line)["properties"]["note"] == "two\nlines\r\u2028"


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("Basic YWJjMTIzOg==", "abc123"),  # base64("abc123:"), the documented form
        ("basic YWJjMTIz", "abc123"),  # without the colon, which Segment still accepts
        ("Bearer abc123", None),
        ("Basic not-base64!", None),
        ("Basic Og==", None),  # an empty user name
        (None, None),
    ],
)
def test_write_key_from_basic_authorization(header: str | None, key: str | None) -> None:
    assert write_key_from_authorization(header) == key


def test_journal_lines_read_by_the_batch_ingest_expressions(tmp_path: Path) -> None:
    document = {
        "batch": [
            {
                "type": "identify",
                "userId": 1043,
                "anonymousId": "anon-1",
                "messageId": "m-1",
                "traits": {"email": "jane@example.com", "phone": "+33 6 12 34 56 78"},
                "timestamp": "2025-03-04T13:04:30+01:00",
            },
            {
                "type": "track",
                "userId": "1043",
                "event": "Order Completed",
                "messageId": "m-2",
                "properties": {"revenue": 99.5, "category": "shoes", "product_id": "sku-1", "note": "a\nb"},
                "context": {"traits": {"email": "ctx@example.com"}, "channel": "web"},
            },
            {"type": "page", "anonymousId": "anon-1", "name": "Produit – été 😀", "properties": {"path": "/p"}},
        ],
        "sentAt": "2025-03-04T12:05:00Z",
    }
    result = call("batch", document)
    journal = tmp_path / "journal.jsonl"
    journal.write_bytes(b"".join(journal_line(m, source="web") + b"\n" for m in result.messages))
    columns = ", ".join(SEGMENT_FIELDS)
    with duckdb.connect() as con:
        con.execute("CREATE TABLE lines (_raw VARCHAR, _file VARCHAR, _row BIGINT)")
        con.executemany(
            "INSERT INTO lines VALUES (?, 'journal', ?)",
            [[line, row] for row, line in enumerate(journal.read_text().splitlines(), start=1)],
        )
        cursor = con.execute(
            f"SELECT {columns}, CAST(ts AS TIMESTAMPTZ) AS ts_parsed FROM ({segment_fields_sql('lines', {})}) "
            "ORDER BY _row"
        )
        names = [column[0] for column in cursor.description]
        got = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        ingest = segment_fields_sql(f"({jsonl_scan_sql(journal, 'rejects', 'journal')})", {"source": "personae.source"})
        staged = con.execute(ingest).fetchall()
    identify, track, page = got
    assert (identify["event_id"], identify["type"], identify["user_id"], identify["anonymous_id"]) == (
        "m-1",
        "identify",
        "1043",
        "anon-1",
    )
    assert identify["email"] == "jane@example.com" and identify["phone"] == "+33 6 12 34 56 78"
    assert identify["ts"] == "2025-03-04T11:59:30.000Z"
    assert identify["ts_parsed"] == datetime(2025, 3, 4, 11, 59, 30, tzinfo=UTC)
    assert json.loads(identify["properties"]) == {"email": "jane@example.com", "phone": "+33 6 12 34 56 78"}
    assert (track["name"], track["amount"], track["category"], track["product_id"]) == (
        "Order Completed",
        "99.5",
        "shoes",
        "sku-1",
    )
    assert track["email"] == "ctx@example.com" and track["channel"] == "web"
    assert track["ts"] == "2025-03-04T12:00:00.000Z"  # no timestamp: received
    assert json.loads(track["properties"])["note"] == "a\nb"
    assert (page["name"], page["user_id"], page["event_id"]) == (
        "Produit – été 😀",
        None,
        result.messages[2].message_id,
    )
    assert len(staged) == 3 and all(row[-3] for row in staged)  # _json_ok on every line
    assert [row[len(SEGMENT_FIELDS)] for row in staged] == ["web"] * 3  # personae.source via extra_paths


def test_module_docstring_examples_run() -> None:
    import doctest

    assert doctest.testmod(messages, raise_on_error=True).attempted >= 1


def test_a_server_clock_in_another_zone_is_written_in_utc() -> None:
    paris = RECEIVED.astimezone(timezone(timedelta(hours=1)))
    (message,) = parse_call("track", orjson.dumps(REQUIRED["track"]), content_encoding=None, received_at=paris).messages
    assert message.fields["receivedAt"] == message.fields["timestamp"] == "2025-03-04T12:00:00.000Z"
    assert message.timestamp.utcoffset() == timedelta(0)
