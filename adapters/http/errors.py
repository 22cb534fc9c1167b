"""Errors as the API answers them: JSON ``{"error": {"code", "message"}}``, never a trace.

Every failure becomes one status and one line: the core's errors map to their
statuses (unknown or someone else's id 404, a refused change 409), bad requests to
400 or 422 with the first problem found, anything unexpected to 500 with a log
record that holds neither the request's body nor a message's text.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from adapters.http.models import ErrorResponse
from core import ConflictError, NotFoundError, PermissionDenied, UsageError

logger = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    500: "internal",
    503: "unavailable",
}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": _CODES[status].replace("_", " ")}
    for status in (400, 401, 403, 404, 409, 413, 422, 429)
}
"""The error answers every ``/api`` route may give, for the OpenAPI page."""


class ApiError(Exception):
    """An error answer: a status, a stable code and one line for people.

    Args:
        status: the HTTP status.
        message: what went wrong, in one line.
        code: a stable machine-readable code; by default the status's.
        headers: extra headers (``Retry-After``, ``WWW-Authenticate``).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _CODES.get(status, "error")
        self.headers = headers


def error_response(
    status: int,
    message: str,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """Return the JSON error answer."""
    body = {"error": {"code": code or _CODES.get(status, "error"), "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` answer as JSON with its status."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(NotFoundError, _core_error)
    app.add_exception_handler(PermissionDenied, _core_error)
    app.add_exception_handler(ConflictError, _core_error)
    app.add_exception_handler(UsageError, _core_error)
    app.add_exception_handler(Exception, _unexpected)


async def _api_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return error_response(error.status, error.message, error.code, error.headers)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    message = error.detail if isinstance(error.detail, str) else "request refused"
    return error_response(error.status_code, message, headers=error.headers)


async def _core_error(request: Request, error: Exception) -> JSONResponse:
    if isinstance(error, NotFoundError):
        return error_response(404, str(error))
    if isinstance(error, PermissionDenied):
        return error_response(403, str(error))
    if isinstance(error, UsageError):
        return error_response(400, str(error))
    return error_response(409, "the session changed meanwhile; try again", "conflict")


async def _invalid_request(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = error.errors()
    if any(problem.get("type") == "json_invalid" for problem in problems):
        return error_response(400, "the body is not valid JSON", "malformed_json")
    first = problems[0] if problems else {}
    return error_response(422, _describe(first))


def _describe(problem: dict[str, Any]) -> str:
    """One line for a validation problem: where, then what (never the value itself)."""
    where = ".".join(str(part) for part in problem.get("loc", ()) if part != "body")
    message = str(problem.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    # The path says which route; the body and any text stay out of the log.
    logger.error(
        "api: %s %s failed: %s",
        request.method,
        request.url.path,
        type(error).__name__,
        exc_info=error,
    )
    return error_response(500, "something went wrong on the server")
