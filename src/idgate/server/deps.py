"""How endpoints reach the provider and the verifier held by the app."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials

from idgate.errors import InvalidToken

from idgate.provider import Provider
from idgate.rs import Verifier


def provider_of(request: Request) -> Provider:
    return request.app.state.provider  # type: ignore[no-any-return]


def verifier_of(request: Request) -> Verifier:
    return request.app.state.verifier  # type: ignore[no-any-return]


async def own_token_claims(request: Request, credentials: HTTPAuthorizationCredentials | None,
                           missing: str) -> dict[str, Any]:
    """Claims of a bearer access token issued for this server itself (``aud`` names the issuer),
    checked by the same verifier services use; ``missing`` is the 401 text when there is none."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise InvalidToken("missing", missing)
    claims = await anyio.to_thread.run_sync(verifier_of(request).verify, credentials.credentials)
    aud = claims.get("aud")
    if provider_of(request).settings.issuer not in (aud if isinstance(aud, list) else [aud]):
        raise InvalidToken("wrong_audience", "The token was not issued for this server.")
    return claims
