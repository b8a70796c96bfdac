"""The ordered steps of a run (DESIGN §5); each is ``run(context) -> StepResult`` in a
module of its name under :mod:`personae.steps`."""

from __future__ import annotations

import time
from collections.abc import Callable

from personae.config import CONFIG_FILE
from personae.engine.base import Engine
from personae.errors import EngineError, PersonaeError, UsageError
from personae.privacy.audit_config import record_config_change
from personae.spec import did_you_mean
from personae.steps import actions, consent, golden, identity, ingest, models, segment, summaries, sync, traits
from personae.steps.context import RunContext, StepResult

Step = Callable[[RunContext], StepResult]
STEPS: tuple[tuple[str, Step], ...] = (
    ("ingest", ingest.run),
    ("identity", identity.run),
    ("golden", golden.run),
    ("consent", consent.run),
    ("traits", traits.run),
    ("models", models.run),
    ("segment", segment.run),
    ("summaries", summaries.run),
    ("actions", actions.run),
    ("sync", sync.run),
)
STEP_NAMES: tuple[str, ...] = tuple(name for name, _ in STEPS)


def check_step(name: str) -> str:
    """``name`` if it names a step; a UsageError listing the steps otherwise."""
    if name not in STEP_NAMES:
        raise UsageError(f"no step named {name!r}{did_you_mean(name, STEP_NAMES)}; steps are {', '.join(STEP_NAMES)}")
    return name


def _drop_scratch(engine: Engine, kept: set[str], *, quietly: bool = False) -> None:
    """Drop the temporary tables and views a step made: each would hold memory or spill space
    through every later step (at 3M customers the traits step's held 4.7 GB of spill). After a
    failed step, ``quietly``: the step's own error is the one to report."""
    for name in sorted(engine.scratch_names() - kept):
        try:
            engine.drop_table(name)
        except EngineError:
            if not quietly:
                raise


def run_steps(context: RunContext, only: str | None = None) -> list[StepResult]:
    """Run the steps in order (or just ``only``), timing each; first, a change of
    ``personae.toml`` since the last run goes to the audit log."""
    if only is not None:
        check_step(only)
    record_config_change(context.engine, context.root / CONFIG_FILE)
    results = []
    chosen = [(name, step) for name, step in STEPS if only is None or name == only]
    for index, (name, step) in enumerate(chosen):
        context.progress(name, index, len(chosen))  # steps with parts of their own say more
        started = time.perf_counter()
        kept = context.engine.scratch_names()
        try:
            result = step(context)
        except PersonaeError as error:
            error.step = error.step or name
            _drop_scratch(context.engine, kept, quietly=True)
            raise
        _drop_scratch(context.engine, kept)
        result.seconds = time.perf_counter() - started
        results.append(result)
    if chosen:
        context.progress("done", len(chosen), len(chosen))
    return results
