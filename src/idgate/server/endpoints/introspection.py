"""``POST /introspect``: OAuth 2.0 Token Introspection (RFC 7662).

Only registered confidential clients registered with ``introspect`` (``idgate client add ...
--introspect``) may call it (§2.1 requires the caller to be authorized; anyone else gets 401
``invalid_client``). The answer is ``{"active": false}`` for anything not accepted: unknown,
malformed, expired, revoked, an ID token, a token for an audience the caller does not serve, or
another client's refresh token (§2.2 says to reveal nothing more).

Access tokens are checked with the same verifier every endpoint uses (signature, ``typ
at+jwt``, issuer, audience, lifetime, deny-list). Refresh tokens are looked up by hash and are
introspectable by the client they were issued to only.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from idgate import clock, ids
from idgate.errors import InvalidClient, InvalidToken
from idgate.provider import Provider
from idgate.rs import Verifier
from idgate.server.client_auth import assertion_audiences, authenticate_client
from idgate.server.deps import provider_of
from idgate.services.access_verifier import served_verifier
from idgate.server.forms import read_params, required
from idgate.server.responses import NO_STORE
from idgate.services.clients.view import ClientView
from idgate.store import tokens as token_rows
from idgate.store import users
from idgate.store.db import transaction

router = APIRouter()
INACTIVE: dict[str, Any] = {"active": False}
_ACCESS_FIELDS = ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti", "cnf")


def _access(verifier: Verifier, caller: ClientView, token: str) -> dict[str, Any] | None:
    try:
        claims = verifier.verify(token, allow_bound=True)
    except InvalidToken:
        return None
    aud = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if caller.audiences and not set(aud) & set(caller.audiences):
        return None  # a resource server learns about tokens meant for it only
    # RFC 9449 §6.2: a DPoP-bound token is introspected with its cnf and token_type DPoP.
    body: dict[str, Any] = {"active": True, "token_type": "DPoP" if "cnf" in claims else "Bearer"}
    body.update({k: claims[k] for k in _ACCESS_FIELDS if k in claims})
    if "preferred_username" in claims:
        body["username"] = claims["preferred_username"]
    return body


def _refresh(provider: Provider, caller: ClientView, token: str) -> dict[str, Any] | None:
    now = clock.utcnow()
    with transaction(provider.sessions) as session:
        row = token_rows.find(session, ids.token_hash(token))
        if row is None or row.client_id != caller.client_id:
            return None
        if row.used_at is not None or row.revoked_at is not None or now >= row.expires_at:
            return None
        user = users.get(session, row.user_id)
        if user is None or user.disabled:
            return None
        return {"active": True, "token_type": "refresh_token", "scope": row.scope, "client_id": row.client_id,
                "sub": row.user_id, "username": user.username, "iat": int(row.created_at.timestamp()),
                "exp": int(row.expires_at.timestamp()), "iss": provider.settings.issuer}


def introspect(provider: Provider, verifier: Verifier, caller: ClientView, token: str,
               hint: str | None) -> dict[str, Any]:
    checks = [lambda: _access(verifier, caller, token), lambda: _refresh(provider, caller, token)]
    if hint == "refresh_token":
        checks.reverse()
    for check in checks:
        found = check()
        if found is not None:
            return found
    return INACTIVE


@router.post("/introspect", summary="Token introspection (RFC 7662)")
async def introspection(request: Request) -> JSONResponse:
    provider = provider_of(request)
    params = await read_params(request, provider.settings.max_body_bytes, allow_json=False)
    caller = await anyio.to_thread.run_sync(authenticate_client, provider, params,
                                            request.headers.get("authorization"),
                                            assertion_audiences(provider.settings.issuer))
    if caller is None or caller.public or not caller.introspect:
        raise InvalidClient(detail="caller is not a client allowed to introspect")
    token = required(params, "token")
    # Tokens for every resource server registered here, not only the server's own audiences.
    body = await anyio.to_thread.run_sync(introspect, provider, served_verifier(provider), caller, token,
                                          params.get("token_type_hint"))
    return JSONResponse(body, headers=NO_STORE)
