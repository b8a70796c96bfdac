"""The one place personae's errors become HTTP answers: a status, a JSON body that says what
is wrong and what to do, and ``Retry-After`` where waiting helps."""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from personae import errors

STATUS: tuple[tuple[type[errors.PersonaeError], int], ...] = (
    (errors.JournalBusy, 429),
    (errors.JournalError, 503),
    (errors.StoreLockedError, 409),
    (errors.NotFound, 404),
    (errors.InvalidRule, 400),
    (errors.UsageError, 400),
    (errors.ConfigError, 400),
    (errors.InvalidRecord, 400),
    (errors.WorkspaceError, 409),
    (errors.EngineError, 400),
)
"""The first class an error is an instance of gives its status; 500 otherwise."""
RETRY_AFTER: dict[int, str] = {429: "1", 503: "5"}


def status_of(error: errors.PersonaeError) -> int:
    if isinstance(error, errors.InvalidMessage):
        return error.status
    return next((status for kind, status in STATUS if isinstance(error, kind)), 500)


def answer(status: int, message: str, *, code: str | None = None) -> JSONResponse:
    """``{"success": false, "error": ..., "code": ...}`` (Segment's SDKs read ``success``)."""
    headers = {"Retry-After": RETRY_AFTER[status]} if status in RETRY_AFTER else None
    body = {"success": False, "error": message, "code": code or str(status)}
    return JSONResponse(body, status_code=status, headers=headers)


async def http_error(request: Request, error: Exception) -> JSONResponse:
    """Exception handler for the framework's own refusals (401, 403, 404 of an unknown path,
    422 of a body that is not the model), in the same shape as personae's."""
    assert isinstance(error, StarletteHTTPException)
    response = answer(error.status_code, str(error.detail))
    response.headers.update(getattr(error, "headers", None) or {})
    return response


async def validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = "; ".join(f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in error.errors())
    return answer(422, problems)


async def personae_error(request: Request, error: Exception) -> JSONResponse:
    """Exception handler for every :class:`~personae.errors.PersonaeError`."""
    assert isinstance(error, errors.PersonaeError)
    return answer(status_of(error), str(error), code=type(error).__name__)
