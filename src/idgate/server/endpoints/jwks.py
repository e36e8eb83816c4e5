"""``GET /jwks.json``: the public signing keys (RFC 7517 §5); never a private member."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from idgate.server.deps import provider_of

router = APIRouter()


@router.get("/jwks.json", summary="Public signing keys")
async def jwks(request: Request) -> JSONResponse:
    provider = provider_of(request)
    max_age = provider.settings.jwks_max_age
    return JSONResponse(provider.keyring().public_jwks(), media_type="application/jwk-set+json",
                        headers={"Cache-Control": f"public, max-age={max_age}"})
