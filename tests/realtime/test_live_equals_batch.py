"""Live processing equals batch: random event streams applied live, then a batch run over the
same events, give the same traits and the same rule-segment memberships, and the batch run has
nothing to add to the change feed for the segments live owns."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from personae import Workspace
from personae.realtime.intake import Intake
from personae.realtime.live import LiveProcessor
from personae.realtime.messages import journal_line, parse_call
from tests.server.live import LIVE_SOURCE
from tests.workspaces import POS_CSV, POS_SOURCE, write_workspace

DAY = date(2024, 2, 10)
RECEIVED = datetime(2024, 2, 10, 23, 0, tzinfo=UTC)
SEGMENTATIONS = [
    {"name": "rfm", "kind": "rfm"},
    {"name": "lifecycle", "kind": "lifecycle"},
    {
        "name": "engagement",
        "kind": "rules",
        "segments": {"engaged": "web_events_30d >= 2", "idle": "web_events_30d < 2"},
    },
]
SEGMENTS = [
    {"name": "browsers", "rule": "page_views >= 2"},
    {"name": "seen_lately", "rule": "days_since_last_seen <= 3"},
    {"name": "engaged_buyers", "rule": "in_segment('engagement', 'engaged') and orders >= 1"},
    {"name": "fresh_fans", "rule": "in_segment('rules', 'browsers') and in_segment('rules', 'seen_lately')"},
]
OWNED = ("engagement", "rules")


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shop resolved by a batch run at DAY, with one live source; copied for each example."""
    root = write_workspace(
        tmp_path_factory.mktemp("live") / "shop",
        [POS_SOURCE, LIVE_SOURCE],
        {"data/pos/a.csv": POS_CSV},
        workspace={"name": "shop", "as_of": DAY.isoformat()},
        segmentations=SEGMENTATIONS,
        segments=SEGMENTS,
    )
    report = Workspace(root).run(as_of=DAY)
    assert report.errors == []
    return root


USERS = ["u1", "u2", "u3", None]
ANONYMOUS = ["a1", "a2", "a3", None]
EMAILS = ["jane@example.com", "bob@example.org", "new@example.net", None]


@st.composite
def streams(draw: st.DrawFn) -> list[tuple[str, dict[str, Any]]]:
    """Segment calls: pages, tracks, identifies and aliases of known and new people, some repeated."""
    calls: list[tuple[str, dict[str, Any]]] = []
    for number in range(draw(st.integers(1, 14))):
        kind = draw(st.sampled_from(["page", "page", "track", "identify", "alias"]))
        user, anonymous = draw(st.sampled_from(USERS)), draw(st.sampled_from(ANONYMOUS))
        if user is None and anonymous is None:
            anonymous = "a1"
        when = RECEIVED - timedelta(days=draw(st.integers(-1, 40)), hours=draw(st.integers(0, 22)))
        body: dict[str, Any] = {"messageId": f"m{number}", "timestamp": when.isoformat()}
        if draw(st.booleans()) and calls:
            body["messageId"] = calls[draw(st.integers(0, len(calls) - 1))][1]["messageId"]  # a retry
        body.update({"userId": user} if user else {})
        body.update({"anonymousId": anonymous} if anonymous else {})
        email = draw(st.sampled_from(EMAILS))
        if kind == "alias":  # links the previous (anonymous) id to the user id
            body = {**body, "userId": user or "u1", "previousId": anonymous or "a2"}
            body.pop("anonymousId", None)
        elif kind == "identify":
            body["traits"] = {"email": email} if email else {"plan": "free"}
        elif kind == "track":
            body.update(event="Viewed Product", properties={"category": "shoes"})
        else:
            body.update(name="Home", context={"traits": {"email": email}} if email else {})
        calls.append((kind, body))
    return calls


def _lines(calls: list[tuple[str, dict[str, Any]]]) -> list[bytes]:
    lines = []
    for kind, body in calls:
        call = parse_call(kind, json.dumps(body).encode(), content_encoding=None, received_at=RECEIVED)
        lines += [journal_line(message, source="web") for message in call.messages]
    return lines


def _state(workspace: Workspace) -> tuple[dict[str, dict[str, Any]], set[tuple[str, str, str]]]:
    """Every person's traits, and the open stays in the segmentations live owns."""
    traits = {row.pop("uid"): row for row in workspace.sql("SELECT * FROM traits").to_pylist()}
    owned = ", ".join(f"'{name}'" for name in OWNED)
    stays = workspace.sql(
        f"SELECT uid, segmentation, segment FROM memberships WHERE exited_at IS NULL AND segmentation IN ({owned})"
    ).to_pylist()
    return traits, {(row["uid"], row["segmentation"], row["segment"]) for row in stays}


def _same(live: Any, batch: Any) -> bool:
    if isinstance(live, float) and isinstance(batch, float):
        return math.isclose(live, batch, rel_tol=1e-9, abs_tol=1e-12)
    return bool(live == batch)


@contextmanager
def _live(root: Path, lines: list[bytes], cuts: list[int]) -> Iterator[Workspace]:
    """Applies ``lines`` live in the pieces ``cuts`` gives, then yields the open workspace."""
    workspace = Workspace(root)
    with workspace.open():
        intake = Intake(root, workspace.config.sources)
        processor = LiveProcessor(workspace.config, intake.journals, lambda: workspace.engine(write=True))
        try:
            start = 0
            for cut in [*sorted(min(cut, len(lines)) for cut in cuts), len(lines)]:
                if cut > start:
                    intake.journal("web").append(lines[start:cut])
                    processor.process_pending()
                    start = cut
            assert processor.stats.fault == ""
            workspace.journal_sealer = intake.seal
            yield workspace
        finally:
            workspace.journal_sealer = None
            processor.stop()
            intake.close()


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=streams(), cuts=st.lists(st.integers(0, 20), max_size=3))
def test_live_processing_equals_a_batch_run_over_the_same_events(
    resolved: Path, tmp_path: Path, calls: list[tuple[str, dict[str, Any]]], cuts: list[int]
) -> None:
    root = tmp_path / f"shop-{len(list(tmp_path.iterdir()))}"
    shutil.copytree(resolved, root)
    lines = _lines(calls)
    with _live(root, lines, cuts) as workspace:
        live_traits, live_stays = _state(workspace)
        sequence = workspace.sql("SELECT coalesce(max(sequence), 0) AS s FROM membership_changes").column(0)[0].as_py()
        report = workspace.run(as_of=DAY)
        assert report.errors == []
        batch_traits, batch_stays = _state(workspace)
        assert set(live_traits) == set(batch_traits)
        for uid, row in batch_traits.items():
            different = {k: (live_traits[uid][k], v) for k, v in row.items() if not _same(live_traits[uid][k], v)}
            assert not different, (uid, different)
        assert live_stays == batch_stays
        owned = ", ".join(f"'{name}'" for name in OWNED)
        added = workspace.sql(
            f"SELECT uid, segmentation, segment, change FROM membership_changes WHERE sequence > {sequence} "
            f"AND segmentation IN ({owned})"
        ).to_pylist()
        assert added == []
