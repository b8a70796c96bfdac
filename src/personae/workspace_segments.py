"""The workspace's segment verbs: add, remove and preview rule segments, read members, the
change feed, transitions, microsegments, personas, questions and models. A part of
:class:`personae.Workspace` (which inherits them), kept apart so the core object's module
stays readable."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from personae.config import WorkspaceConfig
from personae.engine.base import Engine
from personae.errors import WorkspaceError
from personae.spec import did_you_mean
from personae.steps.context import MODELS_FOLDER

if TYPE_CHECKING:
    from personae.models.reports import ModelSummary
    from personae.segments.definitions import SegmentDefinition
    from personae.segments.memberships import MembershipChange
    from personae.segments.personas import Personas
    from personae.segments.reports import (
        Microsegments,
        Questions,
        SegmentPreview,
        SegmentSummary,
        Transitions,
    )


class _Workspace(Protocol):
    """What the verbs use of the workspace."""

    root: Path
    config: WorkspaceConfig

    def engine(self, *, write: bool, name: str | None = None) -> AbstractContextManager[Engine]: ...


class SegmentVerbs:
    def add_segment(self: _Workspace, name: str, rule: str, *, description: str = "") -> SegmentDefinition | None:
        """Store a new version of a rule segment (None when unchanged); it is assigned on the next run.

        The name, the rule's columns and the segments its ``in_segment`` names are checked now."""
        from personae.segments.definitions import add_definition, check_name, stored_segments
        from personae.segments.people import profile_columns

        check_name(name)
        if any(spec.name == name for spec in self.config.segments):
            raise WorkspaceError(f"segment {name!r} is defined in {self.root / 'personae.toml'}; change its rule there")
        with self.engine(write=True) as store:
            columns = profile_columns(store) or self.config.rule_columns()
            known = stored_segments(store, self.config.segment_config(), [name])
            return add_definition(store, name, rule, description=description, columns=columns, known=known)

    def remove_segment(self: _Workspace, name: str) -> SegmentDefinition:
        """Take a rule segment added with ``add_segment`` out of force; its members leave it on the next run."""
        from personae.segments.definitions import remove_definition

        if any(spec.name == name for spec in self.config.segments):
            raise WorkspaceError(f"segment {name!r} is defined in {self.root / 'personae.toml'}; remove it there")
        with self.engine(write=True) as store:
            return remove_definition(store, name)

    def preview_segment(self: _Workspace, rule: str, *, sample: int = 5) -> SegmentPreview:
        """Size, share of customers and of revenue, and a sample of the people a rule selects."""
        from personae.profiles.build import traits_as_of
        from personae.rules import parse_rule
        from personae.segments.definitions import stored_segments
        from personae.segments.people import profile_columns
        from personae.segments.references import check_references
        from personae.segments.reports import preview

        with self.engine(write=False) as store:
            checked = parse_rule(rule, profile_columns(store))
            check_references(checked, stored_segments(store, self.config.segment_config()))
            return preview(store, checked, traits_as_of(store), sample)

    def changes(
        self: _Workspace, after: int = 0, *, segmentation: str | None = None, limit: int = 1000
    ) -> list[MembershipChange]:
        """The membership change feed after sequence ``after`` (entries and exits, in order)."""
        from personae.segments.memberships import changes_after

        with self.engine(write=False) as store:
            return changes_after(store, after, segmentation=segmentation, limit=limit)

    def members(self: _Workspace, segmentation: str, segment: str, *, after: str = "", limit: int = 1000) -> list[str]:
        """The UIDs in a segment now, in order, after the UID ``after`` (for paging)."""
        from personae.engine.sql import literal

        with self.engine(write=False) as store:
            if not store.has_table("memberships"):
                return []
            rows = store.fetch_rows(
                "SELECT DISTINCT uid FROM memberships WHERE exited_at IS NULL "
                f"AND segmentation = {literal(segmentation)} AND segment = {literal(segment)} "
                f"AND uid > {literal(after)} ORDER BY uid LIMIT {int(limit)}"
            )
        return [str(row[0]) for row in rows]

    def segments(self: _Workspace) -> list[SegmentSummary]:
        from personae.segments.reports import segment_list

        with self.engine(write=False) as store:
            return segment_list(store)

    def segment_sql(self: _Workspace, name: str, *, dialect: str = "duckdb") -> str:
        """The SQL that selects a rule segment's members, in an engine's dialect."""
        from personae.engine.dialects import transpile
        from personae.models.specs import PREDICTION_COLUMNS
        from personae.profiles.build import traits_as_of
        from personae.rules import parse_rule
        from personae.segments.definitions import definitions
        from personae.segments.people import people_sql, profile_columns
        from personae.segments.reports import CURRENT

        with self.engine(write=False) as store:
            found = {d.name: d for d in definitions(store)}
            if name not in found:
                raise WorkspaceError(f"no segment named {name!r}{did_you_mean(name, found)}")
            rule = parse_rule(found[name].rule, profile_columns(store), name=name)
            as_of = traits_as_of(store)
            scored = bool(rule.columns & set(PREDICTION_COLUMNS))  # the scores are joined only when read
            people = f"({people_sql(store)}) AS profiles" if scored else "profiles"
        condition = rule.sql(as_of=as_of, memberships=CURRENT)
        sql = f"SELECT uid FROM {people} WHERE coalesce(({condition}), false)"
        return transpile(sql, dialect) if dialect != "duckdb" else sql

    def questions(self: _Workspace) -> Questions:
        from personae.segments.reports import questions

        return questions(self.root / MODELS_FOLDER)

    def models(self: _Workspace) -> list[ModelSummary]:
        """The saved models with their as-of date, parameters in brief and validation numbers."""
        from personae.models.reports import model_reports

        return model_reports(self.root / MODELS_FOLDER)

    def transitions(self: _Workspace, segmentation: str, start: date, end: date) -> Transitions:
        from personae.segments.reports import transitions

        with self.engine(write=False) as store:
            return transitions(store, segmentation, start, end)

    def microsegments(self: _Workspace, segmentations: list[str], *, min_size: int = 50) -> Microsegments:
        from personae.segments.reports import microsegments

        with self.engine(write=False) as store:
            return microsegments(store, segmentations, min_size)

    def personas(self: _Workspace, segmentation: str) -> Personas:
        """Persona cards of a segmentation's segments: size, shares, traits against the base, a name, an example."""
        from personae.segments.personas import persona_cards

        with self.engine(write=False) as store:
            return persona_cards(store, segmentation)
