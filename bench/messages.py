"""JSON libraries for the tracking API: parse + validate + serialise one 100-event batch.

The body is what ``segment-analytics-python`` sends: ``json.dumps`` of ``{"batch": [...],
"sentAt", "writeKey"}`` with 100 messages (60 track, 20 page, 20 identify; nested
properties with a product list, context with library, ip, locale and, on page calls,
page; some non-ASCII), 450-580 bytes each as the SDK writes them (545 on average). Every
contender does the same work, the steps of ``personae.realtime.messages.parse_call``:

1. decode the body;
2. per message: its type, the nesting-depth walk, its size as compact JSON (a typed msgspec
   decoder gets the size from the raw span instead), ids coerced to strings, the
   skew-corrected time, the normalised dict;
3. encode each normalised message as one JSON line.

Steps 2's Python parts are personae's own functions, shared by every contender, so the
ratios show what the library changes. Contenders: the standard library ``json``; orjson;
msgspec decoding to dicts; msgspec decoding into typed ``Struct`` classes (type checks in C,
but unknown keys such as ``channel`` or ``version`` are dropped, which the journal may not
do). Last, personae's ``parse_call`` + ``journal_line`` end to end, plain and gzip.

Each contender runs ``--loops`` batches per timing, ``--repeat`` timings interleaved with
the other contenders', timed in process CPU time; the table shows the median time per
batch and the speed relative to the standard library.

    .venv/bin/python bench/messages.py [--repeat 9] [--loops 200]
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import random
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
import orjson

from personae.realtime.clock import TimePolicy, event_time, format_time
from personae.realtime.decoding import check_depth
from personae.realtime.messages import KINDS, _identifier, journal_line, parse_call

RECEIVED = datetime(2025, 3, 4, 12, 0, 0, tzinfo=UTC)
POLICY = TimePolicy()
IDS = ("messageId", "userId", "anonymousId", "previousId", "groupId")
OBJECTS = ("traits", "properties", "context", "integrations")


def make_batch(seed: int = 7, size: int = 100) -> bytes:
    rng = random.Random(seed)
    batch = []
    for index in range(size):
        kind = ("track", "track", "track", "page", "identify")[index % 5]
        message: dict[str, Any] = {
            "integrations": {},
            "anonymousId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "timestamp": f"2025-03-04T12:{index % 60:02d}:{rng.randrange(60):02d}.{rng.randrange(1000):03d}+01:00",
            "context": {
                "library": {"name": "analytics-python", "version": "2.4.0"},
                "ip": f"203.0.113.{rng.randrange(256)}",
                "locale": "fr-FR",
            },
            "type": kind,
            "userId": f"user-{rng.randrange(10**6)}" if rng.random() < 0.7 else None,
            "messageId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        }
        if kind == "track":
            message["event"] = "Product Added"
            message["properties"] = {
                "product_id": f"sku-{rng.randrange(10**5)}",
                "price": round(rng.uniform(5, 200), 2),
                "currency": "EUR",
                "category": "chaussures été",
                "products": [{"sku": f"s{j}", "quantity": j + 1, "price": 9.5 * (j + 1)} for j in range(2)],
            }
        elif kind == "page":
            message["name"] = "Produit"
            message["context"]["page"] = {"path": "/p/chaussures", "url": "https://shop.example/p/chaussures"}
            message["properties"] = {"title": "Chaussures – été 😀", "referrer": "https://search.example/?q=x"}
        else:
            message["traits"] = {
                "email": f"person{index}@example.com",
                "name": "Zoë Ünal",
                "address": {"city": "Paris", "country": "FR"},
            }
        batch.append(message)
    return json.dumps({"batch": batch, "sentAt": "2025-03-04T11:05:00.000+00:00", "writeKey": "k"}).encode()


def normalised(item: dict[str, Any], size: int, sent_at: Any) -> dict[str, Any]:
    """Step 2 after decoding, with personae's functions (same for every contender)."""
    if item.get("type") not in KINDS or size > 32 * 1024:
        raise ValueError("invalid")
    check_depth(item, 32)
    ids = {name: _identifier(item.get(name), name, "bench", 0) for name in IDS}
    resolved = event_time(item.get("timestamp"), sent_at, RECEIVED, POLICY)
    out: dict[str, Any] = {"messageId": ids["messageId"], "type": item["type"]}
    for key in ("event", "name"):
        if item.get(key) is not None:
            out[key] = item[key]
    out["timestamp"] = format_time(resolved.timestamp)
    out.update((name, value) for name, value in ids.items() if value is not None and name != "messageId")
    out.update((name, item[name]) for name in OBJECTS if item.get(name) is not None)
    out["receivedAt"] = format_time(RECEIVED)
    out.update((key, value) for key, value in item.items() if key not in out)
    out["personae"] = {"source": "web"}
    return out


def with_dicts(loads: Callable[[bytes], Any], dumps: Callable[[Any], bytes]) -> Callable[[bytes], list[bytes]]:
    def run(body: bytes) -> list[bytes]:
        document = loads(body)
        sent_at = document.get("sentAt")
        return [dumps(normalised(item, len(dumps(item)), sent_at)) for item in document["batch"]]

    return run


def stdlib_dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class Message(msgspec.Struct, omit_defaults=True):
    type: Literal["identify", "track", "page", "screen", "group", "alias"]
    messageId: str | int | None = None
    userId: str | int | float | None = None
    anonymousId: str | int | float | None = None
    previousId: str | int | float | None = None
    groupId: str | int | float | None = None
    event: str | None = None
    name: str | None = None
    timestamp: str | None = None
    sentAt: str | None = None
    traits: dict[str, Any] | None = None
    properties: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None


class Envelope(msgspec.Struct):
    batch: list[msgspec.Raw]
    sentAt: str | None = None
    writeKey: str | None = None


def msgspec_typed() -> Callable[[bytes], list[bytes]]:
    envelope, message, encoder = msgspec.json.Decoder(Envelope), msgspec.json.Decoder(Message), msgspec.json.Encoder()

    def run(body: bytes) -> list[bytes]:
        document = envelope.decode(body)
        lines = []
        for raw in document.batch:
            item = msgspec.structs.asdict(message.decode(raw))
            lines.append(encoder.encode(normalised({k: v for k, v in item.items() if v is not None}, len(raw), None)))
        return lines

    return run


def personae(body: bytes, encoding: str | None) -> list[bytes]:
    call = parse_call("batch", body, content_encoding=encoding, received_at=RECEIVED)
    return [journal_line(message, source="web") for message in call.messages]


def timed(contenders: dict[str, Callable[[], object]], loops: int, repeat: int) -> dict[str, float]:
    """Median CPU seconds per call of each contender, over ``repeat`` rounds of ``loops`` calls.

    The rounds interleave the contenders, and the clock is this process's CPU time, so
    that other work on the machine slows every contender alike and not the one it overlaps.
    """
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for run in contenders.values():
        run()
    for _ in range(repeat):
        for name, run in contenders.items():
            started = time.process_time()
            for _ in range(loops):
                run()
            samples[name].append((time.process_time() - started) / loops)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--loops", type=int, default=200)
    args = parser.parse_args()
    body = make_batch()
    packed = gzip.compress(body)
    decoder, encoder = msgspec.json.Decoder(), msgspec.json.Encoder()
    typed = msgspec_typed()
    contenders: list[tuple[str, str, Callable[[], object]]] = [
        ("json (stdlib)", "yes", lambda: with_dicts(json.loads, stdlib_dumps)(body)),
        ("orjson", "yes", lambda: with_dicts(orjson.loads, orjson.dumps)(body)),
        ("msgspec, dicts", "yes", lambda: with_dicts(decoder.decode, encoder.encode)(body)),
        ("msgspec, typed Struct", "no", lambda: typed(body)),
        ("personae parse_call (orjson)", "yes", lambda: personae(body, None)),
        ("personae parse_call, gzip body", "yes", lambda: personae(packed, "gzip")),
    ]
    assert len(personae(body, None)) == 100 and len(typed(body)) == 100
    times = timed({name: run for name, _, run in contenders}, args.loops, args.repeat)
    base = times["json (stdlib)"]
    print(
        f"100-event batch, {len(body)} bytes ({len(body) // 100} per event, {len(packed)} gzipped); "
        f"Python {platform.python_version()}, orjson {orjson.__version__}, msgspec {msgspec.__version__}; "
        f"CPU time, median of {args.repeat} x {args.loops}\n"
    )
    print("| contender | keeps unknown keys | µs per batch | µs per event | speed vs stdlib |")
    print("|---|---|---:|---:|---:|")
    for name, keeps, _ in contenders:
        print(f"| {name} | {keeps} | {times[name] * 1e6:.0f} | {times[name] * 1e4:.1f} | {base / times[name]:.2f}x |")


if __name__ == "__main__":
    main()
