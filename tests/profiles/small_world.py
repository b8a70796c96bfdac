"""A small random shop for trait and segment tests: orders, lines, web and subscription events.

One extra customer (``edge``) orders just inside and just outside each window, on the
as-of day and the day after it, so off-by-one errors in windows show.

Every customer has a user id and an e-mail on their orders, so identity links their web
events (by user id) and their e-mail platform record (by e-mail) to the same person. The
frames are returned too, so tests can compute expected values independently with pandas.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tests.workspaces import write_workspace

AS_OF = date(2025, 6, 30)
CATEGORIES = ("books", "garden", "music", "toys")
SUBSCRIPTION = ("Trial Started", "Subscription Started", "Subscription Cancelled")

SOURCES: list[dict[str, Any]] = [
    {
        "name": "shop",
        "kind": "orders",
        "path": "data/orders.csv",
        "columns": {"ts": "ts", "amount": "total", "channel": "channel", "promo": "promo", "status": "status"},
        "identifiers": {"user_id": "user", "email": "email"},
    },
    {
        "name": "lines",
        "kind": "order_items",
        "path": "data/lines.csv",
        "orders": "shop",
        "columns": {"product_id": "sku", "category": "category", "amount": "line_total"},
    },
    {"name": "web", "kind": "events", "path": "data/web.jsonl"},
    {
        "name": "mail",
        "kind": "customers",
        "path": "data/mail.csv",
        "columns": {"record_id": "contact", "email_opens": "opens", "email_clicks": "clicks", "email_opt_in": "opt_in"},
        "identifiers": {"email": "email"},
    },
]

TRAITS: list[dict[str, Any]] = [
    {"name": "garden_views", "function": "count", "event": "Product Viewed", "where": "category = 'garden'"},
    {"name": "viewed_most", "function": "most_frequent", "property": "category", "event": "Product Viewed"},
    {"name": "price_viewed_90d", "function": "sum", "property": "properties.price", "window_days": 90},
    {"name": "products_viewed", "function": "unique_count", "property": "product_id"},
    {"name": "first_plan", "function": "first", "property": "properties.plan", "type": "track"},
]


@dataclass
class World:
    root: Path
    orders: pd.DataFrame
    lines: pd.DataFrame
    events: pd.DataFrame
    mail: pd.DataFrame


def build(root: Path, customers: int = 40, seed: int = 5, **sections: Any) -> World:
    rng = np.random.default_rng(seed)
    start = datetime(2023, 7, 1)
    orders, lines, events, mail = [], [], [], []
    for person in range(customers):
        user, email = f"u{person}", f"person{person}@mail.net"
        for number in range(int(rng.integers(0, 9))):
            ts = start + timedelta(days=int(rng.integers(0, 760)), hours=int(rng.integers(8, 20)))
            order_id = f"o{person}-{number}"
            status = "returned" if rng.random() < 0.05 else "completed"
            parts = [round(float(rng.uniform(5, 80)), 2) for _ in range(int(rng.integers(1, 4)))]
            orders.append(
                {
                    "order_id": order_id,
                    "ts": ts,
                    "total": round(sum(parts), 2),
                    "user": user,
                    "email": email,
                    "channel": str(rng.choice(["web", "store"])),
                    "promo": bool(rng.random() < 0.3),
                    "status": status,
                }
            )
            for index, amount in enumerate(parts):
                lines.append(
                    {
                        "order_id": order_id,
                        "sku": f"s{int(rng.integers(0, 12))}",
                        "category": str(rng.choice(CATEGORIES)),
                        "line_total": amount,
                        "line": index,
                    }
                )
        for number in range(int(rng.integers(0, 12))):
            ts = start + timedelta(days=int(rng.integers(0, 760)), minutes=int(rng.integers(0, 900)))
            kind = str(rng.choice(["page", "track"]))
            name = "Home" if kind == "page" else "Product Viewed"
            category = str(rng.choice(CATEGORIES))
            properties = (
                {}
                if kind == "page"
                else {"category": category, "product_id": f"s{person % 5}", "price": float(rng.integers(1, 50))}
            )
            events.append(
                {
                    "messageId": f"w{person}-{number}",
                    "type": kind,
                    "name": name,
                    "userId": user,
                    "timestamp": ts,
                    "properties": properties,
                }
            )
        if rng.random() < 0.3:
            steps = int(rng.integers(1, 4))
            ts = start + timedelta(days=int(rng.integers(0, 600)))
            plan = str(rng.choice(["monthly", "yearly"]))
            for step in range(steps):
                events.append(
                    {
                        "messageId": f"s{person}-{step}",
                        "type": "track",
                        "name": SUBSCRIPTION[step],
                        "userId": user,
                        "timestamp": ts + timedelta(days=14 * step),
                        "properties": {"plan": plan},
                    }
                )
        if rng.random() < 0.6:
            mail.append(
                {
                    "contact": f"c{person}",
                    "email": email,
                    "opens": int(rng.integers(0, 20)),
                    "clicks": int(rng.integers(0, 5)),
                    "opt_in": bool(rng.random() < 0.7),
                }
            )
    edge = datetime.combine(AS_OF, datetime.min.time())
    for number, offset in enumerate((-365, -364, -90, -89, -30, -29, 0, 1)):
        ts = edge + timedelta(days=offset, hours=23, minutes=59)
        order_id = f"edge-{number}"
        orders.append(
            {
                "order_id": order_id,
                "ts": ts,
                "total": 10.0 + number,
                "user": "edge",
                "email": "edge@mail.net",
                "channel": "web",
                "promo": False,
                "status": "completed",
            }
        )
        lines.append({"order_id": order_id, "sku": "s0", "category": "books", "line_total": 10.0 + number, "line": 0})
    frames = (pd.DataFrame(orders), pd.DataFrame(lines), pd.DataFrame(events), pd.DataFrame(mail))
    jsonl = "\n".join(
        json.dumps(
            {
                "messageId": e["messageId"],
                "type": e["type"],
                "userId": e["userId"],
                "timestamp": e["timestamp"].isoformat() + "Z",
                "properties": e["properties"],
                **({"name": e["name"]} if e["type"] == "page" else {"event": e["name"]}),
            }
        )
        for e in events
    )
    files = {
        "data/orders.csv": frames[0].to_csv(index=False, date_format="%Y-%m-%d %H:%M:%S"),
        "data/lines.csv": frames[1].to_csv(index=False),
        "data/web.jsonl": jsonl + "\n",
        "data/mail.csv": frames[3].to_csv(index=False),
    }
    sections.setdefault("identity", {"fuzzy": {"enabled": False}})
    sections.setdefault("traits", TRAITS)
    written = write_workspace(root, SOURCES, files, **sections)
    return World(written, *frames)
