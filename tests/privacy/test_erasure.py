"""Erasure on a demo workspace, as the issue states it: erase 100 people, run the pipeline
over all the original files again, send new events carrying their identifiers through the
server; then nothing of theirs is in any table, in the bytes of any file of the workspace
folder, or at the destination, and everybody else's own numbers are unchanged."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.privacy.erasure_world import World, files_holding, personae, text_columns_holding
from tests.server.live import free_port, serve_process

pytestmark = pytest.mark.slow
PERSONAL = ("first_name", "last_name", "birth_date", "email", "phone", "orders", "revenue", "first_order_at")
"""Profile columns that are a person's own (not aggregates over everybody)."""


def _chosen(world: World, count: int) -> dict[str, Any]:
    """``count`` people with an e-mail address: their UIDs and every identifier value they have."""
    uids = [
        row[0]
        for row in world.rows(
            "SELECT uid FROM identity_map WHERE id_type = 'email' GROUP BY uid ORDER BY md5(uid) LIMIT " + str(count)
        )
    ]
    listed = ", ".join(f"'{uid}'" for uid in uids)
    ids = world.rows(f"SELECT id_type, id_value, uid FROM identity_map WHERE uid IN ({listed})")
    emails = sorted({value for kind, value, _ in ids if kind == "email"})
    first_email = {uid: value for kind, value, uid in sorted(ids) if kind == "email"}
    return {
        "uids": uids,
        "emails": emails,
        "phones": sorted({value for kind, value, _ in ids if kind == "phone"}),
        "user_ids": sorted({value for kind, value, _ in ids if kind == "user_id"}),
        "requests": [f"email:{first_email[uid].upper()}" for uid in uids],  # as a person writes it
    }


def _personal(world: World) -> dict[str, tuple[Any, ...]]:
    columns = ", ".join(PERSONAL)
    return {row[0]: row[1:] for row in world.rows(f"SELECT uid, {columns} FROM profiles")}


def _touch_every_input(inputs: Path) -> int:
    """Change every input file's bytes (not its rows), so the next run loads all of them again."""
    touched = 0
    for path in sorted(p for p in inputs.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            pq.write_table(table, path, row_group_size=max(1, table.num_rows // 3 + 1), compression="gzip")
        else:
            with path.open("ab") as handle:
                handle.write(b"\n")
        touched += 1
    return touched


def _post(url: str, key: str, batch: list[dict[str, Any]]) -> int:
    import base64
    import urllib.request

    request = urllib.request.Request(url + "/v1/batch", data=json.dumps({"batch": batch}).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", "Basic " + base64.b64encode(f"{key}:".encode()).decode())
    with urllib.request.urlopen(request, timeout=60) as answer:
        return int(answer.status)


def _health(url: str) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(url + "/health", timeout=10) as answer:
        return dict(json.loads(answer.read()))


def test_the_erased_stay_erased_everywhere_and_nobody_else_changes(world: World) -> None:
    chosen = _chosen(world, 100)
    before = _personal(world)
    assert len(chosen["uids"]) == 100 and chosen["phones"] and chosen["user_ids"]
    requests = world.root.parent / "erase.txt"
    requests.write_text("# erasure requests of the week\n" + "\n".join(chosen["requests"]) + "\n", encoding="utf-8")

    # 1. erase the 100
    personae("privacy", "erase", "--file", str(requests), "-w", str(world.root))
    (receipt_path,) = (world.root / ".personae" / "privacy" / "receipts").glob("*.json")
    receipt = json.loads(receipt_path.read_text(encoding="utf-8"))
    assert receipt["status"] == "done" and receipt["people"] == 100 and receipt["found"] == 100
    assert receipt["tables"]["profiles"] == 100 and receipt["tables"]["events"] > 100
    assert receipt["destinations"]["segment_files"].split()[0] != "0"
    assert sum(receipt["raw_copies"].values()) > 0

    # 2. the pipeline again over all the original files (reloaded: their bytes changed, not their rows)
    assert _touch_every_input(world.inputs) > 5
    ran = personae("run", "-w", str(world.root))
    assert "error" not in ran.stderr.lower()
    hits = dict(world.rows("SELECT source, sum(rows) FROM suppression_hits GROUP BY ALL"))
    assert sum(hits.values()) >= receipt["tables"]["customer_records"], hits

    # 3. new events carrying their identifiers, through the server (and one person not erased)
    kept_uid, kept_email = world.rows(
        "SELECT uid, min(id_value) FROM identity_map WHERE id_type = 'email' AND uid NOT IN ("
        + ", ".join(f"'{uid}'" for uid in chosen["uids"])
        + ") GROUP BY uid ORDER BY uid LIMIT 1"
    )[0]
    key = personae("keys", "create", "--scope", "write", "--source", "app", "-w", str(world.root)).stdout.split()[-1]
    port = free_port()
    process = serve_process(world.root, port)
    url = f"http://127.0.0.1:{port}"
    try:
        at = "2025-12-31T12:00:00Z"
        batch: list[dict[str, Any]] = []
        for index, email in enumerate(chosen["emails"][:40]):
            batch.append({"type": "identify", "userId": f"new-{index}", "traits": {"email": email}, "timestamp": at})
        for user_id in chosen["user_ids"][:30]:
            batch.append({"type": "track", "userId": user_id, "event": "Product Viewed", "timestamp": at})
        for phone in chosen["phones"][:20]:
            batch.append(
                {"type": "identify", "anonymousId": f"anon-{phone}", "traits": {"phone": phone}, "timestamp": at}
            )
        batch.append({"type": "identify", "userId": "kept-person", "traits": {"email": kept_email}, "timestamp": at})
        assert _post(url, key, batch) == 200
        for _ in range(600):
            live = _health(url)["live"]
            if live and live["events"] >= 1 and not live["waiting"]:
                break
            time.sleep(0.1)
        assert live["events"] == 1, live  # only the person not erased got through
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
    assert world.rows("SELECT count(*) FROM identity_map WHERE id_type = 'user_id' AND id_value = 'kept-person'")[0][0]
    personae("run", "-w", str(world.root))  # the journal's sealed segments, loaded by batch

    # nothing of theirs in any table ...
    needles = [*chosen["emails"], *chosen["phones"], *chosen["uids"], *[f"new-{i}" for i in range(40)]]
    needles += [user_id.lower() for user_id in chosen["user_ids"]]
    assert text_columns_holding(world, [needle.lower() for needle in needles]) == {}
    # ... nor in the bytes of any file of the workspace folder ...
    assert files_holding(world.root, chosen["emails"], chosen["phones"]) == {}
    # ... nor at the destination (its deletions/ folder is the instruction to delete them, by UID)
    out = world.root / "out" / "segments"
    for path in [*out.glob("deltas/*.parquet"), *out.glob("snapshot/*.parquet")]:
        held = set(pq.read_table(path, columns=["uid"]).column("uid").to_pylist())
        assert not held & set(chosen["uids"]), path
    deleted = pa.concat_tables([pq.read_table(p) for p in out.glob("deletions/*.parquet")])
    assert set(deleted.column("uid").to_pylist()) == set(chosen["uids"])
    # everybody else's own numbers are unchanged
    after = _personal(world)
    others = {uid: values for uid, values in before.items() if uid not in set(chosen["uids"])}
    assert set(others) - set(after) == set()
    changed = {uid for uid, values in others.items() if after[uid] != values and uid != kept_uid}
    assert changed == set(), sorted(changed)[:5]
