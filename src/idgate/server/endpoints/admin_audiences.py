"""``/admin/audiences``: resource servers and their encryption keys, for an admin token (issue 3).

The same service functions as ``idgate audience`` on the command line.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from idgate.errors import ConfigError, InvalidRequest
from idgate.server.deps import provider_of
from idgate.server.endpoints.admin import Admin
from idgate.server.schemas import ERROR_RESPONSES
from idgate.services import audiences

router = APIRouter(prefix="/admin/audiences", tags=["admin"], responses=ERROR_RESPONSES)


class AudienceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    audience: str = Field(min_length=1, max_length=512, description="The resource server's identifier URL")
    encryption_jwk: dict[str, Any] | None = Field(
        default=None, description="The service's PUBLIC encryption key (RSA >= 2048 or EC P-256/384/521 JWK)")


class AudienceOut(BaseModel):
    audience: str
    encrypted: bool
    key_alg: str | None


def _out(info: audiences.AudienceInfo) -> dict[str, Any]:
    return {"audience": info.audience, "encrypted": info.encrypted, "key_alg": info.key_alg}


def _checked(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except ConfigError as exc:  # a bad key is the caller's input, not a server fault
        raise InvalidRequest(exc.description) from None


@router.get("", summary="List resource servers", response_model=list[AudienceOut])
async def list_audiences(request: Request, actor: Admin) -> Any:
    rows = await anyio.to_thread.run_sync(audiences.list_all, provider_of(request).sessions)
    return JSONResponse([_out(r) for r in rows], headers={"Cache-Control": "no-store"})


@router.post("", summary="Register a resource server (optionally with an encryption key)", status_code=201,
             response_model=AudienceOut)
async def add_audience(request: Request, body: AudienceIn, actor: Admin) -> Any:
    key = json.dumps(body.encryption_jwk) if body.encryption_jwk is not None else None
    info = await anyio.to_thread.run_sync(_checked, lambda: audiences.add(provider_of(request).sessions,
                                                                            body.audience, key))
    return JSONResponse(_out(info), status_code=201, headers={"Cache-Control": "no-store"})


@router.delete("", summary="Stop minting tokens for a resource server", status_code=204)
async def remove_audience(request: Request, actor: Admin,
                          audience: Annotated[str, Query(min_length=1, max_length=512)]) -> Response:
    await anyio.to_thread.run_sync(audiences.remove, provider_of(request).sessions, audience)
    return Response(status_code=204)
