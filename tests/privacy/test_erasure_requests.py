"""Erasure requests at their edges: an identifier nobody has, a person merged across five
sources, a shared identifier, an erasure killed with ``kill -9`` and run again; and the
subject-access export that shows what an erasure would remove."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import duckdb

from tests.privacy.erasure_world import World, personae


def _receipts(world: World) -> list[dict[str, object]]:
    folder = world.root / ".personae" / "privacy" / "receipts"
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.json"))]


def test_an_unknown_identifier_gets_a_clear_answer_and_a_receipt_of_nothing(world: World) -> None:
    before = world.rows("SELECT count(*) FROM profiles")
    done = personae("privacy", "erase", "email:nobody.at.all@example.org", "-w", str(world.root))
    assert "named nobody known here: nothing was deleted or suppressed" in " ".join(done.stdout.split())
    (receipt,) = _receipts(world)
    assert receipt["found"] == 0 and receipt["people"] == 0 and receipt["tables"] == {}
    assert receipt["status"] == "done" and "nobody.at.all" not in json.dumps(receipt)
    assert world.rows("SELECT count(*) FROM profiles") == before
    assert world.rows("SELECT count(*) FROM suppressions") == [(0,)]
    (audited,) = world.rows("SELECT actor, target, detail FROM audit_log WHERE action = 'privacy.erase'")
    assert audited[0] == "cli" and audited[1].startswith("sha256:") and "nobody" not in audited[1] + audited[2]
    shown = personae("privacy", "export", "email:nobody.at.all@example.org", "-w", str(world.root), check=False)
    assert shown.returncode != 0 and "nobody is known by email:nobody.at.all@example.org" in shown.stderr


def test_a_person_merged_across_five_sources_goes_whole(world: World) -> None:
    (uid, sources), *_ = world.rows(
        "SELECT uid, count(DISTINCT source) FROM record_map GROUP BY uid HAVING count(DISTINCT source) >= 5 "
        "ORDER BY 2 DESC, uid LIMIT 1"
    )
    records = world.rows(f"SELECT source, record_id FROM record_map WHERE uid = '{uid}'")
    (email,) = world.rows(f"SELECT min(id_value) FROM identity_map WHERE uid = '{uid}' AND id_type = 'email'")[0]
    exported = world.root.parent / "subject.json"
    personae("privacy", "export", f"email:{email}", "--out", str(exported), "-w", str(world.root))
    document = json.loads(exported.read_text(encoding="utf-8"))
    assert document["uids"] == [uid] and len(document["identity"]["record_map"]) == len(records)
    assert {row["source"] for row in document["identity"]["record_map"]} == {source for source, _ in records}
    assert document["profile"]["profiles"][0]["uid"] == uid and document["segments"]["memberships"]
    assert document["sent_to"] and document["sent_to"][0]["destination"] == "segment_files"

    personae("privacy", "erase", f"email:{email}", "-w", str(world.root))
    actions = [
        row[0] for row in world.rows("SELECT action FROM audit_log WHERE action LIKE 'privacy.%' ORDER BY \"at\"")
    ]
    assert actions == ["privacy.export", "privacy.erase"]
    (receipt,) = _receipts(world)
    assert receipt["people"] == 1 and receipt["tables"]["record_map"] == len(records) and sources >= 5
    for source, record_id in records:
        assert world.rows(f"SELECT count(*) FROM record_map WHERE record_id = '{record_id}'") == [(0,)], source
    for table in ("profiles", "traits", "identity_map", "memberships", "membership_changes", "predictions"):
        assert world.rows(f"SELECT count(*) FROM {table} WHERE uid = '{uid}'") == [(0,)], table
    assert world.rows(f"SELECT count(*) FROM customer_records WHERE email = '{email}'") == [(0,)]


def test_a_shared_identifier_names_nobody_alone_and_erases_nothing(world: World) -> None:
    with duckdb.connect(str(world.store)) as connection:  # as identity marks a phone too many people share
        (phone,) = connection.execute("SELECT min(id_value) FROM identity_map WHERE id_type = 'phone'").fetchone()  # type: ignore[misc]
        connection.execute("DELETE FROM identity_map WHERE id_type = 'phone' AND id_value = ?", [phone])
        connection.execute("UPDATE identifiers SET status = 'shared' WHERE id_type = 'phone' AND id_value = ?", [phone])
    done = personae("privacy", "erase", f"phone:{phone}", "-w", str(world.root), check=False)
    assert done.returncode != 0 and "erase each person by another identifier" in " ".join(done.stderr.split())
    assert world.rows("SELECT count(*) FROM suppressions") == [(0,)]


def _state(world: World, uids: list[str]) -> set[tuple[str, bool]]:
    """Each person: whether the store still holds them, judged by every table that names them."""
    listed = ", ".join(f"'{uid}'" for uid in uids)
    seen: dict[str, set[bool]] = {uid: set() for uid in uids}
    for table in ("profiles", "traits", "identity_map", "memberships", "predictions"):
        present = {row[0] for row in world.rows(f"SELECT DISTINCT uid FROM {table} WHERE uid IN ({listed})")}
        for uid in uids:
            seen[uid].add(uid in present)
    assert all(len(states) == 1 for states in seen.values()), "somebody is half erased: " + repr(seen)
    return {(uid, states.pop()) for uid, states in seen.items()}


def test_an_erasure_killed_with_kill_9_is_finished_by_running_it_again(world: World) -> None:
    rows = world.rows(
        "SELECT uid, min(id_value) FROM identity_map WHERE id_type = 'email' GROUP BY uid ORDER BY uid LIMIT 30"
    )
    uids = [uid for uid, _ in rows]
    requests = [f"email:{email}" for _, email in rows]
    raw = sorted((world.root / "raw").rglob("*.parquet"))
    stamps = {path: path.stat().st_mtime_ns for path in raw}
    process = subprocess.Popen(
        [sys.executable, "-m", "personae", "privacy", "erase", *requests, "-w", str(world.root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:  # kill it once it rewrites raw copies
        if any(path.stat().st_mtime_ns != stamps[path] for path in raw if path.exists()):
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the erasure ended before it could be killed mid-way"
    assert _state(world, uids) == {(uid, False) for uid in uids}  # the store's part is whole
    assert world.rows("SELECT DISTINCT status FROM erasure_requests") == [("store erased",)]
    assert _receipts(world) == []

    personae("privacy", "erase", "-w", str(world.root))  # finishes it
    (receipt,) = _receipts(world)
    assert receipt["status"] == "done" and receipt["people"] == len(uids)
    assert world.rows("SELECT DISTINCT status FROM erasure_requests") == [("done",)]
    emails = [request.removeprefix("email:").encode() for request in requests]
    for path in (world.root / "raw").rglob("*.parquet"):
        data = path.read_bytes()
        assert not any(email in data for email in emails), path


def test_an_erasure_killed_before_it_commits_leaves_everybody_whole(world: World) -> None:
    rows = world.rows("SELECT uid, min(id_value) FROM identity_map WHERE id_type = 'email' GROUP BY uid LIMIT 30")
    process = subprocess.Popen(
        [sys.executable, "-m", "personae", "privacy", "erase", *[f"email:{e}" for _, e in rows], "-w", str(world.root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    time.sleep(0.3)  # python and the store are still starting: nothing is committed yet
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert _state(world, [uid for uid, _ in rows]) == {(uid, True) for uid, _ in rows}
    assert world.rows("SELECT count(*) FROM profiles WHERE uid IN (SELECT uid FROM identity_map)")[0][0] > 0
