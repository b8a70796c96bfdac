"""Event → change latency of a running ``personae serve``: how long after a tracking call is
acknowledged its membership change appears on ``GET /v1/changes``, under background load.

In one asyncio loop of the benchmark process:

- a **background generator** sends ``/v1/track`` calls open loop at ``rate`` a second
  (request k is due at k / rate; a pool of keep-alive connections sends them, and a request
  that finds every connection busy waits, its wait counted in its latency), each with a new
  messageId and the userId of a person the store knows, so live processing updates existing
  people;
- **probes**, one every ``probe_every`` seconds, each a ``/v1/track`` with a userId never
  seen before: the new person enters :data:`server_store.PROBE_SEGMENT` (rule
  ``last_seen_at is not null``); the time of its 200 is the probe's acknowledgement;
- an **SSE reader** on ``/v1/changes?after=LAST`` timestamps every ``membership`` event.

Changes name UIDs, probes userIds: once the probes are done (and ``grace`` seconds have
passed for the last one), one ``POST /v1/admin/sql`` over ``identity_map`` maps each probe's
userId to its UID, and the latency of a probe is the arrival of its UID's ``entered`` change
minus its acknowledgement. A probe without a change within ``grace`` seconds is counted as
missed, and with no change at all the result says so instead of failing.

A hand-written HTTP/1.1 client over asyncio streams, not httpx: at 1,000 calls a second
httpx would take a third of a core of a two-core machine that also runs the server.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import statistics
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from server_store import EVENT_TIMESTAMP, PROBE_SEGMENT, Keys

Seen = list[tuple[str, str, str, float]]
"""(uid, segment, change, arrival) of every membership event read from the feed."""


class HttpClient:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self._reader is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
        self._writer.write(head.encode() + body)
        status, answer = await read_response(self._reader)
        return status, answer

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()


async def read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
    return status, headers


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    status, headers = await read_head(reader)
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while chunk := await read_chunk(reader):
            parts.append(chunk)
        return status, b"".join(parts)
    return status, await reader.readexactly(int(headers.get("content-length", "0")))


async def read_chunk(reader: asyncio.StreamReader) -> bytes:
    """One chunk of a chunked body (b"" for the last one)."""
    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
    data = await reader.readexactly(size + 2)
    return data[:-2]


def basic(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def track_body(user_id: str, message_id: str) -> bytes:
    return json.dumps(
        {
            "messageId": message_id,
            "userId": user_id,
            "timestamp": EVENT_TIMESTAMP,
            "event": "Product Viewed",
            "properties": {"sku": "SKU-1042", "price": 21.25},
            "context": {"library": {"name": "personae-bench", "version": "1"}},
        }
    ).encode()


@dataclass
class FeedResult:
    background_sent: int = 0
    background_errors: int = 0
    background_seconds: float = 0.0
    background_latency_ms: list[float] = field(default_factory=list)
    probes: int = 0
    probe_errors: int = 0
    changes_seen: int = 0
    probes_known: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    any_latencies_ms: list[float] = field(default_factory=list)
    probe_segments: dict[str, int] = field(default_factory=dict)
    missed: int = 0
    run_seconds: float | None = None
    reconnects: int = 0
    last_sequence: int = 0
    note: str = ""

    def summary(self) -> dict[str, Any]:
        def pct(values: list[float], q: int) -> float | None:
            return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) >= 2 else None

        rate = self.background_sent / self.background_seconds if self.background_seconds else 0.0
        return {
            "background_rps": rate,
            "background_errors": self.background_errors,
            "background_p50_ms": pct(self.background_latency_ms, 50),
            "background_p99_ms": pct(self.background_latency_ms, 99),
            "probes": self.probes,
            "probe_errors": self.probe_errors,
            "changes_seen": self.changes_seen,
            "probes_known": self.probes_known,
            "matched": len(self.latencies_ms),
            "missed": self.missed,
            "p50_ms": pct(self.latencies_ms, 50),
            "p99_ms": pct(self.latencies_ms, 99),
            "max_ms": max(self.latencies_ms, default=None),
            "any_matched": len(self.any_latencies_ms),
            "any_p99_ms": pct(self.any_latencies_ms, 99),
            "probe_segments": self.probe_segments,
            "run_seconds": self.run_seconds,
            "reconnects": self.reconnects,
            "note": self.note,
        }


async def background(port: int, keys: Keys, users: list[str], rate: float, until: float, result: FeedResult) -> None:
    """Open-loop ``/v1/track`` calls at ``rate``/s over 32 connections until ``until`` (monotonic)."""
    headers = {"Authorization": basic(keys.write), "Content-Type": "application/json"}
    due: asyncio.Queue[float | None] = asyncio.Queue()
    run = uuid.uuid4().hex[:8]
    connections = 32

    async def worker(client: HttpClient) -> None:
        while (scheduled := await due.get()) is not None:
            n = result.background_sent
            result.background_sent += 1
            try:
                status, _ = await client.request(
                    "POST", "/v1/track", headers, track_body(users[n % len(users)], f"bg-{run}-{n}")
                )
            except (OSError, asyncio.IncompleteReadError):
                status, client = 0, HttpClient(port)
            if status != 200:
                result.background_errors += 1
            result.background_latency_ms.append(1000 * (time.monotonic() - scheduled))
        await client.close()

    workers = [asyncio.create_task(worker(HttpClient(port))) for _ in range(connections)]
    start = time.monotonic()
    sent = 0
    while (now := time.monotonic()) < until:
        while sent < (now - start) * rate:
            due.put_nowait(start + sent / rate)
            sent += 1
        await asyncio.sleep(0.002)
    result.background_seconds = time.monotonic() - start
    for _ in workers:
        due.put_nowait(None)
    await asyncio.gather(*workers)


async def probes(port: int, keys: Keys, every: float, until: float, run: str, acks: dict[str, float]) -> int:
    """A track call with a new userId every ``every`` s; ``acks`` gets userId -> time of its 200."""
    client = HttpClient(port)
    headers = {"Authorization": basic(keys.write), "Content-Type": "application/json"}
    errors = 0
    n = 0
    next_at = time.monotonic()
    while next_at < until:
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        user = f"bench-probe-{run}-{n:05d}"
        status, _ = await client.request("POST", "/v1/track", headers, track_body(user, f"probe-{run}-{n}"))
        if status == 200:
            acks[user] = time.monotonic()
        else:
            errors += 1
        n += 1
        next_at += every
    await client.close()
    return errors


async def read_changes(port: int, keys: Keys, after: int, seen: Seen, result: FeedResult) -> None:
    """Append (uid, segment, change, arrival) for every membership event of the feed, until cancelled.

    A stream that ends is opened again after the last sequence read, as a browser's
    ``EventSource`` would (at once, not after its 3 s retry); ``result.reconnects`` counts them.
    On granian the server closes some streams within seconds, mid-response (6 of 30 within 3 s,
    none on uvicorn; ``bench/RESULTS.md``), so without this the part would stop seeing changes."""
    result.last_sequence = after
    while True:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            await _read_stream(port, keys, seen, result)
        result.reconnects += 1
        await asyncio.sleep(0.001)  # a server that refuses at once is not spun on


async def _read_stream(port: int, keys: Keys, seen: Seen, result: FeedResult) -> None:
    """One connection to the feed, after ``result.last_sequence``, read until it ends."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    after = result.last_sequence
    try:
        writer.write(
            f"GET /v1/changes?after={after} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
            f"Authorization: Bearer {keys.read}\r\n\r\n".encode()
        )
        status, headers = await read_head(reader)
        if status != 200:
            raise RuntimeError(f"GET /v1/changes answered {status}")
        chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        buffer = b""
        while True:
            data = await read_chunk(reader) if chunked else await reader.read(65536)
            if not data:
                return
            arrival = time.monotonic()
            buffer += data
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                for line in event.split(b"\n"):
                    if line.startswith(b"data: "):
                        change = json.loads(line[6:])
                        seen.append((change["uid"], change["segment"], change["change"], arrival))
                        result.last_sequence = max(result.last_sequence, int(change["sequence"]))
    finally:
        writer.close()


async def admin_sql(port: int, keys: Keys, query: str) -> list[dict[str, Any]]:
    client = HttpClient(port)
    headers = {"Authorization": f"Bearer {keys.admin}", "Content-Type": "application/json"}
    status, body = await client.request("POST", "/v1/admin/sql", headers, json.dumps({"query": query}).encode())
    await client.close()
    if status != 200:
        raise RuntimeError(f"POST /v1/admin/sql answered {status}: {body[:300]!r}")
    rows: list[dict[str, Any]] = json.loads(body)["rows"]
    return rows


async def batch_run(port: int, keys: Keys) -> float:
    """Start a batch run through the admin API and wait for its end; its seconds."""
    client = HttpClient(port)
    headers = {"Authorization": f"Bearer {keys.admin}", "Content-Type": "application/json"}
    started = time.monotonic()
    status, body = await client.request("POST", "/v1/admin/runs", headers, b"{}")
    if status != 202:
        raise RuntimeError(f"POST /v1/admin/runs answered {status}: {body[:300]!r}")
    while True:
        await asyncio.sleep(0.5)
        status, body = await client.request("GET", "/v1/admin/runs?limit=1", headers)
        state = json.loads(body)
        if not state["running"]:
            await client.close()
            if state["last_error"]:
                raise RuntimeError(f"the batch run failed: {state['last_error']}")
            return time.monotonic() - started


async def event_to_change(
    port: int,
    keys: Keys,
    users: list[str],
    *,
    duration: float,
    rate: float,
    probe_every: float,
    grace: float,
    then_run: bool = False,
) -> FeedResult:
    """The whole part: background load and probes for ``duration`` s, then ``grace`` s for stragglers.

    ``then_run``: once the probes are acknowledged, a batch run through the admin API (which
    loads the journal), and the grace lasts until it ends: the event → change path of a
    server without live processing, and a check that this instrument sees changes at all."""
    result = FeedResult()
    last = await admin_sql(port, keys, "SELECT coalesce(max(sequence), 0) AS last FROM membership_changes")
    seen: list[tuple[str, str, str, float]] = []
    reader = asyncio.create_task(read_changes(port, keys, int(last[0]["last"]), seen, result))
    run = uuid.uuid4().hex[:8]
    acks: dict[str, float] = {}
    until = time.monotonic() + duration
    load = asyncio.create_task(background(port, keys, users, rate, until, result))
    result.probe_errors = await probes(port, keys, probe_every, until, run, acks)
    result.probes = len(acks) + result.probe_errors
    await load
    if then_run:
        result.run_seconds = await batch_run(port, keys)
        grace = time.monotonic() - min(acks.values(), default=time.monotonic()) + 2.0
    await asyncio.sleep(2.0 if then_run else grace)
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    rows = await admin_sql(
        port,
        keys,
        f"SELECT id_value, uid FROM identity_map WHERE id_type = 'user_id' AND id_value LIKE 'bench-probe-{run}-%'",
    )
    uid_of: dict[str, str] = {str(row["id_value"]): str(row["uid"]) for row in rows}
    match(result, acks, uid_of, seen, grace)
    return result


def match(result: FeedResult, acks: dict[str, float], uid_of: dict[str, str], seen: Seen, grace: float) -> None:
    """Each probe's latency: its UID's entry into the probe segment (and its first change of any
    segment, in case live processing assigns others first) minus its acknowledgement."""
    entered: dict[str, float] = {}
    first: dict[str, float] = {}
    probe_uids = set(uid_of.values())
    for uid, segment, change, arrival in seen:
        if uid not in probe_uids:
            continue
        first.setdefault(uid, arrival)
        if change == "entered":
            key = f"{segment} {change}"
            result.probe_segments[key] = result.probe_segments.get(key, 0) + 1
            if segment == PROBE_SEGMENT:
                entered.setdefault(uid, arrival)
    result.changes_seen = len(seen)
    result.probes_known = len(uid_of)
    for user, acked in acks.items():
        uid = uid_of.get(user, "")
        change_at = entered.get(uid)
        if change_at is None or change_at - acked > grace:
            result.missed += 1
        else:
            result.latencies_ms.append(1000 * (change_at - acked))
        if uid in first and first[uid] - acked <= grace:
            result.any_latencies_ms.append(1000 * (first[uid] - acked))
    if not seen:
        result.note = (
            f"no change seen on /v1/changes within {grace:.0f} s of any probe "
            f"({result.probes_known} of {len(acks)} probe userIds known to identity_map): "
            "no live processing in this build?"
        )
    elif not result.latencies_ms:
        result.note = f"{len(seen)} changes seen, none an entry of a probe into {PROBE_SEGMENT} within {grace:.0f} s"
