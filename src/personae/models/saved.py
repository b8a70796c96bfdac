"""A fitted model kept as a JSON file: one envelope, written and checked in one place.

Every saved model is ``{"model": NAME, "version": N, "as_of": DATE, "input_digest": KEY,
...its payload}``, where ``input_digest`` keys the inputs it was fitted on (see
:func:`personae.models.context.input_digest`; null when fitted outside the models step). A
subclass names itself (``MODEL``, ``FORMAT_VERSION``) and turns its fitted state into a
payload and back (:meth:`SavedModel._payload`, :meth:`SavedModel._from_payload`); reading
refuses another model's file or another format version before the payload is looked at.
Models are never pickled: the file is parameters, readable and diffable.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

from personae.errors import ModelFitError


def as_of_text(as_of: dt.date | str | None) -> str | None:
    """The as-of date as ISO text (a ``datetime`` keeps its time), checked when given as text."""
    if as_of is None:
        return None
    if isinstance(as_of, str):
        try:
            return (
                dt.datetime.fromisoformat(as_of).isoformat()
                if "T" in as_of
                else dt.date.fromisoformat(as_of).isoformat()
            )
        except ValueError:
            raise ModelFitError(f"as_of {as_of!r} is not an ISO date such as '1997-09-30'") from None
    return as_of.isoformat()


def write_model_file(path: str | Path, data: Mapping[str, Any]) -> None:
    """Write a model's JSON (NaN and infinities refused: they are not JSON)."""
    Path(path).write_text(json.dumps(data, indent=1, allow_nan=False) + "\n", encoding="utf-8")


def read_model_file(path: str | Path, model: str) -> Mapping[str, Any]:
    """The JSON object a model was saved as; a clear error when the file is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ModelFitError(
            f"{path}: not a saved {model} model (invalid JSON: {error}); delete it and run `personae run` again"
        ) from None
    if not isinstance(data, Mapping):
        raise ModelFitError(
            f"{path}: not a saved {model} model (expected a JSON object); delete it and run `personae run` again"
        )
    return data


class SavedModel:
    """Persistence as a JSON file: the envelope here, the payload in the subclass."""

    MODEL: ClassVar[str]
    FORMAT_VERSION: ClassVar[int] = 1
    as_of_: str | None = None
    input_digest_: str | None = None

    def _payload(self) -> dict[str, Any]:
        """The fitted state as JSON-ready data (everything but the envelope)."""
        raise NotImplementedError

    @classmethod
    def _from_payload(cls, data: Mapping[str, Any]) -> Self:
        """A fitted model from a checked envelope's data; raises ModelFitError when malformed."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """The fitted model as plain JSON-ready data."""
        return {
            "model": self.MODEL,
            "version": self.FORMAT_VERSION,
            "as_of": self.as_of_,
            "input_digest": self.input_digest_,
            **self._payload(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """A fitted model from :meth:`to_dict` output; refuses other models and versions."""
        if data.get("model") != cls.MODEL:
            raise ModelFitError(f"not a saved {cls.MODEL} model: 'model' is {data.get('model')!r}")
        if data.get("version") != cls.FORMAT_VERSION:
            raise ModelFitError(
                f"saved {cls.MODEL} model has format version {data.get('version')!r}; "
                f"this personae reads version {cls.FORMAT_VERSION}; refit and save again"
            )
        model = cls._from_payload(data)
        if "as_of" in data:
            model.as_of_ = as_of_text(data["as_of"])
        digest = data.get("input_digest")
        model.input_digest_ = digest if isinstance(digest, str) else None
        return model

    def save(self, path: str | Path) -> None:
        """Write the fitted model to ``path`` as JSON."""
        write_model_file(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a model written by :meth:`save`."""
        return cls.from_dict(read_model_file(path, cls.MODEL))
