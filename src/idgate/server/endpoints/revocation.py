"""``POST /revoke`` (RFC 7009 §2) and ``POST /logout``.

Revocation answers 200 for unknown or invalid tokens too (§2.2): the caller learns nothing about
tokens it does not hold, and retrying is always safe.
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from idgate.services.clients.first_party import FIRST_PARTY_CLIENT_ID
from idgate.server.client_auth import assertion_audiences, authenticate_client
from idgate.server.deps import provider_of
from idgate.server.forms import read_params, required
from idgate.server.responses import NO_STORE
from idgate.services.revocation import logout, revoke_token

router = APIRouter()


@router.post("/revoke", summary="Token revocation (RFC 7009)")
async def revoke(request: Request) -> JSONResponse:
    provider = provider_of(request)
    params = await read_params(request, provider.settings.max_body_bytes, allow_json=False)
    token = required(params, "token")

    def run() -> None:
        # RFC 7009 §2.1: authenticate a confidential client, then revoke only tokens issued to the
        # caller. A request naming no registered client may revoke first-party tokens only.
        client = authenticate_client(provider, params, request.headers.get("authorization"),
                                     assertion_audiences(provider.settings.issuer))
        revoke_token(provider, token, hint=params.get("token_type_hint"),
                     client_id=client.client_id if client is not None else FIRST_PARTY_CLIENT_ID)

    await anyio.to_thread.run_sync(run)
    return JSONResponse({}, headers=NO_STORE)


@router.post("/logout", summary="End the login session")
async def end_session(request: Request) -> JSONResponse:
    provider = provider_of(request)
    params = await read_params(request, provider.settings.max_body_bytes)
    header = request.headers.get("authorization", "")
    access = header[7:].strip() if header[:7].lower() == "bearer " else None
    await anyio.to_thread.run_sync(lambda: logout(provider, refresh_token=params.get("refresh_token"),
                                                  access_token=access))
    return JSONResponse({}, headers=NO_STORE)
