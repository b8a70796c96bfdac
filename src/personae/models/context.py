"""What every part of the models step shares: its inputs, its result, and the rules for
fitting a model: reuse it when its inputs have not changed, and when it cannot be fitted,
say why and use the previous saved model when there is one.

**Reuse.** A rerun on unchanged data used to refit every model, and the fits are most of
the step (propensity 38 % and the survey look-alike 39 % of it on the 1M world,
``bench/RESULTS.md``). A fit is a function of its training rows in their order, its
settings, the fitting code and the libraries it calls, so a model is keyed by a digest of
exactly those (:func:`input_digest`), saved in its file as ``input_digest``:

- the training frame, column by column (name, dtype and pandas' 64-bit hash of every
  value, in row order; rows come in person-key order, so no UID enters it);
- the ``[models]`` settings and the estimator's own settings, as sorted JSON;
- :data:`FIT_VERSION` (bump it when a change to personae's fitting code changes what a fit
  gives) and the versions of numpy, scipy and scikit-learn.

When a run computes the digest saved in the file, the saved model is loaded instead of
refitted, and ``ModelsResult.reused`` says so. Any change to ``[models]`` refits every
model, even one only the segments read: simpler to trust than a per-model list.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import pandas as pd
import scipy
import sklearn

from personae.engine.base import Engine
from personae.errors import ModelFitError
from personae.models.saved import SavedModel
from personae.models.specs import ModelSettings
from personae.profiles.specs import TraitsConfig

FIT_VERSION = 1
"""personae's model format version for reuse: bump it when the fitting code changes its output."""


@dataclass
class ModelsResult:
    fitted: list[str] = field(default_factory=list)
    reused: dict[str, str] = field(default_factory=dict)
    """Models loaded instead of fitted, each with the reason (inputs unchanged, or a failed fit)."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Models that could not be fitted, each with the reason."""
    unused: dict[str, str] = field(default_factory=dict)
    """Models fitted (or reused) that do not beat their baseline: no scores, segments unknown."""
    reports: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    people: int = 0
    scored: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Score tables -> (rows predicted, rows written): the others kept their scores
    (:mod:`personae.models.score_reuse`)."""

    @property
    def warnings(self) -> list[str]:
        skipped = [f"model {name}: {reason}" for name, reason in self.skipped.items()]
        return skipped + [f"model {name}: not used: {why}" for name, why in self.unused.items()]


@dataclass(frozen=True)
class ModelContext:
    engine: Engine
    settings: ModelSettings
    traits: TraitsConfig
    as_of: date
    folder: Path
    keep_saved: bool = False
    """Reuse every saved model without looking at its inputs (a refit is not due yet:
    ``[models] refit_every_days``, see :mod:`personae.models.refits`)."""

    @property
    def scratch(self) -> Path:
        """Where scores spill before they are loaded (inside the models folder)."""
        return self.folder / "scratch"


def input_digest(frame: pd.DataFrame, settings: Mapping[str, Any]) -> str:
    """A sha256 over ``frame`` (values in row order, index ignored), ``settings`` and the fitting code's versions.

    >>> frame = pd.DataFrame({"x": [1.0, float("nan")], "y": ["a", "b"]})
    >>> input_digest(frame, {"seed": 7}) == input_digest(frame.copy(), {"seed": 7})
    True
    >>> input_digest(frame, {"seed": 7}) == input_digest(frame, {"seed": 8})
    False
    >>> input_digest(frame, {}) == input_digest(frame.iloc[::-1], {})
    False
    """
    digest = hashlib.sha256()
    context = {
        "fit_version": FIT_VERSION,
        "libraries": {"numpy": np.__version__, "scipy": scipy.__version__, "scikit-learn": sklearn.__version__},
        "settings": settings,
        "rows": len(frame),
    }
    digest.update(json.dumps(context, sort_keys=True, default=str).encode())
    for name in frame.columns:
        column = frame[name]
        digest.update(f"\0{name}\0{column.dtype}\0".encode())
        digest.update(pd.util.hash_pandas_object(column, index=False).to_numpy().tobytes())
    return digest.hexdigest()


Model = TypeVar("Model", bound=SavedModel)


@dataclass(frozen=True)
class Plan(Generic[Model]):
    """A fit ready to run: the digest of its inputs, and the fit itself."""

    digest: str
    fit: Callable[[], Model]


def fit_or_reuse(
    name: str,
    path: Path,
    plan: Callable[[], Plan[Model]],
    load: Callable[[Path], Model],
    result: ModelsResult,
    *,
    keep_saved: bool = False,
) -> Model | None:
    """The model for ``name``: the saved one when its inputs are unchanged (or, with
    ``keep_saved``, whatever they are), else a fresh fit (saved with its digest). When the
    inputs cannot be built or the fit fails, the model saved before (None if there is none).
    Every outcome lands in ``result``."""
    if keep_saved and path.is_file():
        try:
            kept = load(path)
        except ModelFitError:  # corrupt, or another format version: fit as usual
            pass
        else:
            result.reused[name] = f"fitted as of {kept.as_of_}; no refit due yet ([models] refit_every_days)"
            return kept
    try:
        planned = plan()
        saved = _saved_with(path, planned.digest, load)
        if saved is not None:
            result.reused[name] = (
                f"inputs unchanged since its fit as of {saved.as_of_} (digest {planned.digest[:12]}): not refitted"
            )
            return saved
        model = planned.fit()
    except ModelFitError as error:
        if not path.is_file():
            result.skipped[name] = str(error)
            return None
        model = load(path)
        result.reused[name] = f"cannot fit ({error}); using the model saved on {model.as_of_}"
        result.skipped[name] = f"{error}; using the model saved on {model.as_of_}"
        return model
    model.input_digest_ = planned.digest
    model.save(path)
    result.fitted.append(name)
    return model


def _saved_with(path: Path, digest: str, load: Callable[[Path], Model]) -> Model | None:
    """The model saved at ``path`` when it was fitted on inputs with this digest."""
    if not path.is_file():
        return None
    try:
        saved = load(path)
    except ModelFitError:  # corrupt, or another format version: refit over it
        return None
    return saved if saved.input_digest_ == digest else None
