"""``GET|POST /userinfo`` (OpenID Connect Core 1.0 §5.3), checked by the same code services run.

The access token is taken from the Authorization header only (RFC 6750 §2.1): ``Bearer``, or
``DPoP`` with a proof for this URL (RFC 9449 §7.1); a refused token gets 401 with the challenge
of the scheme used (RFC 6750 §3.1, RFC 9449 §7.1).
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from idgate.errors import InvalidToken
from idgate.server.deps import provider_of, refuse_token, request_auth
from idgate.services.clients.first_party import FIRST_PARTY_CLIENT_ID
from idgate.services.oidc import third_party_userinfo
from idgate.store import users
from idgate.store.db import transaction

router = APIRouter()


def _profile(request: Request, claims: dict[str, Any]) -> dict[str, Any]:
    with transaction(provider_of(request).sessions) as session:
        user = users.get(session, str(claims["sub"]))
        if user is None or user.disabled:
            raise InvalidToken("user_inactive")
        view = users.view(user)
    if claims.get("client_id") != FIRST_PARTY_CLIENT_ID:  # a third-party app (issue 4): claims by scope only
        return third_party_userinfo(view, str(claims.get("scope", "")).split())
    body: dict[str, Any] = {"sub": view.id, "preferred_username": view.username,
                            "roles": list(view.roles), "permissions": list(view.permissions)}
    if view.name:
        body["name"] = view.name
    if view.email:
        body["email"] = view.email
    return body


@router.api_route("/userinfo", methods=["GET", "POST"], summary="Claims about the token's user")
async def userinfo(request: Request) -> JSONResponse:
    auth = await request_auth(request)
    try:
        body = await anyio.to_thread.run_sync(_profile, request, auth.claims)
    except InvalidToken as exc:
        raise refuse_token(request, auth, exc) from None
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
