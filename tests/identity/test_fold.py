"""Folding the stored identity graph forward equals building it from every record.

Two stores take the same random history and the same random increments, each loaded with a
later ``_loaded_at`` as ingest stamps them: one runs incrementally (folding where it can),
the other in full. After every increment every identity table is the same in both, and the
fold was taken where nothing but new rows arrived. Fixed cases check each reason to build
the graph from every record instead.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from personae.engine import Engine
from personae.engine.sql import timestamp_sql
from personae.identity.fuzzy_settings import FuzzySettings
from personae.identity.live import LiveRecord
from personae.identity.resolve import IdentityResult
from personae.identity.specs import IdentitySettings
from tests.identity.live_stores import load_events, new_store, run_batch
from tests.identity.test_live_property import EXTRA, identity_settings, streams

LOADED = datetime(2024, 7, 1)
RULES = IdentitySettings(fuzzy=FuzzySettings(enabled=False), limits={"user_id": 1, "loyalty_id": 1}, shared_max=2)


def _load(store: Engine, records: list[LiveRecord], number: int) -> None:
    """Load records as ingest does, stamped with the ``number``-th load's time."""
    load_events(store, records, EXTRA)
    stamp = timestamp_sql(LOADED + timedelta(hours=number))
    store.execute(f"UPDATE events SET _loaded_at = {stamp} WHERE _loaded_at IS NULL")


def _run(store: Engine, rules: IdentitySettings, number: int, root: Path) -> IdentityResult:
    return run_batch(store, rules, EXTRA, LOADED + timedelta(days=1, hours=number), root)


def tables(store: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every identity table, sorted."""
    queries = {
        "identifiers": "SELECT id_type, id_value, first_seen, last_seen, records, status, rank FROM identifiers",
        "identity_map": "SELECT id_type, id_value, uid FROM identity_map",
        "record_map": "SELECT source, record_id, uid FROM record_map",
        "identity_edges": "SELECT a_key, b_key FROM identity_edges",
        "identity_cuts": "SELECT a_type, a_value, b_type, b_value, reason FROM identity_cuts",
        "merges": 'SELECT old_uid, new_uid, "at", reason FROM merges',
    }
    return {name: sorted(store.fetch_rows(sql), key=repr) for name, sql in queries.items()}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])  # ~2 s an example
@given(
    rules=identity_settings,
    history=streams("h", 10),
    increments=st.lists(st.tuples(streams("s", 5), st.booleans()), min_size=1, max_size=3),
)
def test_a_fold_equals_a_full_run(
    rules: IdentitySettings, history: list[LiveRecord], increments: list[tuple[list[LiveRecord], bool]]
) -> None:
    folding, full = rules.model_copy(update={"incremental": True}), rules.model_copy(update={"incremental": False})
    root = Path(tempfile.mkdtemp())
    try:
        stores = {"fold": new_store(root / "fold.duckdb"), "full": new_store(root / "full.duckdb")}
        for store in stores.values():
            _load(store, history, 0)
            _run(store, folding if store is stores["fold"] else full, 0, root)
        for number, (records, again) in enumerate(increments, start=1):
            # new records, or (again) rows of the same record ids once more: a stored record gains rows
            renamed = records if again else [LiveRecord(r.source, f"i{number}{r.record_id}", r.ts, r.identifiers)
                                             for r in records]  # fmt: skip
            results = {}
            for name, store in stores.items():
                _load(store, renamed, number)
                results[name] = _run(store, folding if name == "fold" else full, number, root)
            assert tables(stores["fold"]) == tables(stores["full"]), f"increment {number}"
            assert results["full"].folded is None
            folded = results["fold"]
            event("folded" if folded.folded is not None else f"rebuilt: {folded.rebuilt_because}")
            assert folded.people == results["full"].people and folded.links == results["full"].links
        for store in stores.values():
            store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _history(tmp_path: Path, records: list[LiveRecord], rules: IdentitySettings = RULES) -> Engine:
    store = new_store(tmp_path / "store.duckdb")
    _load(store, records, 0)
    _run(store, rules, 0, tmp_path)
    return store


def _web(record_id: str, **identifiers: str) -> LiveRecord:
    return LiveRecord("web", record_id, LOADED - timedelta(days=30), identifiers)


def test_new_rows_are_folded_and_touch_only_their_people(tmp_path: Path) -> None:
    store = _history(tmp_path, [_web(f"h{n}", email=f"p{n}@mail.net", anonymous_id=f"a{n}") for n in range(20)])
    before = dict(store.fetch_rows("SELECT id_value, uid FROM identity_map WHERE id_type = 'email'"))
    _load(store, [_web("n1", email="p3@mail.net", user_id="u3"), _web("n2", email="p4@mail.net", anonymous_id="a5")], 1)
    result = _run(store, RULES, 1, tmp_path)
    assert result.folded == 2 and result.rebuilt_because == ""
    # p3 gains u3 (3 identifiers); p4 and a5 join the people of p4 and p5 (2 + 2)
    assert result.recomputed == 7
    after = dict(store.fetch_rows("SELECT id_value, uid FROM identity_map WHERE id_type = 'email'"))
    assert after["p4@mail.net"] == after["p5@mail.net"] == before["p4@mail.net"]  # the older UID survives
    assert {k: v for k, v in after.items() if k != "p5@mail.net"} == {
        k: v for k, v in before.items() if k != "p5@mail.net"
    }
    assert store.fetch_rows("SELECT records FROM identifiers WHERE id_value = 'p3@mail.net'") == [(2,)]
    assert result.merges == 1
    assert store.scratch_names() == set()  # each would hold memory or spill space until the next run


def test_a_row_added_to_a_stored_record_can_make_an_identifier_shared(tmp_path: Path) -> None:
    # m2 is seen with c1; a stored record of c3 gains a row with m2: m2 is seen with two
    # CRM ids (shared_max 1) through an old row and a new one, and stops linking
    rules = IdentitySettings(fuzzy=FuzzySettings(enabled=False), limits={"crm_id": 3}, shared_max=1)
    store = _history(tmp_path, [_web("h2", crm_id="c1", member_no="m2"), _web("s0", crm_id="c3")], rules)
    _load(store, [_web("s0", member_no="m2")], 1)
    result = _run(store, rules, 1, tmp_path)
    assert result.folded is None and result.rebuilt_because == "an identifier became shared"
    assert store.fetch_rows("SELECT status FROM identifiers WHERE id_value = 'm2'") == [("shared",)]
    assert store.fetch_rows("SELECT count(*) FROM identity_edges WHERE b_key = 'member_no:m2'") == [(0,)]


def test_what_a_fold_cannot_do_builds_the_graph_from_every_record(tmp_path: Path) -> None:
    store = _history(
        tmp_path,
        [_web("h1", email="a@mail.net", loyalty_id="L1"), _web("h2", email="b@mail.net", phone="555-000-1111")],
    )
    cases: list[tuple[list[LiveRecord], str | None, str]] = [
        ([_web("n1", email="a@mail.net")], None, ""),  # folded
        # h1 gains a user id, more trusted than its e-mail: its links start elsewhere now
        ([_web("h1", user_id="u1")], None, "a stored record's most trusted identifier changed"),
        # a@mail.net is seen with three loyalty cards (shared_max 2): it stops linking
        ([_web("n2", email="a@mail.net", loyalty_id="L2"), _web("n3", email="a@mail.net", loyalty_id="L3")], None,
         "an identifier became shared"),
        ([], "DELETE FROM events WHERE event_id = 'h2'", "rows were deleted or replaced since the last run"),
        ([], "DELETE FROM identity_map WHERE id_type = 'user_id'", "identity_map changed since the last run"),
    ]  # fmt: skip
    for number, (records, change, reason) in enumerate(cases, start=1):
        _load(store, records, number)
        if change:
            store.execute(change)
        result = _run(store, RULES, number, tmp_path)
        assert result.scoped
        assert (result.folded is not None) == (reason == ""), (number, result.rebuilt_because)
        assert result.rebuilt_because.startswith(reason), (number, result.rebuilt_because)
    changed = RULES.model_copy(update={"shared_max": 3})
    assert "settings" in _run(store, changed, 9, tmp_path).rebuilt_because
    assert _run(store, changed, 10, tmp_path).folded == 0  # nothing new: nothing to fold, nothing touched
