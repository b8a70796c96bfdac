"""Examples in docstrings run as doctests, so they cannot rot (STYLE.md, convention 12)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import personae

WITH_EXAMPLES = sorted(
    module.name
    for module in pkgutil.walk_packages(personae.__path__, "personae.")
    if module.name != "personae.__main__"
    and ">>>" in (importlib.util.find_spec(module.name).loader.get_source(module.name) or "")  # type: ignore[union-attr]
)


def test_modules_with_examples_are_found() -> None:
    assert "personae.engine.sql" in WITH_EXAMPLES and "personae.rules.rule" in WITH_EXAMPLES


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_docstring_examples_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
