"""The models and questions pages' charts: CLV parameters and distributions, the classifiers'
validation (AUC, lift, calibration), the lifestyle clusters, and the lifecycle questions.

The numbers come from the JSON the models and segment steps saved (nothing is refitted) and
from ``predictions``, one row per person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from personae.dashboard import charts
from personae.engine.base import Engine
from personae.models.saved import read_model_file
from personae.segments.reports import Questions

BINS = 20
CLASSIFIERS = ("churn", "high_value")


@dataclass
class ModelCharts:
    clv: dict[str, Any] | None = None
    """The BG/NBD and Gamma-Gamma parameters."""
    validation: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Classifier -> AUC, base rate, n."""
    clusters: list[dict[str, Any]] = field(default_factory=list)
    charts: dict[str, charts.Option] = field(default_factory=dict)


def model_charts(store: Engine, folder: Path) -> ModelCharts:
    found = ModelCharts()
    clv = folder / "clv.json"
    if clv.is_file():
        data = read_model_file(clv, "clv")
        found.clv = {**data["bgnbd"]["params"], **data["gamma_gamma"]["params"]}
    if store.has_table("predictions"):
        for column, title in (("p_alive", "P(alive)"), ("clv", "CLV")):
            option = _distribution(store, column, title)
            if option is not None:
                found.charts[column] = option
    for name in CLASSIFIERS:
        path = folder / f"{name}.json"
        if not path.is_file():
            continue
        validation = ((read_model_file(path, name).get("report") or {}).get("validation")) or None
        if not validation:
            continue
        found.validation[name] = {k: validation[k] for k in ("auc", "base_rate", "n", "positives") if k in validation}
        deciles = validation["deciles"]
        labels = [str(d["decile"]) for d in deciles]
        found.charts[f"{name}_lift"] = charts.bars(
            f"{name}: lift per decile of predicted probability (1 = highest)",
            labels,
            [round(float(d["lift"]), 3) for d in deciles],
            name="lift",
        )
        found.charts[f"{name}_calibration"] = charts.lines(
            f"{name}: calibration (observed rate against mean predicted, per decile)",
            labels,
            {
                "mean predicted": [round(float(d["mean_predicted"]), 4) for d in deciles],
                "observed rate": [round(float(d["observed_rate"]), 4) for d in deciles],
            },
            x_name="decile",
            y_name="rate",
        )
    lifestyle = folder / "lifestyle.json"
    if lifestyle.is_file():
        params = read_model_file(lifestyle, "lifestyle")["params"]
        for name, size, shares in zip(params["names"], params["sizes"], params["profiles"], strict=False):
            top = sorted(zip(params["categories"], shares, strict=False), key=lambda pair: -pair[1])[:3]
            found.clusters.append({"name": name, "size": int(size), "top": ", ".join(f"{c} {s:.0%}" for c, s in top)})
        found.charts["lifestyle"] = charts.heatmap(
            "Lifestyle clusters: mean category shares",
            list(params["categories"]),
            list(params["names"]),
            [(x, y, round(float(v), 3)) for y, row in enumerate(params["profiles"]) for x, v in enumerate(row)],
        )
    return found


def _distribution(store: Engine, column: str, title: str) -> charts.Option | None:
    low, high = store.fetch_rows(f"SELECT min({column}), max({column}) FROM predictions")[0]
    if low is None or high is None:
        return None
    low, high = float(low), float(high)
    width = (high - low) / BINS or 1.0
    rows = dict(
        store.fetch_rows(
            f"SELECT least(CAST(floor(({column} - {low!r}) / {width!r}) AS BIGINT), {BINS - 1}) AS bin, count(*) "
            f"FROM predictions WHERE {column} IS NOT NULL GROUP BY 1"
        )
    )
    edges = [low + width * index for index in range(BINS)]
    return charts.histogram(f"Distribution of {title}", edges, [int(rows.get(i, 0)) for i in range(BINS)], name=title)


def question_charts(questions: Questions) -> dict[str, charts.Option]:
    """The curves behind the learnt lifecycle thresholds."""
    lifecycle = questions.lifecycle
    shown: dict[str, charts.Option] = {}
    if lifecycle.repeat_curve:
        shown["repeat"] = charts.lines(
            "Chance of another order after the k-th",
            [k for k, _, _ in lifecycle.repeat_curve],
            {"P(another order)": [round(p, 4) for _, _, p in lifecycle.repeat_curve]},
            x_name="orders",
            y_name="chance",
        )
    if lifecycle.gap_survival:
        shown["gaps"] = charts.lines(
            "Share of repeat orders that came after a longer gap",
            [d for d, _ in lifecycle.gap_survival],
            {"share": [round(p, 4) for _, p in lifecycle.gap_survival]},
            x_name="days",
            y_name="share",
        )
    return shown
