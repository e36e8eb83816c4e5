"""``GET|POST /userinfo`` (OpenID Connect Core 1.0 §5.3), checked by the same verifier services use.

The bearer token is taken from the Authorization header only (RFC 6750 §2.1); any token the
verifier refuses gets 401 with ``WWW-Authenticate: Bearer error="invalid_token"`` (§3.1).
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from idgate.errors import InvalidToken
from idgate.server.deps import provider_of, verifier_of
from idgate.services.clients.first_party import FIRST_PARTY_CLIENT_ID
from idgate.services.oidc import third_party_userinfo
from idgate.store import users
from idgate.store.db import transaction

router = APIRouter()


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if header is None:
        raise InvalidToken("missing", "An access token is required.")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("malformed_header", "Use 'Authorization: Bearer <token>'.")
    return token.strip()


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
    claims = verifier_of(request).verify(bearer_token(request))
    body = await anyio.to_thread.run_sync(_profile, request, claims)
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
