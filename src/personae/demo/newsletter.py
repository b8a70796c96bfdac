"""The e-mail platform's contact list, with consent and engagement.

``data/email/contacts.csv`` has ``contact_id,email,opted_in,opens_90d,clicks_90d,
updated_at``: most people with an e-mail address are contacts, about 70% of them opted in
to marketing. Opens and clicks over the last 90 days follow each contact's engagement:
nothing without consent, little from churned customers, more clicks from
promotion-driven people. Contacts are listed in the platform's id order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from personae.demo.noise import email_variants
from personae.demo.people import People
from personae.demo.text import SECONDS_PER_DAY, CsvFile, booleans, integers, slices, timestamps
from personae.demo.timeline import Timeline
from personae.demo.tokens import opaque
from personae.demo.truth import Truth

SOURCE = "email"
_SLICE = 500_000
OPT_IN = 0.70


def specs() -> list[dict[str, Any]]:
    return [
        {
            "name": SOURCE,
            "kind": "customers",
            "path": "data/email/contacts.csv",
            "description": "e-mail platform contacts: consent and engagement over 90 days",
            "columns": {
                "record_id": "contact_id",
                "updated_at": "updated_at",
                "email_opt_in": "opted_in",
                "email_opens": "opens_90d",
                "email_clicks": "clicks_90d",
            },
            "identifiers": {"email": "email"},
        }
    ]


def write_newsletter(
    folder: Path, rng: np.random.Generator, people: People, timeline: Timeline, truth: Truth
) -> list[Path]:
    """Write the contact list; returns the file written."""
    details = people.details
    listed = details.has_email & (rng.random(people.count) < 0.85)
    person = np.flatnonzero(listed).astype(np.int64)
    size = len(person)
    contact = opaque(rng, size, 16, hexadecimal=True)
    order = pc.sort_indices(contact).to_numpy()
    person, contact = person[order], contact.take(pa.array(order))
    truth.add(SOURCE, contact, person)
    truth.note("contact_id", person, contact)

    opted = rng.random(size) < OPT_IN
    lapsed = people.churner[person]
    engagement = rng.gamma(1.5, 8.0 / 1.5, size=size) * np.where(lapsed, 0.1, 1.0)
    opens = np.where(opted, rng.poisson(engagement), 0)
    click_rate = np.where(people.promo_driven[person], 0.25, 0.1)
    clicks = rng.binomial(opens, click_rate)
    joined = people.active_from[person]
    low = np.where(opted, np.maximum(joined, timeline.days - 90), joined)
    day = low + (rng.random(size) * (timeline.days - low)).astype(np.int64)
    updated = timeline.first_second + day * SECONDS_PER_DAY + rng.integers(0, SECONDS_PER_DAY, size=size)
    typed = email_variants(rng, details.emails(person), rng.random(size) < 0.05)

    path = folder / "contacts.csv"
    with CsvFile(path, ["contact_id", "email", "opted_in", "opens_90d", "clicks_90d", "updated_at"]) as out:
        for start, stop in slices(size, _SLICE):
            out.write(
                [
                    contact[start:stop],
                    typed[start:stop],
                    booleans(opted[start:stop]),
                    integers(opens[start:stop]),
                    integers(clicks[start:stop]),
                    timestamps(updated[start:stop]),
                ]
            )
    return [path]
