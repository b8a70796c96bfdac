"""The segment step: every segmentation assigns every customer, memberships are diffed
(see :mod:`personae.segments.assignment`); the learnt thresholds and the reports are kept
as JSON beside the models for `personae questions`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from personae.segments.assignment import assign_segments
from personae.segments.reports import REPORTS_FILE, THRESHOLDS_FILE
from personae.steps.context import RunContext, StepResult, nobody_yet


def _keep(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def run(context: RunContext) -> StepResult:
    if skipped := nobody_yet(context, "segment"):
        return skipped
    result = assign_segments(context.engine, context.config.segment_config(), context.as_of)
    if result.thresholds is not None:
        _keep(context.models / THRESHOLDS_FILE, result.thresholds.to_dict())
    if result.reports:
        _keep(context.models / REPORTS_FILE, result.reports)
    changes = result.memberships.entered + result.memberships.exited if result.memberships else 0
    return StepResult("segment", rows_in=result.people, rows_out=changes, details={"segments": result})
