"""The segment step: every segmentation assigns every customer, memberships are diffed
(see :mod:`personae.segments.assignment`); the learnt thresholds and the reports are kept
as JSON beside the models for `personae questions`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from personae.segments.assignment import assign_segments
from personae.segments.conflicts import import_warnings
from personae.segments.reports import REPORTS_FILE, THRESHOLDS_FILE
from personae.segments.specs import IMPORTED
from personae.steps.context import RunContext, StepResult, keep_person_order, nobody_yet


def _keep(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def run(context: RunContext) -> StepResult:
    if skipped := nobody_yet(context, "segment"):
        return skipped
    result = assign_segments(context.engine, context.config.segment_config(), context.as_of, full=context.full)
    lifecycle = {name: report for name, report in result.reports.items() if result.kinds[name] == "lifecycle"}
    for report in lifecycle.values():
        _keep(context.models / THRESHOLDS_FILE, report)
    others = {name: report for name, report in result.reports.items() if name not in lifecycle}
    if others:
        _keep(context.models / REPORTS_FILE, others)
    changes = result.memberships.entered + result.memberships.exited if result.memberships else 0
    warnings = [
        warning
        for name, kind in result.kinds.items()
        if kind == IMPORTED
        for warning in import_warnings(name, result.reports.get(name, {}))
    ]
    return StepResult(
        "segment",
        rows_in=result.people,
        rows_out=changes,
        details={"segments": result},
        warnings=warnings,
        note="; ".join(keep_person_order(context, ["memberships"])),
    )
