"""``POST /revoke`` (RFC 7009 §2) and ``POST /logout``.

Revocation answers 200 for unknown or invalid tokens too (§2.2): the caller learns nothing about
tokens it does not hold, and retrying is always safe.
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from idgate.server.deps import provider_of
from idgate.server.forms import read_params, required
from idgate.server.responses import NO_STORE
from idgate.services.grants import logout, revoke_token

router = APIRouter()


@router.post("/revoke", summary="Token revocation (RFC 7009)")
async def revoke(request: Request) -> JSONResponse:
    provider = provider_of(request)
    params = await read_params(request, provider.settings.max_body_bytes, allow_json=False)
    await anyio.to_thread.run_sync(lambda: revoke_token(provider, required(params, "token"),
                                                        hint=params.get("token_type_hint"),
                                                        client_id=params.get("client_id")))
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
