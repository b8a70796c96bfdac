"""Consent through the server's tracking API with live processing: an SDK's
``context.consent.categoryPreferences`` reaches the store, the profile and the rules at once;
a withdrawal takes the person out of a live destination with that purpose without a run; an
older grant arriving later and a malformed payload change nothing; the next batch run
derives the same state (live equals batch)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from tests.server.live import Served, live_workspace, serving

LIVE_ADS = {
    "name": "live_ads",
    "kind": "file",
    "path": "out/live",
    "segments": ["rules/visitors"],
    "mode": "live",
    "snapshot": False,
    "purpose": "advertising",
}
SEGMENTS = [
    {"name": "visitors", "rule": "page_views >= 1"},
    {"name": "mailable", "rule": "consent_email_marketing"},
]
PURPOSES = {"purposes": ["advertising", "email_marketing"]}


def _delivered(root: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted((root / "out/live/deltas").glob("memberships-*.parquet")):
        rows += pq.read_table(path).to_pylist()
    return rows


def _wait(check: Any, what: str) -> Any:
    for _ in range(600):
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not seen in 60 s: {what}")


def _page(served: Served, number: int, at: datetime, consent: object | None = None) -> None:
    body: dict[str, Any] = {
        "userId": "jo",
        "name": "Home",
        "messageId": f"p{number}",
        "timestamp": at.isoformat().replace("+00:00", "Z"),
    }
    if consent is not None:
        body["context"] = {"consent": {"categoryPreferences": consent}}
    status, answer, _ = served.call("/v1/page", body, basic=served.write_key)
    assert status == 200, answer


def _state(served: Served) -> list[tuple[str, bool]]:
    rows = served.workspace.sql("SELECT purpose, granted FROM consent ORDER BY purpose").to_pylist()
    return [(row["purpose"], row["granted"]) for row in rows]


def _profile(served: Served) -> dict[str, Any]:
    status, profile, _ = served.call("/v1/profiles/user_id:jo", token=served.reader)
    assert status == 200, profile
    return dict(profile)


def test_consent_sent_to_the_server_is_applied_live_and_a_withdrawal_exits_a_live_destination(
    tmp_path: Path,
) -> None:
    workspace = live_workspace(tmp_path / "shop", segments=SEGMENTS, destinations=[LIVE_ADS], privacy=PURPOSES)
    root = workspace.root
    now = datetime.now(UTC).replace(microsecond=0)
    with serving(workspace) as served:
        served.run()
        _page(served, 1, now - timedelta(hours=3), {"advertising": True, "email_marketing": True})
        served.live(1)
        (entry,) = _wait(lambda: _delivered(root), "the entry at the live destination")
        uid = _profile(served)["uid"]
        assert (entry["uid"], entry["change"]) == (uid, "entered")
        assert _state(served) == [("advertising", True), ("email_marketing", True)]
        mailable = served.workspace.sql(
            "SELECT count(*) AS n FROM memberships WHERE segment = 'mailable' AND exited_at IS NULL"
        )
        assert mailable.column("n")[0].as_py() == 1  # the rule read consent_email_marketing live

        _page(served, 2, now - timedelta(hours=1), {"advertising": False})  # the withdrawal
        served.live(2)
        exits = _wait(lambda: [r for r in _delivered(root) if r["change"] == "exited"], "the exit")
        assert [(r["uid"], r["segment"]) for r in exits] == [(uid, "visitors")]
        assert exits[0]["key"].startswith(f"live_ads:c:{uid}:")
        assert _state(served) == [("advertising", False), ("email_marketing", True)]

        _page(served, 3, now - timedelta(hours=2), {"advertising": True})  # older than the withdrawal
        _page(served, 4, now, {"advertising": "yes please"})  # malformed: dropped, quarantined by the run
        served.live(3)
        assert _state(served) == [("advertising", False), ("email_marketing", True)]
        live_rows = served.workspace.sql("SELECT * FROM consent ORDER BY purpose").to_pylist()
        live_profile = served.workspace.sql(
            "SELECT consent_advertising, consent_email_marketing FROM profiles WHERE uid = '" + uid + "'"
        ).to_pylist()
        assert live_profile == [{"consent_advertising": False, "consent_email_marketing": True}]

        served.run()  # batch derives the same state from the journal
        assert served.workspace.sql("SELECT * FROM consent ORDER BY purpose").to_pylist() == live_rows
        reason = served.workspace.sql("SELECT reason FROM quarantine WHERE source = 'web'").column("reason")
        assert [value.as_py().split(":")[0] for value in reason] == ["consent"]
        time.sleep(0.5)
        assert len([r for r in _delivered(root) if r["change"] == "entered"]) == 1  # no re-entry
