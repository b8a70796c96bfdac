"""Templates and static files: one Jinja2 environment (autoescaping every value), the
Content-Security-Policy every dashboard answer carries, and the static files read for
inlining into the report.

Charts never run inline script: each page carries its ECharts options as JSON in
``<script type="application/json">`` blocks that ``static/charts.js`` reads, so the policy can
forbid inline script and every origin but the server's own.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
"""Only the server's own scripts, styles and calls; no inline script, no frames, no other origin."""
REPORT_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
    "form-action 'none'; base-uri 'none'"
)
"""The report is one file: its script and styles are inline, and nothing may be fetched."""
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
STATIC_FILES = {
    "dashboard.css": "text/css",
    "charts.js": "text/javascript",
    "vendor/echarts/echarts.min.js": "text/javascript",
    "vendor/htmx/htmx.min.js": "text/javascript",
}
"""Every file the pages load: the static route serves these and nothing else."""


def number(value: Any, places: int = 0) -> str:
    """``12,345`` (``places`` decimals for floats); empty for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{places}f}" if places or abs(value) >= 100 else f"{value:,.3g}"
    return str(value)


def percent(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(number=number, percent=percent, when=when)
    return env


def render(template: str, **context: Any) -> str:
    """A page (or an htmx fragment) rendered with its values escaped."""
    context.setdefault("inline", None)
    return environment().get_template(template).render(**context)


@cache
def static_text(name: str) -> str:
    if name not in STATIC_FILES:
        raise KeyError(name)
    return (STATIC / name).read_text(encoding="utf-8")


def inline_assets() -> dict[str, Markup]:
    """The styles and scripts the report embeds (none of them holds ``</script`` or ``</style``)."""
    assets = {
        "css": static_text("dashboard.css"),
        "echarts": static_text("vendor/echarts/echarts.min.js"),
        "charts": static_text("charts.js"),
    }
    for name, text in assets.items():
        if "</script" in text.lower() or "</style" in text.lower():
            raise ValueError(f"{name} cannot be inlined: it holds a closing tag")
    return {name: Markup(text) for name, text in assets.items()}
