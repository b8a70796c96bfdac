"""Admin calls: start a batch run (and see the runs), the workspace's status, read-only SQL
(the same sandbox as ``personae sql``: the store's tables and views, no files), rule
segments, and the destinations (sync, state, dead letters)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel

from personae.server.auth import bearer, caller
from personae.server.state import ServerState

router = APIRouter(tags=["admin"], prefix="/v1/admin")
SQL_ROWS = 10_000


class RunRequest(BaseModel):
    as_of: date | None = None
    only: str | None = None


class SqlRequest(BaseModel):
    query: str


class SegmentRequest(BaseModel):
    name: str
    rule: str
    description: str = ""


def _admin(request: Request) -> ServerState:
    state: ServerState = request.app.state.personae
    caller(state.keys, bearer(request), "admin", local=state.local_token, usage=state.key_use)
    return state


@router.post("/runs", status_code=202, summary="Start a batch run in the server")
def start_run(body: RunRequest, request: Request) -> dict[str, Any]:
    """The run goes on in the background (live processing waits for it); ``GET /v1/admin/runs`` shows it."""
    state = _admin(request)
    if not state.runs.start(body.as_of, body.only):
        raise HTTPException(409, "a run is already going on; wait for it (GET /v1/admin/runs)")
    return {"started": True, "as_of": body.as_of, "only": body.only}


@router.get("/runs", summary="The latest runs, and the one going on")
def runs(request: Request, limit: int = 20) -> dict[str, Any]:
    state = _admin(request)
    rows = state.workspace.sql(
        f"SELECT run_id, started_at, finished_at, as_of, engine, status, summary FROM runs "
        f"ORDER BY run_id DESC LIMIT {min(max(limit, 1), 1000)}"
    ).to_pylist()
    return {"running": state.runs.running, "last_error": state.runs.last_error, "runs": rows}


@router.get("/status", summary="Sources, people, the last run and table sizes")
def status(request: Request) -> dict[str, Any]:
    return asdict(_admin(request).workspace.status())


@router.post("/sql", summary="A read-only query over the store")
def sql(body: SqlRequest, request: Request) -> dict[str, Any]:
    table = _admin(request).workspace.sql(body.query)
    rows = table.slice(0, SQL_ROWS).to_pylist()
    return {"columns": table.column_names, "rows": rows, "truncated": table.num_rows > SQL_ROWS}


@router.post("/segments", summary="Add a rule segment, or a new version of one")
def add_segment(body: SegmentRequest, request: Request) -> dict[str, Any]:
    """Checked as ``personae segment add`` checks it; live processing applies it to each person
    an event touches from now on, and the next run to everyone. ``added`` is null when unchanged."""
    added = _admin(request).workspace.add_segment(body.name, body.rule, description=body.description)
    return {"added": asdict(added) if added is not None else None}


@router.delete("/segments/{name}", summary="Take a rule segment out of force")
def remove_segment(name: str, request: Request) -> dict[str, Any]:
    return asdict(_admin(request).workspace.remove_segment(name))


class SyncRequest(BaseModel):
    destination: str | None = None


@router.post("/sync", summary="Send the destinations (or one) the changes since their cursors")
def sync(body: SyncRequest, request: Request) -> dict[str, Any]:
    """As ``personae sync``: waits for the sync; a destination that fails says why in its result."""
    return {"results": [asdict(result) for result in _admin(request).workspace.sync(body.destination)]}


@router.get("/destinations", summary="Each destination's last sync, counts and lag")
def destinations(request: Request) -> dict[str, Any]:
    return {"destinations": [asdict(status) for status in _admin(request).workspace.destinations()]}


@router.get("/destinations/{name}/dead-letters", summary="What a destination refused for good, and why")
def dead_letters(name: str, request: Request, limit: int = 100) -> dict[str, Any]:
    return {"dead_letters": _admin(request).workspace.dead_letters(name, limit=min(max(limit, 1), 10_000))}


@router.get("/audit", summary="The audit log, newest first")
def audit(request: Request, since: date | None = None, action: str | None = None, limit: int = 100) -> dict[str, Any]:
    """As ``personae audit``: key use, profile reads, destination sends, configuration changes,
    erasures and exports; ``since`` a day (YYYY-MM-DD), ``action`` one action's name."""
    rows = _admin(request).workspace.audit(since=since, action=action, limit=min(limit, 10_000))
    return {"entries": rows}
