"""``/admin/token-exchange``: which client may exchange which tokens for which audience (RFC
8693, issue 14), for an admin token. The same service functions as ``idgate exchange``."""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from idgate.server.deps import provider_of
from idgate.server.endpoints.admin import Admin, json_reply
from idgate.server.schemas import ERROR_RESPONSES
from idgate.services import token_exchange

router = APIRouter(prefix="/admin/token-exchange", tags=["admin"], responses=ERROR_RESPONSES)
Uri = Annotated[str, Query(min_length=1, max_length=512)]


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: str = Field(min_length=1, max_length=128, description="The confidential client that exchanges")
    subject_audience: str = Field(min_length=1, max_length=512,
                                  description="The audience of the tokens it receives (the API it serves)")
    audience: str = Field(min_length=1, max_length=512, description="The audience of the tokens it gets (the API "
                                                                    "it calls for the user)")


class PolicyOut(BaseModel):
    client_id: str
    subject_audience: str
    audience: str


@router.get("", summary="List allowed token exchanges", response_model=list[PolicyOut])
async def list_policies(request: Request, actor: Admin,
                        client_id: Annotated[str | None, Query(max_length=128)] = None) -> Any:
    rows = await anyio.to_thread.run_sync(token_exchange.policies, provider_of(request), client_id)
    return json_reply([r.as_dict() for r in rows])


@router.post("", summary="Allow a client to exchange tokens for an audience", status_code=201,
             response_model=PolicyOut)
async def allow(request: Request, body: PolicyIn, actor: Admin) -> Any:
    policy = await anyio.to_thread.run_sync(lambda: token_exchange.allow(
        provider_of(request), body.client_id, body.subject_audience, body.audience, actor=actor))
    return json_reply(policy.as_dict(), status_code=201)


@router.delete("", summary="Stop allowing a token exchange", status_code=204)
async def disallow(request: Request, actor: Admin, client_id: Annotated[str, Query(min_length=1, max_length=128)],
                   subject_audience: Uri, audience: Uri) -> Response:
    await anyio.to_thread.run_sync(lambda: token_exchange.disallow(
        provider_of(request), client_id, subject_audience, audience, actor=actor))
    return Response(status_code=204)
