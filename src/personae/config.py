"""The workspace spec, loaded from ``personae.toml`` and validated with pydantic.

Specs are frozen data: they carry no engine and serialise to JSON. Every key is documented
in ``docs/config.md`` (a test fails when one is not). An unknown or misspelt key fails
with the key, the file and the nearest valid name.
"""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SerializeAsAny, ValidationError, field_validator, model_validator

from personae.activation.action_specs import ActionSpec, check_actions
from personae.activation.kinds import parse_destination
from personae.activation.specs import DestinationSpec
from personae.engine.specs import EngineName, EngineSettings
from personae.engine.tables import IDENTIFIER_TYPES
from personae.errors import ConfigError
from personae.golden.survivorship import golden_columns
from personae.identity.mapped_comparisons import check_compared_columns
from personae.identity.specs import IdentitySettings
from personae.models.specs import PREDICTION_COLUMNS, ModelSettings
from personae.privacy.consent import ConsentColumn, customer_column_expression
from personae.privacy.purposes import PrivacySettings
from personae.profiles.build import AS_OF_COLUMN, trait_columns
from personae.profiles.specs import ProfileSettings, TraitsConfig, TraitSpec
from personae.realtime.specs import ServerSettings
from personae.rules import parse_rule
from personae.segments.conflicts import check_theirs
from personae.segments.kinds import segmentation_kind
from personae.segments.references import check_references, known_segments
from personae.segments.specs import (
    DEFAULT_SEGMENTATIONS,
    LifecycleSettings,
    RfmSettings,
    SegmentationSpec,
    SegmentConfig,
    SegmentSpec,
    SubscriptionSettings,
    TriggerSettings,
    check_segments,
)
from personae.sources.kinds import SourceKind, column_names
from personae.sources.specs import IngestSettings, SourceSpec
from personae.spec import Spec
from personae.spec import did_you_mean as _did_you_mean

CONFIG_FILE = "personae.toml"


class WorkspaceSettings(Spec):
    name: str = "personae"
    currency: str = Field("USD", min_length=3, max_length=3)
    engine: EngineName = "duckdb"
    phone_region: str = Field("US", min_length=2, max_length=2)
    as_of: date | None = None
    """The day runs compute as of when no ``--as-of`` is given (default: today, UTC)."""


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
    server: ServerSettings = ServerSettings()
    actions: tuple[ActionSpec, ...] = ()
    destinations: tuple[SerializeAsAny[DestinationSpec], ...] = ()
    privacy: PrivacySettings = PrivacySettings()

    @field_validator("destinations", mode="before")
    @classmethod
    def _destination_kinds(cls, value: Any) -> Any:
        """Each ``[[destinations]]`` table is read by the spec class its ``kind`` names."""
        if not isinstance(value, list | tuple):
            return value
        return tuple(parse_destination(item, index) for index, item in enumerate(value))

    @model_validator(mode="after")
    def _destinations(self) -> WorkspaceConfig:
        """Every destination names segmentations, segments and columns that exist, and sends something."""
        names = [spec.name for spec in self.destinations]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"two destinations are named {repeated[0]!r}; names must be unique")
        known = known_segments(self.segment_config())
        columns = self.rule_columns()
        for spec in self.destinations:
            label = f"destination {spec.name!r}"
            if not spec.receives_anything():
                raise ValueError(
                    f"{label}: sends nothing; name its 'segmentations', 'segments', 'traits' or set 'actions = true'"
                )
            for segmentation, segment in spec.selected_segments():
                if segmentation not in known:
                    raise ValueError(
                        f"{label}: no segmentation named {segmentation!r}{_did_you_mean(segmentation, known)}; "
                        f"segmentations are {', '.join(known)}"
                    )
                segments = known[segmentation]
                if segment is not None and segments is not None and segment not in segments:
                    raise ValueError(
                        f"{label}: segmentation {segmentation!r} has no segment {segment!r}"
                        f"{_did_you_mean(segment, segments)}; its segments are {', '.join(sorted(segments))}"
                    )
            if spec.actions and not self.actions:
                raise ValueError(f"{label}: actions = true, but personae.toml declares no [[actions]]")
            for trait in spec.traits:
                if trait not in columns:
                    raise ValueError(
                        f"{label}: no trait, golden-record attribute or score named {trait!r}"
                        f"{_did_you_mean(trait, columns)}"
                    )
        return self

    @model_validator(mode="after")
    def _purposes(self) -> WorkspaceConfig:
        """Every purpose a destination or a consent column names is declared under [privacy]."""
        for spec in self.destinations:
            if spec.purpose is not None:
                self.privacy.purpose(spec.purpose, f"destination {spec.name!r}")
        for source in self.sources:
            for purpose in source.consent:
                self.privacy.purpose(purpose, f"source {source.name!r}: consent")
        return self

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
        for spec in self.segmentations:
            try:
                segmentation_kind(spec.kind)
            except ConfigError as error:
                raise ValueError(f"segmentation {spec.name!r}: {error}") from None
        return self

    @model_validator(mode="after")
    def _imports(self) -> WorkspaceConfig:
        """An imported segmentation reads a memberships source of its own; its theirs are rule segments."""
        readers: dict[str, str] = {}
        for spec in self.segmentations:
            if spec.source is None:
                continue
            kinds = {source.name: source.kind for source in self.sources}
            memberships = sorted(name for name, kind in kinds.items() if kind == SourceKind.MEMBERSHIPS)
            where = f"segmentation {spec.name!r}: source = {spec.source!r}"
            if spec.source not in kinds:
                raise ValueError(
                    f"{where} is no source{_did_you_mean(spec.source, kinds)}; memberships sources are "
                    + (", ".join(memberships) or "none: declare one with kind = 'memberships'")
                )
            if kinds[spec.source] != SourceKind.MEMBERSHIPS:
                raise ValueError(
                    f"{where} is of kind {kinds[spec.source].value!r}; an imported segmentation reads a "
                    "memberships source (kind = 'memberships'): " + (", ".join(memberships) or "none yet")
                )
            if spec.source in readers:
                raise ValueError(
                    f"{where}: segmentation {readers[spec.source]!r} reads it too; a memberships source "
                    "feeds one imported segmentation (declare a source per list)"
                )
            readers[spec.source] = spec.name
            check_theirs(spec, self.segmentations)
        return self

    @model_validator(mode="after")
    def _identifier_types(self) -> WorkspaceConfig:
        """Every identifier type named anywhere is built in or declared in ``identity.custom_types``."""
        known = self.identity.known_types()
        named = [(f"source {s.name!r}: identifiers", t) for s in self.sources for t in s.identifiers]
        named += [("identity.priority", t) for t in self.identity.priority]
        named += [("identity.limits", t) for t in self.identity.limits]
        for where, id_type in named:
            if id_type not in known:
                raise ValueError(
                    f"{where}: unknown identifier type {id_type!r}{_did_you_mean(id_type, known)}; types are "
                    f"{', '.join(known)}; a type of your own is declared with [identity] custom_types = [{id_type!r}]"
                )
        return self

    @model_validator(mode="after")
    def _compared_columns(self) -> WorkspaceConfig:
        """A column identity.fuzzy compares is one a customers source can fill (issue 17)."""
        check_compared_columns(self.identity.fuzzy, self.sources)
        return self

    @model_validator(mode="after")
    def _rules(self) -> WorkspaceConfig:
        """Every rule of personae.toml is checked now, not after a whole run: its columns, and the
        segmentations and segments its ``in_segment`` names."""
        columns = self.rule_columns()
        known = known_segments(self.segment_config())
        rules = [(spec.name, spec.rule) for spec in self.segments]
        rules += [
            (f"{s.name}.{seg}", text)
            for s in self.segmentations
            if s.kind == "rules"
            for seg, text in s.segments.items()
        ]
        for name, text in rules:
            check_references(parse_rule(text, columns, name=name), known)
        for rule in check_actions(self.actions, columns):
            check_references(rule, known)
        return self

    def rule_columns(self) -> dict[str, str]:
        """Name -> type of every column a rule may read: the golden record, the traits, the models' scores."""
        columns = golden_columns(self.identity.survivorship)
        traits = {AS_OF_COLUMN: "DATE", **trait_columns(self.traits_config())}
        for name in traits:
            if name in columns or name in PREDICTION_COLUMNS:
                raise ValueError(
                    f"traits.{name}: a golden-record attribute or a model score has that name; pick another"
                )
        return {**columns, **traits, **self.privacy.traits(), **PREDICTION_COLUMNS}

    def source(self, name: str) -> SourceSpec:
        for source in self.sources:
            if source.name == name:
                return source
        names = [source.name for source in self.sources]
        raise ConfigError(f"no source named {name!r}{_did_you_mean(name, names)}")

    # -- each wing's own settings, assembled from the file ----------------------------------
    def ingest_settings(self) -> IngestSettings:
        return IngestSettings(self.workspace.currency, self.workspace.phone_region)

    def consent_columns(self) -> list[ConsentColumn]:
        """The customers sources' consent columns, each read where ingest keeps it."""
        found = []
        for source in self.sources:
            canonical = {value: name for name, value in source.columns.items()}
            for purpose, column in source.consent.items():
                mapped = canonical.get(column)
                if mapped is None and column in column_names(source.kind) and column not in source.columns:
                    mapped = column
                found.append(ConsentColumn(source.name, purpose, customer_column_expression(column, mapped)))
        return found

    def extra_identifier_types(self) -> list[str]:
        """Identifier types the sources declare beyond the built-in ones."""
        return sorted({t for source in self.sources for t in source.identifiers if t not in IDENTIFIER_TYPES})

    def traits_config(self) -> TraitsConfig:
        lines = {s.name: s.orders for s in self.sources if s.kind == SourceKind.ORDER_ITEMS and s.orders}
        return TraitsConfig(profile=self.profile, traits=self.traits, line_orders=lines, purposes=self.privacy.purposes)

    def segment_config(self) -> SegmentConfig:
        return SegmentConfig(
            segmentations=self.segmentations,
            segments=self.segments,
            rfm=self.rfm,
            lifecycle=self.lifecycle,
            models=self.models,
            triggers=self.triggers,
            subscription=self.subscription,
        )

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
        raise ConfigError("; ".join(lines)) from None


def load_config(path: Path) -> WorkspaceConfig:
    """Load and validate ``personae.toml``; every problem is reported with the file."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such file; create one with `personae init DIR`")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    return parse_config(data, path)
