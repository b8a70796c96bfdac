"""The steps of a run (DESIGN §5), one module each with ``run(context) -> StepResult``.

A step reads the neutral :class:`~personae.steps.context.RunContext` (the workspace's
folder, its config, the open engine, the as-of day), hands each wing only its own settings,
and returns what it did. The order lives in :mod:`personae.pipeline`.
"""
