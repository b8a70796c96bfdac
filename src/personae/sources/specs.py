"""Source specs (``[[sources]]`` in ``personae.toml``) and the workspace defaults ingest needs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from pydantic import Field, field_validator, model_validator

from personae.sources.computed import check_mapping, is_computed
from personae.sources.kinds import SourceKind, column_names
from personae.spec import NAME_PATTERN, Spec, did_you_mean

JOURNAL_FOLDER = "journal"
"""Where ``personae serve`` keeps each live source's events, one folder per source."""
SourceFormat = Literal["csv", "parquet", "jsonl", "postgres"]
_SUFFIX_FORMATS: dict[str, SourceFormat] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


class CsvOptions(Spec):
    delimiter: str = Field(",", min_length=1, max_length=1)
    header: bool = True
    quote: str = Field('"', max_length=1)
    encoding: Literal["utf-8", "utf-16", "latin-1"] = "utf-8"


class SourceSpec(Spec):
    name: str = Field(pattern=NAME_PATTERN)
    kind: SourceKind
    format: SourceFormat | None = None
    path: str | None = None
    table: str | None = None
    query: str | None = None
    dsn: str | None = None
    dsn_env: str | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    identifiers: dict[str, str] = Field(default_factory=dict)
    formats: dict[str, str] = Field(default_factory=dict)
    csv: CsvOptions = CsvOptions()
    phone_region: str | None = Field(None, min_length=2, max_length=2)
    orders: str | None = None
    live: bool = False
    """Events sent to ``personae serve`` for this source (its write keys): the server keeps
    them in the journal ``journal/<name>/``, which is this source's path."""
    description: str = ""

    @field_validator("identifiers")
    @classmethod
    def _identifier_types_are_names(cls, value: dict[str, str]) -> dict[str, str]:
        for id_type in value:
            if not PurePosixPath(id_type).name.isidentifier() or id_type != id_type.lower():
                raise ValueError(f"identifier type {id_type!r} must be a lower-case name")
        return value

    @model_validator(mode="after")
    def _check(self) -> SourceSpec:
        if self.live:
            if self.kind != SourceKind.EVENTS:
                raise ValueError(f"source {self.name!r}: only events sources are live (sent to personae serve)")
            if self.path is not None or self.format not in (None, "jsonl"):
                raise ValueError(
                    f"source {self.name!r}: a live source's path is its journal; leave out path and format"
                )
            object.__setattr__(self, "path", f"{JOURNAL_FOLDER}/{self.name}/*.jsonl")
            object.__setattr__(self, "format", "jsonl")
        if self.format is None:
            object.__setattr__(self, "format", _infer_format(self))
        if self.format == "postgres":
            if not (self.table or self.query):
                raise ValueError(f"source {self.name!r}: a postgres source needs 'table' or 'query'")
            if not (self.dsn or self.dsn_env):
                raise ValueError(f"source {self.name!r}: a postgres source needs 'dsn' or 'dsn_env'")
        elif not self.path:
            raise ValueError(f"source {self.name!r}: a {self.format} source needs 'path'")
        allowed = column_names(self.kind)
        for target in [*self.columns, *self.formats]:
            if target not in allowed:
                raise ValueError(
                    f"source {self.name!r}: {self.kind.value} sources have no column {target!r}"
                    f"{did_you_mean(target, allowed)}; columns are {', '.join(allowed)}"
                )
        for target, value in self.columns.items():
            if is_computed(value):
                check_mapping(self.name, target, value)
        return self

    @property
    def resolved_format(self) -> SourceFormat:
        assert self.format is not None  # set by the validator
        return self.format


def _infer_format(spec: SourceSpec) -> SourceFormat:
    if spec.table or spec.query:
        return "postgres"
    suffix = PurePosixPath(spec.path or "").suffix.lower()
    if suffix in _SUFFIX_FORMATS:
        return _SUFFIX_FORMATS[suffix]
    raise ValueError(
        f"source {spec.name!r}: cannot tell the format of {spec.path!r} from its suffix; "
        f'set format = "csv", "parquet" or "jsonl"'
    )


@dataclass(frozen=True)
class IngestSettings:
    """Workspace-wide defaults ingest needs: the currency of amounts without one, the region of national phones."""

    currency: str = "USD"
    phone_region: str = "US"
