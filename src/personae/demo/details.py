"""Who the demo's people are: names, birth dates, addresses, e-mail addresses and phones.

These are the *true* values; every source system holds its own, sometimes altered, copy
(see :mod:`personae.demo.noise`). E-mail addresses and phone numbers are unique per
person, so that the truth never has two people sharing an identifier; names are not, so
there are several people called Michael Smith, as in real data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from personae.demo.names import (
    CITIES,
    EMAIL_DOMAINS,
    FEMALE_NAMES,
    FIRST_NAMES,
    LAST_NAMES,
    MALE_NAMES,
    STREET_SUFFIXES,
    STREETS,
    zipf_weights,
)
from personae.demo.text import concat, digits, from_chars, integers, pick, put_digits

_LETTERS = np.frombuffer(b"ABCEGHJKLMNPRSTVXY", dtype=np.uint8)  # letters used in Canadian postcodes
_SUFFIX_WEIGHTS = np.array([0.30, 0.22, 0.14, 0.12, 0.08, 0.04, 0.05, 0.02, 0.03])
_EMAIL_PATTERNS = np.array([0.34, 0.18, 0.20, 0.10, 0.18])
"""first.last, firstlast, flast, first_last, first + year."""


@dataclass(frozen=True)
class Details:
    """True personal details, one entry per person."""

    gender: np.ndarray
    """0 female, 1 male."""
    first: np.ndarray
    """Index into :data:`~personae.demo.names.FIRST_NAMES`."""
    last: np.ndarray
    """Index into :data:`~personae.demo.names.LAST_NAMES`."""
    birth: np.ndarray
    """Days since 1970-01-01."""
    house: np.ndarray
    street: np.ndarray
    """Index into :data:`~personae.demo.names.STREETS`."""
    suffix: np.ndarray
    """Index into :data:`~personae.demo.names.STREET_SUFFIXES`."""
    city: np.ndarray
    """Index into :data:`~personae.demo.names.CITIES`."""
    postcode: pa.Array
    email: pa.Array
    """Lower-case address; null for people without one."""
    phone: np.ndarray
    """Ten-digit North American number; 0 for people without one."""

    @property
    def count(self) -> int:
        return len(self.gender)

    @property
    def has_email(self) -> np.ndarray:
        result: np.ndarray = self.email.is_valid().to_numpy(zero_copy_only=False)
        return result

    def first_names(self, index: np.ndarray) -> pa.Array:
        return pick(FIRST_NAMES, self.first[index])

    def last_names(self, index: np.ndarray) -> pa.Array:
        return pick(LAST_NAMES, self.last[index])

    def streets(self, index: np.ndarray, *, spelled_out: np.ndarray | None = None) -> pa.Array:
        """``12 Oak St``; ``spelled_out`` rows get ``12 Oak Street``."""
        suffix = self.suffix[index]
        short = pick([abbr for abbr, _ in STREET_SUFFIXES], suffix)
        if spelled_out is not None:
            long = pick([full for _, full in STREET_SUFFIXES], suffix)
            short = pc.if_else(pa.array(spelled_out), long, short)
        return concat(integers(self.house[index]), " ", pick(STREETS, self.street[index]), " ", short)

    def cities(self, index: np.ndarray) -> pa.Array:
        return pick([city.name for city in CITIES], self.city[index])

    def countries(self, index: np.ndarray) -> pa.Array:
        return pick([city.country for city in CITIES], self.city[index])

    def genders(self, index: np.ndarray) -> pa.Array:
        return pick(["F", "M"], self.gender[index])

    def emails(self, index: np.ndarray) -> pa.Array:
        return self.email.take(pa.array(index.astype(np.int64)))


def draw_details(rng: np.random.Generator, has_email: np.ndarray, first_day: int) -> Details:
    """Personal details for ``len(has_email)`` people, ages as on day ``first_day`` (days
    since the epoch); the people under ``has_email`` get an e-mail address."""
    count = len(has_email)
    gender = (rng.random(count) < 0.49).astype(np.int8)
    female = rng.choice(len(FEMALE_NAMES), size=count, p=zipf_weights(len(FEMALE_NAMES)))
    male = len(FEMALE_NAMES) + rng.choice(len(MALE_NAMES), size=count, p=zipf_weights(len(MALE_NAMES)))
    first = np.where(gender == 1, male, female).astype(np.int16)
    last = rng.choice(len(LAST_NAMES), size=count, p=zipf_weights(len(LAST_NAMES), 0.7)).astype(np.int16)
    age_days = (18 + np.minimum(rng.gamma(2.6, 10.0, size=count), 77)) * 365.25
    birth = (first_day - age_days).astype(np.int32)
    city_weight = np.array([city.weight for city in CITIES])
    city = rng.choice(len(CITIES), size=count, p=city_weight / city_weight.sum()).astype(np.int16)
    house = np.exp(rng.uniform(0, np.log(9_999), size=count)).astype(np.int32)
    street = rng.choice(len(STREETS), size=count, p=zipf_weights(len(STREETS), 0.5)).astype(np.int16)
    suffix = rng.choice(len(STREET_SUFFIXES), size=count, p=_SUFFIX_WEIGHTS).astype(np.int8)
    email = _emails(rng, first, last, birth)
    email = pc.if_else(pa.array(has_email), email, pa.scalar(None, pa.string()))
    return Details(
        gender=gender,
        first=first,
        last=last,
        birth=birth,
        house=house,
        street=street,
        suffix=suffix,
        city=city,
        postcode=_postcodes(rng, city),
        email=email,
        phone=_phones(rng, city, rng.random(count) < 0.85),
    )


def _postcodes(rng: np.random.Generator, city: np.ndarray) -> pa.Array:
    count = len(city)
    prefix = pick([c.postcode for c in CITIES], city)
    us = concat(prefix, digits(rng.integers(0, 100, size=count), 2))
    local = np.empty((count, 4), dtype=np.uint8)
    local[:, 0] = ord(" ")
    put_digits(local, 1, rng.integers(0, 10, size=count), 1)
    local[:, 2] = _LETTERS[rng.integers(0, len(_LETTERS), size=count)]
    put_digits(local, 3, rng.integers(0, 10, size=count), 1)
    canadian = concat(prefix, from_chars(local))
    is_us = np.array([c.country == "US" for c in CITIES])[city]
    return pc.if_else(pa.array(is_us), us, canadian)


def _duplicates(values: pa.Array) -> np.ndarray:
    """True for every value that already occurred earlier in the array."""
    codes = pc.dictionary_encode(values).indices.to_numpy(zero_copy_only=False)
    repeated = np.ones(len(codes), dtype=bool)
    repeated[np.unique(codes, return_index=True)[1]] = False
    return repeated


def _emails(rng: np.random.Generator, first: np.ndarray, last: np.ndarray, birth: np.ndarray) -> pa.Array:
    """Unique lower-case addresses made from each person's name, as people choose them."""
    count = len(first)
    given = pc.utf8_lower(pick(FIRST_NAMES, first))
    family = pc.replace_substring(pc.utf8_lower(pick(LAST_NAMES, last)), "'", "")
    year = digits((birth.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64)) % 100, 2)
    variants = [
        concat(given, ".", family),
        concat(given, family),
        concat(pc.utf8_slice_codeunits(given, 0, 1), family),
        concat(given, "_", family),
        concat(given, year),
    ]
    pattern = rng.choice(len(variants), size=count, p=_EMAIL_PATTERNS)
    local = pa.concat_arrays(variants).take(pa.array(pattern * count + np.arange(count)))
    numbered = rng.random(count) < 0.25
    local = pc.if_else(pa.array(numbered), concat(local, integers(rng.integers(1, 100, size=count))), local)
    weights = np.array([share for _, share in EMAIL_DOMAINS])
    domain = pick(
        [name for name, _ in EMAIL_DOMAINS],
        rng.choice(len(EMAIL_DOMAINS), size=count, p=weights / weights.sum()),
    )
    address = concat(local, "@", domain)
    while True:
        clash = _duplicates(address)
        if not clash.any():
            return address
        suffix = integers(rng.integers(100, 10_000, size=count))
        local = pc.if_else(pa.array(clash), concat(local, suffix), local)
        address = concat(local, "@", domain)


def _phones(rng: np.random.Generator, city: np.ndarray, has_phone: np.ndarray) -> np.ndarray:
    """Unique ten-digit numbers with an area code of the person's city; 0 where none."""
    count = len(city)
    codes = [c.area_codes for c in CITIES]
    which = rng.integers(0, 3, size=count)
    area = np.array([[c[i % len(c)] for i in range(3)] for c in codes])[city, which]
    phone = np.zeros(count, dtype=np.int64)
    todo = has_phone.copy()
    while todo.any():
        exchange = rng.integers(201, 1_000, size=int(todo.sum()))
        line = rng.integers(0, 10_000, size=int(todo.sum()))
        phone[todo] = area[todo].astype(np.int64) * 10_000_000 + exchange * 10_000 + line
        _, first_seen = np.unique(phone, return_index=True)
        keep = np.zeros(count, dtype=bool)
        keep[first_seen] = True
        todo = has_phone & ~keep
    return phone
