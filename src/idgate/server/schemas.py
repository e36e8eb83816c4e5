"""OpenAPI document helpers: the one error body every endpoint uses, documented everywhere.

Every reply that is not a success is ``{"error", "error_description"}`` (``server/errors.py``),
and any endpoint can get some of them from the middleware alone (400 credentials in the URL,
403 plain HTTP, 413 body too large, 429 back-off). :func:`install_openapi` documents those on
every operation so that a client - or schemathesis - reading ``/openapi.json`` knows every
status it can get, and makes operation ids unique for routes that serve several methods.
"""

from __future__ import annotations

import warnings
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel


class ErrorOut(BaseModel):
    """RFC 6749 §5.2 / RFC 6750 §3.1 error body."""

    error: str
    error_description: str


_STATUS_TEXT = {
    "400": "Invalid request (OAuth error body)",
    "401": "Authentication failed or a token is missing or invalid",
    "403": "Refused: insufficient permission, plain HTTP, or account locked",
    "404": "Not found",
    "405": "Method not allowed",
    "409": "Conflict",
    "413": "Body too large",
    "415": "Unsupported content type",
    "429": "Too many requests; see Retry-After",
}
_REF = {"$ref": "#/components/schemas/ErrorOut"}
# Success replies served with a media type of their own standard, not application/json.
_MEDIA_TYPES = {("/jwks.json", "get"): "application/jwk-set+json"}  # RFC 7517 §8.5.1


def install_openapi(app: FastAPI) -> None:
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        with warnings.catch_warnings():
            # A route serving GET and POST gets one id for both; it is made unique below.
            warnings.filterwarnings("ignore", message="Duplicate Operation ID", category=UserWarning)
            schema = original()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault("ErrorOut", ErrorOut.model_json_schema())
        seen: set[str] = set()
        for path, path_item in schema.get("paths", {}).items():
            for method, operation in path_item.items():
                media_type = _MEDIA_TYPES.get((path, method))
                ok = operation.get("responses", {}).get("200", {}).get("content", {})
                if media_type and "application/json" in ok:
                    ok[media_type] = ok.pop("application/json")
                op_id = operation.get("operationId")
                if op_id in seen:
                    operation["operationId"] = f"{op_id}_{method}"
                seen.add(operation.get("operationId"))
                responses = operation.setdefault("responses", {})
                for status, text in _STATUS_TEXT.items():
                    responses.setdefault(status, {"description": text,
                                                  "content": {"application/json": {"schema": _REF}}})
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    int(code): {"model": ErrorOut, "description": text} for code, text in _STATUS_TEXT.items()
}
