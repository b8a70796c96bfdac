"""The dashboard's pages under ``/dashboard``, served by ``personae serve`` from the open workspace.

Log-in takes a read (or admin) token and keeps it in an HttpOnly, SameSite=Strict cookie
scoped to ``/dashboard``, checked against the workspace's keys on every request (a revoked
key stops working at once); tokens never travel in URLs. Saving a rule needs an admin token.
Every answer carries the Content-Security-Policy of :mod:`personae.dashboard.render`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from personae.access import Scope
from personae.dashboard import pages
from personae.dashboard.render import SECURITY_HEADERS, STATIC, STATIC_FILES, render
from personae.errors import PersonaeError
from personae.server.auth import Caller, caller
from personae.server.errors import status_of
from personae.server.state import ServerState
from personae.workspace import Workspace

router = APIRouter(prefix="/dashboard", include_in_schema=False)
COOKIE = "personae_dashboard"
SESSION_SECONDS = 12 * 3600
"""How long the browser keeps the log-in cookie."""
NAVIGATION = (
    ("overview", "Overview"),
    ("segments", "Segments"),
    ("customer", "Customer 360"),
    ("rules", "Rule editor"),
    ("models", "Models"),
    ("questions", "Questions"),
    ("activation", "Destinations & experiments"),
)
MAX_FORM_BYTES = 64 * 1024


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.personae
    return state


def _who(request: Request, scope: Scope = "read") -> Caller:
    state = _state(request)
    return caller(state.keys, request.cookies.get(COOKIE), scope, local=state.local_token)


def _html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers=SECURITY_HEADERS)


def _login_page(message: str | None, status: int) -> HTMLResponse:
    return _html(render("login.html", title="Log in", message=message, navigation=(), current=None), status)


def _show(request: Request, page: str, build: Callable[[Workspace], dict[str, Any]]) -> HTMLResponse:
    """A page for a logged-in reader; a problem in the store is shown in words on the page."""
    try:
        _who(request)
    except HTTPException as refused:
        return _login_page(str(refused.detail), refused.status_code)
    title = dict(NAVIGATION)[page]
    context: dict[str, Any] = {"title": title, "navigation": NAVIGATION, "current": page, "problem": None}
    status = 200
    try:
        context.update(build(_state(request).workspace))
    except PersonaeError as error:
        context["problem"] = str(error)
        status = status_of(error)
    return _html(render(f"{page}.html", **context), status)


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, f"the form is larger than {MAX_FORM_BYTES} bytes")
    return {key: values[-1] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}


@router.get("")
@router.get("/")
def home() -> Response:
    return RedirectResponse("/dashboard/overview", status_code=303, headers=SECURITY_HEADERS)


@router.get("/login")
def login_form(request: Request) -> HTMLResponse:
    return _login_page(None, 200)


@router.post("/login")
async def login(request: Request) -> Response:
    token = (await _form(request)).get("token", "").strip()
    try:
        caller(_state(request).keys, token, "read", local=_state(request).local_token)
    except HTTPException as refused:
        return _login_page(str(refused.detail), refused.status_code)
    response = RedirectResponse("/dashboard/overview", status_code=303, headers=SECURITY_HEADERS)
    response.set_cookie(
        COOKIE,
        token,
        max_age=SESSION_SECONDS,
        path="/dashboard",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/dashboard/login", status_code=303, headers=SECURITY_HEADERS)
    response.delete_cookie(COOKIE, path="/dashboard", httponly=True, samesite="strict")
    return response


@router.get("/static/{name:path}")
def static(name: str) -> Response:
    if name not in STATIC_FILES:
        raise HTTPException(404, f"no static file {name!r}")
    headers = {**SECURITY_HEADERS, "Cache-Control": "public, max-age=3600"}
    return Response((STATIC / name).read_bytes(), media_type=STATIC_FILES[name], headers=headers)


@router.get("/overview")
def overview(request: Request) -> HTMLResponse:
    events_per_second = round(_state(request).counters.per_second(), 3)
    events = _state(request).counters.events
    return _show(request, "overview", lambda ws: pages.overview_page(ws, events_per_second, events))


@router.get("/segments")
def segments(
    request: Request,
    segmentation: str | None = None,
    against: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> HTMLResponse:
    return _show(request, "segments", lambda ws: pages.segments_page(ws, segmentation, against, start, end))


@router.get("/customer")
def customer(request: Request, q: str = "") -> HTMLResponse:
    return _show(request, "customer", lambda ws: pages.customer_page(ws, q))


@router.get("/rules")
def rules(request: Request) -> HTMLResponse:
    return _show(request, "rules", pages.rules_page)


@router.get("/models")
def models(request: Request) -> HTMLResponse:
    return _show(request, "models", pages.models_page)


@router.get("/questions")
def questions(request: Request) -> HTMLResponse:
    return _show(request, "questions", pages.questions_page)


@router.get("/activation")
def activation(request: Request) -> HTMLResponse:
    return _show(request, "activation", pages.activation_page)


@router.get("/explain")
def explain(request: Request, first: str = "", second: str = "") -> HTMLResponse:
    """The htmx fragment of one fuzzy link's match weights, asked for from Customer 360."""
    try:
        _who(request)
    except HTTPException as refused:
        return _html(render("explain.html", error=f"{refused.detail}; log in again", weights=[]))
    found = pages.explain_fragment(_state(request).workspace, first, second)
    return _html(render("explain.html", **found))


@router.post("/rules/preview")
async def preview(request: Request) -> HTMLResponse:
    """The htmx fragment under the rule editor: size and sample, or the checker's error in place.

    Answered with 200 either way (htmx swaps only those in): the fragment says what is wrong."""
    try:
        _who(request)
    except HTTPException as refused:
        return _html(render("preview.html", error=f"{refused.detail}; log in again", preview=None, rule=""))
    rule = (await _form(request)).get("rule", "")
    if not rule.strip():
        return _html(render("preview.html", error=None, preview=None, rule=""))
    workspace = _state(request).workspace
    try:
        found = await run_in_threadpool(workspace.preview_segment, rule, sample=10)
    except PersonaeError as error:  # the checker's message (InvalidRule) points at the offending part
        return _html(render("preview.html", error=str(error), preview=None, rule=rule))
    return _html(render("preview.html", error=None, preview=found, rule=rule))


@router.post("/rules/save")
async def save(request: Request) -> HTMLResponse:
    """Save the rule as a segment (an admin token's page); assigned on the next run."""
    form = await _form(request)
    try:
        _who(request, "admin")
    except HTTPException as refused:
        message = f"{refused.detail}: log in with an admin token (`personae keys create --scope admin`) to save rules"
        return _html(render("saved.html", error=message, saved=None, name=form.get("name", "")))
    workspace = _state(request).workspace
    name, rule = form.get("name", "").strip(), form.get("rule", "")
    try:
        saved = await run_in_threadpool(
            lambda: workspace.add_segment(name, rule, description=form.get("description", ""))
        )
    except PersonaeError as error:
        return _html(render("saved.html", error=str(error), saved=None, name=name))
    return _html(render("saved.html", error=None, saved=saved, name=name))
