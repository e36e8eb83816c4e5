"""The admin REST API (issue 5): users, roles, permissions, sessions, lockouts and events.

Every route needs ``Authorization: Bearer <access token>`` issued by this idgate for its own
issuer audience, carrying ``admin`` in ``permissions`` or ``scope``; the token is checked by the
same verifier services use, and the subject must still exist, be enabled and still hold
``admin`` (so a demoted admin's unexpired token stops working at once). No separate admin
password exists. Lists are paginated (``offset``/``limit``, at most 200); bodies are validated
(unknown fields refused) and errors are OAuth-style JSON. The CLI calls the same functions
(``idgate.services.admin`` and ``idgate.services.accounts``). OAuth clients are managed in
``admin_clients.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from idgate.errors import InsufficientScope
from idgate.server.deps import own_token_claims, provider_of
from idgate.server.schemas import ERROR_RESPONSES
from idgate.services import accounts, admin, events
from idgate.store import users
from idgate.store.db import transaction

ADMIN_PERMISSION = "admin"
MAX_PAGE = 200

bearer = HTTPBearer(auto_error=False, description="An idgate access token with the 'admin' permission.")


router = APIRouter(prefix="/admin", tags=["admin"], responses=ERROR_RESPONSES)

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9:._*/-]{1,128}$")]
Username = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size (at most 200).")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip.")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreate(_Strict):
    username: Username
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    roles: list[Name] = Field(default_factory=list, max_length=64)
    permissions: list[Name] = Field(default_factory=list, max_length=256)
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]{1,64}@[^@\s]{1,255}$")] | None = None
    name: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None


class UserUpdate(_Strict):
    disabled: bool | None = None
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]{1,64}@[^@\s]{1,255}$")] | None = None
    name: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    roles: list[Name] | None = Field(default=None, max_length=64)
    permissions: list[Name] | None = Field(default=None, max_length=256)
    clear: list[Annotated[str, StringConstraints(pattern=r"^(email|name)$")]] = Field(
        default_factory=list, max_length=2, description="Profile fields to empty: email, name.")


class PasswordSet(_Strict):
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class RolePut(_Strict):
    permissions: list[Name] | None = Field(default=None, max_length=256)
    require_mfa: bool | None = Field(default=None, description="Members must use a second factor (TOTP).")


class UserOut(BaseModel):
    id: str
    username: str
    email: str | None
    name: str | None
    disabled: bool
    roles: list[str]
    permissions: list[str]
    direct_permissions: list[str]
    mfa: str
    locked: bool
    created_at: str
    password_changed_at: str


class _PageOut(BaseModel):
    total: int
    offset: int
    limit: int
    next_offset: int | None


class UserPage(_PageOut):
    items: list[UserOut]


class RoleOut(BaseModel):
    name: str
    permissions: list[str]
    require_mfa: bool
    members: int


class RolePage(_PageOut):
    items: list[RoleOut]


class PermissionOut(BaseModel):
    name: str
    roles: list[str]
    direct_users: int


class PermissionPage(_PageOut):
    items: list[PermissionOut]


class SessionOut(BaseModel):
    id: str
    user_id: str
    username: str
    client_id: str
    created_at: str
    ended_at: str | None
    amr: list[str]


class SessionPage(_PageOut):
    items: list[SessionOut]


class EventOut(BaseModel):
    id: int
    at: str
    kind: str
    outcome: str
    actor: str | None
    client_id: str | None
    ip: str | None
    request_id: str | None
    detail: dict[str, Any]


class EventPage(BaseModel):
    items: list[EventOut]
    next_before_id: int | None


class UnlockOut(BaseModel):
    username: str
    was_locked: bool


class MfaResetOut(BaseModel):
    username: str
    removed: bool


def _still_admin(request: Request, sub: str) -> bool:
    with transaction(provider_of(request).sessions) as session:
        user = users.get(session, sub)
        return user is not None and not user.disabled and ADMIN_PERMISSION in users.view(user).permissions


async def require_admin(request: Request,
                        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    """The acting admin's ``sub``, or 401/403."""
    claims = await own_token_claims(request, credentials, "An access token with the admin permission is required.")
    granted = set(claims.get("permissions") or []) | set(str(claims.get("scope", "")).split())
    if ADMIN_PERMISSION not in granted:
        raise InsufficientScope(ADMIN_PERMISSION)
    sub = str(claims["sub"])
    if not await anyio.to_thread.run_sync(_still_admin, request, sub):
        raise InsufficientScope(ADMIN_PERMISSION, "The token's user no longer holds the admin permission.")
    return sub


Admin = Annotated[str, Depends(require_admin)]


def _refuse_self(request: Request, actor: str, username: str) -> None:
    """An admin cannot delete or disable the account they are acting with (no accidental
    lock-out of the last admin through the API; the CLI can still do it)."""
    with transaction(provider_of(request).sessions) as session:
        target = users.find_by_username(session, username)
    if target is not None and target.id == actor:
        from idgate.errors import Conflict

        raise Conflict("You cannot delete or disable the account you are signed in with.")


def _json(body: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, headers={"Cache-Control": "no-store"})


async def _run(fn: Any, *args: Any, **kw: Any) -> Any:
    return await anyio.to_thread.run_sync(lambda: fn(*args, **kw))


# --- users ---------------------------------------------------------------------------------

@router.get("/users", summary="List users", response_model=UserPage)
async def list_users(request: Request, actor: Admin, offset: Offset = 0, limit: Limit = 50,
                     q: Annotated[str | None, Query(max_length=64, description="Username contains")] = None) -> Any:
    page = await _run(admin.list_users, provider_of(request), offset=offset, limit=limit, query=q)
    return _json(page.as_dict())


@router.post("/users", summary="Create a user", status_code=201, response_model=UserOut)
async def create_user(request: Request, body: UserCreate, actor: Admin) -> Any:
    user = await _run(admin.create_user, provider_of(request), actor=actor, username=body.username,
                      password=body.password, roles=body.roles, permissions=body.permissions, email=body.email,
                      name=body.name)
    return _json(user, 201)


@router.get("/users/{username}", summary="One user", response_model=UserOut)
async def get_user(request: Request, username: Username, actor: Admin) -> Any:
    return _json(await _run(admin.get_user, provider_of(request), username))


@router.patch("/users/{username}", summary="Change a user (only the fields given)", response_model=UserOut)
async def update_user(request: Request, username: Username, body: UserUpdate, actor: Admin) -> Any:
    if body.disabled:
        await _run(_refuse_self, request, actor, username)
    user = await _run(admin.update_user, provider_of(request), username, actor=actor, disabled=body.disabled,
                      email=body.email, name=body.name, roles=body.roles, permissions=body.permissions,
                      clear=body.clear)
    return _json(user)


@router.delete("/users/{username}", summary="Delete a user and everything issued to them", status_code=204)
async def delete_user(request: Request, username: Username, actor: Admin) -> Response:
    await _run(_refuse_self, request, actor, username)
    await _run(accounts.delete_user, provider_of(request).sessions, username, actor=actor)
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


@router.post("/users/{username}/password", summary="Set a new password (ends refresh tokens)", status_code=204)
async def set_password(request: Request, username: Username, body: PasswordSet, actor: Admin) -> Response:
    await _run(accounts.set_password, provider_of(request).sessions, username, body.password, actor=actor)
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


@router.post("/users/{username}/unlock", summary="Lift a lockout and clear back-off", response_model=UnlockOut)
async def unlock_user(request: Request, username: Username, actor: Admin) -> Any:
    was_locked = await _run(admin.unlock_user, provider_of(request), username, actor=actor)
    return _json({"username": username, "was_locked": was_locked})


@router.delete("/users/{username}/mfa", summary="Remove the user's second factor", response_model=MfaResetOut)
async def reset_mfa(request: Request, username: Username, actor: Admin) -> Any:
    removed = await _run(admin.reset_mfa, provider_of(request), username, actor=actor)
    return _json({"username": username, "removed": removed})


# --- roles and permissions -----------------------------------------------------------------

@router.get("/roles", summary="List roles", response_model=RolePage)
async def list_roles(request: Request, actor: Admin, offset: Offset = 0, limit: Limit = 50) -> Any:
    return _json((await _run(admin.list_roles, provider_of(request), offset=offset, limit=limit)).as_dict())


@router.get("/roles/{name}", summary="One role", response_model=RoleOut)
async def get_role(request: Request, name: Name, actor: Admin) -> Any:
    return _json(await _run(admin.get_role, provider_of(request), name))


@router.put("/roles/{name}", summary="Create or change a role", response_model=RoleOut)
async def put_role(request: Request, name: Name, body: RolePut, actor: Admin) -> Any:
    return _json(await _run(admin.put_role, provider_of(request), name, actor=actor, permissions=body.permissions,
                            require_mfa=body.require_mfa))


@router.delete("/roles/{name}", summary="Delete a role", status_code=204)
async def delete_role(request: Request, name: Name, actor: Admin) -> Response:
    await _run(admin.delete_role, provider_of(request), name, actor=actor)
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


@router.get("/permissions", summary="List permissions", response_model=PermissionPage)
async def list_permissions(request: Request, actor: Admin, offset: Offset = 0, limit: Limit = 50) -> Any:
    return _json((await _run(admin.list_permissions, provider_of(request), offset=offset, limit=limit)).as_dict())


@router.put("/permissions/{name}", summary="Create a permission", status_code=201, response_model=PermissionOut)
async def create_permission(request: Request, name: Name, actor: Admin) -> Any:
    return _json(await _run(admin.create_permission, provider_of(request), name, actor=actor), 201)


@router.delete("/permissions/{name}", summary="Delete a permission", status_code=204)
async def delete_permission(request: Request, name: Name, actor: Admin) -> Response:
    await _run(admin.delete_permission, provider_of(request), name, actor=actor)
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


# --- sessions ------------------------------------------------------------------------------

@router.get("/sessions", summary="List login sessions", response_model=SessionPage)
async def list_sessions(request: Request, actor: Admin, offset: Offset = 0, limit: Limit = 50,
                        username: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
                        active: Annotated[bool | None, Query(description="true: live only (default)")] = True) -> Any:
    page = await _run(admin.list_sessions, provider_of(request), username=username, active=active, offset=offset,
                      limit=limit)
    return _json(page.as_dict())


@router.delete("/sessions/{session_id}", summary="End a session and revoke its refresh tokens", status_code=204)
async def end_session(request: Request, session_id: Annotated[str, StringConstraints(min_length=1, max_length=64)],
                      actor: Admin) -> Response:
    await _run(admin.end_session, provider_of(request), session_id, actor=actor)
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


# --- events --------------------------------------------------------------------------------

def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@router.get("/events", summary="Search security events, newest first", response_model=EventPage)
async def list_events(
    request: Request, actor: Admin, limit: Limit = 50,
    kind: Annotated[str | None, Query(max_length=64, description="Exact kind, or a prefix ending in * (login.*)")] = None,
    outcome: Annotated[str | None, Query(max_length=32)] = None,
    subject: Annotated[str | None, Query(alias="actor", max_length=128, description="Actor (a sub or cli:NAME)")] = None,
    ip: Annotated[str | None, Query(max_length=64)] = None,
    request_id: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None, until: datetime | None = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**62, description="Page: events older than this id")] = None,
) -> Any:
    try:
        since_utc, until_utc = _utc(since), _utc(until)
    except (OverflowError, ValueError):
        from idgate.errors import InvalidRequest

        raise InvalidRequest("Invalid time range.") from None
    rows = await _run(events.search, provider_of(request).sessions, kind=kind, outcome=outcome, actor=subject, ip=ip,
                      request_id=request_id, since=since_utc, until=until_utc, before_id=before_id, limit=limit)
    nxt = rows[-1].id if len(rows) == limit else None
    return _json({"items": [r.as_dict() for r in rows], "next_before_id": nxt})
