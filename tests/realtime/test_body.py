"""Request bodies: content codings, the size cap, and gzip bombs stopped at the cap."""

from __future__ import annotations

import gzip
import time
import tracemalloc
import zlib

import pytest

from personae.errors import InvalidMessage
from personae.realtime.body import decoded_body

LIMIT = 500 * 1024


def gzip_stream(chunk: bytes, repeat: int) -> bytes:
    """``chunk * repeat`` gzip-compressed without ever holding the uncompressed whole."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [deflater.compress(chunk) for _ in range(repeat)]
    return b"".join([*parts, deflater.flush()])


def test_plain_body_at_the_limit_passes_and_one_byte_more_is_413() -> None:
    assert decoded_body(b"x" * LIMIT, None, limit=LIMIT, what="a batch request") == b"x" * LIMIT
    with pytest.raises(InvalidMessage, match="at most 512000 bytes") as refused:
        decoded_body(b"x" * (LIMIT + 1), "identity", limit=LIMIT, what="a batch request")
    assert refused.value.status == 413


def test_gzip_body_at_the_limit_passes_and_one_byte_more_is_413() -> None:
    assert decoded_body(gzip.compress(b"y" * LIMIT), "gzip", limit=LIMIT, what="a batch request") == b"y" * LIMIT
    with pytest.raises(InvalidMessage, match="inflates past that") as refused:
        decoded_body(gzip.compress(b"y" * (LIMIT + 1)), "GZIP ", limit=LIMIT, what="a batch request")
    assert refused.value.status == 413


def test_gzip_bomb_fails_fast_without_inflating_it() -> None:
    bomb = gzip_stream(bytes(1 << 20), 100)  # 100 MiB of zeros
    assert len(bomb) < 200_000
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(InvalidMessage) as refused:
            decoded_body(bomb, "gzip", limit=LIMIT, what="a batch request")
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.status == 413
    assert peak < 4 * LIMIT, f"peak {peak} bytes: the bomb was inflated"
    assert elapsed < 0.5


def test_several_gzip_members_are_one_body() -> None:
    body = gzip.compress(b'{"batch": [') + gzip.compress(b"]}")
    assert decoded_body(body, "x-gzip", limit=LIMIT, what="a batch request") == b'{"batch": []}'


def test_several_members_share_one_cap() -> None:
    member = gzip.compress(b"z" * (LIMIT // 2 + 1))
    with pytest.raises(InvalidMessage) as refused:
        decoded_body(member + member, "gzip", limit=LIMIT, what="a batch request")
    assert refused.value.status == 413


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not gzip at all", "corrupt"),
        (gzip.compress(b'{"a": 1}', mtime=0)[:-6], "truncated"),
        (gzip.compress(b'{"a": 1}', mtime=0) + b"garbage", "corrupt"),
        (b"", "empty"),
    ],
)
def test_broken_gzip_is_400(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidMessage, match=reason) as refused:
        decoded_body(body, "gzip", limit=LIMIT, what="a batch request")
    assert refused.value.status == 400


@pytest.mark.parametrize("coding", ["br", "deflate", "gzip, gzip", "compress"])
def test_other_content_codings_are_415(coding: str) -> None:
    with pytest.raises(InvalidMessage, match="not supported") as refused:
        decoded_body(gzip.compress(b"{}"), coding, limit=LIMIT, what="a batch request")
    assert refused.value.status == 415
