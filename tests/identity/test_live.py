"""Live identity resolution, rule by rule: each case resolved live, written back, then checked
against a batch run over the same events (the property test does the same on random streams)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from personae.engine import Engine
from personae.errors import EngineError, UsageError
from personae.identity.fuzzy_settings import FuzzySettings
from personae.identity.live import LiveIdentity, LiveRecord, Refusal, UidChange
from personae.identity.matching import FuzzyEdges
from personae.identity.specs import IdentitySettings
from personae.identity.uids import derived_uid
from tests.identity.live_stores import SALT, load_events, new_store, run_batch, state, uid_of

RULES = IdentitySettings(fuzzy=FuzzySettings(enabled=False), blocked=("junk@shop.io",))
EXTRA = ["member_no"]
DAY = datetime(2024, 1, 1)
AT = datetime(2024, 6, 1, 12)


def record(record_id: str, day: int = 0, **identifiers: str) -> LiveRecord:
    return LiveRecord("web", record_id, DAY + timedelta(days=day), identifiers)


def _resolved(tmp_path: Path, history: list[LiveRecord], rules: IdentitySettings = RULES) -> Engine:
    store = new_store(tmp_path / "store.duckdb")
    load_events(store, history, EXTRA)
    run_batch(store, rules, EXTRA, DAY, tmp_path)
    return store


def _batch_agrees(store: Engine, live: LiveIdentity, stream: list[LiveRecord], tmp_path: Path) -> dict[str, Any]:
    """Write live's changes back, load the stream as ingest would, run batch (incremental, then
    full): nothing changes, UIDs included."""
    live.write_back(store)
    written = state(store)
    load_events(store, stream, EXTRA)
    for incremental in (True, False):
        result = run_batch(store, live.settings.model_copy(update={"incremental": incremental}), EXTRA, AT, tmp_path)
        assert state(store) == written, f"incremental={incremental}"
        assert result.merges == result.splits == 0
    return written


def test_a_new_person_gets_the_uid_batch_gives(tmp_path: Path) -> None:
    store = new_store(tmp_path / "store.duckdb")  # never resolved
    live = LiveIdentity.load(store, RULES, extra_types=EXTRA, phone_region="US")
    visit = record("e1", anonymous_id="a1", email=" Ann@Mail.net")
    resolution = live.resolve(visit, at=AT)
    assert resolution.uid == derived_uid(SALT, "anonymous_id", "a1")  # oldest member; types ordered by name
    assert resolution.new_person
    assert resolution.new_identifiers == (("anonymous_id", "a1"), ("email", "ann@mail.net"))
    assert resolution.changes == resolution.refused == ()
    assert live.uid("email", "ANN@mail.net ") == resolution.uid
    assert live.pending().deleted == []  # new identifiers have no row yet: nothing to delete
    written = _batch_agrees(store, live, [visit], tmp_path)
    assert written["record_map"] == [("web", "e1", resolution.uid)]


def test_people_joined_by_an_event_merge_into_the_oldest(tmp_path: Path) -> None:
    store = _resolved(tmp_path, [record("e1", user_id="u1", email="ann@mail.net"), record("e2", 3, anonymous_id="a9")])
    ann, visitor = uid_of(store, record("e1")), uid_of(store, record("e2"))
    live = LiveIdentity.load(store, RULES, extra_types=EXTRA, phone_region="US")
    resolution = live.resolve(record("e3", 4, anonymous_id="a9", email="ANN@mail.net"), at=AT)
    assert (resolution.uid, resolution.new_person) == (ann, False)
    assert resolution.changes == (UidChange(str(visitor), ann, "merge"),)
    assert resolution.retired == (visitor,)
    back = live.pending()
    assert back.renamed == {visitor: ann}  # e2's row follows with one UPDATE
    assert back.deleted == [("anonymous_id", "a9")]  # its identity_map row is replaced
    assert back.recheck == frozenset()
    written = _batch_agrees(store, live, [record("e3", 4, anonymous_id="a9", email="ANN@mail.net")], tmp_path)
    assert ("web", "e2", ann) in written["record_map"]
    assert written["merges"] == [(visitor, ann, AT, "merge")]


def test_a_value_that_becomes_shared_stops_linking_and_its_people_split(tmp_path: Path) -> None:
    rules = RULES.model_copy(update={"shared_max": 1})
    history = [
        record("e1", crm_id="c1", email="fam@mail.net"),
        record("e2", 1, email="fam@mail.net", phone="555-000-1111"),
    ]
    store = _resolved(tmp_path, history, rules)
    family = uid_of(store, record("e1"))
    assert uid_of(store, record("e2")) == family
    live = LiveIdentity.load(store, rules, extra_types=EXTRA, phone_region="US")
    later = record("e3", 2, crm_id="c2", email="fam@mail.net")  # the e-mail is now seen with two CRM ids
    resolution = live.resolve(later, at=AT)
    assert Refusal("email", "fam@mail.net", "shared") in resolution.refused
    assert resolution.uid == derived_uid(SALT, "crm_id", "c2")
    assert [change.reason for change in resolution.changes] == ["split"]  # the phone leaves the family
    assert live.uid("email", "fam@mail.net") is None
    assert live.pending().recheck == frozenset({family})  # e1 and e2 get their UIDs from their identifiers
    written = _batch_agrees(store, live, [later], tmp_path)
    assert ("web", "e1", family) in written["record_map"]
    assert ("web", "e2", derived_uid(SALT, "phone", "+15550001111")) in written["record_map"]


def test_a_per_type_limit_refuses_the_less_trusted_link(tmp_path: Path) -> None:
    store = _resolved(tmp_path, [record("e1", user_id="u1", email="fam@mail.net")])
    owner = uid_of(store, record("e1"))
    live = LiveIdentity.load(store, RULES, extra_types=EXTRA, phone_region="US")
    second = record("e2", 1, user_id="u2", email="fam@mail.net")  # at most one user id per person
    resolution = live.resolve(second, at=AT)
    assert resolution.uid == derived_uid(SALT, "user_id", "u2")
    assert resolution.new_person
    assert resolution.refused == (Refusal("email", "fam@mail.net", "limit"),)
    assert live.uid("email", "fam@mail.net") == owner
    _batch_agrees(store, live, [second], tmp_path)


def test_blocked_and_invalid_values_never_link(tmp_path: Path) -> None:
    store = new_store(tmp_path / "store.duckdb")
    live = LiveIdentity.load(store, RULES, extra_types=EXTRA, phone_region="US")
    stream = [
        record("e1", user_id="u5", email="TEST@example.com", phone="123"),
        record("e2", user_id="u6", email="test@example.com", member_no="junk@shop.io"),
        record("e3", email="JUNK@shop.io", phone="  ", member_no="null"),
    ]
    first, second, third = (live.resolve(item, at=AT) for item in stream)
    assert first.uid != second.uid
    assert first.refused == (Refusal("phone", "123", "invalid"), Refusal("email", "test@example.com", "blocked"))
    assert Refusal("member_no", "junk@shop.io", "blocked") in second.refused  # literal values block every type
    assert third.uid is None and not third.new_person
    assert {refusal.reason for refusal in third.refused} == {"blocked"}
    written = _batch_agrees(store, live, stream, tmp_path)
    assert [row[1] for row in written["record_map"]] == ["e1", "e2"]


def test_a_record_id_seen_again_is_resolved_once(tmp_path: Path) -> None:
    store = new_store(tmp_path / "store.duckdb")
    live = LiveIdentity.load(store, RULES, extra_types=EXTRA, phone_region="US")
    first = live.resolve(record("e1", anonymous_id="a1"), at=AT)
    again = live.resolve(record("e1", anonymous_id="a1", user_id="u1"), at=AT)  # ingest keeps the first
    assert again.uid == first.uid
    assert again.new_identifiers == again.changes == ()
    assert live.uid("user_id", "u1") is None
    assert live.size["records"] == 1


def test_unknown_identifier_types_are_refused_with_the_known_ones(tmp_path: Path) -> None:
    live = LiveIdentity.load(new_store(tmp_path / "store.duckdb"), RULES, extra_types=EXTRA, phone_region="US")
    with pytest.raises(UsageError, match=r"'emial' is not stored by ingest; use one of .*email"):
        live.resolve(record("e1", user_id="u1", emial="ann@mail.net"), at=AT)
    assert live.uid("user_id", "u1") is None  # nothing of the refused record was kept
    assert live.resolve(record("e1", user_id="u1"), at=AT).new_identifiers == (("user_id", "u1"),)


def test_a_store_not_resolved_since_its_last_records_is_refused(tmp_path: Path) -> None:
    store = _resolved(tmp_path, [record("e1", user_id="u1")])
    load_events(store, [record("e2", user_id="u2")], EXTRA)  # ingested, not resolved
    with pytest.raises(UsageError, match=r"disagree on 1 identifiers.*personae run"):
        LiveIdentity.load(store, RULES, extra_types=EXTRA, phone_region="US")


def test_a_failed_write_back_writes_nothing_and_keeps_the_changes(tmp_path: Path) -> None:
    store = _resolved(tmp_path, [record("e1", user_id="u1"), record("e2", anonymous_id="a1")])
    before = state(store)
    live = LiveIdentity.load(store, RULES, extra_types=EXTRA, phone_region="US")
    joining = record("e3", 1, user_id="u1", anonymous_id="a1")
    assert len(live.resolve(joining, at=AT).changes) == 1
    store.execute("ALTER TABLE merges RENAME TO merges_elsewhere")
    with pytest.raises(EngineError):
        live.write_back(store)
    store.execute("ALTER TABLE merges_elsewhere RENAME TO merges")
    assert state(store) == before  # rolled back
    assert len(live.pending().merges) == 1
    _batch_agrees(store, live, [joining], tmp_path)


def test_fuzzy_links_of_the_last_batch_run_hold_people_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Live adds no fuzzy link but keeps the batch's: two CRM records a (stubbed) matcher linked
    stay one person when events reach each of them."""

    def matched(engine: Engine, *_: Any, **__: Any) -> FuzzyEdges:
        engine.materialise(
            "_fuzzy_edges",
            "SELECT l.node AS a, r.node AS b, 1000 AS rank FROM _ids AS l, _ids AS r "
            "WHERE l.id_value = 'crm:K1' AND r.id_value = 'crm:K2' AND l.status = 'ok' AND r.status = 'ok'",
        )
        return FuzzyEdges("_fuzzy_edges", [])

    monkeypatch.setattr("personae.identity.resolve.fuzzy_edges", matched)
    rules = RULES.model_copy(update={"fuzzy": FuzzySettings()})
    store = new_store(tmp_path / "store.duckdb")
    store.execute(
        "INSERT INTO customer_records (source, record_id, updated_at, email, phone, _loaded_at) VALUES "
        "('crm', 'K1', '2024-01-01', 'ann@mail.net', NULL, '2024-01-05'), "
        "('crm', 'K2', '2024-01-02', NULL, '+15550001111', '2024-01-05')"
    )
    run_batch(store, rules, EXTRA, DAY, tmp_path)
    live = LiveIdentity.load(store, rules, extra_types=EXTRA, phone_region="US")
    person = live.uid("email", "ann@mail.net")
    assert person is not None and live.uid("phone", "555 000 1111") == person
    stream = [
        record("e1", 9, email="ann@mail.net", anonymous_id="a1"),
        record("e2", 9, phone="5550001111", user_id="u1"),
    ]
    assert {live.resolve(item, at=AT).uid for item in stream} == {person}
    _batch_agrees(store, live, stream, tmp_path)


def test_an_aware_time_counts_as_its_wall_clock_time_as_ingest_reads_it(tmp_path: Path) -> None:
    """Ingest reads '11:00+05:00' as 11:00 (docs/architecture.md, Timestamps): B is younger than
    A by the wall clock (older in UTC), so A's UID survives the merge, as batch decides."""
    store = new_store(tmp_path / "store.duckdb")
    live = LiveIdentity.load(store, RULES, extra_types=EXTRA, phone_region="US")
    plus_five = timezone(timedelta(hours=5))
    stream = [
        LiveRecord("web", "e1", datetime(2024, 1, 1, 10), {"anonymous_id": "a1"}),
        LiveRecord("web", "e2", datetime(2024, 1, 1, 11, tzinfo=plus_five), {"anonymous_id": "a2"}),
        LiveRecord("web", "e3", datetime(2024, 1, 2), {"anonymous_id": "a1", "user_id": "u1"}),
        LiveRecord("web", "e4", datetime(2024, 1, 2), {"anonymous_id": "a2", "user_id": "u1"}),
    ]
    first, second, _, joined = (live.resolve(item, at=AT) for item in stream)
    assert joined.changes == (UidChange(str(second.uid), str(first.uid), "merge"),)
    _batch_agrees(store, live, stream, tmp_path)
