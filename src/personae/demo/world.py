"""Generating a demo world: every source's files, the truth, and the source specs.

:func:`generate` draws the people, their orders and line items, web sessions and
subscriptions as numpy arrays, then each source system writes its own files from them in
slices (so a million people fit in a few gigabytes), adding its records to the truth as
it goes. Each part draws from its own random stream spawned from the seed, so the same
seed and size give byte-identical files.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from personae.demo import crm, newsletter, shop, store, subscriptions, survey, web
from personae.demo.catalog import LIFESTYLES, SEASONS, SURVEY_SEGMENTS, draw_catalog
from personae.demo.noise import e164
from personae.demo.orders import Orders, draw_items, draw_orders
from personae.demo.people import BUYER_KINDS, DEVICES, People, draw_people
from personae.demo.subscriptions import STATES, Subscriptions, draw_subscriptions
from personae.demo.text import blank_where, booleans, concat, dates, digits, integers, pick
from personae.demo.timeline import Timeline, day_number
from personae.demo.tokens import streams
from personae.demo.truth import Truth

_STREAMS = (
    "catalog",
    "people",
    "orders",
    "items",
    "store",
    "shop",
    "sessions",
    "events",
    "web",
    "subscriptions",
    "subscription_events",
    "crm",
    "newsletter",
    "survey",
)


@dataclass(frozen=True)
class DemoWorld:
    """What :func:`generate` wrote.

    ``sources`` are the ``[[sources]]`` entries for ``personae.toml`` (paths relative to
    the directory; a source with no file, possible only in a tiny world, is left out),
    ``files`` every file written (data, then truth), ``people`` the number
    of people and ``as_of`` the last day of the period.
    """

    sources: tuple[dict[str, Any], ...]
    files: tuple[Path, ...]
    people: int
    as_of: date


def source_specs() -> tuple[dict[str, Any], ...]:
    """The source entries of a demo workspace, in the order the sources are written."""
    modules = (store, shop, web, subscriptions, crm, newsletter, survey)
    return tuple(spec for module in modules for spec in module.specs())


def generate(
    directory: Path,
    customers: int = 20_000,
    seed: int = 7,
    *,
    start: date = date(2024, 1, 1),
    end: date = date(2025, 12, 31),
    overwrite: bool = False,
) -> DemoWorld:
    """Write a demo world of ``customers`` people over ``start``–``end`` under
    ``directory/data`` and its truth under ``directory/truth``.

    An existing non-empty ``data`` or ``truth`` folder is an error unless ``overwrite``
    is set, in which case both folders are removed first.
    """
    directory = Path(directory)
    if customers < 1:
        raise ValueError(f"customers={customers}: a demo world needs at least one customer")
    _prepare(directory, overwrite)
    timeline = Timeline.between(start, end)
    rng = dict(zip(_STREAMS, streams(seed, len(_STREAMS)), strict=True))
    catalog = draw_catalog(rng["catalog"])
    people = draw_people(rng["people"], customers, timeline)
    orders = draw_orders(rng["orders"], people, timeline)
    items = draw_items(rng["items"], orders, people, catalog)
    totals = items.totals()
    data = directory / "data"
    files: list[Path] = []
    with Truth(directory / "truth", customers) as truth:
        truth.set_person_ids(people.person_ids(np.arange(customers)))
        files += store.write_store(data / "pos", orders, items, totals, people, catalog, truth)
        files += shop.write_shop(data / "shop", rng["shop"], orders, items, totals, people, catalog, truth)
        del items, totals
        sessions = web.draw_sessions(rng["sessions"], people, orders, timeline)
        events = web.expand(rng["events"], sessions, people, catalog, timeline)
        del sessions
        files += web.write_web(data / "web", rng["web"], events, people, catalog, truth)
        del events
        plans = draw_subscriptions(rng["subscriptions"], people, timeline)
        files += subscriptions.write_subscriptions(
            data / "subscriptions", rng["subscription_events"], plans, people, timeline, truth
        )
        files += crm.write_crm(data / "crm", rng["crm"], people, timeline, truth)
        files += newsletter.write_newsletter(data / "email", rng["newsletter"], people, timeline, truth)
        files += survey.write_survey(data / "survey", rng["survey"], people, timeline, truth)
        files.append(truth.records_path)
        files.append(truth.write_people(_truth_columns(people, orders, plans, truth, timeline)))
    # a tiny world may have no file for a source (no web visitor, say): leave such sources out
    present = tuple(spec for spec in source_specs() if any(directory.glob(spec["path"])))
    return DemoWorld(sources=present, files=tuple(files), people=customers, as_of=end)


def _prepare(directory: Path, overwrite: bool) -> None:
    for name in ("data", "truth"):
        folder = directory / name
        if folder.exists() and any(folder.iterdir()):
            if not overwrite:
                raise FileExistsError(
                    f"{folder} is not empty; generate the demo into a new directory "
                    f"or pass overwrite=True to replace it"
                )
            shutil.rmtree(folder)
    directory.mkdir(parents=True, exist_ok=True)


def _truth_columns(
    people: People, orders: Orders, plans: Subscriptions, truth: Truth, timeline: Timeline
) -> dict[str, pa.Array]:
    """The columns of ``truth/people.csv``."""
    index = np.arange(people.count)
    details = people.details
    first_day = day_number(timeline.start)
    churned = blank_where(dates(first_day + np.maximum(people.churned, 0)), ~people.churner)
    season = blank_where(pick([s.name for s in SEASONS], np.maximum(people.season, 0)), ~people.seasonal)
    anonymous = people.anonymous.take(pa.array(index * DEVICES))
    second = people.anonymous.take(pa.array(index * DEVICES + 1))
    anonymous = pc.if_else(pa.array(people.devices > 1), concat(anonymous, " ", second), anonymous)
    return {
        "person_id": people.person_ids(index),
        "lifestyle": pick([s.name for s in LIFESTYLES], people.lifestyle),
        "churner": booleans(people.churner),
        "churned_at": churned,
        "loyalist": booleans(people.loyalist),
        "promo_driven": booleans(people.promo_driven),
        "seasonal": booleans(people.seasonal),
        "season": season,
        "subscriber_state": pick(STATES, plans.state),
        "survey_segment": pick([s.name for s in SURVEY_SEGMENTS], people.segment),
        "buyer": pick(BUYER_KINDS, people.buyer),
        "acquired_at": dates(first_day + people.active_from.astype(np.int64)),
        "orders": integers(np.bincount(orders.person, minlength=people.count)),
        "first_name": details.first_names(index),
        "last_name": details.last_names(index),
        "gender": details.genders(index),
        "birth_date": dates(details.birth),
        "street": details.streets(index),
        "city": details.cities(index),
        "postcode": details.postcode,
        "country": details.countries(index),
        "email": details.email,
        "phone": blank_where(e164(details.phone), details.phone == 0),
        "loyalty_card": blank_where(digits(people.card, 12), people.card == 0),
        "user_id": blank_where(people.user_ids(index), people.user == 0),
        "anonymous_ids": blank_where(anonymous, people.devices == 0),
        "crm_ids": truth.identifiers("crm_ids"),
        "contact_id": truth.identifiers("contact_id"),
    }
