"""The models step: fit, save and score every model (see :mod:`personae.models.step`)."""

from __future__ import annotations

from personae.steps.context import RunContext, StepResult, nobody_yet


def run(context: RunContext) -> StepResult:
    from personae.models.step import fit_models  # SciPy and scikit-learn: loaded only to model (1.5 s)

    if skipped := nobody_yet(context, "models"):
        return skipped
    config = context.config
    if not config.models.enabled:
        return StepResult("models", rows_in=0, rows_out=0, warnings=["models are disabled ([models] enabled = false)"])
    threads = config.engine.duckdb.threads if context.engine.name == "duckdb" else None
    result = fit_models(
        context.engine,
        config.models,
        config.traits_config(),
        context.as_of,
        context.models,
        progress=context.progress,
        duckdb_threads=threads,
        full=context.full,
    )
    return StepResult(
        "models",
        rows_in=result.people,
        rows_out=len(result.fitted) + len(result.reused),
        details={"models": result},
        warnings=result.warnings,
        note="; ".join(
            f"{name}: predicted {fresh:,} of {written:,} scores (the others reach the leaves of the last run)"
            for name, (fresh, written) in result.scored.items()
            if fresh < written
        ),
    )
