"""The base of every spec in ``personae.toml``: frozen data, unknown keys are errors."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"


class Spec(BaseModel):
    """Base of every spec: frozen, and unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest candidate, or nothing when none is close."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""
