"""Response helpers shared by endpoints."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from idgate import jsonenc

# RFC 6749 §5.1: token responses MUST carry Cache-Control: no-store and Pragma: no-cache.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def token_response(body: dict[str, Any]) -> Response:
    """RFC 6749 §5.1: the JSON token reply (the JSON ``JSONResponse`` writes, serialised faster)."""
    return Response(jsonenc.compact(body), media_type="application/json", headers=NO_STORE)
