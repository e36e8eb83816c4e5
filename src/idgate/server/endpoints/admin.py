"""The admin REST API (issue 5): what every ``/admin`` route shares - the admin check, the
page parameters and the JSON replies.

Every route needs ``Authorization: Bearer <access token>`` issued by this idgate for its own
issuer audience, carrying ``admin`` in ``permissions`` or ``scope``; the token is checked by the
same verifier services use, and the subject must still exist, be enabled and still hold
``admin`` (so a demoted admin's unexpired token stops working at once). No separate admin
password exists. Lists are paginated (``offset``/``limit``, at most 200); bodies are validated
(unknown fields refused) and errors are OAuth-style JSON. The CLI calls the same functions
(``idgate.services.admin`` and ``idgate.services.accounts``).

One module per resource: users and their lockouts and second factors in ``admin_users.py``,
roles and permissions in ``admin_roles.py``, login sessions in ``admin_sessions.py``, security
events in ``admin_events.py``, resource servers in ``admin_audiences.py``. OAuth clients are
managed in ``admin_clients.py``.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, StringConstraints

from idgate.server.deps import own_token, provider_of, refuse_scope
from idgate.server.schemas import ERROR_RESPONSES
from idgate.store import users
from idgate.store.db import transaction

ADMIN_PERMISSION = "admin"
MAX_PAGE = 200

bearer = HTTPBearer(auto_error=False, description="An idgate access token with the 'admin' permission.")


def admin_router() -> APIRouter:
    """The router of one admin resource: paths under ``/admin``, documented with the error replies."""
    return APIRouter(prefix="/admin", tags=["admin"], responses=ERROR_RESPONSES)


Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9:._*/-]{1,128}$")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size (at most 200).")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip.")]


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PageOut(BaseModel):
    total: int
    offset: int
    limit: int
    next_offset: int | None


def _still_admin(request: Request, sub: str) -> bool:
    with transaction(provider_of(request).sessions) as session:
        user = users.get(session, sub)
        return user is not None and not user.disabled and ADMIN_PERMISSION in users.view(user).permissions


async def require_admin(request: Request,
                        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    """The acting admin's ``sub``, or 401/403."""
    auth = await own_token(request, credentials, "An access token with the admin permission is required.")
    granted = set(auth.claims.get("permissions") or []) | set(str(auth.claims.get("scope", "")).split())
    if ADMIN_PERMISSION not in granted:
        raise refuse_scope(request, auth, ADMIN_PERMISSION)
    sub = str(auth.claims["sub"])
    if not await anyio.to_thread.run_sync(_still_admin, request, sub):
        raise refuse_scope(request, auth, ADMIN_PERMISSION,
                           "The token's user no longer holds the admin permission.")
    return sub


Admin = Annotated[str, Depends(require_admin)]


def json_reply(body: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, headers={"Cache-Control": "no-store"})


async def in_thread(fn: Any, *args: Any, **kw: Any) -> Any:
    return await anyio.to_thread.run_sync(lambda: fn(*args, **kw))
