"""Each page's values, read from the open workspace: one function per page, returning the
template's context. The routes and the report both call these, so they show the same numbers."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from typing import Any

from personae.activation.live_actions import person_actions
from personae.dashboard.customer import find_people, story
from personae.dashboard.model_views import model_charts, question_charts
from personae.dashboard.overview import overview
from personae.dashboard.segment_views import rule_segments, segmentation_view
from personae.engine.sql import day_sql, literal
from personae.errors import PersonaeError, WorkspaceError
from personae.identity.views import person
from personae.segments.specs import RULE_SEGMENTS
from personae.steps.context import MODELS_FOLDER
from personae.workspace import Workspace

NOT_RUN = "Nothing has been run yet: load the data and build the profiles with `personae run`, then reload this page."
EXAMPLE_RULES = (
    "orders_365d >= 2 and days_since_last_order > 60",
    "revenue > 1000 and in_segment('lifecycle', 'at_risk')",
    "email_click_rate > 0.2",
)


def _ran(workspace: Workspace) -> bool:
    """Whether a run has built the profiles (a store not made yet is not an error here)."""
    try:
        with workspace.engine(write=False) as store:
            return store.has_table("profiles")
    except WorkspaceError:  # no store file yet: nothing has been run
        return False


def overview_page(workspace: Workspace, events_per_second: float | None, events: int | None) -> dict[str, Any]:
    try:
        with workspace.engine(write=False) as store:
            shown = overview(store, [source.name for source in workspace.config.sources])
    except WorkspaceError:  # no store file yet: nothing has been run
        return {"overview": None, "not_run": NOT_RUN, "events_per_second": events_per_second, "events": events}
    return {
        "overview": shown,
        "not_run": None if shown.ran else NOT_RUN,
        "events_per_second": events_per_second,
        "events": events,
    }


def segments_page(
    workspace: Workspace,
    segmentation: str | None,
    against: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> dict[str, Any]:
    if not _ran(workspace):
        return {"view": None, "not_run": NOT_RUN, "personas": None, "rules": []}
    with workspace.engine(write=False) as store:
        view = segmentation_view(store, segmentation, against, start, end)
        rules = rule_segments(store) if view.segmentation == RULE_SEGMENTS else []
    personas = stored_personas(workspace, view.segmentation)
    return {"view": view, "not_run": None, "personas": personas, "rules": rules}


def stored_personas(workspace: Workspace, segmentation: str, day: date | None = None) -> Any:
    """The persona cards a run kept (``persona_cards``): the latest day's, or computed now for a
    store without them; with ``day``, that past recorded day's, or None when no run kept them."""
    with workspace.engine(write=False) as store:
        if store.has_table("persona_cards"):
            when = f" AND as_of = {day_sql(day)}" if day is not None else ""
            rows = store.fetch_rows(
                f"SELECT cards FROM persona_cards WHERE segmentation = {literal(segmentation)}{when} "
                "ORDER BY as_of DESC LIMIT 1"
            )
            if rows:
                return json.loads(rows[0][0])
    return workspace.personas(segmentation) if day is None else None


def customer_page(workspace: Workspace, query: str) -> dict[str, Any]:
    context: dict[str, Any] = {"q": query, "matches": [], "person": None, "story": None, "not_run": None}
    if not query.strip():
        return context
    if not _ran(workspace):
        context["not_run"] = NOT_RUN
        return context
    with workspace.engine(write=False) as store:
        matches = find_people(store, query, workspace.config.workspace.phone_region)
    context["matches"] = matches
    uids = sorted({match.uid for match in matches})
    if len(uids) != 1:
        return context
    with workspace.engine(write=False) as store:  # what workspace.profile() shows, less its recent events:
        shown = person(store, f"uid:{uids[0]}", workspace.config.workspace.phone_region, recent_events=0)
        actions = person_actions(store, workspace.config.actions, shown.uid)
        context["story"] = story(store, uids[0])  # the timeline reads the person's events, once
    context["person"] = dataclasses.replace(shown, next_actions=[dataclasses.asdict(action) for action in actions])
    return context


def explain_fragment(workspace: Workspace, first: str, second: str) -> dict[str, Any]:
    """One fuzzy link's match weights (``identity explain``), loaded when asked: scoring the
    pair with the fuzzy model takes 1–2 s, too long for every Customer 360 page."""
    try:
        return {"weights": workspace.explain_match(first, second), "error": None}
    except PersonaeError as error:
        return {"weights": [], "error": str(error)}


def rules_page(workspace: Workspace) -> dict[str, Any]:
    if not _ran(workspace):
        return {"not_run": NOT_RUN, "columns": [], "examples": EXAMPLE_RULES, "saved": []}
    from personae.segments.people import profile_columns

    with workspace.engine(write=False) as store:
        columns = sorted(profile_columns(store))
        saved = rule_segments(store)
    return {"not_run": None, "columns": columns, "examples": EXAMPLE_RULES, "saved": saved}


def models_page(workspace: Workspace) -> dict[str, Any]:
    if not _ran(workspace):
        return {"not_run": NOT_RUN, "summaries": [], "models": None}
    try:
        summaries = workspace.models()
    except WorkspaceError as error:
        return {"not_run": str(error), "summaries": [], "models": None}
    with workspace.engine(write=False) as store:
        found = model_charts(store, workspace.root / MODELS_FOLDER)
    return {"not_run": None, "summaries": summaries, "models": found}


def questions_page(workspace: Workspace) -> dict[str, Any]:
    try:
        asked = workspace.questions()
    except WorkspaceError:
        return {"not_run": NOT_RUN, "lifecycle": None, "thresholds": [], "reports": {}, "charts": {}}
    lifecycle = asked.lifecycle
    thresholds = [
        dataclasses.asdict(t)
        for t in (lifecycle.dormant_days, lifecycle.at_risk_days, lifecycle.loyal_orders, lifecycle.vip_value)
    ]
    return {
        "not_run": None,
        "lifecycle": lifecycle,
        "thresholds": thresholds,
        "reports": asked.reports,
        "charts": question_charts(asked),
    }


def activation_page(workspace: Workspace) -> dict[str, Any]:
    destinations = workspace.destinations()
    experiments = []
    names = [action.name for action in workspace.config.actions if action.holdout]
    names += [spec.name for spec in workspace.config.destinations if spec.holdout]
    for name in names:
        try:
            experiments.append({"name": name, "report": workspace.experiment_report(name), "problem": None})
        except PersonaeError as error:
            experiments.append({"name": name, "report": None, "problem": str(error)})
    return {"destinations": destinations, "experiments": experiments, "not_run": None}
