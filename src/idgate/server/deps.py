"""How endpoints reach the provider and the verifier held by the app."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials

from idgate.errors import InvalidToken

from idgate.provider import Provider
from idgate.rs import Verifier
from idgate.rs.request import Authenticated, Refused, authenticate_scope, insufficient_scope, refusal


def provider_of(request: Request) -> Provider:
    return request.app.state.provider  # type: ignore[no-any-return]


def verifier_of(request: Request) -> Verifier:
    return request.app.state.verifier  # type: ignore[no-any-return]


async def request_auth(request: Request, missing: str = "An access token is required.") -> Authenticated:
    """The request's access token, ``Bearer`` or ``DPoP`` with its proof (RFC 6750, RFC 9449 §7),
    checked by the same code services run (:func:`idgate.rs.authenticate`); a refusal is a 401
    with the challenge of the scheme used (:class:`idgate.rs.Refused`). In a thread: the
    deny-list and the proof ids may be in the database."""
    return await anyio.to_thread.run_sync(
        lambda: authenticate_scope(verifier_of(request), request.scope, missing=missing))


def refuse_scope(request: Request, auth: Authenticated, needed: str, description: str | None = None) -> Refused:
    """403 ``insufficient_scope`` in the scheme the request used."""
    return insufficient_scope(verifier_of(request), auth, needed, description)


def refuse_token(request: Request, auth: Authenticated, cause: InvalidToken) -> Refused:
    """401 for a token that verified but is not good here (wrong audience, inactive user)."""
    return refusal(verifier_of(request), cause, auth.scheme)


async def own_token(request: Request, credentials: HTTPAuthorizationCredentials | None,
                    missing: str) -> Authenticated:
    """An access token issued for this server itself (``aud`` names the issuer); ``missing`` is
    the 401 text when there is none. ``credentials`` only documents the bearer scheme in
    OpenAPI: the header is read again, so a DPoP-bound token works too."""
    auth = await request_auth(request, missing)
    aud = auth.claims.get("aud")
    if provider_of(request).settings.issuer not in (aud if isinstance(aud, list) else [aud]):
        raise refuse_token(request, auth, InvalidToken("wrong_audience", "The token was not issued for this server."))
    return auth
