"""The consent state derivation is the same SQL on every engine (DuckDB, and Spark where the
batch pipeline runs there): decisions from the three origins, out of order, with a tie."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from personae import Workspace
from personae.engine import DuckDBEngine, Engine
from personae.engine.tables import ensure_tables
from personae.privacy.consent import (
    CONSENT_COLUMNS,
    CONSENT_EVENT_COLUMNS,
    ConsentColumn,
    consent_events_sql,
    consent_state_sql,
    consent_traits_sql,
    customer_column_expression,
)
from personae.privacy.purposes import Purpose
from tests.workspaces import write_workspace

PURPOSES = (Purpose(name="ads"), Purpose(name="email"), Purpose(name="stats", default="granted"))


def _load(engine: Engine) -> None:
    ensure_tables(engine, ["consent_records", "events", "customer_records", "record_map", "consent_events", "consent"])
    day = [datetime(2024, 1, d) for d in range(1, 8)]
    engine.register_arrow(
        "_in_records",
        pa.table(
            {
                "source": ["cmp"] * 5,
                "record_id": ["r1", "r2", "r3", "r4", "r5"],
                "ts": [day[4], day[1], day[2], day[2], day[0]],
                "purpose": ["ads", "ads", "ads", "ads", "nobody_declared_it"],
                # u1: withdrew on the 5th, an older grant (the 2nd) loaded with it; u2: a grant
                # and a withdrawal at the same instant (the 3rd): the withdrawal wins
                "granted": [False, True, True, False, True],
                "uid_hint": ["u1", "u1", "u2", "u2", "u1"],
            }
        ),
    )
    engine.insert(
        "consent_records",
        ["source", "record_id", "ts", "purpose", "granted"],
        "SELECT source, record_id, ts, purpose, granted FROM _in_records",
    )
    engine.register_arrow(
        "_in_events",
        pa.table(
            {
                "event_id": ["e1", "e2"],
                "source": ["web", "web"],
                "type": ["identify", "track"],
                "ts": [day[6], day[3]],
                "consent": ['{"ads":true,"stats":false}', None],
            }
        ),
    )
    engine.insert(
        "events",
        ["event_id", "source", "type", "ts", "consent"],
        "SELECT event_id, source, type, ts, consent FROM _in_events",
    )
    engine.register_arrow(
        "_in_customers",
        pa.table(
            {
                "source": ["crm", "crm", "crm"],
                "record_id": ["c1", "c2", "c3"],
                "updated_at": [day[0], day[0], None],
                "email_opt_in": [True, None, False],
                "attributes": ['{"news letter":"yes"}', '{"news letter":"no"}', '{"news letter":"maybe"}'],
                "_loaded_at": [day[5]] * 3,
            }
        ),
    )
    engine.insert(
        "customer_records",
        ["source", "record_id", "updated_at", "email_opt_in", "attributes", "_loaded_at"],
        "SELECT source, record_id, updated_at, email_opt_in, attributes, _loaded_at FROM _in_customers",
    )
    engine.register_arrow(
        "_in_map",
        pa.table(
            {
                "source": ["cmp"] * 5 + ["web", "web", "crm", "crm", "crm"],
                "record_id": ["r1", "r2", "r3", "r4", "r5", "e1", "e2", "c1", "c2", "c3"],
                "uid": ["u1", "u1", "u2", "u2", "u1", "u3", "u3", "u1", "u2", "u3"],
            }
        ),
    )
    engine.insert("record_map", ["source", "record_id", "uid"], "SELECT source, record_id, uid FROM _in_map")


def test_consent_state_keeps_the_latest_decision_and_a_tie_withdraws(tmp_path: Path) -> None:
    """On DuckDB; Spark runs the same SQL in the pipeline test below, whose consent file holds
    an out-of-order grant and a tie too (one Spark run for both)."""
    engine = DuckDBEngine(tmp_path / "consent.duckdb")
    try:
        _check_state(engine)
    finally:
        engine.close()


def _check_state(engine: Engine) -> None:
    _load(engine)
    columns = [
        ConsentColumn("crm", "email", customer_column_expression("news letter", None)),
        ConsentColumn("crm", "stats", customer_column_expression("email_opt_in", "email_opt_in")),
    ]
    engine.insert("consent_events", list(CONSENT_EVENT_COLUMNS), consent_events_sql(PURPOSES, columns))
    engine.insert("consent", list(CONSENT_COLUMNS), consent_state_sql())
    state = {
        (uid, purpose): (granted, decided_at, source)
        for uid, purpose, granted, decided_at, source in engine.fetch_rows("SELECT * FROM consent")
    }
    assert state == {
        ("u1", "ads"): (False, datetime(2024, 1, 5), "cmp"),
        ("u2", "ads"): (False, datetime(2024, 1, 3), "cmp"),
        ("u3", "ads"): (True, datetime(2024, 1, 7), "web"),
        ("u3", "stats"): (False, datetime(2024, 1, 7), "web"),  # the event is newer than the record
        ("u1", "email"): (True, datetime(2024, 1, 1), "crm"),
        ("u2", "email"): (False, datetime(2024, 1, 1), "crm"),  # "maybe" of c3 is no decision
        ("u1", "stats"): (True, datetime(2024, 1, 1), "crm"),
    }
    traits = engine.fetch_rows(
        "SELECT * FROM ("
        + consent_traits_sql(PURPOSES, "(SELECT 'u1' AS uid UNION ALL SELECT 'u9')")
        + ") ORDER BY uid"
    )
    assert [tuple(row) for row in traits] == [("u1", False, True, True), ("u9", False, False, True)]


CONSENT_LINES = "\n".join(
    [
        '{"type":"identify","messageId":"m1","userId":"u1","timestamp":"2024-01-01T00:00:00Z",'
        '"context":{"consent":{"categoryPreferences":{"ads":true,"stats":false}}}}',
        '{"type":"track","event":"x","messageId":"m2","userId":"u1","timestamp":"2024-01-02T00:00:00Z",'
        '"context":{"consent":{"categoryPreferences":{"ads":"no"}}}}',
        '{"type":"track","event":"x","messageId":"m3","userId":"u1","timestamp":"2024-01-03T00:00:00Z",'
        '"context":{"consent":{"categoryPreferences":[]}}}',
        '{"type":"page","name":"Home","messageId":"m4","userId":"u2","timestamp":"2024-01-04T00:00:00Z"}',
    ]
)
CMP = (
    "email,purpose,choice,at\n"
    "jo@mail.test,ads,yes,2024-01-05 00:00:00\n"
    "jo@mail.test,,yes,2024-01-05\n"
    # an older withdrawal after the grant in the file: the grant (newer) stands
    "jo@mail.test,ads,no,2024-01-03 00:00:00\n"
    # a grant and a withdrawal at the same instant: the withdrawal wins
    "al@mail.test,ads,yes,2024-01-04 00:00:00\n"
    "al@mail.test,ads,no,2024-01-04 00:00:00\n"
)


@pytest.mark.spark
def test_consent_ingest_and_step_are_the_same_on_duckdb_and_spark(tmp_path: Path) -> None:
    sources = [
        {"name": "web", "kind": "events", "path": "data/web/*.jsonl"},
        {
            "name": "cmp",
            "kind": "consent",
            "path": "data/cmp.csv",
            "columns": {"granted": "choice", "ts": "at"},
            "identifiers": {"email": "email"},
        },
    ]
    tables = {}
    for name in ("duckdb", "spark"):
        root = write_workspace(
            tmp_path / name,
            sources,
            {"data/web/1.jsonl": CONSENT_LINES, "data/cmp.csv": CMP},
            privacy={"purposes": ["ads", "stats"]},
        )
        workspace = Workspace(root)
        for step in ("ingest", "identity", "consent"):
            assert workspace.run(as_of=date(2024, 2, 1), engine=name, only=step).errors == []
        with workspace.engine(write=False, name=name) as store:
            tables[name] = {
                "events": sorted(store.fetch_rows("SELECT event_id, consent FROM events"), key=repr),
                "quarantine": sorted(store.fetch_rows("SELECT source, row, reason FROM quarantine"), key=repr),
                "consent_records": sorted(
                    store.fetch_rows("SELECT record_id, email, purpose, granted, ts FROM consent_records"), key=repr
                ),
                "consent": sorted(
                    store.fetch_rows(
                        "SELECT i.id_value, c.purpose, c.granted, c.decided_at, c.source FROM consent AS c "
                        "JOIN identity_map AS i ON i.uid = c.uid AND i.id_type IN ('user_id', 'email')"
                    ),
                    key=repr,
                ),
            }
    duck = tables["duckdb"]
    assert [tuple(row) for row in duck["events"]] == [("m1", '{"ads":true,"stats":false}'), ("m4", None)]
    assert [(row[0], row[1]) for row in duck["quarantine"]] == [("cmp", 2), ("web", 2), ("web", 3)]
    assert sorted((row[1], row[3]) for row in duck["consent_records"]) == [
        ("al@mail.test", False),
        ("al@mail.test", True),
        ("jo@mail.test", False),
        ("jo@mail.test", True),
    ]
    assert [tuple(row[:3]) for row in duck["consent"]] == [
        ("al@mail.test", "ads", False),
        ("jo@mail.test", "ads", True),
        ("u1", "ads", True),
        ("u1", "stats", False),
    ]
    assert tables["spark"] == duck
