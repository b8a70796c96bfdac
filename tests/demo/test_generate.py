"""The demo world: deterministic, consistent with its truth, and with the planted
behaviour visible in the files it writes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest

from personae.demo import DemoWorld, generate
from personae.demo.catalog import LIFESTYLES, SEASONS
from personae.demo.crm import NOISE
from personae.engine.tables import IDENTIFIER_TYPES
from personae.sources.kinds import SourceKind, column_names

PEOPLE = 1_500
MONEY = "'DECIMAL(18,2)'"
TEXT = "'VARCHAR'"
START = date(2024, 1, 1)
END = date(2025, 12, 31)


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("world")


@pytest.fixture(scope="module")
def world(world_dir: Path) -> DemoWorld:
    return generate(world_dir, customers=PEOPLE, seed=7)


@pytest.fixture(scope="module")
def con(world: DemoWorld, world_dir: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """Every file of the world, and the truth, loaded as tables."""
    db = duckdb.connect()
    d = world_dir.as_posix()
    views = {
        "pos": f"read_csv('{d}/data/pos/orders_*.csv', types={{'card_no': {TEXT}, 'total': {MONEY}}})",
        "pos_items": f"read_csv('{d}/data/pos/items_*.csv', types={{'sku': {TEXT}, 'line_total': {MONEY}}})",
        "shop": f"read_parquet('{d}/data/shop/orders.parquet')",
        "shop_items": f"read_parquet('{d}/data/shop/items.parquet')",
        "web": f"read_json('{d}/data/web/events-*.jsonl', format='newline_delimited')",
        "subs": f"read_json('{d}/data/subscriptions/events.jsonl', format='newline_delimited')",
        "crm": f"read_csv('{d}/data/crm/customers.csv', all_varchar=true)",
        "contacts": f"read_csv('{d}/data/email/contacts.csv', all_varchar=true)",
        "survey": f"read_csv('{d}/data/survey/responses.csv')",
        "people": f"read_csv('{d}/truth/people.csv', all_varchar=true)",
        "records": f"read_csv('{d}/truth/records.csv', types={{'record_id': 'VARCHAR'}}, all_varchar=true)",
    }
    for name, source in views.items():
        db.execute(f"create table {name} as select * from {source}")
    for name in ("web", "subs"):  # duckdb reads the ids as UUIDs
        db.execute(f"alter table {name} alter messageId type varchar")
    db.execute("alter table web alter anonymousId type varchar")
    db.execute("""
        create table person_orders as
        select r.person_id, p.sold_at as ts, p.promo, i.category, 'pos' as source
        from pos p join records r on r.source = 'pos' and r.record_id = p.receipt
        join pos_items i on i.receipt = p.receipt
        union all
        select r.person_id, s.created_at, s.coupon is not null, i.category, 'shop'
        from shop s join records r on r.source = 'shop' and r.record_id = s.order_id
        join shop_items i on i.order_id = s.order_id
    """)
    yield db
    db.close()


def owned(table: str, source: str, key: str) -> str:
    """``from`` the rows of ``table`` (as ``x``) joined to their true person (as ``t``)."""
    return (
        f"from {table} x join records r on r.source = '{source}' and r.record_id = x.{key} "
        f"join people t using (person_id)"
    )


def scalar(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


def files_of(directory: Path) -> dict[str, bytes]:
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def test_world_describes_what_it_wrote(world: DemoWorld, world_dir: Path) -> None:
    assert world.people == PEOPLE
    assert world.as_of == END
    assert all(path.is_file() and path.stat().st_size > 0 for path in world.files)
    assert set(files_of(world_dir)) == {p.relative_to(world_dir).as_posix() for p in world.files}
    names = [spec["name"] for spec in world.sources]
    assert names == ["pos", "pos_items", "shop", "shop_items", "web", "subscriptions", "crm", "email", "survey"]
    for spec in world.sources:
        assert list(world_dir.glob(spec["path"])), spec["path"]
        allowed = column_names(SourceKind(spec["kind"]))
        assert set(spec.get("columns", {})) <= set(allowed)
        assert set(spec.get("formats", {})) <= set(allowed)
        assert set(spec.get("identifiers", {})) <= set(IDENTIFIER_TYPES)


def test_specs_validate_as_workspace_sources(world: DemoWorld) -> None:
    config = pytest.importorskip("personae.config")
    for spec in world.sources:
        assert config.SourceSpec.model_validate(spec).name == spec["name"]


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    generate(tmp_path / "a", customers=600, seed=3)
    generate(tmp_path / "b", customers=600, seed=3)
    generate(tmp_path / "c", customers=600, seed=4)
    a, b, c = (files_of(tmp_path / name) for name in "abc")
    assert a == b
    assert a.keys() == c.keys()
    differing = [name for name in a if a[name] != c[name]]
    assert len(differing) == len(a)


def test_sizes_scale_with_customers(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    small = generate(tmp_path / "small", customers=PEOPLE // 4, seed=7)
    small_con = duckdb.connect()
    small_orders = small_con.execute(
        f"select count(*) from read_csv('{(tmp_path / 'small').as_posix()}/truth/records.csv')"
    ).fetchone()
    big_orders = scalar(con, "select count(*) from records")
    assert small.people == PEOPLE // 4
    assert small_orders is not None
    ratio = float(big_orders) / small_orders[0]  # type: ignore[arg-type]
    assert 2.5 < ratio < 6.0


def test_truth_lists_exactly_the_records_that_carry_an_identifier(con: duckdb.DuckDBPyConnection) -> None:
    data = """
        select 'pos' as source, receipt as record_id from pos where card_no is not null
        union all select 'shop', order_id from shop
        union all select 'web', messageId from web
        union all select 'subscriptions', messageId from subs
        union all select 'crm', crm_id from crm
        union all select 'email', contact_id from contacts
        union all select 'survey', response_id from survey
    """
    truth = "select source, record_id from records"
    assert scalar(con, f"select count(*) from (({data}) except all ({truth}))") == 0
    assert scalar(con, f"select count(*) from (({truth}) except all ({data}))") == 0
    assert scalar(con, "select count(*) from records anti join people using (person_id)") == 0
    assert scalar(con, "select count(distinct source) from records") == 7


def test_identifiers_in_the_data_belong_to_the_true_person(con: duckdb.DuckDBPyConnection) -> None:
    mismatches = {
        "loyalty card": (owned("pos", "pos", "receipt"), "x.card_no <> t.loyalty_card"),
        "shop e-mail": (owned("shop", "shop", "order_id"), "lower(trim(x.email)) <> t.email"),
        "shop user": (owned("shop", "shop", "order_id"), "x.user_id <> t.user_id"),
        "anonymous id": (owned("web", "web", "messageId"), "not contains(t.anonymous_ids, x.anonymousId)"),
        "web user": (owned("web", "web", "messageId"), "x.userId <> t.user_id"),
        "subscriber": (owned("subs", "subscriptions", "messageId"), "x.userId <> t.user_id"),
        "crm id": (owned("crm", "crm", "crm_id"), "not contains(t.crm_ids, x.crm_id)"),
        "contact id": (owned("contacts", "email", "contact_id"), "x.contact_id <> t.contact_id"),
        "contact e-mail": (owned("contacts", "email", "contact_id"), "lower(trim(x.email)) <> t.email"),
    }
    for name, (joined, wrong) in mismatches.items():
        assert scalar(con, f"select count(*) {joined} where {wrong}") == 0, name
    anonymous = scalar(con, "select count(*) from pos where card_no is null")
    assert 0 < anonymous < scalar(con, "select count(*) from pos")  # type: ignore[operator]


def test_line_items_sum_to_order_totals(con: duckdb.DuckDBPyConnection) -> None:
    pos = """select count(*) from pos p full join
             (select receipt, sum(line_total) s from pos_items group by 1) i using (receipt)
             where i.s is distinct from p.total"""
    shop = """select count(*) from shop o full join
              (select order_id, sum(price_total) s from shop_items group by 1) i using (order_id)
              where i.s is null or o.grand_total is null or abs(i.s - o.grand_total) > 0.005"""
    assert scalar(con, pos) == 0
    assert scalar(con, shop) == 0
    assert scalar(con, "select count(*) - count(distinct receipt) from pos") == 0


def test_lifestyles_show_their_category_mix(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute("""
        select lifestyle, category, n * 1.0 / sum(n) over (partition by lifestyle)
        from (select t.lifestyle, o.category, count(*) as n
              from person_orders o join people t using (person_id) group by all)
    """).fetchall()
    share: dict[str, dict[str, float]] = {}
    for lifestyle, category, value in rows:
        share.setdefault(lifestyle, {})[category] = float(value)
    assert set(share) == {style.name for style in LIFESTYLES}
    for style in LIFESTYLES:
        mine = share[style.name]
        top = max(mine, key=lambda c: mine[c])
        assert top in style.planted[:2], (style.name, top)
        defining = style.planted[:2]
        planted = sum(mine.get(c, 0.0) for c in defining)
        others = [sum(share[o.name].get(c, 0.0) for c in defining) for o in LIFESTYLES if o != style]
        assert planted > 2 * max(others), (style.name, planted, others)
    names = list(share)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            categories = set(share[a]) | set(share[b])
            distance = sum(abs(share[a].get(c, 0) - share[b].get(c, 0)) for c in categories)
            assert distance > 0.5, (a, b)


def test_churners_never_order_after_churning(con: duckdb.DuckDBPyConnection) -> None:
    late = """select count(*) from person_orders o join people t using (person_id)
              where t.churner = 'true' and o.ts >= cast(t.churned_at as date)"""
    assert scalar(con, late) == 0
    share = float(scalar(con, "select avg((churner = 'true')::int) from people"))  # type: ignore[arg-type]
    assert 0.14 < share < 0.26
    assert scalar(con, "select count(*) from people where churner = 'true' and churned_at is null") == 0


def test_crm_noise_is_within_its_band(con: duckdb.DuckDBPyConnection) -> None:
    base = owned("crm", "crm", "crm_id")
    differs = """lower(coalesce(x.first_name, '')) <> lower(t.first_name)
                 or lower(coalesce(x.last_name, '')) <> lower(t.last_name)"""
    names = float(scalar(con, f"select avg(({differs})::int) {base}"))  # type: ignore[arg-type]
    # nicknames (most names have one), first and last name typos, swaps; duplicates are noisier
    assert 0.08 < names < 0.22, names
    no_email = float(scalar(con, f"select avg((x.email is null)::int) {base} where t.email is not null"))  # type: ignore[arg-type]
    assert NOISE["email_missing"] < no_email < NOISE["email_missing"] + 0.08, no_email
    twins = float(
        scalar(
            con,
            "select avg((n > 1)::int) from (select person_id, count(*) n from records where source = 'crm' group by 1)",
        )
    )  # type: ignore[arg-type]
    assert 0.5 * NOISE["duplicate_record"] < twins < 2 * NOISE["duplicate_record"], twins
    formats = scalar(con, "select count(distinct regexp_replace(phone, '[0-9]', '9', 'g')) from crm")
    assert formats == 6


def test_promo_driven_and_seasonal_buyers_show_it(con: duckdb.DuckDBPyConnection) -> None:
    promo = dict(
        con.execute("""select t.promo_driven, avg(o.promo::int) from person_orders o
                                join people t using (person_id) group by 1""").fetchall()
    )
    assert promo["true"] > 2.5 * promo["false"]
    for season in SEASONS:
        months = ", ".join(str(m) for m in season.months)
        inside = float(
            scalar(
                con,
                f"""select avg((month(o.ts) in ({months}))::int) from person_orders o
                                       join people t using (person_id) where t.season = '{season.name}'""",
            )
        )  # type: ignore[arg-type]
        assert inside > 0.6, season.name


def test_survey_answers_follow_the_segment(con: duckdb.DuckDBPyConnection) -> None:
    answered = owned("survey", "survey", "response_id")
    means = "avg(q_price), avg(q_quality), avg(q_convenience), avg(q_brand)"
    rows = con.execute(f"select t.survey_segment, {means} {answered} group by 1").fetchall()
    strongest = {row[0]: max(range(4), key=lambda q: row[1 + q]) for row in rows}
    assert strongest == {"price_seeker": 0, "quality_seeker": 1, "convenience": 2, "brand_loyal": 3}
    agree = scalar(con, f"select avg((x.segment = t.survey_segment)::int) {answered}")
    assert agree == 1.0


def test_events_follow_the_segment_spec(world_dir: Path) -> None:
    types: set[str] = set()
    signed_in: set[str] = set()
    for path in sorted((world_dir / "data" / "web").glob("events-*.jsonl")):
        month = path.stem.removeprefix("events-")
        for line in path.read_text().splitlines():
            event = json.loads(line)
            types.add(event["type"])
            assert event["timestamp"].startswith(month) and event["timestamp"].endswith("Z")
            assert event["anonymousId"] and event["messageId"]
            if event["type"] == "identify":
                assert "@" in event["traits"]["email"]
                if "userId" in event:
                    signed_in.add(event["anonymousId"])
            elif event["type"] == "track":
                assert event["event"]
            else:
                assert event["name"] and event["properties"]
            if "userId" in event:
                assert event["anonymousId"] in signed_in
    assert types == {"page", "track", "identify"}
    states = [
        json.loads(line)["event"]
        for line in (world_dir / "data" / "subscriptions" / "events.jsonl").read_text().splitlines()
    ]
    assert {"Trial Started", "Subscription Started", "Subscription Cancelled"} <= set(states)


def test_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    generate(tmp_path, customers=50, seed=1)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        generate(tmp_path, customers=50, seed=1)
    world = generate(tmp_path, customers=60, seed=1, overwrite=True)
    assert world.people == 60


@pytest.mark.parametrize(
    ("customers", "start", "end", "message"),
    [(0, START, END, "at least one customer"), (10, END, START, "must end after it starts")],
)
def test_rejects_bad_arguments(tmp_path: Path, customers: int, start: date, end: date, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate(tmp_path, customers=customers, start=start, end=end)
