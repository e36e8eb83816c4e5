"""``/admin/users/{username}/passkeys``: a user's passkeys for an admin token (list, revoke).

Rules in :mod:`idgate.passkeys.service` (as for ``idgate user passkeys`` / ``passkey-revoke``);
every revocation is a ``passkey.removed`` event with the admin as actor.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel, StringConstraints

from idgate.passkeys import service as passkeys
from idgate.server.deps import provider_of
from idgate.server.endpoints.admin import Admin, admin_router, in_thread, json_reply

router = admin_router()

Username = Annotated[str, StringConstraints(min_length=1, max_length=64)]
PasskeyId = Annotated[str, StringConstraints(pattern=r"^pk_[A-Za-z0-9_-]{1,29}$")]


class PasskeyOut(BaseModel):
    id: str
    name: str
    created_at: str
    last_used_at: str | None
    synced: bool
    backed_up: bool
    aaguid: str


class PasskeyList(BaseModel):
    username: str
    items: list[PasskeyOut]


@router.get("/users/{username}/passkeys", summary="A user's passkeys", response_model=PasskeyList)
async def list_passkeys(request: Request, username: Username, actor: Admin) -> Any:
    found = await in_thread(passkeys.list_for, provider_of(request), username)
    return json_reply({"username": username, "items": [p.as_dict() for p in found]})


@router.delete("/users/{username}/passkeys/{passkey_id}", summary="Revoke one of a user's passkeys", status_code=204)
async def revoke_passkey(request: Request, username: Username, passkey_id: PasskeyId, actor: Admin) -> Response:
    await in_thread(passkeys.revoke, provider_of(request), username, passkey_id, actor=actor)
    return Response(status_code=204)
