"""What every part of the models step shares: its inputs, its result, and the rule for a
model that cannot be fitted (say why, and use the previous saved model when there is one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from personae.engine.base import Engine
from personae.errors import ModelFitError
from personae.models.saved import SavedModel
from personae.models.specs import ModelSettings
from personae.profiles.specs import TraitsConfig


@dataclass
class ModelsResult:
    fitted: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    reports: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    people: int = 0

    @property
    def warnings(self) -> list[str]:
        return [f"model {name}: {reason}" for name, reason in self.skipped.items()]


@dataclass(frozen=True)
class ModelContext:
    engine: Engine
    settings: ModelSettings
    traits: TraitsConfig
    as_of: date
    folder: Path

    @property
    def scratch(self) -> Path:
        """Where scores spill before they are loaded (inside the models folder)."""
        return self.folder / "scratch"


Model = TypeVar("Model", bound=SavedModel)


def fit_or_reuse(
    name: str, path: Path, fit: Callable[[], Model], load: Callable[[Path], Model], result: ModelsResult
) -> Model | None:
    """Fit and save a model; when it cannot be fitted, load the one saved before (None if
    there is none). Either way the reason lands in ``result``."""
    try:
        model = fit()
    except ModelFitError as error:
        if not path.is_file():
            result.skipped[name] = str(error)
            return None
        model = load(path)
        result.reused.append(name)
        result.skipped[name] = f"{error}; using the model saved on {model.as_of_}"
        return model
    model.save(path)
    result.fitted.append(name)
    return model
