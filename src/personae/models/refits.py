"""When the models step refits: ``[models] refit_every_days``.

Fitting is a choice, not a derivation: a model fitted a few days ago describes today's
customers about as well, and refitting every model after every increment costs most of an
incremental run (bench/RESULTS.md, incremental runs). With ``refit_every_days = N`` the step
keeps the saved models for N days after the day they were fitted as of, and only scores
everyone with them; a run then equals a full run *with the same fitted models*. A change of
the ``[models]`` or traits settings, a run as of an earlier day and ``personae run --full``
refit (as far as the inputs changed); a model without a saved file is fitted. 0, the
default, keeps today's rule: a model is refitted whenever its inputs change.

The day of the last fit and the settings it was made with are kept in ``models/refits.json``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

from personae.models.specs import ModelSettings
from personae.profiles.specs import TraitsConfig

REFITS_FILE = "refits.json"


def settings_digest(settings: ModelSettings, traits: TraitsConfig) -> str:
    """The settings a fit depends on; not ``refit_every_days`` itself, so that setting it
    after a run keeps that run's models rather than refitting them."""
    text = f"{settings.model_dump_json(exclude={'refit_every_days'})}|{traits.model_dump_json()}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def refit_due(folder: Path, settings: ModelSettings, traits: TraitsConfig, as_of: date, *, full: bool) -> bool:
    """Whether this run fits (as far as inputs changed) rather than keeping the saved models
    (a model without a saved file is fitted either way)."""
    if full or settings.refit_every_days == 0:
        return True
    path = folder / REFITS_FILE
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
        fitted = date.fromisoformat(str(kept["as_of"]))
        same = kept["settings"] == settings_digest(settings, traits)
    except (OSError, ValueError, KeyError, TypeError):
        return True
    return not same or not 0 <= (as_of - fitted).days < settings.refit_every_days


def record_refit(folder: Path, settings: ModelSettings, traits: TraitsConfig, as_of: date) -> None:
    """Remember the day of this fit and its settings."""
    data = {"as_of": as_of.isoformat(), "settings": settings_digest(settings, traits)}
    (folder / REFITS_FILE).write_text(json.dumps(data), encoding="utf-8")
