"""The traits step: compute every trait per UID as of a date and join them to ``profiles``.

Writes ``traits`` (one row per UID: ``uid``, ``traits_as_of`` and each trait),
``trait_shares`` (each person's split over categories and channels), ``customer_summary``
(the CLV models' frequency, recency, T and monetary value, in days) and rewrites
``profiles`` as the golden record followed by the traits, so rules read one table. An
incremental run on DuckDB updates these tables in place instead: the recomputed people's
rows replaced, everyone else's moved to the new day by one ``UPDATE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from personae.engine.base import Engine
from personae.engine.dialects import has
from personae.engine.sql import day_sql
from personae.errors import ConfigError, WorkspaceError
from personae.privacy.consent import consent_traits_sql
from personae.privacy.purposes import CONSENT_TRAIT_PREFIX
from personae.profiles.algebra import EVENTS
from personae.profiles.catalog import trait_catalog
from personae.profiles.incremental import (
    DIGESTS,
    DIGESTS_SQL,
    SCOPE,
    Increment,
    moved_settings_sql,
    plan_increment,
    record_state,
    scope_sql,
)
from personae.profiles.orders import (
    RECORD_MAP,
    category_counts_sql,
    counted_orders_sql,
    events_with_uid_sql,
    order_days_sql,
    order_events_sql,
    scoped_record_map_sql,
    summary_from_days_sql,
)
from personae.profiles.specs import TraitsConfig
from personae.profiles.traits import channel_counts_sql, gaps_sql, shares_sql, traits_sql

AS_OF_COLUMN = "traits_as_of"


@dataclass(frozen=True)
class TraitsResult:
    people: int
    buyers: int
    orders: int
    traits: int
    recomputed: int | None = None
    """People whose traits were recomputed in an incremental run; None when all were."""
    full_because: str = ""
    """Why the run recomputed everyone (empty for an incremental run)."""


NO_TRAITS = "profiles have no traits yet: run the traits step first (`personae run`)"


def _has_trait_columns(engine: Engine) -> bool | None:
    """Whether ``profiles`` has the trait columns (a ``--only golden`` run rebuilds it from the
    golden records alone); None when there is no ``profiles``. Reads only the table's columns:
    no Spark job."""
    if not engine.has_table("profiles"):
        return None
    return AS_OF_COLUMN in dict(engine.columns("profiles"))


def traits_as_of(engine: Engine) -> date:
    """The day the stored traits were computed as of; a clear error when there are none."""
    value = engine.scalar(f"SELECT max({AS_OF_COLUMN}) FROM profiles") if _has_trait_columns(engine) else None
    if value is None:
        raise WorkspaceError(NO_TRAITS)
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def require_traits(engine: Engine) -> None:
    """A clear error when the stored ``profiles`` lack the trait columns, instead of the first
    query's binder error, or (on DuckDB) when the golden step rebuilt rows that the traits
    step has not filled yet (``--only golden``); nothing to check when there are no profiles."""
    traited = _has_trait_columns(engine)
    if traited is False:
        raise WorkspaceError(NO_TRAITS)
    if traited and has(engine.name, "delete"):  # only an in-place golden step leaves such rows
        missing = int(engine.scalar(f"SELECT count(*) FROM profiles WHERE {AS_OF_COLUMN} IS NULL") or 0)
        if missing:
            raise WorkspaceError(f"{missing:,} {NO_TRAITS}")


def trait_columns(config: TraitsConfig) -> dict[str, str]:
    """Name -> DuckDB type of every trait column, built-in then declared."""
    return {trait.name: trait.type for trait in trait_catalog(config).outputs}


PERSISTED = {
    "shares": "trait_shares",
    "summary": "customer_summary",
    "traits": "traits",
    "gap_counts": "order_gap_counts",
    "gaps": "order_gaps",
}
"""Where :func:`compute_traits` writes its results when asked to persist them."""


def compute_traits(
    engine: Engine,
    config: TraitsConfig,
    as_of: date,
    people: str,
    prefix: str,
    *,
    persist: bool = False,
    scope: str | None = None,
    gap_counts: bool = True,
) -> dict[str, str]:
    """Compute every trait of the UIDs in ``people`` as of a day. Results go to temporary
    relations ``{prefix}shares``, ``{prefix}summary``, ``{prefix}traits`` … or, with
    ``persist``, to the tables of :data:`PERSISTED`; returns the names used. With ``scope``
    (a relation of ``uid``; ``people`` should hold no one else), only its people's rows are
    read, as an incremental run does (:mod:`personae.profiles.incremental`): their rows of
    the record map are copied first (``{prefix}record_map``), and every join reads that copy.

    The histogram of gaps over everyone (``gaps``) is built only with ``persist``: an
    incremental run builds it from the merged counts, and nothing reads a temporary one.
    Without ``gap_counts`` the per-person gap counts are skipped too (a model's training set
    reads neither; on Spark each is an action of its own)."""
    names = {part: (PERSISTED[part] if persist else f"{prefix}{part}") for part in PERSISTED}

    def store(part: str, sql: str) -> None:
        if persist:
            engine.create_table(names[part], sql)
        else:
            engine.materialise(names[part], sql)

    order_events, orders, events = (f"{prefix}{name}" for name in ("order_events", "orders", "events"))
    shares = names["shares"]
    records = RECORD_MAP
    if scope is not None:
        records = f"{prefix}record_map"
        engine.materialise(records, scoped_record_map_sql(scope))
    engine.materialise(order_events, order_events_sql(config, as_of, records=records))
    engine.materialise(orders, counted_orders_sql(order_events))
    # every event with its UID, only for declared traits that read it: Spark materialises a
    # definition, and at 1M customers this one took 121 s of a traits step that did not use it
    read_events = bool(trait_catalog(config).aggregates(EVENTS))
    if read_events:
        engine.define(events, events_with_uid_sql(config, as_of, orders, records=records))
    store(
        "shares",
        f"{shares_sql(category_counts_sql(config, orders), 'category', 'revenue')} UNION ALL "
        f"{shares_sql(channel_counts_sql(orders), 'channel', 'orders')}",
    )
    days, gaps = f"{prefix}order_days", f"{prefix}gap_days"
    engine.materialise(days, order_days_sql(orders, as_of))
    store("summary", summary_from_days_sql(days, as_of))
    engine.materialise(gaps, gaps_sql(days))
    if gap_counts or persist:
        store("gap_counts", f"SELECT uid, gap, count(*) AS repeats FROM {gaps} WHERE gap IS NOT NULL GROUP BY uid, gap")
    if persist:
        store("gaps", gap_histogram_sql(names["gap_counts"]))
    relations = {"order_events": order_events, "orders": orders, "shares": shares, "gaps": gaps}
    read = events if read_events else None
    every = traits_sql(config, as_of, people=people, records=records, events=read, **relations)
    columns = ", ".join(f"t.{name}" for name in trait_columns(config))
    store("traits", f"SELECT t.uid, {day_sql(as_of)} AS {AS_OF_COLUMN}, {columns} FROM ({every}) AS t")
    return names


def gap_histogram_sql(gap_counts: str) -> str:
    """``gap, repeats``: how many repeat order days came after each gap, over everyone."""
    return f"SELECT gap, CAST(sum(repeats) AS BIGINT) AS repeats FROM {gap_counts} GROUP BY gap"


KEPT_IN_PLACE = ("traits", "trait_shares", "customer_summary", "order_gap_counts")
"""The per-person tables an incremental run updates in place: the scope's rows replaced, the
others' rows moved to the new day."""
REWRITE = "_inc_rewrite"
REWRITTEN_GOLDEN = "_inc_rewritten_golden"
"""The golden columns of the profile rows an in-place run rewrites, copied before they are deleted."""


def _update_traits(engine: Engine, config: TraitsConfig, as_of: date, increment: Increment) -> int:
    """Recompute the people of the increment's scope and keep (moved to ``as_of``) the others,
    in place: their rows deleted, the others updated, theirs inserted; returns how many were
    recomputed. The caller holds the transaction."""
    catalog = trait_catalog(config)
    engine.materialise(DIGESTS, DIGESTS_SQL)
    engine.materialise(SCOPE, scope_sql(catalog, increment, as_of, "_golden", DIGESTS))
    engine.materialise("_inc_golden", f"SELECT g.* FROM _golden AS g WHERE g.uid IN (SELECT uid FROM {SCOPE})")
    names = compute_traits(engine, config, as_of, "_inc_golden", "_inc_", scope=SCOPE)
    assert increment.previous_as_of is not None  # an incremental plan always has one
    shift = (as_of - increment.previous_as_of).days
    columns = [AS_OF_COLUMN, *trait_columns(config)]
    for table in KEPT_IN_PLACE:
        engine.delete_where(table, f"uid IN (SELECT uid FROM {SCOPE}) OR uid NOT IN (SELECT uid FROM _golden)")
    engine.execute(f"UPDATE traits SET {moved_settings_sql(catalog, as_of, columns, AS_OF_COLUMN)}")
    if shift:
        engine.execute(f"UPDATE customer_summary SET T = T + {shift}")
    for part, table in PERSISTED.items():
        if table in KEPT_IN_PLACE:
            stored = [name for name, _ in engine.columns(table)]
            engine.insert(table, stored, f"SELECT {', '.join(stored)} FROM {names[part]}")
    engine.create_table("order_gaps", gap_histogram_sql("order_gap_counts"))
    return engine.row_count(SCOPE)


def _profile_columns(engine: Engine, golden: list[str], columns: dict[str, str]) -> bool:
    """Whether ``profiles`` has exactly the golden columns and then the trait columns (the
    layout the traits step writes), so that an incremental run can update it in place."""
    return [name for name, _ in engine.columns("profiles")] == [*golden, AS_OF_COLUMN, *columns]


def _update_profiles(engine: Engine, config: TraitsConfig, as_of: date, golden: list[str]) -> None:
    """Rewrite the profile rows of the recomputed people and of rows without traits (the
    golden step rebuilt them), move everyone else's to ``as_of`` in place."""
    columns = [AS_OF_COLUMN, *trait_columns(config)]
    engine.materialise(REWRITE, f"SELECT uid FROM {SCOPE} UNION SELECT uid FROM profiles WHERE {AS_OF_COLUMN} IS NULL")
    engine.materialise(REWRITTEN_GOLDEN, f"SELECT g.* FROM _golden AS g JOIN {REWRITE} AS r ON r.uid = g.uid")
    engine.delete_where("profiles", f"uid IN (SELECT uid FROM {REWRITE})")
    settings = moved_settings_sql(trait_catalog(config), as_of, columns, AS_OF_COLUMN)
    engine.execute(f"UPDATE profiles SET {settings}")
    engine.insert(
        "profiles",
        [*golden, *columns],
        f"SELECT {', '.join('g.' + name for name in golden)}, {', '.join('t.' + name for name in columns)} "
        f"FROM {REWRITTEN_GOLDEN} AS g LEFT JOIN traits AS t ON t.uid = g.uid",
    )


def build_traits(engine: Engine, config: TraitsConfig, as_of: date, *, full: bool = False) -> TraitsResult:
    """Every trait of everyone as of a day, into ``traits`` and ``profiles``; incremental
    (only the people who can have changed, :mod:`personae.profiles.incremental`) unless
    ``full`` or the store says it cannot be."""
    if not engine.has_table("profiles"):
        raise WorkspaceError("no profiles yet: run the identity and golden steps first (`personae run`)")
    columns = trait_columns(config)
    golden = [
        name
        for name, _ in engine.columns("profiles")
        if name not in columns and name != AS_OF_COLUMN and not name.startswith(CONSENT_TRAIT_PREFIX)
    ]
    clashes = sorted(set(golden) & {spec.name for spec in config.traits})
    if clashes:
        raise ConfigError(f"traits.{clashes[0]}: a golden-record attribute has that name; pick another")
    increment = plan_increment(engine, config, as_of, full=full)
    recomputed = None
    # with purposes, consent can change for anyone: profiles are written whole
    in_place = not increment.full and not config.purposes and _profile_columns(engine, golden, columns)
    golden_sql = f"SELECT {', '.join(golden)} FROM profiles"
    if in_place:  # read before profiles change; the rows rewritten are copied first (_update_profiles)
        engine.view("_golden", golden_sql)
    else:  # profiles is written again from it
        engine.materialise("_golden", golden_sql)
    if increment.full:
        compute_traits(engine, config, as_of, "_golden", "_now_", persist=True)
    else:
        with engine.transaction():  # readers on other cursors see the old rows or the new ones
            recomputed = _update_traits(engine, config, as_of, increment)
            if in_place:
                _update_profiles(engine, config, as_of, golden)
    record_state(engine, config, as_of, digests=None if increment.full else DIGESTS)
    if not in_place:
        _write_profiles(engine, config, golden, columns)
    counts = "SELECT count(*), count(*) FILTER (WHERE orders > 0), sum(orders) FROM traits"
    people, buyers, orders = engine.fetch_rows(counts)[0]
    return TraitsResult(int(people), int(buyers), int(orders or 0), len(columns), recomputed, increment.reason)


def _write_profiles(engine: Engine, config: TraitsConfig, golden: list[str], columns: dict[str, str]) -> None:
    """``profiles`` written whole: the golden columns, the traits and the consent traits."""
    trait_list = ", ".join(f"t.{name}" for name in [AS_OF_COLUMN, *columns])
    consent, consent_list = "", ""
    if config.purposes and engine.has_table("consent"):  # the consent step's state, as traits
        engine.view("_consent_traits", consent_traits_sql(config.purposes, "_golden"))  # read once, just below
        consent = " LEFT JOIN _consent_traits AS c ON c.uid = g.uid"
        consent_list = "".join(f", c.{purpose.trait}" for purpose in config.purposes)
    engine.create_table(
        "profiles",
        f"SELECT {', '.join('g.' + name for name in golden)}, {trait_list}{consent_list} FROM _golden AS g "
        f"LEFT JOIN traits AS t ON t.uid = g.uid{consent}",
    )
