"""The website's tracking events, in the Segment spec's shape, one JSON line per event.

People who browse visit in sessions from one of their browsers (each with its own
``anonymousId``). A session opens on the home page, views and adds products from the
person's category mix, and some end at checkout, just before a web-shop order. Signing
in sends an ``identify`` with the ``userId`` and the e-mail address, and every later event
of the session carries the ``userId``; a guest checkout sends an ``identify`` with only
the e-mail address. Files are ``data/web/events-YYYY-MM.jsonl``, in time order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from personae.demo.catalog import CATEGORIES, Catalog
from personae.demo.noise import email_variants
from personae.demo.orders import Orders
from personae.demo.people import DEVICES, People
from personae.demo.text import SECONDS_PER_DAY, concat, pick, slices, timestamps, write_lines
from personae.demo.timeline import Timeline, clock
from personae.demo.tokens import uuids
from personae.demo.truth import Truth

SOURCE = "web"
_SLICE = 500_000
HOME, PRODUCT_PAGE, VIEWED, ADDED, CHECKOUT, SIGN_IN, GUEST = range(7)
_TYPES = ("page", "page", "track", "track", "track", "identify", "identify")
_NAMES = (
    ',"name":"Home"',
    ',"name":"Product"',
    ',"event":"Product Viewed"',
    ',"event":"Product Added"',
    ',"event":"Checkout Started"',
    "",
    "",
)
_FIXED_PROPERTIES = (',"properties":{"path":"/"}', "", "", "", ',"properties":{"path":"/checkout"}', "", "")


def specs() -> list[dict[str, Any]]:
    return [
        {
            "name": SOURCE,
            "kind": "events",
            "path": "data/web/events-*.jsonl",
            "description": "website tracking events (Segment spec)",
        }
    ]


@dataclass(frozen=True)
class Sessions:
    person: np.ndarray
    device: np.ndarray
    start_ms: np.ndarray
    size: np.ndarray
    """Events in the session."""
    signed_in: np.ndarray
    guest_checkout: np.ndarray
    checkout: np.ndarray


def draw_sessions(rng: np.random.Generator, people: People, orders: Orders, timeline: Timeline) -> Sessions:
    """Browsing sessions of web-active people, and checkout sessions before some web orders."""
    browsing = np.flatnonzero(people.web_active)
    visits = 1 + rng.poisson(0.6, size=len(browsing))
    person = np.repeat(browsing, visits)
    count = len(person)
    low = people.active_from[person].astype(np.int64)
    high = people.active_until[person].astype(np.int64)
    day = timeline.sample_days(np.zeros(count, dtype=np.int64), low, high, rng.random(count))
    second = np.minimum(clock(rng, count, in_store=False), SECONDS_PER_DAY - 3_600)
    browse_start = (timeline.first_second + day * SECONDS_PER_DAY + second) * 1000
    browse_size = 2 + np.minimum(rng.poisson(1.5, size=count), 10)
    browse_signed = (people.user[person] > 0) & (rng.random(count) < 0.4)

    web_orders = np.flatnonzero(orders.online & (rng.random(orders.count) < 0.2))
    buyer = orders.person[web_orders]
    checkout_size = 3 + np.minimum(rng.poisson(1.5, size=len(web_orders)), 8)
    # placeholder start: shifted below so the session ends just before the order
    checkout_start = orders.ts[web_orders] * 1000

    person = np.concatenate([person, buyer]).astype(np.int64)
    devices = np.maximum(people.devices[person], 1)
    return Sessions(
        person=person,
        device=(rng.random(len(person)) * devices).astype(np.int64),
        start_ms=np.concatenate([browse_start, checkout_start]),
        size=np.concatenate([browse_size, checkout_size]),
        signed_in=np.concatenate([browse_signed, orders.signed_in[web_orders]]),
        guest_checkout=np.concatenate([np.zeros(count, dtype=bool), ~orders.signed_in[web_orders]]),
        checkout=np.concatenate([np.zeros(count, dtype=bool), np.ones(len(web_orders), dtype=bool)]),
    )


@dataclass(frozen=True)
class Events:
    """Events in time order."""

    person: np.ndarray
    device: np.ndarray
    ts_ms: np.ndarray
    kind: np.ndarray
    with_user: np.ndarray
    category: np.ndarray
    product: np.ndarray


def expand(
    rng: np.random.Generator, sessions: Sessions, people: People, catalog: Catalog, timeline: Timeline
) -> Events:
    """The events of every session that lies within the period, sorted by time."""
    size = sessions.size.astype(np.int64)
    session = np.repeat(np.arange(len(size)), size)
    first = np.cumsum(size) - size
    position = np.arange(len(session)) - first[session]
    gap = rng.integers(4_000, 120_000, size=len(session))
    gap[first] = 0
    elapsed = np.cumsum(gap)
    elapsed -= elapsed[first][session]
    last = elapsed[first + size - 1]
    start = np.where(sessions.checkout, sessions.start_ms - 30_000 - last, sessions.start_ms)
    ts_ms = start[session] + elapsed

    count = len(session)
    kind = rng.choice([PRODUCT_PAGE, VIEWED, ADDED], size=count, p=[0.45, 0.4, 0.15])
    kind[position == 0] = HOME
    n = size[session]
    kind[sessions.checkout[session] & (position == n - 1)] = CHECKOUT
    sign_in_at = np.where(sessions.guest_checkout, size - 2, np.where(sessions.signed_in, 1, -1))
    at = position == sign_in_at[session]
    kind[at] = np.where(sessions.guest_checkout[session[at]], GUEST, SIGN_IN)
    with_user = sessions.signed_in[session] & (position >= sign_in_at[session])

    person = sessions.person[session]
    category = (rng.random(count, dtype=np.float32)[:, None] >= people.mix[person]).sum(axis=1)
    category = np.minimum(category, len(CATEGORIES) - 1)
    product = category * catalog.per_category + rng.integers(0, catalog.per_category, size=count)

    end_ms = (timeline.first_second + timeline.days * SECONDS_PER_DAY) * 1000
    inside = (start >= timeline.first_second * 1000) & (start + last < end_ms)
    keep = inside[session]
    order = np.flatnonzero(keep)[np.lexsort((person[keep], ts_ms[keep]))]
    return Events(
        person=person[order],
        device=sessions.device[session][order],
        ts_ms=ts_ms[order],
        kind=kind[order].astype(np.int8),
        with_user=with_user[order],
        category=category[order].astype(np.int8),
        product=product[order],
    )


def event_lines(
    rng: np.random.Generator, events: Events, rows: np.ndarray, people: People, catalog: Catalog
) -> tuple[pa.Array, pa.Array]:
    """The JSON lines of the events at ``rows``, and their message ids."""
    person = events.person[rows]
    kind = events.kind[rows]
    size = len(rows)
    message = uuids(rng, size)
    anonymous = people.anonymous.take(pa.array(person * DEVICES + events.device[rows]))
    user = pc.if_else(pa.array(events.with_user[rows]), concat(',"userId":"', people.user_ids(person), '"'), "")
    email = email_variants(rng, pc.fill_null(people.details.emails(person), ""), rng.random(size) < 0.1)
    traits = concat(',"traits":{"email":"', email, '"}')
    product_id = pick(catalog.product_names(), events.product[rows])
    category = pick(CATEGORIES, events.category[rows])
    about = concat(',"properties":{"category":"', category, '","product_id":"', product_id, '"}')
    is_product = np.isin(kind, (PRODUCT_PAGE, VIEWED, ADDED))
    is_identify = np.isin(kind, (SIGN_IN, GUEST))
    properties = pc.if_else(
        pa.array(is_product), about, pc.if_else(pa.array(is_identify), traits, pick(_FIXED_PROPERTIES, kind))
    )
    seconds, millis = np.divmod(events.ts_ms[rows], 1000)
    line = concat(
        '{"messageId":"',
        message,
        '","type":"',
        pick(_TYPES, kind),
        '","anonymousId":"',
        anonymous,
        '"',
        user,
        pick(_NAMES, kind),
        properties,
        ',"timestamp":"',
        timestamps(seconds, millis=millis),
        '"}',
    )
    return line, message


def write_web(
    folder: Path, rng: np.random.Generator, events: Events, people: People, catalog: Catalog, truth: Truth
) -> list[Path]:
    """Write one JSON-lines file per month; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    month = (events.ts_ms // 1000).astype("datetime64[s]").astype("datetime64[M]")
    written = []
    for this_month in np.unique(month):
        path = folder / f"events-{this_month.astype(str)}.jsonl"
        chosen = np.flatnonzero(month == this_month)
        with path.open("wb") as out:
            for start, stop in slices(len(chosen), _SLICE):
                rows = chosen[start:stop]
                line, message = event_lines(rng, events, rows, people, catalog)
                write_lines(out, line)
                truth.add(SOURCE, message, events.person[rows])
        written.append(path)
    return written
