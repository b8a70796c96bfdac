"""What every step runs over, and what it returns."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from personae.config import WorkspaceConfig
from personae.engine.base import Engine
from personae.engine.person_order import keep_in_order
from personae.progress import Progress, silent

MODELS_FOLDER = "models"
"""Where fitted models and the segment step's reports are kept, inside the workspace."""


@dataclass(frozen=True)
class RunContext:
    """One run: the workspace folder and its config, the open engine, the as-of day."""

    root: Path
    config: WorkspaceConfig
    engine: Engine
    as_of: date
    started: str
    """When the run started (UTC, ISO text): stamps loaded rows and identity changes."""
    env: Mapping[str, str] = field(default_factory=dict)
    """The environment, for database sources whose DSN is named by ``dsn_env``."""
    progress: Progress = silent
    seal: Callable[[str], None] | None = None
    """Seals the journal of a live source (by name) so a run loads every acknowledged event;
    the server gives its own (it holds the journals open), else the ingest step opens each."""
    full: bool = False
    """Recompute everything for everyone (``personae run --full``); else steps that can are incremental."""

    @property
    def models(self) -> Path:
        return self.root / MODELS_FOLDER


@dataclass
class StepResult:
    name: str
    rows_in: int
    rows_out: int
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    note: str = ""
    """What the user should read of the step beyond its row counts."""


def nobody_yet(context: RunContext, step: str) -> StepResult | None:
    """A skipped result when there is nobody to profile yet (no source has loaded a row)."""
    engine = context.engine
    if engine.has_table("profiles") and engine.row_count("profiles") > 0:
        return None
    return StepResult(step, rows_in=0, rows_out=0, warnings=[f"{step}: skipped, there are no people yet"])


def keep_person_order(context: RunContext, tables: Sequence[str]) -> list[str]:
    """Notes for a step that wrote ``tables`` in place: which of them it wrote in person order
    again because the in-place writes had scattered them (:mod:`personae.engine.person_order`)."""
    written = keep_in_order(context.engine, tables)
    return [f"written in person order again: {', '.join(written)}"] if written else []
