"""Admin calls for the data subject's rights: erase a person, export everything held about one.

Both need an admin token; ``personae privacy erase|export`` from another shell comes here
while the server holds the store. An erasure runs in the server's write turn: tracking
calls keep being answered (an erased person's events are dropped before the journal from
the moment the store is erased), live processing waits.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from personae.server.auth import bearer, caller
from personae.server.state import ServerState

router = APIRouter(tags=["privacy"], prefix="/v1/admin/privacy")


class EraseRequest(BaseModel):
    identifiers: list[str] = Field(min_length=1, max_length=10_000)
    """``TYPE:VALUE`` of each person (``email:jane@example.com``, ``uid:p…``)."""


class ExportRequest(BaseModel):
    identifier: str


def _admin(request: Request) -> tuple[ServerState, str]:
    state: ServerState = request.app.state.personae
    who = caller(state.keys, bearer(request), "admin", local=state.local_token, usage=state.key_use)
    return state, who.key_id


@router.post("/erase", summary="Erase people from every table, raw copy, journal and destination")
def erase(body: EraseRequest, request: Request) -> dict[str, Any]:
    """Waits for the erasure; returns a receipt per request (no identifier in clear)."""
    state, actor = _admin(request)
    receipts = state.workspace.erase(body.identifiers, actor=actor)
    return {"receipts": [asdict(receipt) for receipt in receipts]}


@router.post("/export", summary="Everything held about one person, as one JSON document")
def export(body: ExportRequest, request: Request) -> dict[str, Any]:
    state, actor = _admin(request)
    return state.workspace.export_subject(body.identifier, actor=actor)
