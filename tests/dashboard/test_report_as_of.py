"""``personae report --as-of``: the world's report of a day between its two recorded days shows
the state recorded on the earlier one (sizes equal to the store's SQL answer for that day, and
unlike today's), its persona cards from that day's run; a day outside the history is refused
with the days the store holds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from personae.dashboard.report import write_report
from personae.errors import WorkspaceError
from tests.dashboard.browser import AFTER_EARLIER, EARLIER, REPORT, REPORT_EARLIER, number
from tests.server.live import Served

Sizes = dict[tuple[str, str], int]


def shown_sizes(browser: Browser, report: Path) -> tuple[Sizes, Sizes, str]:
    """The report's segment sizes, its persona cards' sizes, and its as-of line, read in chromium from disk."""
    context = browser.new_context(offline=True)
    page = context.new_page()
    page.goto(report.as_uri())
    sizes: Sizes = {}
    cards: Sizes = {}
    for section in page.locator("section.segmentation").all():
        name = str(section.get_attribute("data-segmentation"))
        for row in section.locator("tr[data-segment]").all():
            size = int(number(row.locator("td.n").inner_text()))
            if size:  # a segment of anonymous profiles only is listed with 0 known customers
                sizes[(name, str(row.get_attribute("data-segment")))] = size
        for card in section.locator("article.persona").all():
            shown = card.locator("[data-testid=persona-size]").inner_text()
            cards[(name, str(card.get_attribute("data-segment")))] = int(number(shown))
    line = page.inner_text("[data-testid=as-of]")
    context.close()
    return sizes, cards, line


def store_sizes(served: Served, held: str) -> Sizes:
    """Known customers per segmentation and segment among the stays matching ``held``."""
    rows = served.workspace.sql(
        "SELECT m.segmentation, m.segment, count(DISTINCT m.uid) AS n FROM memberships AS m "
        f"JOIN profiles AS p ON p.uid = m.uid WHERE p.known_customer AND {held} GROUP BY 1, 2"
    ).to_pylist()
    return {(row["segmentation"], row["segment"]): int(row["n"]) for row in rows}


def test_the_report_as_of_an_earlier_day_shows_that_days_sizes(world: Path, served: Served, browser: Browser) -> None:
    earlier, earlier_cards, line = shown_sizes(browser, world / REPORT_EARLIER)
    now, now_cards, _ = shown_sizes(browser, world / REPORT)
    at = f"TIMESTAMP '{EARLIER}'"
    then = store_sizes(served, f"m.entered_at <= {at} AND (m.exited_at IS NULL OR m.exited_at > {at})")
    assert earlier == then
    assert now == store_sizes(served, "m.exited_at IS NULL")
    assert earlier != now, "the world's two days hold the same segment sizes: the test cannot tell them apart"
    assert f"as of {AFTER_EARLIER}" in line and f"recorded on {EARLIER}" in line
    # the cards are the ones the run of that day kept: that day's sizes, not today's
    lifecycle = {key: size for key, size in earlier_cards.items() if key[0] == "lifecycle"}
    assert lifecycle and all(size == then[key] for key, size in lifecycle.items())
    assert any(earlier_cards[key] != now_cards.get(key) for key in earlier_cards)


@pytest.mark.parametrize(
    ("day", "said"),
    [
        (date(2020, 1, 1), "before the first recorded day (2025-09-30)"),
        (None, "is in the future"),  # tomorrow, taken when the test runs (a suite may cross midnight)
    ],
)
def test_a_day_outside_the_history_is_refused_with_the_days_held(
    served: Served, tmp_path: Path, day: date | None, said: str
) -> None:
    day = day or datetime.now(UTC).date() + timedelta(days=1)
    out = tmp_path / "report.html"
    with pytest.raises(WorkspaceError) as refused:
        write_report(served.workspace, out, as_of=day)
    assert said in str(refused.value)
    assert f"the store holds segment states for {EARLIER}, " in str(refused.value)
    assert not out.exists() and not list(tmp_path.iterdir())
