"""A stand-in workspace whose every text is hostile to a terminal, for testing the CLI's faces.

The CLI parses arguments, calls one :class:`~personae.Workspace` method and renders the typed
result; :class:`NastyWorkspace` returns such results with :data:`NASTY` in every text field
(names, values, titles, messages), so a test can run each command and check that what the
terminal receives shows the data as it is: Rich markup and emoji codes as plain text,
control characters as visible escapes. ``install`` puts it behind ``open_workspace``.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from personae.access import AccessKey
from personae.activation.actions import ActionCount, ActionPreview
from personae.activation.delivery import SyncResult
from personae.activation.experiments import ArmReport, ExperimentReport
from personae.activation.state import DestinationStatus, SyncState
from personae.activation.uplift import TOO_SMALL, Uplift
from personae.engine.store_schema import MigrationReport
from personae.identity.splink_model import MatchWeight
from personae.identity.views import IdentityReport, Lineage, PersonView
from personae.models.reports import ModelSummary
from personae.rights.erasure import ErasureReceipt
from personae.segments.definitions import SegmentDefinition
from personae.segments.lifecycle import LifecycleThresholds, Threshold
from personae.segments.persona_text import MixShare, TraitIndex
from personae.segments.personas import PersonaCard, PersonaExample, Personas
from personae.segments.reports import (
    MicroCell,
    Microsegments,
    Questions,
    SegmentPreview,
    SegmentSummary,
    TransitionCell,
    Transitions,
)
from personae.sources.ingest import FileReport, SourceReport
from personae.status import RunSummary, SourceStatus, WorkspaceStatus
from personae.steps.context import StepResult
from personae.workspace import RunReport

NASTY = "[bold]x[/bold] [pos, web] [/oops] [link=http://x]y[/link] a:x:b :smile: \x1b[31mred\r\x00\tend"
"""Markup (balanced, a list, a stray closing tag, a link), emoji codes and control characters."""

SHOWN = ("[bold]x[/bold]", "[pos, web]", "[/oops]", "[link=http://x]y[/link]", "a:x:b", ":smile:")
"""Pieces of NASTY that must reach the terminal as they are."""

ESCAPED = (r"\x1b[31mred", r"\r", r"\x00", r"\t")
"""How its control characters must be shown: visibly, never sent to the terminal."""

CONTROL = {chr(code) for code in (*range(0x20), *range(0x7F, 0xA0))} - {"\n"}
"""Characters a terminal would interpret; a newline only ever comes from layout."""

AT = datetime(2024, 3, 1, 12, 0, 0)
log = logging.getLogger("personae.tests.nasty")


def assert_shown(output: str) -> None:
    """Every piece of NASTY appears as it is (controls escaped), and no control character leaks."""
    missing = [piece for piece in (*SHOWN, *ESCAPED) if piece not in output]
    assert missing == [], f"not shown as they are: {missing}\n{output}"
    leaked = sorted({repr(char) for char in output if char in CONTROL})
    assert leaked == [], f"control characters reached the terminal: {leaked}"


def _threshold() -> Threshold:
    return Threshold(name=NASTY, value=30.0, unit=NASTY, learnt=True, basis=NASTY)


class NastyWorkspace:
    """Answers every verb the CLI calls with typed results full of NASTY."""

    def __init__(self, path: str | Path, *, env: Any = None, engine: str | None = None) -> None:
        self.root = Path(path)
        self.last_migration: MigrationReport | None = None

    def migrate(self) -> MigrationReport:
        self.last_migration = MigrationReport(0, 1, [f"added column {NASTY}.{NASTY}"])
        return self.last_migration

    def run(self, **_: Any) -> RunReport:
        files = [
            FileReport(NASTY, NASTY, "loaded", rows_read=2, rows_loaded=2),
            FileReport(NASTY, NASTY, "failed", message=NASTY),
        ]
        step = StepResult(
            "ingest", 2, 2, 0.1, details={"sources": [SourceReport(NASTY, NASTY, files)]}, warnings=[NASTY]
        )
        return RunReport(1, date(2024, 3, 1), NASTY, [step, StepResult("segment", 1, 1, errors=[NASTY])], 0.2)

    def sql(self, query: str, *, engine: str | None = None) -> Any:
        import pyarrow as pa

        return pa.table({NASTY: [NASTY, None]})

    def status(self) -> WorkspaceStatus:
        log.warning(NASTY)
        return WorkspaceStatus(
            sources=[SourceStatus(NASTY, NASTY, 1, 2, 0, AT)],
            tables={NASTY: 3},
            last_run=RunSummary(1, AT, date(2024, 3, 1), NASTY, NASTY),
        )

    def profile(self, identifier: str) -> PersonView:
        return PersonView(
            uid=NASTY,
            golden={NASTY: Lineage(NASTY, NASTY, AT), "plain": NASTY},
            identifiers=[{"id_type": NASTY, "id_value": NASTY, "first_seen": AT}],
            records={NASTY: 1},
            events=[{"ts": AT, "name": NASTY}],
            next_actions=[{"channel": NASTY, "action": NASTY, "held_out": False}],
        )

    def identity_report(self) -> IdentityReport:
        rows = [{NASTY: NASTY, "n": 1}]
        return IdentityReport(1, {NASTY: 1}, {NASTY: 1}, 0, rows, rows, rows, rows)

    def explain_match(self, first: str, second: str) -> list[MatchWeight]:
        return [MatchWeight(NASTY, NASTY, 1.5, NASTY, NASTY)]

    def add_segment(self, name: str, rule: str, *, description: str = "") -> SegmentDefinition | None:
        return SegmentDefinition(name, 1, rule, description, "cli", AT)

    def preview_segment(self, rule: str, *, sample: int = 5) -> SegmentPreview:
        return SegmentPreview(NASTY, 1, 2, 1, 0.5, 0.5, [{"uid": NASTY, NASTY: NASTY}])

    def remove_segment(self, name: str) -> SegmentDefinition:
        return SegmentDefinition(NASTY, 2, NASTY, NASTY, "cli", AT)

    def create_key(self, scope: str, *, name: str = "", source: str | None = None) -> tuple[AccessKey, str]:
        return _key(), NASTY

    @property
    def key_ring(self) -> NastyKeys:
        return NastyKeys()

    def segments(self) -> list[SegmentSummary]:
        return [SegmentSummary(NASTY, NASTY, 1, NASTY, 1)]

    def segment_sql(self, name: str, *, dialect: str = "duckdb") -> str:
        return f"SELECT uid FROM profiles WHERE name = '{NASTY}'"

    def questions(self) -> Questions:
        learnt = LifecycleThresholds(
            as_of=date(2024, 3, 1),
            mean_gap_days=30.0,
            orders_per_buyer=1.5,
            buyers=10,
            dormant_days=_threshold(),
            at_risk_days=_threshold(),
            loyal_orders=_threshold(),
            vip_value=_threshold(),
            repeat_curve=[(1, 10, 0.5)],
            gap_survival=[(30, 0.5)],
        )
        subscription = {
            "trials": 2,
            "converted": 1,
            "conversion_rate": 0.5,
            "trial_to_paid_median_days": 3.0,
            "at_risk_rule": NASTY,
        }
        triggers = {
            "min_orders": 2,
            "eligible": 5,
            NASTY: {"trait": NASTY, "threshold": 1.0, "members": 2, "median_among_eligible": 0.5},
        }
        return Questions(lifecycle=learnt, reports={"subscription": subscription, "triggers": triggers})

    def models(self) -> list[ModelSummary]:
        return [
            ModelSummary(NASTY, "2024-03-01", 10, NASTY, NASTY, NASTY),
            ModelSummary("lifestyle", None, None, NASTY, NASTY, NASTY, stability=[{"k": 2, NASTY: NASTY}]),
        ]

    def transitions(self, segmentation: str, start: date, end: date) -> Transitions:
        return Transitions(NASTY, start, end, [TransitionCell(NASTY, NASTY, 1, 1.0)])

    def microsegments(self, segmentations: list[str], *, min_size: int = 50) -> Microsegments:
        cells = [MicroCell([NASTY] * len(segmentations), 1, 1.0, 1, 1.0, 1.0)]
        return Microsegments(segmentations, min_size, 1, cells)

    def preview_actions(self, *, sample: int = 10) -> ActionPreview:
        return ActionPreview(date(2024, 3, 1), 1, 2, [ActionCount(NASTY, NASTY, 1, 1)], [{"uid": NASTY, NASTY: NASTY}])

    def experiment_report(self, name: str, *, outcome: str = "conversion", window: int = 30) -> ExperimentReport:
        arm = ArmReport(40, 10, 100.0, 0.25)
        uplift = Uplift(0.1, -0.05, 0.25, 0.2, TOO_SMALL, [NASTY])
        return ExperimentReport(NASTY, NASTY, 0.1, outcome, window, date(2024, 3, 1), arm, arm, 1, uplift)

    def sync(self, destination: str | None = None, **_: Any) -> list[SyncResult]:
        return [SyncResult(NASTY, NASTY, sent=1, status="ok", error=NASTY, cursor=1)]

    def destinations(self) -> list[DestinationStatus]:
        state = SyncState(NASTY, NASTY, 1, AT, NASTY, NASTY, 1, 0, 0)
        return [DestinationStatus(state, NASTY, 1, AT)]

    def erase(self, identifiers: list[str], **_: Any) -> list[ErasureReceipt]:
        receipt = ErasureReceipt(NASTY, [NASTY], 1, 1, NASTY, NASTY, NASTY, {NASTY: 1}, {NASTY: 1}, {}, {NASTY: NASTY})
        return [receipt]

    def export_subject(self, identifier: str) -> dict[str, Any]:
        return {"requested": identifier, "identity": {NASTY: [{NASTY: NASTY}]}}

    def audit(self, **_: Any) -> list[dict[str, Any]]:
        return [{"at": AT, "actor": NASTY, "scope": NASTY, "action": NASTY, "target": NASTY, "detail": {NASTY: NASTY}}]

    def personas(self, segmentation: str) -> Personas:
        share = MixShare(NASTY, 0.5, 120.0)
        example = PersonaExample(NASTY, NASTY, NASTY, NASTY, NASTY, NASTY, {NASTY: NASTY})
        card = PersonaCard(
            NASTY, NASTY, NASTY, 1, 0.5, 1.0, 0.5, [TraitIndex(NASTY, 1.0, 2.0, 50.0)], [share], [share], example
        )
        return Personas(NASTY, 2, 1, 2.0, False, [NASTY], NASTY, [card])


def _key() -> AccessKey:
    return AccessKey(NASTY, NASTY, "write", NASTY, NASTY, NASTY, NASTY)


class NastyKeys:
    def entries(self) -> list[AccessKey]:
        return [_key()]

    def revoke(self, key_id: str) -> AccessKey:
        return _key()


def install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command's ``open_workspace`` builds a NastyWorkspace instead of a Workspace."""
    monkeypatch.setattr("personae.cli.workspace_option.Workspace", NastyWorkspace)


def arguments(path: str) -> list[str]:
    """Arguments that make each command (by its path, e.g. ``segment add``) call the workspace;
    a new command needs its line here."""
    return {
        "init": [],
        "run": [],
        "sql": ["select 1"],
        "status": [],
        "profile": ["email:x"],
        "identity report": [],
        "identity explain": [f"a:{NASTY}", "b:2"],
        "segment add": [NASTY, "orders > 1"],
        "segment remove": [NASTY],
        "keys create": ["--scope", "write", "--source", "web", "--name", NASTY],
        "keys list": [],
        "keys revoke": [NASTY],
        "segment preview": ["orders > 1"],
        "segment list": [],
        "segment show": ["x"],
        "questions": [],
        "models": [],
        "transitions": ["lifecycle", "--from", "2024-01-01", "--to", "2024-03-01"],
        "microsegments": [NASTY, "rfm"],
        "personas": [NASTY],
        "actions preview": [],
        "experiments report": [NASTY],
        "sync": [],
        "destinations": [],
        "privacy erase": [f"email:{NASTY}"],
        "privacy export": [f"email:{NASTY}"],
        "audit": [],
        "report": [],
        "migrate": [],
    }[path]
