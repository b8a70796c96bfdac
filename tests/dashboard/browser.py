"""What the dashboard's browser tests share: a small demo world built once through the CLI (with
a customer whose name and event hold HTML and script), Debian's chromium driven by Playwright,
and a page visit that records every console message and request."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Response

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent.parent / "tests-output" / "screenshots"
WIDTHS = (1280, 390)
EARLIER = "2025-09-30"
"""A second recorded day, so the trend and the flows have two."""
REPORT = "shared/report.html"
"""Where the world's report is written (by the CLI, before the tests' server holds the store)."""
REPORT_EARLIER = "shared/report-earlier.html"
"""The world's report as of the day after ``EARLIER`` (``personae report --as-of``): that day's state."""
AFTER_EARLIER = "2025-10-01"
EVIL_NAME = "<script>alert('crm')</script>"
EVIL_LAST = '<img src=x onerror="alert(2)">'
EVIL_EVENT = "<script>alert('event')</script>"
EVIL_PROPERTY = "<b onmouseover=alert(4)>note</b>"
EVIL_PHONE = "(217) 555-0147"
EVIL_EMAIL = "mallory.evil@evil-mail.net"


def personae(*args: str) -> str:
    """Run the real CLI in a process of its own; its output (fails the test on a non-zero exit)."""
    done = subprocess.run([sys.executable, "-m", "personae", *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def plant_a_nasty_customer(root: Path) -> None:
    """A CRM record whose name is HTML and script, and events of theirs with script in a name and a property."""
    with (root / "data" / "crm" / "customers.csv").open("a", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerow(
            [
                "C9999999",
                EVIL_NAME,
                EVIL_LAST,
                "01/01/1990",
                "1 Main St",
                "Springfield",
                "62701",
                EVIL_PHONE,
                EVIL_EMAIL,
                "999999999999",
                "2025-06-01 10:00:00",
            ]
        )
    lines = [
        {
            "messageId": "evil-1",
            "type": "identify",
            "userId": "u_evil",
            "traits": {"email": EVIL_EMAIL},
            "timestamp": "2025-06-01T10:00:00Z",
        },
        {
            "messageId": "evil-2",
            "type": "track",
            "userId": "u_evil",
            "event": EVIL_EVENT,
            "properties": {"note": EVIL_PROPERTY},
            "timestamp": "2025-06-02T10:00:00Z",
        },
    ]
    with (root / "data" / "subscriptions" / "events.jsonl").open("a", encoding="utf-8") as handle:
        handle.write("".join(json.dumps(line) + "\n" for line in lines))


def demo_world(root: Path, customers: int = 400) -> Path:
    """``personae init --demo`` plus the nasty customer, run as of an earlier day and then as of the demo's."""
    personae("init", str(root), "--demo", "--customers", str(customers))
    plant_a_nasty_customer(root)
    personae("run", "-w", str(root), "--as-of", EARLIER)
    personae("run", "-w", str(root))
    said = personae("report", "-w", str(root), "--out", str(root / REPORT))
    assert str(root / REPORT) in said.replace("\n", ""), said
    said = personae("report", "-w", str(root), "--as-of", AFTER_EARLIER, "--out", str(root / REPORT_EARLIER))
    assert f"the state recorded on {EARLIER}" in " ".join(said.split()), said
    return root


@dataclass
class Visit:
    """What one page load did: console messages, requests, failed requests, error answers."""

    origin: str
    console: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        offsite = [url for url in self.requests if not url.startswith(self.origin) and not url.startswith("data:")]
        return [
            *self.console,
            *self.failed,
            *self.errors,
            *(f"left the server: {u}" for u in offsite),
            *(f"dialog: {d}" for d in self.dialogs),
        ]


@contextmanager
def recorded(page: Page, origin: str) -> Iterator[Visit]:
    """Record what ``page`` does while the block runs."""
    visit = Visit(origin)

    def console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            visit.console.append(f"console {message.type}: {message.text}")

    def request(sent: Request) -> None:
        visit.requests.append(sent.url)

    def failed(sent: Request) -> None:
        visit.failed.append(f"failed: {sent.url} {sent.failure}")

    def response(answer: Response) -> None:
        if answer.status >= 400:
            visit.errors.append(f"{answer.status}: {answer.url}")

    page.on("console", console)
    page.on("request", request)
    page.on("requestfailed", failed)
    page.on("response", response)
    page.on("pageerror", lambda error: visit.console.append(f"page error: {error}"))
    page.on("dialog", lambda dialog: (visit.dialogs.append(dialog.message), dialog.dismiss()))
    try:
        yield visit
    finally:
        page.remove_listener("console", console)
        page.remove_listener("request", request)
        page.remove_listener("requestfailed", failed)
        page.remove_listener("response", response)


def log_in(browser: Browser, url: str, token: str, width: int = 1280) -> Page:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(f"{url}/dashboard/login")
    page.fill("#token", token)
    page.click("form.login button[type=submit]")
    page.wait_for_url(f"{url}/dashboard/overview")
    return page


def charts_drawn(page: Page) -> tuple[int, int]:
    """(chart blocks on the page, charts ECharts drew)."""
    blocks = page.locator('script[type="application/json"][data-chart]').count()
    page.wait_for_function(
        "n => Number(document.documentElement.getAttribute('data-charts-drawn') || 0) >= n", arg=blocks, timeout=15000
    )
    drawn = int(page.evaluate("Number(document.documentElement.getAttribute('data-charts-drawn') || 0)"))
    return blocks, drawn


def number(text: str) -> float:
    return float(text.replace(",", "").strip())


def rows(page: Page, selector: str) -> list[dict[str, Any]]:
    """A table's body as dicts keyed by its header cells."""
    table = page.locator(selector)
    header = [cell.strip() for cell in table.locator("thead th").all_inner_texts()]
    found = []
    for row in table.locator("tbody tr").all():
        cells = [cell.strip() for cell in row.locator("td").all_inner_texts()]
        found.append(dict(zip(header, cells, strict=False)))
    return found
