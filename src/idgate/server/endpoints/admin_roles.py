"""``/admin/roles`` and ``/admin/permissions``: roles (their permissions and whether members
must use a second factor) and permissions, for an admin token.

The admin check, page parameters and replies are :mod:`idgate.server.endpoints.admin`'s; the
rules are ``idgate.services.admin``'s.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from idgate.server.deps import provider_of
from idgate.server.endpoints.admin import Admin, Limit, Name, Offset, PageOut, StrictBody, admin_router, \
    in_thread, json_reply
from idgate.services import admin

router = admin_router()


class RolePut(StrictBody):
    permissions: list[Name] | None = Field(default=None, max_length=256)
    require_mfa: bool | None = Field(default=None, description="Members must use a second factor (TOTP).")


class RoleOut(BaseModel):
    name: str
    permissions: list[str]
    require_mfa: bool
    members: int


class RolePage(PageOut):
    items: list[RoleOut]


class PermissionOut(BaseModel):
    name: str
    roles: list[str]
    direct_users: int


class PermissionPage(PageOut):
    items: list[PermissionOut]


@router.get("/roles", summary="List roles", response_model=RolePage)
async def list_roles(request: Request, actor: Admin, offset: Offset = 0, limit: Limit = 50) -> Any:
    page = await in_thread(admin.list_roles, provider_of(request), offset=offset, limit=limit)
    return json_reply(page.as_dict())


@router.get("/roles/{name}", summary="One role", response_model=RoleOut)
async def get_role(request: Request, name: Name, actor: Admin) -> Any:
    return json_reply(await in_thread(admin.get_role, provider_of(request), name))


@router.put("/roles/{name}", summary="Create or change a role", response_model=RoleOut)
async def put_role(request: Request, name: Name, body: RolePut, actor: Admin) -> Any:
    return json_reply(await in_thread(admin.put_role, provider_of(request), name, actor=actor,
                                      permissions=body.permissions, require_mfa=body.require_mfa))


@router.delete("/roles/{name}", summary="Delete a role", status_code=204)
async def delete_role(request: Request, name: Name, actor: Admin) -> Response:
    await in_thread(admin.delete_role, provider_of(request), name, actor=actor)
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


@router.get("/permissions", summary="List permissions", response_model=PermissionPage)
async def list_permissions(request: Request, actor: Admin, offset: Offset = 0, limit: Limit = 50) -> Any:
    page = await in_thread(admin.list_permissions, provider_of(request), offset=offset, limit=limit)
    return json_reply(page.as_dict())


@router.put("/permissions/{name}", summary="Create a permission", status_code=201, response_model=PermissionOut)
async def create_permission(request: Request, name: Name, actor: Admin) -> Any:
    return json_reply(await in_thread(admin.create_permission, provider_of(request), name, actor=actor), 201)


@router.delete("/permissions/{name}", summary="Delete a permission", status_code=204)
async def delete_permission(request: Request, name: Name, actor: Admin) -> Response:
    await in_thread(admin.delete_permission, provider_of(request), name, actor=actor)
    return Response(status_code=204, headers={"Cache-Control": "no-store"})
