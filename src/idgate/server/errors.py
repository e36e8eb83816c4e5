"""One place that turns errors into responses: OAuth JSON for the API, a bare 500 otherwise."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from idgate.errors import IdgateError, InvalidRequest, OAuthError

log = logging.getLogger("idgate.errors")


def error_body(exc: IdgateError) -> dict[str, Any]:
    return {"error": exc.error, "error_description": exc.description}


def _request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", "-"))


def render(request: Request, exc: IdgateError) -> JSONResponse:
    if exc.status_code >= 500:
        log.error("request_id=%s error=%s", _request_id(request), exc.error)
    elif exc.detail:
        log.info("request_id=%s refused error=%s detail=%s", _request_id(request), exc.error, exc.detail)
    headers = exc.headers() if isinstance(exc, OAuthError) else {}
    return JSONResponse(error_body(exc), status_code=exc.status_code, headers=headers)


_STATUS_ERRORS = {404: "not_found", 405: "invalid_request"}


def install(app: FastAPI) -> None:
    @app.exception_handler(IdgateError)
    async def _idgate(request: Request, exc: IdgateError) -> JSONResponse:
        return render(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return render(request, InvalidRequest("The request parameters are invalid."))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        body = {"error": _STATUS_ERRORS.get(exc.status_code, "invalid_request"),
                "error_description": str(exc.detail)}
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Every path here is a bug: log it with the request id, tell the client nothing more.
        log.exception("request_id=%s unexpected error", _request_id(request))
        return JSONResponse({"error": "server_error", "error_description": "Internal error.",
                             "request_id": _request_id(request)}, status_code=500)
