"""``/admin/sessions``: login sessions (list, end one and revoke its refresh tokens), for an
admin token.

The admin check, page parameters and replies are :mod:`idgate.server.endpoints.admin`'s; the
rules are ``idgate.services.admin``'s.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, StringConstraints

from idgate.server.deps import provider_of
from idgate.server.endpoints.admin import Admin, Limit, Offset, PageOut, admin_router, in_thread, json_reply
from idgate.services import admin

router = admin_router()


class SessionOut(BaseModel):
    id: str
    user_id: str
    username: str
    client_id: str
    created_at: str
    ended_at: str | None
    amr: list[str]


class SessionPage(PageOut):
    items: list[SessionOut]


@router.get("/sessions", summary="List login sessions", response_model=SessionPage)
async def list_sessions(request: Request, actor: Admin, offset: Offset = 0, limit: Limit = 50,
                        username: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
                        active: Annotated[bool | None, Query(description="true: live only (default)")] = True) -> Any:
    page = await in_thread(admin.list_sessions, provider_of(request), username=username, active=active,
                           offset=offset, limit=limit)
    return json_reply(page.as_dict())


@router.delete("/sessions/{session_id}", summary="End a session and revoke its refresh tokens", status_code=204)
async def end_session(request: Request, session_id: Annotated[str, StringConstraints(min_length=1, max_length=64)],
                      actor: Admin) -> Response:
    await in_thread(admin.end_session, provider_of(request), session_id, actor=actor)
    return Response(status_code=204, headers={"Cache-Control": "no-store"})
