"""The web shop's exports: orders and their lines as Parquet.

``data/shop/orders.parquet`` has ``order_id, created_at (timestamp, UTC), email, user_id,
grand_total (double), coupon, discounted`` and ``data/shop/items.parquet`` has ``order_id, line_no,
product_id, category, quantity, price_total``. Order ids run in time order. The e-mail
address is typed at checkout, so it sometimes differs from the CRM's in case or
whitespace; ``user_id`` is set when the buyer was signed in to an account and null for
guest checkouts; ``coupon`` is the code of a promotion order and ``discounted`` says
whether one was used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from personae.demo.catalog import CATEGORIES, Catalog
from personae.demo.noise import email_variants
from personae.demo.orders import Items, Orders
from personae.demo.people import People
from personae.demo.text import concat, digits, integers, pick, slices
from personae.demo.truth import Truth

SOURCE = "shop"
ITEMS_SOURCE = "shop_items"
_SLICE = 1_000_000
_COUPON_PREFIXES = ("SAVE", "WELCOME", "FLASH", "VIP")
_ORDERS_SCHEMA = pa.schema(
    [
        ("order_id", pa.string()),
        ("created_at", pa.timestamp("ms")),
        ("email", pa.string()),
        ("user_id", pa.string()),
        ("grand_total", pa.float64()),
        ("coupon", pa.string()),
        ("discounted", pa.bool_()),
    ]
)
_ITEMS_SCHEMA = pa.schema(
    [
        ("order_id", pa.string()),
        ("line_no", pa.int32()),
        ("product_id", pa.string()),
        ("category", pa.string()),
        ("quantity", pa.int32()),
        ("price_total", pa.float64()),
    ]
)


def specs() -> list[dict[str, Any]]:
    return [
        {
            "name": SOURCE,
            "kind": "orders",
            "path": "data/shop/orders.parquet",
            "description": "web-shop orders; guests have an e-mail address but no user id",
            "columns": {
                "order_id": "order_id",
                "ts": "created_at",
                "amount": "grand_total",
                "channel": "'web'",
                "promo": "discounted",
            },
            "identifiers": {"email": "email", "user_id": "user_id"},
        },
        {
            "name": ITEMS_SOURCE,
            "kind": "order_items",
            "orders": SOURCE,
            "path": "data/shop/items.parquet",
            "description": "lines of the web-shop orders",
            "columns": {
                "order_id": "order_id",
                "line_id": "line_no",
                "product_id": "product_id",
                "category": "category",
                "quantity": "quantity",
                "amount": "price_total",
                "channel": "'web'",
            },
        },
    ]


def order_numbers(count: int) -> pa.Array:
    return digits(np.arange(10_000_001, 10_000_001 + count), 8, "W")


def write_shop(
    folder: Path,
    rng: np.random.Generator,
    orders: Orders,
    items: Items,
    totals: np.ndarray,
    people: People,
    catalog: Catalog,
    truth: Truth,
) -> list[Path]:
    """Write the web orders and their lines; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    chosen = np.flatnonzero(orders.online)
    numbers = order_numbers(len(chosen))
    rank = np.full(orders.count, -1, dtype=np.int64)
    rank[chosen] = np.arange(len(chosen))
    orders_path = folder / "orders.parquet"
    with pq.ParquetWriter(orders_path, _ORDERS_SCHEMA) as out:
        for start, stop in slices(len(chosen), _SLICE):
            index = chosen[start:stop]
            person = orders.person[index]
            size = len(index)
            typed = email_variants(rng, people.details.emails(person), rng.random(size) < 0.12)
            user = people.user_ids(person)
            millis = orders.ts[index] * 1000 + rng.integers(0, 1000, size=size)
            prefix = pick(_COUPON_PREFIXES, rng.integers(0, len(_COUPON_PREFIXES), size=size))
            coupon = concat(prefix, integers(orders.discount[index]))
            out.write_table(
                pa.table(
                    [
                        numbers[start:stop],
                        pa.array(millis).cast(pa.timestamp("ms")),
                        typed,
                        pc.if_else(pa.array(orders.signed_in[index]), user, pa.scalar(None, pa.string())),
                        pa.array(totals[index] / 100.0),
                        pc.if_else(pa.array(orders.promo[index]), coupon, pa.scalar(None, pa.string())),
                        pa.array(orders.promo[index]),
                    ],
                    schema=_ORDERS_SCHEMA,
                )
            )
            truth.add(SOURCE, numbers[start:stop], person)
    lines = np.flatnonzero(orders.online[items.order])
    names = catalog.product_names()
    items_path = folder / "items.parquet"
    with pq.ParquetWriter(items_path, _ITEMS_SCHEMA) as out:
        for start, stop in slices(len(lines), _SLICE):
            rows = lines[start:stop]
            out.write_table(
                pa.table(
                    [
                        numbers.take(pa.array(rank[items.order[rows]])),
                        pa.array(items.line[rows].astype(np.int32)),
                        pick(names, items.product[rows]),
                        pick(CATEGORIES, items.category[rows]),
                        pa.array(items.quantity[rows].astype(np.int32)),
                        pa.array(items.amount[rows] / 100.0),
                    ],
                    schema=_ITEMS_SCHEMA,
                )
            )
    return [orders_path, items_path]
