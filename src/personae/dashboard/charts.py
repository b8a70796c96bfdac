"""Chart data builders: plain ECharts options (JSON, no functions) from the numbers a page shows.

A page puts each option in a ``<script type="application/json">`` block; the static
``charts.js`` finds the blocks and hands each to ECharts, so no page carries inline script
(the Content-Security-Policy forbids it) and the report embeds the same options.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Option = dict[str, Any]

PALETTE = ["#2f6690", "#d1495b", "#edae49", "#66a182", "#8d6a9f", "#00798c", "#f4a259", "#5b8e7d", "#bc4b51", "#3a7ca5"]
HEAT = ["#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#08306b"]


def _base(title: str) -> Option:
    return {
        "title": {"text": title, "left": "left", "textStyle": {"fontSize": 14}},
        "color": PALETTE,
        "tooltip": {"trigger": "item"},
        "animation": False,
        "grid": {"left": 60, "right": 20, "top": 50, "bottom": 60, "containLabel": True},
    }


def bars(title: str, labels: Sequence[str], values: Sequence[float], *, name: str = "") -> Option:
    """One series of bars, a label per bar."""
    option = _base(title)
    option.update(
        xAxis={"type": "category", "data": list(labels), "axisLabel": {"interval": 0, "rotate": 30}},
        yAxis={"type": "value", "name": name},
        series=[
            {"type": "bar", "name": name or title, "data": list(values), "label": {"show": True, "position": "top"}}
        ],
    )
    option["tooltip"] = {"trigger": "axis"}
    return option


def stacked_bars(title: str, labels: Sequence[str], stacks: dict[str, Sequence[float]], *, name: str = "") -> Option:
    """Bars stacked by series (a run's step times, say)."""
    option = _base(title)
    option.update(
        legend={"top": 24, "type": "scroll"},
        xAxis={"type": "category", "data": list(labels)},
        yAxis={"type": "value", "name": name},
        series=[{"type": "bar", "stack": "all", "name": key, "data": list(data)} for key, data in stacks.items()],
    )
    option["grid"]["top"] = 70
    option["tooltip"] = {"trigger": "axis"}
    return option


def lines(
    title: str,
    xs: Sequence[Any],
    series: dict[str, Sequence[float | None]],
    *,
    x_name: str = "",
    y_name: str = "",
    x_type: str = "category",
) -> Option:
    """One line per series over shared x values."""
    option = _base(title)
    option.update(
        legend={"top": 24, "type": "scroll"},
        xAxis={"type": x_type, "name": x_name, **({"data": [str(x) for x in xs]} if x_type == "category" else {})},
        yAxis={"type": "value", "name": y_name},
        series=[
            {
                "type": "line",
                "name": key,
                "data": list(values) if x_type == "category" else [[x, y] for x, y in zip(xs, values, strict=True)],
                "showSymbol": True,
            }
            for key, values in series.items()
        ],
    )
    option["grid"]["top"] = 70
    option["tooltip"] = {"trigger": "axis"}
    return option


def heatmap(
    title: str,
    xs: Sequence[str],
    ys: Sequence[str],
    cells: Sequence[tuple[int, int, float]],
    *,
    x_name: str = "",
    y_name: str = "",
    labels: Sequence[tuple[int, int, str]] | None = None,
) -> Option:
    """A grid of cells ``(x index, y index, value)`` coloured by value (labels, when given, are printed)."""
    option = _base(title)
    values = [value for _, _, value in cells]
    data: list[Any] = [[x, y, value] for x, y, value in cells]
    if labels is not None:
        text = {(x, y): label for x, y, label in labels}
        data = [{"value": [x, y, value], "label": {"formatter": text.get((x, y), "")}} for x, y, value in cells]
    option.update(
        xAxis={"type": "category", "data": list(xs), "name": x_name, "axisLabel": {"interval": 0, "rotate": 30}},
        yAxis={"type": "category", "data": list(ys), "name": y_name},
        visualMap={
            "min": min(values) if values else 0,
            "max": max(values) if values else 1,
            "calculable": True,
            "orient": "horizontal",
            "left": "center",
            "bottom": 0,
            "inRange": {"color": HEAT},
        },
        series=[{"type": "heatmap", "data": data, "label": {"show": True}}],
    )
    option["grid"]["bottom"] = 90
    return option


def sankey(title: str, links: Sequence[tuple[str, str, int]]) -> Option:
    """Flows ``(source, target, count)`` between nodes named apart on each side."""
    option = _base(title)
    nodes = sorted({name for source, target, _ in links for name in (source, target)})
    option.update(
        series=[
            {
                "type": "sankey",
                "top": 50,
                "emphasis": {"focus": "adjacency"},
                "nodeAlign": "justify",
                "data": [{"name": name} for name in nodes],
                "links": [{"source": s, "target": t, "value": v} for s, t, v in links if v > 0],
                "lineStyle": {"color": "gradient", "curveness": 0.5},
            }
        ]
    )
    return option


def histogram(title: str, edges: Sequence[float], counts: Sequence[int], *, name: str = "") -> Option:
    """Counts per bin, each bin labelled by its lower edge."""
    labels = [f"{edge:.3g}" for edge in edges]
    option = bars(title, labels, counts, name="people")
    option["xAxis"]["name"] = name
    option["series"][0]["label"] = {"show": False}
    return option


def graph(title: str, nodes: Sequence[tuple[str, str]], edges: Sequence[tuple[str, str, str]]) -> Option:
    """A network of ``(name, category)`` nodes and ``(source, target, kind)`` edges, laid out by force."""
    option = _base(title)
    categories = sorted({category for _, category in nodes})
    option.update(
        legend={"top": 24, "type": "scroll", "data": categories},
        series=[
            {
                "type": "graph",
                "layout": "force",
                "top": 60,
                "roam": True,
                "draggable": True,
                "label": {"show": True, "position": "right", "fontSize": 10},
                "force": {"repulsion": 220, "edgeLength": 70},
                "categories": [{"name": category} for category in categories],
                "data": [
                    {"name": name, "category": categories.index(category), "symbolSize": 14} for name, category in nodes
                ],
                "links": [
                    {"source": s, "target": t, "lineStyle": {"type": "dashed" if kind == "fuzzy" else "solid"}}
                    for s, t, kind in edges
                ],
            }
        ],
    )
    return option
