"""Consent per purpose, through the whole batch pipeline of a real workspace: decisions from a
consent source, a customers column and Segment's ``context.consent`` in event files; the
latest decision wins whatever order files arrive in; a malformed payload is quarantined and
the previous state stays; rules read ``consent_<purpose>``; destinations with a purpose get
only the people with consent, and a withdrawal sends exits at the next sync (file, webhook)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest

from personae import Workspace
from personae.errors import ConfigError
from personae.privacy.hashing import hashed_email
from tests.activation.receiver import Receiver, receiving
from tests.workspaces import write_workspace

PURPOSES = [
    {"name": "email_marketing"},
    {"name": "advertising"},
    {"name": "analytics", "default": "granted"},
]
SOURCES: list[dict[str, Any]] = [
    {
        "name": "crm",
        "kind": "customers",
        "path": "data/crm/*.csv",
        "columns": {"record_id": "id", "updated_at": "changed"},
        "identifiers": {"email": "email"},
        "consent": {"email_marketing": "newsletter"},
    },
    {
        "name": "cmp",
        "kind": "consent",
        "path": "data/cmp/*.csv",
        "columns": {"purpose": "purpose", "granted": "choice", "ts": "at"},
        "identifiers": {"email": "email"},
    },
    {"name": "web", "kind": "events", "path": "data/web/*.jsonl"},
]
CRM = """id,email,changed,newsletter
c1,jane@mail.test,2024-01-01 00:00:00,yes
c2,bob@mail.test,2024-01-01 00:00:00,no
c3,ann@mail.test,2024-01-01 00:00:00,
c4,eve@mail.test,2024-01-01 00:00:00,
"""
CMP_1 = """email,purpose,choice,at
jane@mail.test,advertising,true,2024-03-01 00:00:00
bob@mail.test,advertising,false,2024-05-01 00:00:00
eve@mail.test,analytics,false,2024-02-01 00:00:00
eve@mail.test,unknown_purpose,true,2024-02-01 00:00:00
"""
CMP_LATE_OLDER_GRANT = """email,purpose,choice,at
bob@mail.test,advertising,true,2024-04-01 00:00:00
"""


def message(message_id: str, email: str, ts: str, consent: object) -> str:
    body = {
        "type": "identify",
        "messageId": message_id,
        "userId": email.split("@")[0],
        "timestamp": ts,
        "traits": {"email": email},
        "context": {"consent": {"categoryPreferences": consent}},
    }
    return json.dumps(body)


WEB = "\n".join(
    [
        message("m1", "ann@mail.test", "2024-02-01T00:00:00Z", {"advertising": True, "email_marketing": True}),
        message("m2", "jane@mail.test", "2024-07-01T00:00:00Z", {"advertising": "maybe"}),  # malformed
        message("m3", "jane@mail.test", "2024-07-02T00:00:00Z", ["advertising"]),  # malformed
    ]
)


def files_destination(**extra: Any) -> dict[str, Any]:
    return {
        "name": "ads",
        "kind": "file",
        "path": "out/ads",
        "format": "parquet",
        "segments": ["rules/everyone"],
        "purpose": "advertising",
        **extra,
    }


def build(root: Path, *destinations: dict[str, Any]) -> Path:
    return write_workspace(
        root,
        SOURCES,
        {"data/crm/crm.csv": CRM, "data/cmp/1.csv": CMP_1, "data/web/1.jsonl": WEB},
        workspace={"name": "test", "as_of": "2024-08-01"},
        models={"enabled": False},  # nothing here to learn from; the runs stay short
        privacy={"purposes": PURPOSES},
        segments=[
            {"name": "everyone", "rule": "traits_as_of is not null"},
            {"name": "reachable", "rule": "consent_email_marketing and not consent_analytics"},
        ],
        destinations=list(destinations),
    )


def store_rows(root: Path, sql: str) -> list[tuple[Any, ...]]:
    with Workspace(root).engine(write=False) as engine:
        return [tuple(row) for row in engine.fetch_rows(sql)]


def states(root: Path) -> dict[tuple[str, str], bool]:
    rows = store_rows(
        root,
        "SELECT i.id_value, c.purpose, c.granted FROM consent AS c JOIN identity_map AS i "
        "ON i.uid = c.uid AND i.id_type = 'email'",
    )
    return {(str(email), str(purpose)): bool(granted) for email, purpose, granted in rows}


def uid_of(root: Path, email: str) -> str:
    return str(store_rows(root, f"SELECT uid FROM identity_map WHERE id_type = 'email' AND id_value = '{email}'")[0][0])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = build(tmp_path_factory.mktemp("consent") / "ws")
    Workspace(root).run()
    return root


def test_every_source_of_consent_reaches_the_state_with_its_time_and_source(world: Path) -> None:
    assert states(world) == {
        ("jane@mail.test", "email_marketing"): True,  # the customers column
        ("bob@mail.test", "email_marketing"): False,
        ("jane@mail.test", "advertising"): True,  # the consent source
        ("bob@mail.test", "advertising"): False,
        ("eve@mail.test", "analytics"): False,
        ("ann@mail.test", "advertising"): True,  # context.consent of an event file
        ("ann@mail.test", "email_marketing"): True,
    }
    jane = uid_of(world, "jane@mail.test")
    rows = store_rows(world, f"SELECT purpose, decided_at, source FROM consent WHERE uid = '{jane}' ORDER BY purpose")
    assert rows == [
        ("advertising", datetime(2024, 3, 1), "cmp"),
        ("email_marketing", datetime(2024, 1, 1), "crm"),
    ]
    origins = store_rows(world, "SELECT origin, count(*) FROM consent_events GROUP BY origin ORDER BY origin")
    assert origins == [("consent", 3), ("customer", 2), ("event", 2)]  # the unknown purpose is not counted


def test_a_malformed_consent_payload_is_quarantined_and_the_previous_state_stays(world: Path) -> None:
    reasons = store_rows(world, "SELECT reason, raw FROM quarantine WHERE source = 'web' ORDER BY row")
    assert len(reasons) == 2
    assert all(reason.startswith("consent: not an object of purpose -> true/false") for reason, _ in reasons)
    assert '"maybe"' in str(reasons[0][1])  # the raw payload is kept with its reason
    assert states(world)[("jane@mail.test", "advertising")] is True


def test_rules_read_consent_as_traits_with_the_purpose_default(world: Path) -> None:
    rows = store_rows(
        world,
        "SELECT i.id_value, p.consent_email_marketing, p.consent_advertising, p.consent_analytics "
        "FROM profiles AS p JOIN identity_map AS i ON i.uid = p.uid AND i.id_type = 'email' ORDER BY 1",
    )
    assert rows == [
        ("ann@mail.test", True, True, True),
        ("bob@mail.test", False, False, True),
        ("eve@mail.test", False, False, False),  # analytics: withdrawn from a granted default
        ("jane@mail.test", True, True, True),
    ]
    reachable = store_rows(
        world,
        "SELECT i.id_value FROM memberships AS m JOIN identity_map AS i ON i.uid = m.uid AND i.id_type = 'email' "
        "WHERE m.segment = 'reachable' AND m.exited_at IS NULL",
    )
    assert reachable == []  # nobody has e-mail consent and has withdrawn analytics
    everyone = store_rows(world, "SELECT count(*) FROM memberships WHERE segment = 'everyone' AND exited_at IS NULL")
    assert everyone == [(4,)]


def test_an_older_grant_arriving_after_a_withdrawal_does_not_undo_it(world: Path, tmp_path: Path) -> None:
    root = build(tmp_path / "ws")
    Workspace(root).run()
    (root / "data/cmp/2.csv").write_text(CMP_LATE_OLDER_GRANT, encoding="utf-8")
    Workspace(root).run()
    assert states(root)[("bob@mail.test", "advertising")] is False
    decided = store_rows(root, "SELECT count(*) FROM consent_events WHERE purpose = 'advertising' AND granted")
    assert decided == [(3,)]  # the late grant is kept as a decision, and loses to the newer withdrawal
    (root / "data/cmp/3.csv").write_text(
        "email,purpose,choice,at\nbob@mail.test,advertising,true,2024-05-01 00:00:00\n", encoding="utf-8"
    )
    Workspace(root).run()  # a grant at the very instant of the withdrawal: the withdrawal wins
    assert states(root)[("bob@mail.test", "advertising")] is False


def test_unknown_purposes_are_config_errors_with_a_hint(tmp_path: Path) -> None:
    root = build(tmp_path / "ws", files_destination(purpose="advertsing"))
    with pytest.raises(
        ConfigError, match=r"destination 'ads': purpose 'advertsing' is not declared; did you mean 'advertising'\?"
    ):
        Workspace(root)
    source = dict(SOURCES[0], consent={"emial_marketing": "newsletter"})
    write_workspace(tmp_path / "two", [source], {}, privacy={"purposes": PURPOSES})
    with pytest.raises(
        ConfigError,
        match=r"source 'crm': consent: purpose 'emial_marketing' is not declared; did you mean 'email_marketing'",
    ):
        Workspace(tmp_path / "two")
    write_workspace(tmp_path / "three", [], {}, privacy={"purposes": ["ads", {"name": "ads", "default": "granted"}]})
    with pytest.raises(ConfigError, match=r"privacy: purpose 'ads' is declared twice; names must be unique"):
        Workspace(tmp_path / "three")
    write_workspace(tmp_path / "four", [dict(SOURCES[2], consent={"ads": "x"})], {}, privacy={"purposes": ["ads"]})
    with pytest.raises(ConfigError, match=r"source 'web': only customers sources take 'consent'"):
        Workspace(tmp_path / "four")
    write_workspace(tmp_path / "five", [], {}, privacy={"purposes": [{"name": "ads", "default": "maybe"}]})
    with pytest.raises(ConfigError, match=r"privacy.purposes.0.default"):
        Workspace(tmp_path / "five")


def _deltas(root: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted((root / "out/ads/deltas").glob("memberships-*.parquet")):
        rows += pq.read_table(path).to_pylist()
    return rows


def _snapshot(root: Path) -> set[str]:
    return set(pq.read_table(root / "out/ads/snapshot/memberships.parquet").column("uid").to_pylist())


def _decide(root: Path, email: str, choice: str, at: str, purpose: str = "advertising") -> None:
    """A new file of the consent source with one decision."""
    folder = root / "data/cmp"
    number = len(list(folder.glob("*.csv"))) + 1
    text = f"email,purpose,choice,at\n{email},{purpose},{choice},{at}\n"
    (folder / f"{number}.csv").write_text(text, encoding="utf-8")


def test_a_file_destination_gets_only_people_with_consent_and_a_withdrawal_exits_them(tmp_path: Path) -> None:
    root = build(tmp_path / "ws", files_destination())
    Workspace(root).run()
    jane, ann, bob = (uid_of(root, f"{name}@mail.test") for name in ("jane", "ann", "bob"))
    sent = {row["uid"] for row in _deltas(root)}
    assert sent == {jane, ann} == _snapshot(root)  # bob withdrew, eve never granted
    _decide(root, "jane@mail.test", "false", "2024-07-15 00:00:00")
    Workspace(root).run()
    exits = [row for row in _deltas(root) if row["change"] == "exited"]
    assert [(row["uid"], row["segment"]) for row in exits] == [(jane, "everyone")]
    assert exits[0]["key"].startswith(f"ads:c:{jane}:")
    assert _snapshot(root) == {ann}
    Workspace(root).run()  # nothing changed: nothing sent again
    assert len([row for row in _deltas(root) if row["change"] == "exited"]) == 1
    _decide(root, "bob@mail.test", "true", "2024-07-20 00:00:00")
    Workspace(root).run()
    entries = [row for row in _deltas(root) if row["change"] == "entered" and row["uid"] == bob]
    assert [row["segment"] for row in entries] == ["everyone"]
    assert _snapshot(root) == {ann, bob}


@pytest.fixture
def receiver() -> Any:
    with receiving("webhook", secret="s3cret") as running:
        yield running


def test_a_webhook_gets_a_withdrawn_person_exited_and_never_anyone_without_consent(
    tmp_path: Path, receiver: Receiver
) -> None:
    hook = {
        "name": "hook",
        "kind": "webhook",
        "url": receiver.url,
        "secret_env": "HOOK_SECRET",
        "segments": ["rules/everyone"],
        "purpose": "email_marketing",
        "backoff_seconds": 0.1,
    }
    root = build(tmp_path / "ws", hook)
    env = {"HOOK_SECRET": "s3cret"}
    Workspace(root, env=env).run()
    jane, ann = uid_of(root, "jane@mail.test"), uid_of(root, "ann@mail.test")
    changes = list(receiver.changes.values())
    assert {(c["uid"], c["change"]) for c in changes} == {(jane, "entered"), (ann, "entered")}
    (root / "data/cmp/2.csv").write_text(
        "email,purpose,choice,at\nann@mail.test,email_marketing,false,2024-07-15 00:00:00\n", encoding="utf-8"
    )
    Workspace(root, env=env).run()
    later = [c for c in receiver.changes.values() if c not in changes]
    assert [(c["uid"], c["change"], c["segment"]) for c in later] == [(ann, "exited", "everyone")]
    assert receiver.duplicates == 0 and receiver.bad_signatures == 0


PG_DSN = os.environ.get("PERSONAE_TEST_PG_DSN", "")


@pytest.fixture
def pg_schema() -> Iterator[str]:
    if not PG_DSN:
        pytest.skip("PERSONAE_TEST_PG_DSN is unset: run through `make test`, which starts PostgreSQL")
    name = f"personae_consent_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(PG_DSN, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def _pg(sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(PG_DSN, autocommit=True) as connection:
        return connection.execute(sql).fetchall()


@pytest.mark.postgres
def test_a_postgres_destination_deletes_a_withdrawn_member_and_holds_only_hashed_identifiers(
    tmp_path: Path, pg_schema: str
) -> None:
    warehouse = {
        "name": "warehouse",
        "kind": "postgres",
        "dsn_env": "WAREHOUSE_DSN",
        "schema": pg_schema,
        "segments": ["rules/everyone"],
        "traits": ["email"],
        "purpose": "advertising",
        "hash_identifiers": True,
    }
    root = build(tmp_path / "ws", warehouse)
    env = {"WAREHOUSE_DSN": PG_DSN}
    Workspace(root, env=env).run()
    jane, ann = uid_of(root, "jane@mail.test"), uid_of(root, "ann@mail.test")
    assert {uid for (uid,) in _pg(f"SELECT uid FROM {pg_schema}.personae_members")} == {jane, ann}
    emails = dict(_pg(f"SELECT uid, email FROM {pg_schema}.personae_traits"))
    assert emails == {jane: hashed_email("jane@mail.test"), ann: hashed_email("ann@mail.test")}
    _decide(root, "jane@mail.test", "false", "2024-07-15 00:00:00")
    Workspace(root, env=env).run()
    assert {uid for (uid,) in _pg(f"SELECT uid FROM {pg_schema}.personae_members")} == {ann}
    _decide(root, "jane@mail.test", "true", "2024-07-16 00:00:00")
    Workspace(root, env=env).run()  # granted again: back in at the same cursor
    assert {uid for (uid,) in _pg(f"SELECT uid FROM {pg_schema}.personae_members")} == {jane, ann}


def test_a_store_from_before_consent_gets_the_column_at_the_next_run(tmp_path: Path) -> None:
    root = build(tmp_path / "ws")
    Workspace(root).run()
    with Workspace(root).engine(write=True) as engine:  # a store from before consent (and schema versions)
        engine.execute("ALTER TABLE events DROP COLUMN consent")
        engine.drop_table("store_schema")
    (root / "data/web/2.jsonl").write_text(
        message("m9", "eve@mail.test", "2024-07-01T00:00:00Z", {"analytics": True}), encoding="utf-8"
    )
    Workspace(root).run()
    assert states(root)[("eve@mail.test", "analytics")] is True  # newer than her withdrawal
    assert store_rows(root, "SELECT count(*) FROM events WHERE consent IS NULL") == [(1,)]  # m1's was lost


def test_a_segment_endpoint_gets_audience_exited_for_a_withdrawn_person(tmp_path: Path) -> None:
    with receiving("segment", write_key="wk") as receiver:
        cdp = {
            "name": "cdp",
            "kind": "segment",
            "endpoint": receiver.base,
            "write_key_env": "SEGMENT_WRITE_KEY",
            "segments": ["rules/everyone"],
            "purpose": "advertising",
            "backoff_seconds": 0.1,
        }
        root = build(tmp_path / "ws", cdp)
        env = {"SEGMENT_WRITE_KEY": "wk"}
        Workspace(root, env=env).run()
        jane, ann = uid_of(root, "jane@mail.test"), uid_of(root, "ann@mail.test")
        first = list(receiver.changes.values())
        assert {(m["userId"], m["event"]) for m in first} == {(jane, "Audience Entered"), (ann, "Audience Entered")}
        _decide(root, "jane@mail.test", "false", "2024-07-15 00:00:00")
        Workspace(root, env=env).run()
        later = [m for m in receiver.changes.values() if m not in first]
        assert [(m["userId"], m["event"]) for m in later] == [(jane, "Audience Exited")]
