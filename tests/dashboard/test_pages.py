"""Every dashboard page in a real chromium, at 1,280 and 390 px: no console error, no failed
request, nothing fetched from anywhere but the server, every chart drawn, and the numbers on
the page equal to the store's SQL answer. Screenshots go to tests-output/screenshots/."""

from __future__ import annotations

import json
import urllib.request

import pytest
from playwright.sync_api import Browser

from tests.dashboard.browser import SCREENSHOTS, WIDTHS, charts_drawn, log_in, number, recorded, rows
from tests.server.live import Served

PAGES = {
    "overview": "/dashboard/overview",
    "segments-rfm": "/dashboard/segments?segmentation=rfm",
    "segments-lifecycle": "/dashboard/segments?segmentation=lifecycle",
    "customer": "/dashboard/customer?q=jane",  # replaced by a real e-mail below
    "rules": "/dashboard/rules",
    "models": "/dashboard/models",
    "questions": "/dashboard/questions",
    "activation": "/dashboard/activation",
}
MIN_CHARTS = {"overview": 2, "segments-rfm": 5, "segments-lifecycle": 4, "customer": 1, "models": 5, "questions": 2}
"""Charts each page must draw (segments: sizes, trend, overlap, flows, and the RFM grid on rfm)."""


def _scalar(served: Served, query: str) -> object:
    return served.workspace.sql(query).to_pylist()[0]


def _email(served: Served) -> str:
    row = _scalar(served, "SELECT min(id_value) AS v FROM identity_map WHERE id_type = 'email'")
    assert isinstance(row, dict)
    return str(row["v"])


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_loads_cleanly(served: Served, browser: Browser, width: int) -> None:
    page = log_in(browser, served.url, served.reader, width)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, path in PAGES.items():
        if name == "customer":
            path = f"/dashboard/customer?q={_email(served)}"
        with recorded(page, served.url) as visit:
            answer = page.goto(served.url + path)
            assert answer is not None and answer.status == 200, (name, answer and answer.status)
            blocks, drawn = charts_drawn(page)
            page.wait_for_load_state("networkidle")
        assert visit.problems() == [], name
        assert visit.requests, name
        assert drawn == blocks >= MIN_CHARTS.get(name, 0), (name, blocks, drawn)
        assert page.locator("[data-testid=problem]").count() == 0, (name, page.inner_text("main"))
        assert answer.headers["content-security-policy"].startswith("default-src 'none'"), name
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{name} is {overflow}px wider than a {width}px screen"
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
    page.context.close()


def test_the_overview_shows_the_stores_numbers(served: Served, browser: Browser) -> None:
    _, app_key = served.workspace.create_key("write", source="app", name="the demo's app")
    for n in range(3):
        status, _, _ = served.call(
            "/v1/track",
            {"anonymousId": f"a-dash-{n}", "event": "Viewed", "timestamp": "2025-12-31T12:00:00Z"},
            basic=app_key,
        )
        assert status == 200
    served.live(3)  # applied (anonymous visitors: no known customer changes), so the store is settled
    page = log_in(browser, served.url, served.reader)
    page.goto(f"{served.url}/dashboard/overview")
    _, health, _ = served.call("/health")
    assert number(page.inner_text("[data-testid=events]")) == health["events"] >= 3
    assert number(page.inner_text("[data-testid=events-per-second]")) > 0
    known = _scalar(
        served,
        "SELECT count(*) FILTER (WHERE known_customer) AS k, "
        "count(*) FILTER (WHERE NOT known_customer) AS a FROM profiles",
    )
    assert isinstance(known, dict)
    assert number(page.inner_text("[data-testid=customers]")) == known["k"] > 0
    assert number(page.inner_text("[data-testid=anonymous]")) == known["a"]
    loaded = {
        row["source"]: row["n"]
        for row in served.workspace.sql(
            "SELECT source, sum(rows_loaded) AS n FROM loaded_files WHERE status = 'loaded' GROUP BY 1"
        ).to_pylist()
    }
    shown = {row["source"]: number(row["rows loaded"]) for row in rows(page, "[data-testid=sources]")}
    assert shown == {source: loaded.get(source, 0) for source in shown} and len(shown) >= 8
    runs = rows(page, "[data-testid=runs]")
    assert [int(run["run"]) for run in runs] == [2, 1]
    assert "ingest" in runs[0]["steps (s)"] and "summaries" in runs[0]["steps (s)"]
    page.context.close()


@pytest.mark.parametrize("segmentation", ["rfm", "lifecycle"])
def test_segment_sizes_and_personas_equal_the_store(served: Served, browser: Browser, segmentation: str) -> None:
    page = log_in(browser, served.url, served.reader)
    page.goto(f"{served.url}/dashboard/segments?segmentation={segmentation}")
    expected = {
        row["segment"]: row["n"]
        for row in served.workspace.sql(
            "SELECT m.segment, count(DISTINCT m.uid) AS n FROM memberships AS m JOIN profiles AS p ON p.uid = m.uid "
            f"WHERE m.exited_at IS NULL AND p.known_customer AND m.segmentation = '{segmentation}' GROUP BY 1"
        ).to_pylist()
    }
    shown = {row["segment"]: number(row["known customers"]) for row in rows(page, "[data-testid=sizes]")}
    assert {segment: size for segment, size in shown.items() if size} == expected and sum(shown.values()) > 0
    cards = page.locator("[data-testid=personas] article")
    sizes = {
        cards.nth(i).get_attribute("data-segment"): number(
            cards.nth(i).locator("[data-testid=persona-size]").inner_text()
        )
        for i in range(cards.count())
    }
    assert sizes == expected
    charts = {
        name: json.loads(page.locator(f'script[data-chart="chart-{name}"]').text_content() or "{}")
        for name in ("trend", "flows")
    }
    flows = sum(link["value"] for link in charts["flows"]["series"][0]["links"])
    held = "entered_at <= TIMESTAMP '{day}' AND (exited_at IS NULL OR exited_at > TIMESTAMP '{day}')"
    on_either_day = " UNION ".join(
        f"SELECT uid FROM memberships WHERE segmentation = '{segmentation}' AND {held.format(day=day)}"
        for day in ("2025-09-30", "2025-12-31")
    )
    moved = _scalar(
        served,
        f"SELECT count(*) AS n FROM ({on_either_day}) AS u "
        "WHERE uid IN (SELECT uid FROM profiles WHERE known_customer)",
    )
    assert isinstance(moved, dict) and flows == moved["n"]
    assert charts["trend"]["xAxis"]["data"] == ["2025-09-30", "2025-12-31"]
    latest = {series["name"]: series["data"][-1] for series in charts["trend"]["series"]}
    assert {k: v for k, v in latest.items() if v} == expected
    page.context.close()


def test_the_rfm_grid_and_overlap_equal_the_store(served: Served, browser: Browser) -> None:
    page = log_in(browser, served.url, served.reader)
    page.goto(f"{served.url}/dashboard/segments?segmentation=rfm&against=lifecycle")
    grid = json.loads(page.locator('script[data-chart="chart-rfm"]').text_content() or "{}")
    shown = {
        (cell["value"][0] + 1, cell["value"][1] + 1): int(cell["label"]["formatter"])
        for cell in grid["series"][0]["data"]
    }
    expected = {
        (row["f"], row["r"]): row["n"]
        for row in served.workspace.sql(
            "SELECT f, r, count(*) AS n FROM rfm_scores WHERE r IS NOT NULL GROUP BY 1, 2"
        ).to_pylist()
    }
    assert shown == expected
    overlap = json.loads(page.locator('script[data-chart="chart-overlap"]').text_content() or "{}")
    xs, ys = overlap["xAxis"]["data"], overlap["yAxis"]["data"]
    cells = {(xs[x], ys[y]): n for x, y, n in overlap["series"][0]["data"]}
    found = served.workspace.microsegments(["rfm", "lifecycle"], min_size=1)
    assert cells == {(c.segments[0], c.segments[1]): c.customers for c in found.cells}
    page.context.close()


def test_customer_360_shows_the_person(served: Served, browser: Browser) -> None:
    page = log_in(browser, served.url, served.reader)
    email = _email(served)
    page.goto(f"{served.url}/dashboard/customer?q={email}")
    uid = page.inner_text("[data-testid=uid]").strip()
    expected = _scalar(served, f"SELECT uid FROM identity_map WHERE id_type = 'email' AND id_value = '{email}'")
    assert isinstance(expected, dict) and uid == expected["uid"]
    identifiers = rows(page, "[data-testid=identifiers]")
    count = _scalar(served, f"SELECT count(*) AS n FROM identity_map WHERE uid = '{uid}' AND id_type <> 'record'")
    assert isinstance(count, dict) and len(identifiers) == count["n"] >= 1
    segments = {(r["segmentation"], r["segment"]) for r in rows(page, "[data-testid=segments]")}
    held = served.workspace.sql(
        f"SELECT segmentation, segment FROM memberships WHERE uid = '{uid}' AND exited_at IS NULL"
    ).to_pylist()
    assert segments == {(r["segmentation"], r["segment"]) for r in held}
    decided = served.workspace.sql(f"SELECT purpose, granted FROM consent WHERE uid = '{uid}'").to_pylist()
    shown = page.inner_text("[data-testid=consent]").strip()
    if decided:
        assert all(row["purpose"] in shown for row in decided), shown
    else:
        assert shown == "none given"
    page.context.close()


def test_models_and_questions_show_the_saved_numbers(served: Served, browser: Browser) -> None:
    page = log_in(browser, served.url, served.reader)
    page.goto(f"{served.url}/dashboard/models")
    for name in ("churn", "high_value"):
        saved = json.loads((served.workspace.root / "models" / f"{name}.json").read_text())
        auc = saved["report"]["validation"]["auc"]
        assert number(page.inner_text(f"[data-testid=auc-{name}]")) == pytest.approx(auc, abs=0.0005)
    page.goto(f"{served.url}/dashboard/questions")
    learnt = json.loads((served.workspace.root / "models" / "lifecycle.json").read_text())
    shown = number(page.inner_text("[data-testid=threshold-dormant_days]"))
    assert shown == pytest.approx(learnt["dormant_days"]["value"], abs=0.005)
    page.context.close()


def test_static_files_are_only_the_listed_ones(served: Served) -> None:
    for path, status in (
        ("/dashboard/static/charts.js", 200),
        ("/dashboard/static/../auth.py", 404),
        ("/dashboard/static/render.py", 404),
    ):
        try:
            with urllib.request.urlopen(served.url + path) as answer:
                got = answer.status
        except urllib.error.HTTPError as error:
            got = error.code
        assert got == status, path


def test_destinations_show_the_sync_state(served: Served, browser: Browser) -> None:
    page = log_in(browser, served.url, served.reader)
    page.goto(f"{served.url}/dashboard/activation")
    shown = {row["destination"]: row for row in rows(page, "[data-testid=destinations]")}
    stored = served.workspace.sql("SELECT destination, sent, failed FROM sync_state").to_pylist()
    assert {r["destination"] for r in stored} == set(shown) == {"segment_files"}
    for row in stored:
        assert number(shown[row["destination"]]["sent"]) == row["sent"] > 0
        assert number(shown[row["destination"]]["failed"]) == row["failed"]
    page.context.close()
