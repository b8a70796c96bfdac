"""The dashboard's files ship in the wheel, with the vendored libraries' licences, and nothing
in them points at another site."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

from personae.dashboard.render import CSP, STATIC_FILES

ROOT = Path(__file__).resolve().parent.parent.parent
PACKAGE = ROOT / "src" / "personae" / "dashboard"


def test_package_data_covers_every_template_and_static_file() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "personae.dashboard"
    ]
    files = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*") if p.is_file() and p.suffix != ".py"]
    files = [f for f in files if "__pycache__" not in f and f != "static/vendor/README"]
    missing = [f for f in files if not any(fnmatch.fnmatch(f, pattern) for pattern in patterns)]
    assert files and missing == []
    assert all((PACKAGE / "static" / name).is_file() for name in STATIC_FILES)


def test_each_vendored_library_ships_with_its_licence() -> None:
    for library in ("echarts", "htmx"):
        licence = (PACKAGE / "static" / "vendor" / library / "LICENSE").read_text()
        assert len(licence) > 200, library
    assert "Apache License" in (PACKAGE / "static" / "vendor" / "echarts" / "LICENSE").read_text()


def test_no_template_or_style_loads_anything_from_elsewhere() -> None:
    outside = re.compile(r"""(src|href|action)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|@import""")
    for path in [
        *PACKAGE.glob("templates/*.html"),
        PACKAGE / "static" / "dashboard.css",
        PACKAGE / "static" / "charts.js",
    ]:
        assert not outside.search(path.read_text()), path.name
    assert "script-src 'self'" in CSP and "unsafe" not in CSP and "default-src 'none'" in CSP
