"""Live processing keeps what an import forces (``theirs``): a rule segment another system
took someone out of (or put someone in) stays so when their next events would flip the rule,
as the next batch run would keep it."""

from __future__ import annotations

from pathlib import Path

from personae import Workspace
from tests.server.live import LIVE_SOURCE, Served, serving
from tests.workspaces import write_workspace

LISTS = {"name": "crm_lists", "kind": "memberships", "path": "data/lists.csv", "identifiers": {"user_id": "user"}}
CRM = {"name": "crm", "kind": "imported", "source": "crm_lists", "theirs": ["rules/visitors"]}
FORCED = "user,segmentation,segment,member,ts\njo,rules,visitors,false,2025-01-01\nal,rules,visitors,true,2025-01-01\n"


def _page(served: Served, user: str, number: int) -> None:
    message = {"userId": user, "name": "Home", "messageId": f"{user}{number}", "timestamp": "2025-01-02T10:00:00Z"}
    assert served.call("/v1/page", message, basic=served.write_key)[0] == 200


def _visitors(served: Served) -> set[str]:
    rows = served.workspace.sql(
        "SELECT m.uid FROM memberships AS m WHERE m.exited_at IS NULL AND m.segment = 'visitors'"
    ).column("uid")
    return set(rows.to_pylist())


def test_live_events_keep_the_segments_an_import_forces(tmp_path: Path) -> None:
    root = write_workspace(
        tmp_path / "shop",
        [LIVE_SOURCE, LISTS],
        {"data/lists.csv": FORCED},
        workspace={"name": "shop", "as_of": "2025-01-02"},
        segmentations=[CRM],
        segments=[{"name": "visitors", "rule": "page_views >= 2"}],
        models={"enabled": False},
    )
    with serving(Workspace(root)) as served:
        for user in ("jo", "al", "kim"):
            _page(served, user, 0)
        served.run()  # one page view each: the rule puts nobody in; the import puts al in, keeps jo out
        al, kim = (served.call(f"/v1/profiles/user_id:{u}", token=served.reader)[1]["uid"] for u in ("al", "kim"))
        assert _visitors(served) == {al}
        for user in ("jo", "kim"):  # a second page view: the rule would put both in
            _page(served, user, 1)
        served.live(2)
        assert _visitors(served) == {al, kim}  # jo stays out: the import took them out
        served.run()
        assert _visitors(served) == {al, kim}  # and the batch run agrees
