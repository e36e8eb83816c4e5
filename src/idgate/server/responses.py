"""Response helpers shared by endpoints."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

# RFC 6749 §5.1: token responses MUST carry Cache-Control: no-store and Pragma: no-cache.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def token_response(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, headers=NO_STORE)
