"""A deterministic synthetic retail world with a known truth.

:func:`generate` writes what a mid-sized retailer's systems would export about the same
people, each system holding its own partial, differently formatted and sometimes
misspelt copy, and beside it the truth that links every record to the person behind it::

    data/pos/orders_YYYY.csv         in-store receipts (loyalty card when scanned)
    data/pos/items_YYYY.csv          receipt lines: sku, category, qty, line_total
    data/shop/orders.parquet         web-shop orders: e-mail (as typed), user id or guest
    data/shop/items.parquet          web-shop order lines
    data/web/events-YYYY-MM.jsonl    website tracking events in the Segment spec
    data/subscriptions/events.jsonl  Trial Started, Subscription Started/Cancelled
    data/crm/customers.csv           CRM records: typos, nicknames, duplicates, gaps
    data/email/contacts.csv          e-mail platform: consent, opens and clicks
    data/survey/responses.csv        attitudinal survey of a 5% sample
    truth/people.csv                 each person's planted behaviour and identifiers
    truth/records.csv                source, record_id, person_id for every record

The people carry planted behaviour that the pipeline should find again: six lifestyles
with distinct category mixes (home cook, outdoor, fashion, tech, family, beauty),
churners who stop ordering on a known day, high-frequency loyalists, promotion-driven
buyers, seasonal buyers, subscription states, and four attitudinal survey segments
(price seeker, quality seeker, convenience, brand loyal) that also shape how people
shop, so that a classifier can extend the survey to everyone. Ordering is skewed as in
real retail: many one-time buyers, a long tail of loyalists, about ten orders per person
on average over two years, with a November–December peak.

The same seed and size always give byte-identical files. A world of 20,000 people takes
a few seconds; a million people (about ten million orders) stay within a few gigabytes
of memory, because everything is drawn as numpy arrays and written in slices.

>>> from pathlib import Path
>>> from tempfile import TemporaryDirectory
>>> with TemporaryDirectory() as folder:
...     world = generate(Path(folder), customers=200, seed=1)
...     [source["name"] for source in world.sources][:3]
['pos', 'pos_items', 'shop']
"""

from __future__ import annotations

from personae.demo.world import DemoWorld, generate, source_specs

__all__ = ["DemoWorld", "generate", "source_specs"]
