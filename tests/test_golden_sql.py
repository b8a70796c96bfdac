"""Golden SQL: the statements of the main builders, pinned for DuckDB and as transpiled for Spark.

A change to what a builder emits shows here as a diff of a readable file under
``tests/golden/sql/``. When the change is meant, write the new files with
``PERSONAE_UPDATE_GOLDEN=1 pytest tests/test_golden_sql.py`` and review the diff; the
engine tests (tests/test_engines_agree.py and the per-wing ones) say whether the results
still agree.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
import sqlglot

from personae.engine.dialects import transpile
from personae.golden.survivorship import profiles_sql
from personae.identity import graph, uids
from personae.identity.specs import IdentitySettings
from personae.profiles.orders import order_events_sql
from personae.profiles.specs import TraitsConfig
from personae.profiles.traits import traits_sql
from personae.rules import parse_rule
from personae.segments import lifecycle, memberships, rfm
from personae.segments.specs import DEFAULT_RFM_CELLS
from personae.sources.mapping import mapped_sql
from personae.sources.specs import IngestSettings, SourceSpec
from tests.workspaces import POS_SOURCE

GOLDEN = Path(__file__).resolve().parent / "golden" / "sql"
AS_OF = date(2025, 12, 31)
TRAITS = TraitsConfig()


def _thresholds() -> lifecycle.LifecycleThresholds:
    def threshold(name: str, value: float, unit: str) -> lifecycle.Threshold:
        return lifecycle.Threshold(name, value, unit, True, "golden")

    return lifecycle.LifecycleThresholds(
        AS_OF,
        40.0,
        2.1,
        100,
        threshold("dormant_days", 180, "days"),
        threshold("at_risk_days", 90, "days"),
        threshold("loyal_orders", 3, "orders"),
        threshold("vip_value", 500.0, "revenue in the last 365 days"),
    )


BUILDERS: dict[str, Callable[[], str]] = {
    "mapped_orders": lambda: mapped_sql(
        "stage",
        SourceSpec.model_validate(POS_SOURCE),
        ["receipt", "sold_at", "total", "card", "email", "phone", "promo", "_file", "_row"],
        IngestSettings(),
    ),
    "mapped_computed": lambda: mapped_sql(
        "_stage",
        SourceSpec.model_validate(
            {
                "name": "crm",
                "kind": "customers",
                "path": "crm.csv",
                "columns": {
                    "record_id": "id",
                    "street": "concat_ws(' ', street_number, address_1)",
                    "birth_date": "strptime(concat_ws('-', y, m, d), '%Y-%m-%d')",
                },
            }
        ),
        ["id", "street_number", "address_1", "y", "m", "d"],
        IngestSettings(),
    ),
    "occurrences": lambda: graph.occurrences_sql(["member_no"]),
    "identifiers": lambda: graph.identifiers_sql("_occ", "_shared", IdentitySettings()),
    "edges": lambda: graph.edges_sql("_record_nodes", "_anchors"),
    "uid_assignment": lambda: uids.assignment_sql("_nodes", "_labels", "_previous", "salt"),
    "golden_profiles": lambda: profiles_sql({}, ("crm", "shop")),
    "order_events": lambda: order_events_sql(TRAITS, AS_OF),
    "traits": lambda: traits_sql(
        TRAITS, AS_OF, people="_golden", order_events="_oe", orders="_orders", shares="_shares", gaps="_gaps"
    ),
    "rfm_scores": lambda: rfm.scores_sql("profiles"),
    "rfm_assignments": lambda: rfm.assignments_sql(DEFAULT_RFM_CELLS, "rfm", "profiles", "rfm_scores"),
    "lifecycle_assignments": lambda: lifecycle.assignments_sql(_thresholds(), "lifecycle"),
    "membership_changes": lambda: memberships.changes_sql("_assignments"),
    "memberships_next": lambda: memberships.next_stays_sql("_assignments", AS_OF, None),
    "memberships_backfill": lambda: memberships.next_stays_sql("_assignments", AS_OF, date(2026, 1, 31)),
    "rule": lambda: (
        "SELECT uid FROM profiles WHERE "
        + parse_rule(
            "revenue_365d > 1000 and days_since(last_order_at) between 60 and 180 and in_segment('rfm', 'Champions')",
            {"revenue_365d": "DOUBLE", "last_order_at": "TIMESTAMP"},
        ).sql(as_of=AS_OF)
    ),
}


def _pretty(sql: str, engine: str) -> str:
    dialect = "duckdb" if engine == "duckdb" else "spark"
    text = sql if engine == "duckdb" else transpile(sql, engine)
    return ";\n".join(sqlglot.transpile(text, read=dialect, write=dialect, pretty=True)) + "\n"


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_builder_sql_is_pinned(name: str, engine: str) -> None:
    path = GOLDEN / f"{name}.{engine}.sql"
    got = _pretty(BUILDERS[name](), engine)
    if os.environ.get("PERSONAE_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got, encoding="utf-8")
    assert path.is_file(), f"no golden file {path}: write it with PERSONAE_UPDATE_GOLDEN=1"
    assert got == path.read_text(encoding="utf-8"), f"{name} on {engine} changed; see the diff, update if meant"
