"""What the saved models say: one summary per model file in the workspace's ``models/``.

Reads the JSON the models and segment steps wrote (nothing is refitted), so the CLI,
the server and the dashboard show the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from personae.errors import WorkspaceError
from personae.models.saved import read_model_file
from personae.models.verdict import Verdict

MODEL_FILES = ("clv", "churn", "high_value", "lifestyle", "survey")


def _clv(data: dict[str, Any]) -> dict[str, Any]:
    bgnbd, gamma = data["bgnbd"], data["gamma_gamma"]
    return {
        "as_of": bgnbd["as_of"],
        "rows": (bgnbd.get("fit") or {}).get("n"),
        "summary": ", ".join(f"{k} {v:.4g}" for k, v in {**bgnbd["params"], **gamma["params"]}.items()),
        "quality": f"log-likelihood {(bgnbd.get('fit') or {}).get('log_likelihood', float('nan')):.1f}; "
        f"penalizer {bgnbd.get('penalizer', 0)}",
    }


def _classifier(data: dict[str, Any]) -> dict[str, Any]:
    report = data.get("report") or {}
    validation = report.get("validation")
    quality = "no validation (one class in the held-out rows)"
    if validation:
        top = validation["deciles"][0]
        calibration = max(abs(d["mean_predicted"] - d["observed_rate"]) for d in validation["deciles"])
        quality = (
            f"AUC {validation['auc']:.3f}; top-decile lift {top['lift']:.2f}; base rate {validation['base_rate']:.3f}; "
            f"worst decile calibration gap {calibration:.3f} (n {validation['n']})"
        )
    accuracy = report.get("cross_validated_accuracy")
    if accuracy:
        quality = (
            f"cross-validated accuracy {accuracy['mean']:.3f} ± {accuracy['std']:.3f} over {accuracy['folds']} folds; "
            f"majority class {report.get('majority_share', float('nan')):.3f}"
        )
    classes = (data.get("params") or {}).get("classes", [])
    return {
        "as_of": data.get("as_of"),
        "rows": report.get("training_rows", report.get("respondents")),
        "summary": f"{len((data.get('params') or {}).get('trees', []))} boosting rounds; classes {classes}",
        "quality": quality,
    }


def _lifestyle(data: dict[str, Any]) -> dict[str, Any]:
    report = data.get("report") or {}
    chosen: dict[str, Any] = next((k for k in report.get("per_k", []) if k["k"] == report.get("chosen_k")), {})
    return {
        "as_of": data.get("as_of"),
        "rows": report.get("rows"),
        "summary": f"k {report.get('chosen_k')}: " + ", ".join(data["params"]["names"]),
        "quality": f"silhouette {chosen.get('silhouette', float('nan')):.3f}; bootstrap ARI mean "
        f"{chosen.get('ari_mean', float('nan')):.3f}, min {chosen.get('ari_min', float('nan')):.3f}; "
        f"rule: {report.get('rule')}",
        "stability": report.get("per_k", []),
    }


def _verdict(name: str, data: dict[str, Any]) -> dict[str, Any]:
    """``used`` and ``why`` from the verdict saved with the model; an unused model's ``quality`` says so too."""
    if name == "clv":
        return {"used": True, "why": "CLV tiers rank buyers by expected value; no baseline check"}
    verdict = Verdict.of(data.get("report") or {})
    if verdict is None:
        return {"used": True, "why": "saved before personae checked models against a baseline; run again to check it"}
    return {"used": verdict.used, "why": verdict.why}


@dataclass(frozen=True)
class ModelSummary:
    """A saved model in brief: what it was fitted on and how good it is."""

    model: str
    as_of: str | None
    rows: int | None
    summary: str
    """The parameters in brief."""
    quality: str
    """The validation numbers in brief."""
    file: str
    used: bool = True
    """Whether the model assigns segments: it beat its baseline on held-out data
    (:mod:`personae.models.verdict`). CLV has no baseline check and is always used."""
    why: str = ""
    """The verdict's reason: the held-out number against the baseline and the margin asked."""
    stability: list[dict[str, Any]] = field(default_factory=list)
    """Lifestyle only: each k tried, with its silhouette and bootstrap stability."""


def model_reports(folder: Path) -> list[ModelSummary]:
    """One entry per saved model: name, as-of date, rows, parameters in brief, quality."""
    found = []
    for name in MODEL_FILES:
        path = folder / f"{name}.json"
        if not path.is_file():
            continue
        data = dict(read_model_file(path, name))
        summary = _clv(data) if name == "clv" else _lifestyle(data) if name == "lifestyle" else _classifier(data)
        summary.update(_verdict(name, data))
        if not summary["used"]:
            summary["quality"] = f"NOT USED: {summary['why']} ({summary['quality']})"
        found.append(ModelSummary(model=name, file=str(path), **summary))
    if not found:
        raise WorkspaceError("no models saved yet: run the pipeline first (`personae run`)")
    return found
