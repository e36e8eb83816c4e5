"""``/admin/users``: users, their passwords, lockouts and second factors, for an admin token.

The admin check, page parameters and replies are :mod:`idgate.server.endpoints.admin`'s; the
rules are ``idgate.services.admin`` and ``idgate.services.accounts`` (as for ``idgate user``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, StringConstraints

from idgate.server.deps import provider_of
from idgate.server.endpoints.admin import Admin, Limit, Name, Offset, PageOut, StrictBody, admin_router, \
    in_thread, json_reply
from idgate.services import accounts, admin
from idgate.store import users
from idgate.store.db import transaction

router = admin_router()

Username = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class UserCreate(StrictBody):
    username: Username
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    roles: list[Name] = Field(default_factory=list, max_length=64)
    permissions: list[Name] = Field(default_factory=list, max_length=256)
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]{1,64}@[^@\s]{1,255}$")] | None = None
    name: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None


class UserUpdate(StrictBody):
    disabled: bool | None = None
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]{1,64}@[^@\s]{1,255}$")] | None = None
    name: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    roles: list[Name] | None = Field(default=None, max_length=64)
    permissions: list[Name] | None = Field(default=None, max_length=256)
    clear: list[Annotated[str, StringConstraints(pattern=r"^(email|name)$")]] = Field(
        default_factory=list, max_length=2, description="Profile fields to empty: email, name.")


class PasswordSet(StrictBody):
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


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


class UserPage(PageOut):
    items: list[UserOut]


class UnlockOut(BaseModel):
    username: str
    was_locked: bool


class MfaResetOut(BaseModel):
    username: str
    removed: bool


def _refuse_self(request: Request, actor: str, username: str) -> None:
    """An admin cannot delete or disable the account they are acting with (no accidental
    lock-out of the last admin through the API; the CLI can still do it)."""
    with transaction(provider_of(request).sessions) as session:
        target = users.find_by_username(session, username)
    if target is not None and target.id == actor:
        from idgate.errors import Conflict

        raise Conflict("You cannot delete or disable the account you are signed in with.")


@router.get("/users", summary="List users", response_model=UserPage)
async def list_users(request: Request, actor: Admin, offset: Offset = 0, limit: Limit = 50,
                     q: Annotated[str | None, Query(max_length=64, description="Username contains")] = None) -> Any:
    page = await in_thread(admin.list_users, provider_of(request), offset=offset, limit=limit, query=q)
    return json_reply(page.as_dict())


@router.post("/users", summary="Create a user", status_code=201, response_model=UserOut)
async def create_user(request: Request, body: UserCreate, actor: Admin) -> Any:
    user = await in_thread(admin.create_user, provider_of(request), actor=actor, username=body.username,
                           password=body.password, roles=body.roles, permissions=body.permissions, email=body.email,
                           name=body.name)
    return json_reply(user, 201)


@router.get("/users/{username}", summary="One user", response_model=UserOut)
async def get_user(request: Request, username: Username, actor: Admin) -> Any:
    return json_reply(await in_thread(admin.get_user, provider_of(request), username))


@router.patch("/users/{username}", summary="Change a user (only the fields given)", response_model=UserOut)
async def update_user(request: Request, username: Username, body: UserUpdate, actor: Admin) -> Any:
    if body.disabled:
        await in_thread(_refuse_self, request, actor, username)
    user = await in_thread(admin.update_user, provider_of(request), username, actor=actor, disabled=body.disabled,
                           email=body.email, name=body.name, roles=body.roles, permissions=body.permissions,
                           clear=body.clear)
    return json_reply(user)


@router.delete("/users/{username}", summary="Delete a user and everything issued to them", status_code=204)
async def delete_user(request: Request, username: Username, actor: Admin) -> Response:
    await in_thread(_refuse_self, request, actor, username)
    await in_thread(accounts.delete_user, provider_of(request).sessions, username, actor=actor)
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


@router.post("/users/{username}/password", summary="Set a new password (ends refresh tokens)", status_code=204)
async def set_password(request: Request, username: Username, body: PasswordSet, actor: Admin) -> Response:
    await in_thread(accounts.set_password, provider_of(request).sessions, username, body.password, actor=actor)
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


@router.post("/users/{username}/unlock", summary="Lift a lockout and clear back-off", response_model=UnlockOut)
async def unlock_user(request: Request, username: Username, actor: Admin) -> Any:
    was_locked = await in_thread(admin.unlock_user, provider_of(request), username, actor=actor)
    return json_reply({"username": username, "was_locked": was_locked})


@router.delete("/users/{username}/mfa", summary="Remove the user's second factor", response_model=MfaResetOut)
async def reset_mfa(request: Request, username: Username, actor: Admin) -> Any:
    removed = await in_thread(admin.reset_mfa, provider_of(request), username, actor=actor)
    return json_reply({"username": username, "removed": removed})
