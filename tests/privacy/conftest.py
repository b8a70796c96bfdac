"""The demo workspace the erasure tests share: built once per session, copied by each test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.privacy.erasure_world import World, build


@pytest.fixture(scope="session")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build(tmp_path_factory.mktemp("erasure-world"))


@pytest.fixture
def world(pristine: World, tmp_path: Path) -> World:
    return pristine.copy(tmp_path)
