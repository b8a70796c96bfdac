"""The till system's exports: in-store receipts and their lines, one CSV pair per year.

``data/pos/orders_YYYY.csv`` has ``receipt,sold_at,total,store,card_no,promo`` and
``data/pos/items_YYYY.csv`` has ``receipt,line,sku,category,qty,line_total``. A receipt
number is the store, the day and the receipt's sequence that day in that store
(``014-20240305-0087``). ``card_no`` is the loyalty card scanned at the till; it is blank
for shoppers without a card and when the card was not scanned.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from personae.demo.catalog import CATEGORIES, Catalog
from personae.demo.orders import Items, Orders
from personae.demo.people import People
from personae.demo.text import (
    SECONDS_PER_DAY,
    CsvFile,
    blank_where,
    booleans,
    concat,
    dates,
    digits,
    integers,
    money,
    pick,
    slices,
    timestamps,
)
from personae.demo.truth import Truth

SOURCE = "pos"
ITEMS_SOURCE = "pos_items"
_SLICE = 500_000


def specs() -> list[dict[str, Any]]:
    return [
        {
            "name": SOURCE,
            "kind": "orders",
            "path": "data/pos/orders_*.csv",
            "description": "in-store receipts from the tills; card_no is the loyalty card",
            "columns": {
                "order_id": "receipt",
                "ts": "sold_at",
                "amount": "total",
                "store_id": "store",
                "promo": "promo",
                "channel": "'store'",
            },
            "identifiers": {"loyalty_id": "card_no"},
        },
        {
            "name": ITEMS_SOURCE,
            "kind": "order_items",
            "orders": SOURCE,
            "path": "data/pos/items_*.csv",
            "description": "lines of the in-store receipts",
            "columns": {
                "order_id": "receipt",
                "line_id": "line",
                "product_id": "sku",
                "category": "category",
                "quantity": "qty",
                "amount": "line_total",
                "channel": "'store'",
            },
        },
    ]


def receipt_numbers(orders: Orders, chosen: np.ndarray) -> pa.Array:
    """Receipt numbers of the in-store orders ``chosen`` (in time order)."""
    store = orders.store[chosen].astype(np.int64)
    day = orders.ts[chosen] // SECONDS_PER_DAY
    key = store * (int(day.max(initial=0)) + 1) + day
    order = np.argsort(key, kind="stable")
    ranked = key[order]
    position = np.arange(len(order))
    opens = np.r_[True, ranked[1:] != ranked[:-1]] if len(order) else np.zeros(0, dtype=bool)
    sequence = np.empty(len(order), dtype=np.int64)
    sequence[order] = position - np.maximum.accumulate(np.where(opens, position, 0)) + 1
    width = max(4, len(str(int(sequence.max(initial=0)))))
    return concat(digits(store + 1, 3), "-", dates(day, "compact"), "-", digits(sequence, width))


def write_store(
    folder: Path,
    orders: Orders,
    items: Items,
    totals: np.ndarray,
    people: People,
    catalog: Catalog,
    truth: Truth,
) -> list[Path]:
    """Write the receipts and their lines by year; returns the files written."""
    chosen = np.flatnonzero(~orders.online)
    receipts = receipt_numbers(orders, chosen)
    rank = np.full(orders.count, -1, dtype=np.int64)
    rank[chosen] = np.arange(len(chosen))
    lines = np.flatnonzero(~orders.online[items.order])
    year = orders.ts[chosen].astype("datetime64[s]").astype("datetime64[Y]").astype(np.int64) + 1970
    line_year = year[rank[items.order[lines]]]
    names = catalog.product_names()
    written: list[Path] = []
    for this_year in np.unique(year):
        receipt_rows = np.flatnonzero(year == this_year)
        with CsvFile(
            folder / f"orders_{this_year}.csv", ["receipt", "sold_at", "total", "store", "card_no", "promo"]
        ) as out:
            for start, stop in slices(len(receipt_rows), _SLICE):
                rows = receipt_rows[start:stop]
                index = chosen[rows]
                person = orders.person[index]
                card = digits(people.card[person], 12)
                out.write(
                    [
                        receipts.take(pa.array(rows)),
                        timestamps(orders.ts[index]),
                        money(totals[index]),
                        digits(orders.store[index].astype(np.int64) + 1, 3, "S"),
                        blank_where(card, ~orders.carded[index]),
                        booleans(orders.promo[index]),
                    ]
                )
                known = orders.carded[index]
                truth.add(SOURCE, receipts.take(pa.array(rows[known])), person[known])
        written.append(out.path)
        line_rows = lines[line_year == this_year]
        with CsvFile(
            folder / f"items_{this_year}.csv", ["receipt", "line", "sku", "category", "qty", "line_total"]
        ) as out:
            for start, stop in slices(len(line_rows), _SLICE):
                rows = line_rows[start:stop]
                out.write(
                    [
                        receipts.take(pa.array(rank[items.order[rows]])),
                        integers(items.line[rows]),
                        pick(names, items.product[rows]),
                        pick(CATEGORIES, items.category[rows]),
                        integers(items.quantity[rows]),
                        money(items.amount[rows]),
                    ]
                )
        written.append(out.path)
    return written
