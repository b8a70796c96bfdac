"""The CRM's customer table, typed in by hand over the years and just as messy.

``data/crm/customers.csv`` has ``crm_id,first_name,last_name,dob,street,city,zip,phone,
email,loyalty_card,updated_at``, one row per record, ordered by ``crm_id``. Everyone with
a loyalty card or a web-shop account is (almost always) in the CRM, and some others. Some
people have a second record, older and noisier, sometimes with the address they moved
from. Each record may carry the errors and variations of :mod:`personae.demo.noise` at
the rates of :data:`NOISE`; birth dates are ``MM/DD/YYYY``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from personae.demo.names import STREETS
from personae.demo.noise import nicknames, phone_text, typos, upper_where
from personae.demo.people import People
from personae.demo.text import (
    SECONDS_PER_DAY,
    CsvFile,
    blank_where,
    concat,
    dates,
    digits,
    integers,
    pick,
    slices,
    timestamps,
)
from personae.demo.timeline import Timeline
from personae.demo.tokens import unique_numbers
from personae.demo.truth import Truth

SOURCE = "crm"
_SLICE = 500_000
_HEADER = [
    "crm_id",
    "first_name",
    "last_name",
    "dob",
    "street",
    "city",
    "zip",
    "phone",
    "email",
    "loyalty_card",
    "updated_at",
]
_PHONE_STYLES = np.array([0.35, 0.25, 0.12, 0.10, 0.12, 0.06])

NOISE: dict[str, float] = {
    "first_name_nickname": 0.06,
    "first_name_typo": 0.04,
    "last_name_typo": 0.04,
    "names_swapped": 0.015,
    "name_upper_case": 0.02,
    "dob_missing": 0.08,
    "dob_day_month_swapped": 0.01,
    "street_typo": 0.04,
    "street_suffix_spelled_out": 0.10,
    "street_missing": 0.04,
    "city_missing": 0.02,
    "city_upper_case": 0.03,
    "zip_missing": 0.03,
    "phone_missing": 0.12,
    "email_missing": 0.10,
    "loyalty_card_missing": 0.05,
    "duplicate_record": 0.04,
}
"""Chance of each error or variation per record (typos twice as likely in a duplicate)."""


def specs() -> list[dict[str, Any]]:
    return [
        {
            "name": SOURCE,
            "kind": "customers",
            "path": "data/crm/customers.csv",
            "description": "CRM customer records, typed by hand: typos, nicknames, duplicates",
            "columns": {
                "record_id": "crm_id",
                "updated_at": "updated_at",
                "first_name": "first_name",
                "last_name": "last_name",
                "birth_date": "dob",
                "street": "street",
                "city": "city",
                "postcode": "zip",
            },
            "identifiers": {
                "crm_id": "crm_id",
                "email": "email",
                "phone": "phone",
                "loyalty_id": "loyalty_card",
            },
            "formats": {"birth_date": "%m/%d/%Y"},
        }
    ]


def _chance(rng: np.random.Generator, name: str, count: int, factor: np.ndarray | float = 1.0) -> np.ndarray:
    result: np.ndarray = rng.random(count) < NOISE[name] * factor
    return result


def write_crm(folder: Path, rng: np.random.Generator, people: People, timeline: Timeline, truth: Truth) -> list[Path]:
    """Write the CRM table; returns the file written."""
    count = people.count
    member = (people.card > 0) | ((people.user > 0) & (rng.random(count) < 0.9)) | (rng.random(count) < 0.3)
    members = np.flatnonzero(member)
    twins = members[_chance(rng, "duplicate_record", len(members))]
    person = np.concatenate([members, twins]).astype(np.int64)
    twin = np.r_[np.zeros(len(members), dtype=bool), np.ones(len(twins), dtype=bool)]
    crm_number = unique_numbers(rng, len(person), 7)
    order = np.argsort(crm_number)
    person, twin, crm_number = person[order], twin[order], crm_number[order]
    crm_id = digits(crm_number, 7, "C")
    truth.add(SOURCE, crm_id, person)
    truth.note("crm_ids", person, crm_id)

    path = folder / "customers.csv"
    with CsvFile(path, _HEADER) as out:
        for start, stop in slices(len(person), _SLICE):
            columns = _records(rng, people, timeline, person[start:stop], twin[start:stop])
            out.write([crm_id[start:stop], *columns])
    return [path]


def _records(
    rng: np.random.Generator, people: People, timeline: Timeline, person: np.ndarray, twin: np.ndarray
) -> list[pa.Array]:
    """The columns after ``crm_id`` for the records of ``person`` (``twin``: a duplicate)."""
    size = len(person)
    details = people.details
    typo_factor = np.where(twin, 2.0, 1.0)

    first = nicknames(details.first[person], _chance(rng, "first_name_nickname", size))
    first = typos(rng, first, _chance(rng, "first_name_typo", size, typo_factor))
    last = typos(rng, details.last_names(person), _chance(rng, "last_name_typo", size, typo_factor))
    upper = _chance(rng, "name_upper_case", size)
    first, last = upper_where(first, upper), upper_where(last, upper)
    swapped = pa.array(_chance(rng, "names_swapped", size))
    first, last = pc.if_else(swapped, last, first), pc.if_else(swapped, first, last)

    birth = details.birth[person].astype(np.int64)
    dob = dates(birth, "us")
    as_days = birth.astype("datetime64[D]")
    day_of_month = (as_days - as_days.astype("datetime64[M]")).astype(np.int64) + 1
    swap = _chance(rng, "dob_day_month_swapped", size) & (day_of_month <= 12)
    month_day = pc.utf8_slice_codeunits(dob, 0, 2)
    day_month = concat(pc.utf8_slice_codeunits(dob, 3, 5), "/", month_day, "/", pc.utf8_slice_codeunits(dob, 6, 10))
    dob = pc.if_else(pa.array(swap), day_month, dob)
    dob = blank_where(dob, _chance(rng, "dob_missing", size))

    street = details.streets(person, spelled_out=_chance(rng, "street_suffix_spelled_out", size))
    moved = twin & (rng.random(size) < 0.3)
    old = concat(
        integers(rng.integers(1, 9_999, size=size)),
        " ",
        pick(STREETS, rng.integers(0, len(STREETS), size=size)),
        " St",
    )
    street = pc.if_else(pa.array(moved), old, street)
    street = typos(rng, street, _chance(rng, "street_typo", size, typo_factor))
    street = blank_where(street, _chance(rng, "street_missing", size))
    city = upper_where(details.cities(person), _chance(rng, "city_upper_case", size))
    city = blank_where(city, _chance(rng, "city_missing", size))
    postcode = blank_where(details.postcode.take(pa.array(person)), _chance(rng, "zip_missing", size))

    number = details.phone[person]
    style = rng.choice(len(_PHONE_STYLES), size=size, p=_PHONE_STYLES)
    phone = blank_where(phone_text(number, style), (number == 0) | _chance(rng, "phone_missing", size))
    email_gone = _chance(rng, "email_missing", size) | (twin & (rng.random(size) < 0.4))
    email = blank_where(details.emails(person), email_gone)
    card = people.card[person]
    loyalty = blank_where(digits(card, 12), (card == 0) | _chance(rng, "loyalty_card_missing", size))

    low = people.active_from[person].astype(np.int64)
    day = low + (rng.random(size) * (timeline.days - low)).astype(np.int64)
    day = np.where(twin, np.minimum(day, low), day)
    updated = timestamps(timeline.first_second + day * SECONDS_PER_DAY + rng.integers(8 * 3600, 18 * 3600, size=size))
    return [first, last, dob, street, city, postcode, phone, email, loyalty, updated]
