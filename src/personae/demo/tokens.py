"""Random identifiers the way real systems mint them: UUIDs, opaque tokens and unique
numbers, drawn from a seeded generator so that a world is reproducible.

Every function returns Arrow strings (or numpy integers) for a whole batch at once.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from personae.demo.text import from_chars, put_text

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_BASE62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
_DASHES = (8, 13, 18, 23)


def streams(seed: int, count: int) -> list[np.random.Generator]:
    """``count`` independent generators from one seed, one per part of the world, so that
    changing how one part draws does not shift the others."""
    return [np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(count)]


def uuids(rng: np.random.Generator, count: int) -> pa.Array:
    """Random version-4 UUIDs, lower-case with dashes."""
    nibbles = rng.integers(0, 16, size=(count, 32), dtype=np.uint8)
    nibbles[:, 12] = 4
    nibbles[:, 16] = 8 + nibbles[:, 16] % 4
    chars = np.empty((count, 36), dtype=np.uint8)
    hexed = _HEX[nibbles]
    source = 0
    target = 0
    for dash in (*_DASHES, 36):
        width = dash - target
        chars[:, target:dash] = hexed[:, source : source + width]
        source += width
        if dash < 36:
            chars[:, dash] = ord("-")
        target = dash + 1
    return from_chars(chars)


def opaque(
    rng: np.random.Generator, count: int, length: int, prefix: str = "", *, hexadecimal: bool = False
) -> pa.Array:
    """Random tokens of ``length`` base-62 (or hex) characters after ``prefix``."""
    alphabet = _HEX if hexadecimal else _BASE62
    chars = np.empty((count, len(prefix) + length), dtype=np.uint8)
    put_text(chars, 0, prefix)
    chars[:, len(prefix) :] = alphabet[rng.integers(0, len(alphabet), size=(count, length))]
    return from_chars(chars)


def unique_numbers(rng: np.random.Generator, count: int, width: int) -> np.ndarray:
    """``count`` distinct random numbers of exactly ``width`` digits (no leading zero)."""
    low = 10 ** (width - 1)
    if count > 9 * low:
        raise ValueError(f"cannot draw {count} distinct {width}-digit numbers")
    drawn = rng.choice(9 * low, size=count, replace=False, shuffle=True)
    result: np.ndarray = drawn.astype(np.int64) + low
    return result
