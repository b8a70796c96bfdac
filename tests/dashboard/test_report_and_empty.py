"""``personae report`` opened from disk in chromium with the network off renders every chart;
a workspace with no run yet gets pages that say what to do."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser

from tests.dashboard.browser import REPORT, SCREENSHOTS, charts_drawn, log_in, number, recorded
from tests.server.live import Served, live_workspace, serving


def test_the_report_works_offline_from_disk(world: Path, served: Served, browser: Browser) -> None:
    out = world / REPORT  # written by `personae report` when the world was made
    html = out.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "the report links to something outside"
    context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
    page = context.new_page()
    with recorded(page, out.as_uri()) as visit:
        page.goto(out.as_uri())
        blocks, drawn = charts_drawn(page)
    assert visit.problems() == []
    assert visit.requests == [out.as_uri()]
    segmentations = served.workspace.sql(
        "SELECT count(DISTINCT segmentation) AS n FROM memberships WHERE exited_at IS NULL"
    ).to_pylist()[0]["n"]
    assert page.locator("section.segmentation").count() == segmentations >= 8
    assert drawn == blocks >= 2 + 2 * segmentations
    known = served.workspace.sql("SELECT count(*) AS n FROM profiles WHERE known_customer").to_pylist()[0]["n"]
    assert number(page.inner_text("[data-testid=customers]")) == known
    canvases = page.evaluate(
        "[...document.querySelectorAll('.chart')].filter(c => (c.querySelector('canvas') || {}).width > 0).length"
    )
    assert canvases == drawn
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "report-1280.png"), full_page=True)
    context.close()


def test_a_workspace_with_no_run_explains_what_to_do(tmp_path: Path, browser: Browser) -> None:
    workspace = live_workspace(tmp_path / "fresh")  # one live source, nothing loaded or run
    refused = personae_failure("report", "-w", str(workspace.root))
    assert "run the pipeline first" in refused
    with serving(workspace) as served:
        page = log_in(browser, served.url, served.reader)
        for name in (
            "overview",
            "segments",
            "customer?q=jane%40example.com",
            "rules",
            "models",
            "questions",
            "activation",
        ):
            with recorded(page, served.url) as visit:
                answer = page.goto(f"{served.url}/dashboard/{name}")
            assert answer is not None and answer.status == 200, name
            assert visit.problems() == [], name
            text = page.inner_text("main")
            assert "personae run" in text or name == "activation", (name, text)
            assert "Traceback" not in page.content()
        page.context.close()


def personae_failure(*args: str) -> str:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "personae", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    return done.stdout + done.stderr
