"""The workspace spec, loaded from ``personae.toml`` and validated with pydantic.

Specs are frozen data: they carry no engine and serialise to JSON. Every key is documented
in ``docs/config.md`` (a test fails when one is not). An unknown or misspelt key fails
with the key, the file and the nearest valid name.
"""

from __future__ import annotations

import tomllib
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from personae.errors import ConfigError
from personae.profiles.specs import ProfileSettings, TraitSpec
from personae.segments.specs import (
    DEFAULT_SEGMENTATIONS,
    LifecycleSettings,
    ModelSettings,
    RfmSettings,
    SegmentationSpec,
    SegmentSpec,
    SubscriptionSettings,
    TriggerSettings,
    check_segments,
)
from personae.sources.kinds import SourceKind, column_names
from personae.spec import NAME_PATTERN, Spec
from personae.spec import did_you_mean as _did_you_mean

CONFIG_FILE = "personae.toml"
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


class WorkspaceSettings(Spec):
    name: str = "personae"
    currency: str = Field("USD", min_length=3, max_length=3)
    engine: Literal["duckdb", "spark"] = "duckdb"
    phone_region: str = Field("US", min_length=2, max_length=2)


class DuckDBSettings(Spec):
    path: str = "personae.duckdb"
    memory_limit: str | None = None
    threads: int | None = Field(None, ge=1)


class SparkSettings(Spec):
    master: str = "local[2]"
    warehouse: str = "spark-warehouse"
    shuffle_partitions: int = Field(4, ge=1)
    conf: dict[str, str] = Field(default_factory=dict)


class EngineSettings(Spec):
    duckdb: DuckDBSettings = DuckDBSettings()
    spark: SparkSettings = SparkSettings()


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
                    f"{_did_you_mean(target, allowed)}; columns are {', '.join(allowed)}"
                )
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


DEFAULT_PRIORITY = ("user_id", "crm_id", "email", "loyalty_id", "phone", "anonymous_id")
DEFAULT_BLOCKED_PATTERNS = (
    "^(null|none|nil|n/?a|unknown|undefined|test|-|0+)$",
    "^test@",
    "^(noreply|no-reply|donotreply)@",
    "@example[.](com|org|net)$",
)
"""RE2 patterns (case-insensitive) for junk identifier values; phones made of one digit
repeated are already dropped by normalisation."""


class FuzzySettings(Spec):
    enabled: bool = True
    threshold: float = Field(0.95, gt=0, lt=1)
    columns: tuple[str, ...] = (
        "first_name",
        "last_name",
        "birth_date",
        "street",
        "city",
        "postcode",
        "phone",
    )


class IdentitySettings(Spec):
    priority: tuple[str, ...] = DEFAULT_PRIORITY
    limits: dict[str, int] = Field(default_factory=lambda: {"user_id": 1, "crm_id": 3, "loyalty_id": 2})
    blocked: tuple[str, ...] = ()
    blocked_patterns: tuple[str, ...] = DEFAULT_BLOCKED_PATTERNS
    shared_max: int = Field(5, ge=1)
    incremental: bool = True
    fuzzy: FuzzySettings = FuzzySettings()
    survivorship: dict[str, str] = Field(default_factory=dict)
    source_priority: tuple[str, ...] = ()

    @field_validator("limits")
    @classmethod
    def _positive_limits(cls, value: dict[str, int]) -> dict[str, int]:
        for id_type, limit in value.items():
            if limit < 1:
                raise ValueError(f"limits.{id_type} = {limit}: a limit is at least 1")
        return value

    @field_validator("survivorship")
    @classmethod
    def _known_rules(cls, value: dict[str, str]) -> dict[str, str]:
        for attribute, rule in value.items():
            if rule not in SURVIVORSHIP_RULES:
                raise ValueError(
                    f"survivorship.{attribute} = {rule!r}{_did_you_mean(rule, SURVIVORSHIP_RULES)}; "
                    f"rules are {', '.join(SURVIVORSHIP_RULES)}"
                )
        return value

    def rank(self, id_type: str) -> int:
        """Priority rank of an identifier type (0 = most trusted; unlisted types come last)."""
        return self.priority.index(id_type) if id_type in self.priority else len(self.priority)


SURVIVORSHIP_RULES = ("most_recent", "source_priority", "most_frequent", "longest", "first_non_null")


class WorkspaceConfig(Spec):
    """The whole ``personae.toml``."""

    workspace: WorkspaceSettings = WorkspaceSettings()
    engine: EngineSettings = EngineSettings()
    sources: tuple[SourceSpec, ...] = ()
    identity: IdentitySettings = IdentitySettings()
    profile: ProfileSettings = ProfileSettings()
    traits: tuple[TraitSpec, ...] = ()
    segmentations: tuple[SegmentationSpec, ...] = DEFAULT_SEGMENTATIONS
    segments: tuple[SegmentSpec, ...] = ()
    rfm: RfmSettings = RfmSettings()
    lifecycle: LifecycleSettings = LifecycleSettings()
    models: ModelSettings = ModelSettings()
    triggers: TriggerSettings = TriggerSettings()
    subscription: SubscriptionSettings = SubscriptionSettings()

    @model_validator(mode="after")
    def _unique_sources(self) -> WorkspaceConfig:
        seen: set[str] = set()
        for source in self.sources:
            if source.name in seen:
                raise ValueError(f"two sources are named {source.name!r}; names must be unique")
            seen.add(source.name)
        orders = [source.name for source in self.sources if source.kind == SourceKind.ORDERS]
        for source in self.sources:
            if source.orders is None:
                continue
            if source.kind != SourceKind.ORDER_ITEMS:
                raise ValueError(f"source {source.name!r}: only order_items sources take 'orders'")
            if source.orders not in orders:
                raise ValueError(
                    f"source {source.name!r}: orders = {source.orders!r} is not an orders source"
                    f"{_did_you_mean(source.orders, orders)}; orders sources are {', '.join(orders) or 'none'}"
                )
        traits = [trait.name for trait in self.traits]
        repeated = sorted({name for name in traits if traits.count(name) > 1})
        if repeated:
            raise ValueError(f"two traits are named {repeated[0]!r}; names must be unique")
        check_segments(self.segmentations, self.segments)
        return self

    def source(self, name: str) -> SourceSpec:
        for source in self.sources:
            if source.name == name:
                return source
        names = [source.name for source in self.sources]
        raise ConfigError(f"no source named {name!r}{_did_you_mean(name, names)}")

    def to_toml_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_defaults=True)


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The spec class that owns the key at ``loc`` (for the nearest-name hint)."""
    model: type[BaseModel] = WorkspaceConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        annotation = field.annotation
        inner = getattr(annotation, "__args__", (annotation,))
        nested = [arg for arg in inner if isinstance(arg, type) and issubclass(arg, BaseModel)]
        if not nested:
            return None
        model = nested[0]
    return model


def _describe(error: Any, path: Path) -> str:
    loc = tuple(error["loc"])
    key = ".".join(str(part) for part in loc)
    if error["type"] == "extra_forbidden":
        owner = _model_at(loc)
        hint = _did_you_mean(str(loc[-1]), owner.model_fields) if owner else ""
        return f"{path}: unknown key {key!r}{hint}"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{path}: {key}: {message}" if key else f"{path}: {message}"


def parse_config(data: dict[str, Any], path: Path) -> WorkspaceConfig:
    try:
        return WorkspaceConfig.model_validate(data)
    except ValidationError as error:
        lines = [_describe(item, path) for item in error.errors()]
        raise ConfigError("\n".join(lines)) from None


def load_config(path: Path) -> WorkspaceConfig:
    """Load and validate ``personae.toml``; every problem is reported with the file."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such file; create one with `personae init DIR`")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    return parse_config(data, path)
