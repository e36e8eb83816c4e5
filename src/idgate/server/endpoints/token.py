"""``POST /token`` (RFC 6749 §3.2): form body only, one handler per ``grant_type``.

The pipeline reads like a checklist: parse the form (size, type, duplicates) -> allow-listed
grant type -> dispatch. Every reply carries ``Cache-Control: no-store`` (§5.1).
"""

from __future__ import annotations

from collections.abc import Callable

import anyio.to_thread
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from idgate.errors import MethodNotAllowed, UnsupportedGrantType
from idgate.provider import Provider
from idgate.server.client_auth import assertion_audiences, authenticate_client, authenticate_from_cache
from idgate.server.deps import provider_of
from idgate.server.grants import authorization_code, client_credentials
from idgate.server.forms import read_params, required
from idgate.server.responses import token_response
from idgate.server.routing import plain_router
from idgate.services.authorize import client_refresh, refuse_foreign_refresh_token
from idgate.services.clients.view import ClientView
from idgate.services.grants import refresh_grant
from idgate.services.login import TokenResponse

router = plain_router()  # the busiest endpoint: served without FastAPI's per-request machinery


def _refresh_token(provider: Provider, params: dict[str, str], client: ClientView | None = None) -> TokenResponse:
    token = required(params, "refresh_token")
    if client is not None:  # a registered client (issue 4): its own tokens, its own scope rules
        return client_refresh(provider, client, token, params.get("scope"))
    refuse_foreign_refresh_token(provider, token)
    return refresh_grant(provider, token, client_id=params.get("client_id"), scope=params.get("scope"))


# Each grant gets the authenticated client (None: no registered client named; first-party only).
GRANTS: dict[str, Callable[[Provider, dict[str, str], ClientView | None], TokenResponse]] = {
    "refresh_token": _refresh_token,
    "authorization_code": authorization_code.grant,
    "client_credentials": client_credentials.grant,
}


# Grants whose work is pure computation once the client is known (no rows read or written):
# with every cache they read fresh, they run on the event loop instead of a worker thread.
IN_MEMORY_GRANTS = frozenset({"client_credentials"})


def _in_memory_ready(provider: Provider) -> bool:
    return provider.keys.fresh() and provider.audiences.fresh()


def _authenticate_and_grant(provider: Provider, params: dict[str, str], authorization: str | None,
                            handler: Callable[[Provider, dict[str, str], ClientView | None], TokenResponse]
                            ) -> TokenResponse:
    client = authenticate_client(provider, params, authorization, assertion_audiences(provider.settings.issuer))
    return handler(provider, params, client)


@router.post("/token", summary="OAuth 2.0 token endpoint")
async def token(request: Request) -> Response:
    provider = provider_of(request)
    params = await read_params(request, provider.settings.max_body_bytes, allow_json=False)
    grant_type = required(params, "grant_type")
    handler = GRANTS.get(grant_type)
    if handler is None:
        raise UnsupportedGrantType()
    authorization = request.headers.get("authorization")
    # A service asking for its own token (client_credentials) is the hot path: authenticated
    # from the client cache and signed right here, a token costs no thread hop and no query.
    client = authenticate_from_cache(provider, params, authorization) if grant_type in IN_MEMORY_GRANTS else None
    if client is not None and _in_memory_ready(provider):
        result = handler(provider, params, client)
    else:  # everything else reads or writes the database: one trip to a worker thread
        result = await anyio.to_thread.run_sync(_authenticate_and_grant, provider, params, authorization, handler)
    return token_response(result.as_dict())


@router.api_route("/token", methods=["GET", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def token_wrong_method(request: Request) -> JSONResponse:
    raise MethodNotAllowed()
