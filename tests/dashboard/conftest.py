"""One demo world, one server over it and one chromium for every dashboard test (built once:
the world takes two runs, about 30 s). Session-scoped, not package-scoped: the suite runs
module by module on two workers (``--dist loadscope``), and a worker that ran another package
between two dashboard modules would tear a package fixture down and build it again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from personae import Workspace
from tests.dashboard.browser import CHROMIUM, CHROMIUM_ARGS, demo_world
from tests.server.live import Served, serving


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_world(tmp_path_factory.mktemp("dashboard") / "shop")


@pytest.fixture(scope="session")
def served(world: Path) -> Iterator[Served]:
    with serving(Workspace(world)) as running:
        yield running


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Package-scoped: Playwright's sync API keeps an event loop running in the thread until it
    stops, and a later test of the same worker that calls ``asyncio.run`` would fail."""
    if not CHROMIUM.exists():
        pytest.fail("chromium is not installed: `make chromium` (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()
