"""Untrusted JSON in and out: decoding, nesting depth, NUL characters and lone surrogates.

JSON library: orjson, chosen by measurement. ``bench/messages.py`` parses, validates and
serialises a 100-event batch as ``segment-analytics-python`` sends it (547 bytes per event),
the Python checks being personae's own for every contender (CPU time, median of 11 x 100,
on a shared 2-core machine; two runs agreed within 8%):

    | contender             | keeps unknown keys | µs per batch | speed vs stdlib |
    |-----------------------|--------------------|-------------:|----------------:|
    | json (stdlib)         | yes                |         4012 |           1.00x |
    | orjson                | yes                |         1782 |           2.25x |
    | msgspec, dicts        | yes                |         1876 |           2.14x |
    | msgspec, typed Struct | no                 |         2064 |           1.94x |
    | personae parse_call   | yes                |         2128 |           1.89x |

orjson is the fastest that keeps every key. A typed ``msgspec.Struct`` checks types in C and
gives each event's byte span for free (``msgspec.Raw``), but it drops the keys it does not
declare (``channel``, ``version``, ``category``, ...), which the journal must keep, and its
errors say ``Invalid enum value 'trak' - at `$.type``` where ours name the message and the fix;
what is left in Python (ids, times, the depth walk) dominates anyway. orjson also refuses
what must not reach the journal: ``NaN``/``Infinity`` (not JSON; DuckDB's ``json_valid``
refuses them), invalid UTF-8, and nesting past 1024 levels, without Python recursion.

Two things in valid JSON text are handled on purpose, because of what reads the journal:

- **Lone surrogates** (``"\\ud83d"`` without its pair) are legal JSON escapes and what a
  browser sends when a script cuts a string in the middle of an emoji (JavaScript strings
  are UTF-16). They cannot be encoded as UTF-8, so DuckDB refuses the line ("no low
  surrogate in string") and Parquet cannot store it. Rejecting the request would drop the
  whole batch (the SDKs do not retry a 400); so each lone surrogate becomes U+FFFD, as
  ``TextEncoder`` and ``String.prototype.toWellFormed`` do in the browser, and the message
  is flagged ``surrogate_replaced``. orjson refuses such bodies, so only then is the body
  decoded again with the standard library, which keeps them for the repair.
- **NUL characters** (``"\\u0000"``) are kept by DuckDB and Parquet but refused by
  PostgreSQL (``text`` and ``jsonb``, a destination of ours) and cut strings short in C
  libraries; an identifier with a trailing NUL would never match its clean twin. They
  carry no meaning, so they are removed from keys and values and the message is flagged
  ``nul_removed``. The repair walk runs only when the body contains ``\\u0000`` or a lone
  surrogate, so clean bodies pay nothing for it.

Every message is walked once for its nesting depth (containers only, no strings), so that
a property nested deeper than the limit is refused with its path.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from dataclasses import dataclass
from typing import Any

import orjson

SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
"""A UTF-16 surrogate written as a JSON escape (paired or not)."""
NUL_ESCAPE = b"\\u0000"
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
"""A surrogate left in a decoded ``str``: pairs are combined by the decoder, so it is lone."""
INT64_MIN, UINT64_MAX = -(2**63), 2**64 - 1
CONTAINERS = (dict, list)


class JSONError(ValueError):
    """The text is not JSON; the message says where (from the decoder)."""


class TooDeep(Exception):
    """A container nested past the limit; ``path`` is filled in on the way out."""

    def __init__(self) -> None:
        super().__init__("too deep")
        self.path: list[str] = []


@dataclass(frozen=True)
class Decoded:
    """A decoded body, and whether its strings need the repair walk."""

    value: Any
    repair: bool


def decode_json(raw: bytes) -> Decoded:
    """The JSON value of ``raw`` (UTF-8, an optional BOM); raises :class:`JSONError`."""
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        return Decoded(orjson.loads(raw), NUL_ESCAPE in raw)
    except orjson.JSONDecodeError as error:
        if SURROGATE_ESCAPE.search(raw) is None:
            raise JSONError(str(error)) from error
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_no_constant, parse_int=_integer, parse_float=_real)
    except RecursionError as error:
        raise JSONError("nested too deeply to decode") from error
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        raise JSONError(str(error)) from error
    return Decoded(value, True)


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON on one line (newlines in strings are escaped)."""
    return orjson.dumps(value)


def check_depth(value: dict[str, Any] | list[Any], limit: int, depth: int = 1) -> None:
    """Raise :class:`TooDeep` when a container inside ``value`` (at ``depth``) passes ``limit``."""
    children = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in children:
        if isinstance(child, CONTAINERS):
            try:
                if depth >= limit:
                    raise TooDeep
                check_depth(child, limit, depth + 1)
            except TooDeep as too_deep:
                too_deep.path.append(str(key))
                raise


def repaired(value: Any, limit: int, flags: set[str], depth: int = 1) -> Any:
    """``value`` with NULs removed and lone surrogates replaced (and the depth checked)."""
    if isinstance(value, str):
        return repaired_text(value, flags)
    if isinstance(value, dict):
        return {
            repaired_text(key, flags): _repaired_child(key, child, limit, flags, depth) for key, child in value.items()
        }
    if isinstance(value, list):
        return [_repaired_child(index, child, limit, flags, depth) for index, child in enumerate(value)]
    return value


def _repaired_child(key: str | int, child: Any, limit: int, flags: set[str], depth: int) -> Any:
    try:
        if isinstance(child, CONTAINERS) and depth >= limit:
            raise TooDeep
        return repaired(child, limit, flags, depth + 1)
    except TooDeep as too_deep:
        too_deep.path.append(str(key))
        raise


def repaired_text(text: str, flags: set[str]) -> str:
    if "\x00" in text:
        text = text.replace("\x00", "")
        flags.add("nul_removed")
    if not text.isascii() and LONE_SURROGATE.search(text):
        text = LONE_SURROGATE.sub("\ufffd", text)
        flags.add("surrogate_replaced")
    return text


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _integer(text: str) -> int | float:
    """As orjson: integers beyond 64 bits become floats (orjson cannot write them back)."""
    number = int(text)
    if INT64_MIN <= number <= UINT64_MAX:
        return number
    try:
        return float(number)
    except OverflowError as error:
        raise ValueError(f"number {text[:20]}... is out of range") from error


def _real(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number {text} is out of range")
    return number
