"""``POST /token`` (RFC 6749 §3.2): form body only, one handler per ``grant_type``.

The pipeline reads like a checklist: parse the form (size, type, duplicates) -> allow-listed
grant type -> dispatch. Every reply carries ``Cache-Control: no-store`` (§5.1).
"""

from __future__ import annotations

from collections.abc import Callable

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from idgate.errors import MethodNotAllowed, UnsupportedGrantType
from idgate.provider import Provider
from idgate.server.deps import provider_of
from idgate.server.forms import read_params, required
from idgate.server.responses import token_response
from idgate.services.grants import refresh_grant
from idgate.services.login import TokenResponse

router = APIRouter()


def _refresh_token(provider: Provider, params: dict[str, str]) -> TokenResponse:
    return refresh_grant(provider, required(params, "refresh_token"), client_id=params.get("client_id"),
                         scope=params.get("scope"))


GRANTS: dict[str, Callable[[Provider, dict[str, str]], TokenResponse]] = {
    "refresh_token": _refresh_token,
}


@router.post("/token", summary="OAuth 2.0 token endpoint")
async def token(request: Request) -> JSONResponse:
    provider = provider_of(request)
    params = await read_params(request, provider.settings.max_body_bytes, allow_json=False)
    handler = GRANTS.get(required(params, "grant_type"))
    if handler is None:
        raise UnsupportedGrantType()
    result = await anyio.to_thread.run_sync(handler, provider, params)
    return token_response(result.as_dict())


@router.api_route("/token", methods=["GET", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def token_wrong_method() -> JSONResponse:
    raise MethodNotAllowed()
