"""How source systems get a person's details wrong, or merely different.

Typing errors are single keyboard slips (a neighbouring key, a dropped, doubled-up or
swapped letter), one or two per damaged value, as in the Febrl generator. Besides errors
there are variations that a good matcher must see through: nicknames, upper-case names,
spelled-out street suffixes, e-mail addresses typed with capitals or stray spaces, and
phone numbers in half a dozen formats.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from personae.demo.names import FIRST_NAMES, NICKNAMES
from personae.demo.text import concat, from_chars, pick, put_digits, put_text, scatter

_KEYBOARD = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEIGHBOURS: dict[str, str] = {
    key: row[max(i - 1, 0) : i] + row[i + 1 : i + 2] for row in _KEYBOARD for i, key in enumerate(row)
}
_SUBSTITUTE, _DELETE, _INSERT, _TRANSPOSE = range(4)
_EDIT_WEIGHTS = np.array([0.4, 0.25, 0.2, 0.15])

PHONE_STYLES: tuple[str, ...] = (
    "(212) 555-0123",
    "212-555-0123",
    "212.555.0123",
    "+1 212 555 0123",
    "2125550123",
    "+12125550123",
)
"""How phone numbers are written, by example; :func:`phone_text` writes each style."""


def _edit(text: str, operation: int, where: float, pick_: float) -> str:
    """``text`` with one typing error; the first letter is left alone, as people rarely
    mistype it."""
    if len(text) < 2:
        return text + "e"
    position = 1 + int(where * (len(text) - 1))
    position = min(position, len(text) - 1)
    char = text[position]
    if operation == _TRANSPOSE and position < len(text) - 1 and text[position + 1] != char:
        return text[:position] + text[position + 1] + char + text[position + 2 :]
    if operation == _DELETE and len(text) > 3:
        return text[:position] + text[position + 1 :]
    neighbours = _NEIGHBOURS.get(char.lower(), "") or "e"
    typed = neighbours[int(pick_ * len(neighbours)) % len(neighbours)]
    typed = typed.upper() if char.isupper() else typed
    if operation == _INSERT:
        return text[:position] + typed + text[position:]
    if typed == char:
        typed = "a" if char != "a" else "e"
    return text[:position] + typed + text[position + 1 :]


def typos(rng: np.random.Generator, values: pa.Array, mask: np.ndarray) -> pa.Array:
    """``values`` with one (sometimes two) typing errors in each non-null row under ``mask``."""
    valid = values.is_valid().to_numpy(zero_copy_only=False)
    damaged = mask & valid
    rows = np.flatnonzero(damaged)
    if len(rows) == 0:
        return values
    operations = rng.choice(len(_EDIT_WEIGHTS), size=(len(rows), 2), p=_EDIT_WEIGHTS)
    uniforms = rng.random((len(rows), 4))
    twice = rng.random(len(rows)) < 0.2
    texts = values.take(pa.array(rows)).to_pylist()
    edited = []
    for text, ops, u, again in zip(texts, operations, uniforms, twice, strict=True):
        text = _edit(text, int(ops[0]), float(u[0]), float(u[1]))
        if again:
            text = _edit(text, int(ops[1]), float(u[2]), float(u[3]))
        edited.append(text)
    return pc.replace_with_mask(values, pa.array(damaged), pa.array(edited, pa.string()))


def nicknames(first: np.ndarray, mask: np.ndarray) -> pa.Array:
    """First names, with the usual nickname under ``mask`` where the name has one."""
    names = pick(FIRST_NAMES, first)
    nick = pick(NICKNAMES, first)
    use = pc.and_(pa.array(mask, pa.bool_()), pc.not_equal(nick, ""))
    return pc.if_else(use, nick, names)


def upper_where(values: pa.Array, mask: np.ndarray) -> pa.Array:
    return pc.if_else(pa.array(mask, pa.bool_()), pc.utf8_upper(values), values)


def phone_text(numbers: np.ndarray, style: np.ndarray) -> pa.Array:
    """Ten-digit numbers written in :data:`PHONE_STYLES` ``style``, one style per row."""
    area, rest = np.divmod(numbers.astype(np.int64), 10_000_000)
    exchange, line = np.divmod(rest, 10_000)
    parts = []
    for index, example in enumerate(PHONE_STYLES):
        rows = np.flatnonzero(style == index)
        chars = np.frombuffer(example.encode("ascii"), dtype=np.uint8)
        matrix = np.repeat(chars[None, :], len(rows), axis=0)
        places = [i for i, c in enumerate(example) if c.isdigit()]
        if example.startswith("+1"):
            places = places[1:]
        put_digits_at(matrix, places, area[rows] * 10_000_000 + exchange[rows] * 10_000 + line[rows])
        parts.append((rows, from_chars(matrix)))
    return scatter(parts, len(numbers))


def put_digits_at(matrix: np.ndarray, places: list[int], values: np.ndarray) -> None:
    """Write the digits of ``values`` (as many as ``places``) into the given columns."""
    rest = values.astype(np.int64)
    for column in reversed(places):
        matrix[:, column] = ord("0") + rest % 10
        rest = rest // 10


def e164(numbers: np.ndarray) -> pa.Array:
    """Ten-digit numbers as ``+1`` and the digits."""
    chars = np.empty((len(numbers), 12), dtype=np.uint8)
    put_text(chars, 0, "+1")
    put_digits(chars, 2, numbers, 10)
    return from_chars(chars)


def email_variants(rng: np.random.Generator, emails: pa.Array, mask: np.ndarray) -> pa.Array:
    """E-mail addresses as people type them: under ``mask``, with capitals
    (``Jane.Doe@Gmail.com``), in upper case, or with a stray leading or trailing space."""
    mask = mask & emails.is_valid().to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(mask)
    if len(rows) == 0:
        return emails
    chosen = emails.take(pa.array(rows))
    parts = pc.extract_regex(chosen, r"(?P<local>[^@]*)@(?P<domain>.*)")
    local = pc.struct_field(parts, "local")
    domain = pc.struct_field(parts, "domain")
    capitalised = concat(pc.utf8_title(local), "@", pc.utf8_capitalize(domain))
    variants = [
        capitalised,
        pc.utf8_upper(chosen),
        concat(" ", capitalised),
        concat(chosen, " "),
        pc.utf8_capitalize(chosen),
    ]
    count = len(rows)
    kind = rng.choice(len(variants), size=count, p=[0.35, 0.15, 0.2, 0.15, 0.15])
    varied = pa.concat_arrays([v.cast(pa.string()) for v in variants]).take(pa.array(kind * count + np.arange(count)))
    return pc.replace_with_mask(emails.cast(pa.string()), pa.array(mask), varied)
