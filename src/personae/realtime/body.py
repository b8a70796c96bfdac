"""Request bodies as sent: the content encoding undone under a hard size cap.

The SDKs compress with gzip (``rudder-sdk-python`` by default, ``segment-analytics-python``
with ``gzip=True``; both write one gzip member with ``GzipFile`` and send
``Content-Encoding: gzip``). Segment's limits are on the JSON, not on the wire, so the
body is inflated before any limit is checked, and it is inflated under a cap:

- ``zlib.decompressobj(...).decompress(data, max_length)`` never produces more than
  ``max_length`` bytes, so a gzip bomb (100 MB of zeros is a 100 KB body) costs at most the
  cap in memory and stops as soon as the cap is passed: 413, before the rest is inflated.
  The cap is the limit itself plus one byte: the limit is on the inflated body, so one byte
  more already proves the body too large and no further slack is needed.
- a corrupt or truncated stream, or bytes after the last member, is a 400;
- several gzip members one after the other are one body (RFC 1952 allows it and
  ``gzip.decompress`` reads them so), inflated under the same cap;
- ``identity`` or no header is the body as is; any other coding (``br``, ``deflate``,
  ``gzip, gzip``) is a 415, the status RFC 9110 gives to an unsupported content coding.
"""

from __future__ import annotations

import zlib

from personae.errors import InvalidMessage

GZIP_WBITS = 16 + zlib.MAX_WBITS
"""``wbits`` that make zlib read (only) the gzip container."""
PLAIN = frozenset({"", "identity"})
GZIP = frozenset({"gzip", "x-gzip"})


def decoded_body(body: bytes, content_encoding: str | None, *, limit: int, what: str) -> bytes:
    """The body with its content coding undone; at most ``limit`` bytes, else 413.

    ``what`` names the limit in the error (``"a batch request"``, ``"a track call"``).
    """
    coding = (content_encoding or "").strip().lower()
    if coding in PLAIN:
        if len(body) > limit:
            raise _too_large(what, limit, f"is {len(body)} bytes")
        return body
    if coding in GZIP:
        return gunzip(body, limit=limit, what=what)
    raise InvalidMessage(
        f"Content-Encoding {content_encoding!r} is not supported; send the JSON body as is or gzip-compressed "
        "(Content-Encoding: gzip)",
        status=415,
    )


def gunzip(body: bytes, *, limit: int, what: str) -> bytes:
    """Inflate gzip member after member, never holding more than ``limit + 1`` bytes."""
    if not body:
        raise InvalidMessage("the gzip body is empty; send a gzip-compressed JSON body or drop Content-Encoding")
    parts: list[bytes] = []
    size = 0
    rest = body
    while rest:
        inflater = zlib.decompressobj(GZIP_WBITS)
        try:
            chunk = inflater.decompress(rest, limit + 1 - size)
        except zlib.error as error:
            raise InvalidMessage(
                f"the gzip body is corrupt ({error}); compress the JSON body with gzip or drop Content-Encoding"
            ) from error
        size += len(chunk)
        if size > limit:
            raise _too_large(what, limit, "inflates past that")
        parts.append(chunk)
        if not inflater.eof:
            raise InvalidMessage("the gzip body is truncated; send the whole compressed body")
        rest = inflater.unused_data
    return b"".join(parts)


def _too_large(what: str, limit: int, found: str) -> InvalidMessage:
    return InvalidMessage(
        f"{what} may hold at most {limit} bytes of JSON (Segment's limit) and this one {found}; "
        "send smaller events, or fewer per batch",
        status=413,
    )
